// The failback plan and the retry plan, on the hand-made primary/secondary pair of the fixtures,
// and against a small simulated hub that applies import files the way the modes are documented.
#include <gtest/gtest.h>

#include <random>
#include <filesystem>
#include <sstream>

#include "lib/iothub/sha256.h"
#include "reconcile/iothub.h"
#include "reconcile/iothub_plan.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile {
namespace {

using nlohmann::json;
using testing::DataPath;
using testing::Doc;
using testing::ExpectGolden;
using testing::Model;
using testing::OpenData;
using testing::PlanBytes;
using testing::ReadFile;
using testing::TempDir;
using testing::Time;

const PolicyTable& Table() {
  static const PolicyTable table = PolicyTable::Default();
  return table;
}

MergedSourceFactory FactoryOf(const Model& model) {
  static const MergeView view{&Table(), 0};
  return [&model]() -> Result<std::unique_ptr<MergedSource>> {
    return MakeMergedSource(model.states, view);
  };
}

PlanOptions Options(const TempDir& dir, const std::string& sub = "plan") {
  PlanOptions options;
  options.out_dir = dir.File(sub);
  options.created_at = "2026-11-23T07:00:00Z";
  options.input_digests = {{"store", "0123abcd"}};
  return options;
}

std::vector<json> Lines(const PlanSummary& summary) {
  std::vector<json> out;
  for (const std::string& f : summary.files) {
    std::istringstream in(ReadFile(f));
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
  }
  return out;
}

const json* Find(const std::vector<json>& lines, const std::string& id,
                 const std::string& module = "") {
  for (const json& l : lines) {
    if (l["id"] == id && l.value("moduleId", "") == module) return &l;
  }
  return nullptr;
}

Result<PlanSummary> FleetPlan(const Model& model, const PlanOptions& options,
                              const std::string& primary = "primary.txt") {
  auto reader = OpenData(primary);
  return BuildFailbackPlan(FactoryOf(model), *reader, options, nullptr);
}

TEST(FailbackPlan, ModesOnTheHandMadePair) {
  Model model;
  testing::IngestFleet(&model);
  TempDir dir;
  Result<PlanSummary> plan = FleetPlan(model, Options(dir));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  std::vector<json> lines = Lines(*plan);

  // Only tags/desired differ: updateTwinIfMatchETag with the primary's twinETag.
  const json* s1 = Find(lines, "sensor-01");
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ((*s1)["importMode"], "updateTwinIfMatchETag");
  EXPECT_EQ((*s1)["twinETag"], "AAAAAAAAAA2=");
  EXPECT_EQ((*s1)["tags"], json::parse(R"({"room":"102"})"));
  EXPECT_EQ((*s1)["properties"], json::parse(R"({"desired":{"interval":60}})"));
  EXPECT_TRUE(s1->contains("status"));
  EXPECT_TRUE(s1->contains("authentication"));
  // Identity changed: updateIfMatchETag with the primary's eTag.
  const json* s2 = Find(lines, "sensor-02");
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ((*s2)["importMode"], "updateIfMatchETag");
  EXPECT_EQ((*s2)["eTag"], "Mg==");
  EXPECT_EQ((*s2)["status"], "disabled");
  // Deleted in the merge, present on the primary.
  const json* s3 = Find(lines, "sensor-03");
  ASSERT_NE(s3, nullptr);
  EXPECT_EQ((*s3)["importMode"], "deleteIfMatchETag");
  EXPECT_EQ((*s3)["eTag"], "Mw==");
  EXPECT_FALSE((*s3)["authentication"].contains("symmetricKey"));  // a delete needs no secret
  // New to the primary; authentication unknown -> the hub generates keys.
  const json* s4 = Find(lines, "sensor-04");
  ASSERT_NE(s4, nullptr);
  EXPECT_EQ((*s4)["importMode"], "create");
  EXPECT_EQ((*s4)["authentication"], json::parse(R"({"type":"sas"})"));
  // Unchanged (scopes map back to the primary's own): nothing.
  EXPECT_EQ(Find(lines, "sensor-05"), nullptr);
  EXPECT_EQ(Find(lines, "sensor-06"), nullptr);
  EXPECT_EQ(Find(lines, "edge-gw-01"), nullptr);
  EXPECT_EQ(Find(lines, "leaf-01"), nullptr);
  // A module whose desired properties changed: its own twinETag.
  const json* filter = Find(lines, "edge-gw-01", "filter");
  ASSERT_NE(filter, nullptr);
  EXPECT_EQ((*filter)["importMode"], "updateTwinIfMatchETag");
  EXPECT_EQ((*filter)["twinETag"], "AAAAAAAAAEf=");
  EXPECT_EQ((*filter)["properties"], json::parse(R"({"desired":{"threshold":6}})"));
  // System modules never.
  EXPECT_EQ(Find(lines, "edge-gw-02", "$edgeAgent"), nullptr);
  EXPECT_EQ(Find(lines, "edge-gw-02", "$edgeHub"), nullptr);
  EXPECT_EQ(plan->system_modules_skipped, 4u);

  // Parents first: edge-gw-02, then its child edge-gw-03, then leaf devices; the delete last.
  std::vector<std::string> order;
  for (const json& l : lines) order.push_back(l["id"]);
  EXPECT_EQ(order, (std::vector<std::string>{"edge-gw-02", "edge-gw-03", "leaf-02", "sensor-01",
                                             "sensor-02", "sensor-04", "edge-gw-01", "sensor-03"}));
  // A new parent keeps its own (deterministic) scope; the child points at it.
  const json* gw3 = Find(lines, "edge-gw-03");
  EXPECT_EQ((*gw3)["parentScopes"],
            json::parse(R"(["ms-azure-iot-edge://edge-gw-02-638222222222222222"])"));

  for (const json& l : lines) {
    EXPECT_TRUE(l.contains("id") && l.contains("status") && l.contains("authentication")) << l;
    const std::string text = l.dump();
    EXPECT_EQ(text.find("$metadata"), std::string::npos);
    EXPECT_EQ(text.find("$version"), std::string::npos);
    EXPECT_TRUE(!l.contains("properties") || !l["properties"].contains("reported")) << l;
  }
  EXPECT_EQ(plan->counts["create"], 4u);
  EXPECT_EQ(plan->counts["updateIfMatchETag"], 1u);
  EXPECT_EQ(plan->counts["updateTwinIfMatchETag"], 2u);
  EXPECT_EQ(plan->counts["deleteIfMatchETag"], 1u);
  EXPECT_EQ(plan->unchanged, 4u);  // sensor-05, sensor-06, edge-gw-01, leaf-01
  EXPECT_EQ(plan->reported_only, 0u);

  // Keys only inside the import files.
  EXPECT_EQ(ReadFile(plan->manifest_path).find("Secret"), std::string::npos);
  EXPECT_EQ(ReadFile(plan->report_path).find("Secret"), std::string::npos);
  ExpectGolden("plan/devices-00001.txt", ReadFile(plan->files[0]));
  ExpectGolden("plan/manifest.json", ReadFile(plan->manifest_path));
  ExpectGolden("plan/plan-report.jsonl", ReadFile(plan->report_path));
}

// The primary's index in memory or in files (a budget of one byte): the same plan, the same
// counts of records only the primary has, the same rejects of a key the primary repeats.
TEST(FailbackPlan, ThePrimarysIndexOnDiskPlansAsInMemory) {
  auto line = [](const std::string& id, const std::string& etag) {
    return "{\"id\":\"" + id + "\",\"eTag\":\"" + etag +
           "\",\"status\":\"enabled\",\"authentication\":{\"type\":\"sas\"},"
           "\"twinETag\":\"AAAAAAAAAAE=\",\"tags\":{\"n\":\"" + id +
           "\"},\"properties\":{\"desired\":{},\"reported\":{}}}\n";
  };
  std::string primary;
  for (int i = 1; i <= 5; ++i) primary += line("p-" + std::to_string(i), "MQ==");
  primary += line("p-2", "Mg==");  // the same key again: rejected, the first line wins
  Model model;
  auto merged = LineReader::FromString(
      "merged.txt", line("p-2", "x") + line("p-4", "x") + line("new-1", "x"));
  ASSERT_TRUE(ReadExport(*merged, {"s", 1000000, false}, nullptr, model.Sink()).ok());
  std::vector<std::string> outcomes;
  for (size_t budget : {size_t{1}, PlanOptions().index_memory_bytes}) {
    TempDir dir;
    PlanOptions options = Options(dir);
    options.index_memory_bytes = budget;
    RejectCollector rejects;
    auto reader = LineReader::FromString("primary.txt", primary);
    Result<PlanSummary> plan = BuildFailbackPlan(FactoryOf(model), *reader, options, &rejects);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_EQ(plan->primary_only, 3u) << budget;  // p-1, p-3, p-5
    EXPECT_EQ(plan->counts["create"], 1u) << budget;
    EXPECT_EQ(plan->unchanged, 2u) << budget;
    ASSERT_EQ(rejects.rejects().size(), 1u) << budget;
    EXPECT_EQ(rejects.rejects()[0].line, 6u);
    EXPECT_EQ(rejects.rejects()[0].reason, RejectReason::kDuplicateRecord);
    EXPECT_NE(rejects.rejects()[0].detail.find("first at line 2"), std::string::npos);
    outcomes.push_back(testing::PlanBytes(*plan));
    for (const auto& f : std::filesystem::directory_iterator(options.out_dir)) {
      EXPECT_NE(f.path().filename().string().rfind(".index-", 0), 0u) << f.path();
    }
  }
  EXPECT_EQ(outcomes[0], outcomes[1]);
}

TEST(FailbackPlan, ScopesOfChildrenOfAnExistingParentAreThePrimarys) {
  // leaf-03 is new (made on the secondary) under edge-gw-01, whose scope on the secondary has
  // another generation id: the plan must point it at the primary's scope.
  Model model;
  testing::IngestFleet(&model);
  auto extra = LineReader::FromString(
      "extra.txt",
      R"({"id":"leaf-03","status":"enabled","authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"AA11","secondaryThumbprint":"BB22"}},"deviceScope":"ms-azure-iot-edge://edge-gw-01-638111111111111111","parentScopes":["ms-azure-iot-edge://edge-gw-01-638111111111111111"]})");
  ASSERT_TRUE(ReadExport(*extra, {"neu-secondary", Time("2026-11-22T12:00:00Z"), false}, nullptr,
                         model.Sink())
                  .ok());
  TempDir dir;
  Result<PlanSummary> plan = FleetPlan(model, Options(dir));
  ASSERT_TRUE(plan.ok());
  const std::vector<json> lines = Lines(*plan);
  const json* leaf = Find(lines, "leaf-03");
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ((*leaf)["deviceScope"], "ms-azure-iot-edge://edge-gw-01-637000000000000001");
  EXPECT_EQ((*leaf)["parentScopes"],
            json::parse(R"(["ms-azure-iot-edge://edge-gw-01-637000000000000001"])"));
}

TEST(FailbackPlan, ANewParentWithoutScopeAndItsChildAgreeOnADerivedScope) {
  // edge-gw-09 was created by a notification (no scope known); leaf-09 names some scope of it.
  Model model;
  NotificationReadOptions hubs;
  hubs.site_override = "neu-secondary";
  auto notes = LineReader::FromString(
      "n.jsonl",
      R"({"properties":{"hubName":"h","deviceId":"edge-gw-09","opType":"createDeviceIdentity","operationTimestamp":"2026-11-21T12:00:00Z"},"body":{"deviceId":"edge-gw-09","status":"enabled","authenticationType":"sas","capabilities":{"iotEdge":true}}})");
  ASSERT_TRUE(ReadNotifications(*notes, hubs, nullptr, model.Sink()).ok());
  auto leaf = LineReader::FromString(
      "x.txt",
      R"({"id":"leaf-09","status":"enabled","authentication":null,"deviceScope":"ms-azure-iot-edge://edge-gw-09-638999","parentScopes":["ms-azure-iot-edge://edge-gw-09-638999"]})");
  ASSERT_TRUE(ReadExport(*leaf, {"neu-secondary", Time("2026-11-22T12:00:00Z"), false}, nullptr,
                         model.Sink())
                  .ok());
  TempDir dir;
  Result<PlanSummary> plan = FleetPlan(model, Options(dir));
  ASSERT_TRUE(plan.ok());
  const std::vector<json> lines = Lines(*plan);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["id"], "edge-gw-09");
  EXPECT_EQ(lines[0]["deviceScope"], DerivedScope("edge-gw-09"));
  EXPECT_EQ(lines[1]["id"], "leaf-09");
  EXPECT_EQ(lines[1]["deviceScope"], DerivedScope("edge-gw-09"));
  EXPECT_EQ(lines[1]["parentScopes"], json::array({DerivedScope("edge-gw-09")}));
}

TEST(FailbackPlan, ForceUsesUnconditionalModes) {
  Model model;
  testing::IngestFleet(&model);
  TempDir dir;
  PlanOptions options = Options(dir);
  options.force = true;
  Result<PlanSummary> plan = FleetPlan(model, options);
  ASSERT_TRUE(plan.ok());
  std::vector<json> lines = Lines(*plan);
  EXPECT_EQ((*Find(lines, "sensor-01"))["importMode"], "updateTwin");
  EXPECT_EQ((*Find(lines, "sensor-02"))["importMode"], "createOrUpdate");
  EXPECT_EQ((*Find(lines, "sensor-03"))["importMode"], "delete");
  EXPECT_EQ((*Find(lines, "sensor-04"))["importMode"], "createOrUpdate");
  for (const json& l : lines) {
    EXPECT_FALSE(l.contains("eTag")) << l;
    EXPECT_FALSE(l.contains("twinETag")) << l;
  }
}

TEST(FailbackPlan, NoKeysAndSplitFiles) {
  Model model;
  testing::IngestFleet(&model);
  TempDir dir;
  PlanOptions options = Options(dir);
  options.no_keys = true;
  options.max_lines_per_file = 3;
  Result<PlanSummary> plan = FleetPlan(model, options);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->files.size(), 3u);  // 8 lines: 3 + 3 + 2
  EXPECT_EQ(std::filesystem::path(plan->files[2]).filename(), "devices-00003.txt");
  std::string all;
  for (const std::string& f : plan->files) all += ReadFile(f);
  EXPECT_EQ(all.find("Secret"), std::string::npos);
  EXPECT_EQ(all.find("symmetricKey"), std::string::npos);
  json manifest = json::parse(ReadFile(plan->manifest_path));
  ASSERT_EQ(manifest["files"].size(), 3u);
  EXPECT_EQ(manifest["files"][0]["lines"], 3);
  EXPECT_EQ(manifest["files"][2]["lines"], 2);
  EXPECT_EQ(manifest["files"][0]["sha256"], *FileSha256(plan->files[0]));
  EXPECT_EQ(manifest["options"]["noKeys"], true);
  // A rerun into the same folder with fewer files leaves no stale import file behind.
  std::filesystem::path other = std::filesystem::path(options.out_dir) / "notes.txt";
  testing::WriteFile(other.string(), "mine");
  options.max_lines_per_file = 0;
  Result<PlanSummary> rerun = FleetPlan(model, options);
  ASSERT_TRUE(rerun.ok());
  EXPECT_EQ(rerun->files.size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(plan->files[2]));
  EXPECT_TRUE(std::filesystem::exists(other));
  // No spill files are left behind.
  for (const auto& entry : std::filesystem::directory_iterator(options.out_dir)) {
    EXPECT_NE(entry.path().filename().string().rfind(".spill", 0), 0u) << entry.path();
  }
}

TEST(FailbackPlan, SameInputsSameBytes) {
  Model model;
  testing::IngestFleet(&model);
  TempDir dir;
  Result<PlanSummary> a = FleetPlan(model, Options(dir, "a"));
  Result<PlanSummary> b = FleetPlan(model, Options(dir, "b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(PlanBytes(*a), PlanBytes(*b));
}

TEST(FailbackPlan, BadOptions) {
  Model model;
  TempDir dir;
  PlanOptions options = Options(dir);
  options.created_at.clear();
  EXPECT_TRUE(FleetPlan(model, options).status().IsInvalidInput());
  options = Options(dir);
  options.out_dir.clear();
  EXPECT_TRUE(FleetPlan(model, options).status().IsInvalidInput());
}

TEST(Scopes, ParseAndDerive) {
  EXPECT_EQ(*ScopeDeviceId("ms-azure-iot-edge://edge-gw-01-637000000000000001"), "edge-gw-01");
  EXPECT_FALSE(ScopeDeviceId("ms-azure-iot-edge://nogeneration").ok());
  EXPECT_FALSE(ScopeDeviceId("edge-gw-01-637").ok());
  std::string derived = DerivedScope("gw");
  EXPECT_EQ(derived, DerivedScope("gw"));
  EXPECT_EQ(derived.size(), std::string("ms-azure-iot-edge://gw-").size() + 18);
  EXPECT_EQ(*ScopeDeviceId(derived), "gw");
}

TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(iothub::Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(iothub::Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(iothub::Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  iothub::Sha256 million;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i)
    million.Update(chunk.substr(0, 7 + i % 13) + chunk.substr(0, 993 - i % 13));
  EXPECT_EQ(million.HexDigest(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The hardware path (SHA-NI where the CPU has it) and the portable one agree on every length
// and every way of splitting the input into updates; the portable one also meets the known
// answers above on its own.
TEST(Sha256, HardwareAndPortableAgree) {
  iothub::Sha256 portable_abc(false);
  portable_abc.Update("abc");
  EXPECT_EQ(portable_abc.HexDigest(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::mt19937_64 rng(20261126);
  for (size_t length = 0; length < 700; length += 1 + length / 40) {
    std::string data(length, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    iothub::Sha256 hardware(true), portable(false);
    size_t at = 0;
    while (at < data.size()) {
      const size_t take = std::min<size_t>(data.size() - at, rng() % 150);
      hardware.Update(std::string_view(data).substr(at, take));
      portable.Update(std::string_view(data).substr(at, take));
      at += take;
    }
    EXPECT_EQ(hardware.HexDigest(), portable.HexDigest()) << "length " << length;
  }
}

TEST(ImportModes, NamesRoundTrip) {
  for (ImportMode m :
       {ImportMode::kCreate, ImportMode::kUpdate, ImportMode::kUpdateIfMatchETag,
        ImportMode::kCreateOrUpdate, ImportMode::kUpdateTwin, ImportMode::kUpdateTwinIfMatchETag,
        ImportMode::kDelete, ImportMode::kDeleteIfMatchETag}) {
    EXPECT_EQ(*ParseImportMode(ImportModeName(m)), m);
  }
  EXPECT_EQ(*ParseImportMode("UpdateTwinIfMatchETag"), ImportMode::kUpdateTwinIfMatchETag);
  EXPECT_FALSE(ParseImportMode("upsert").ok());
}

// ---- a simulated hub -------------------------------------------------------------------------

// Applies import lines as docs/FORMATS.md reads the modes; keeps its own eTags.
class SimHub {
 public:
  explicit SimHub(const std::string& export_text) {
    std::istringstream in(export_text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] != '{') continue;
      json j = json::parse(line);
      records_[KeyOf(j)] = j;
    }
  }

  // Applies the files in order; returns importErrors.log text.
  std::string Apply(const std::vector<std::string>& files) {
    std::string errors;
    for (const std::string& f : files) {
      std::istringstream in(ReadFile(f));
      std::string text;
      while (std::getline(in, text)) {
        json line = json::parse(text);
        int code = ApplyLine(line);
        if (code != 0) {
          json e = {{"deviceId", line["id"]}, {"errorCode", code}, {"errorStatus", "simulated"}};
          if (line.contains("moduleId")) e["moduleId"] = line["moduleId"];
          errors += e.dump() + "\n";
        }
      }
    }
    return errors;
  }

  std::string Export() const {
    std::string out;
    for (const auto& [key, j] : records_) out += j.dump() + "\n";
    return out;
  }

 private:
  static std::pair<std::string, std::string> KeyOf(const json& j) {
    return {j["id"], j.value("moduleId", "")};
  }

  std::string NextETag() { return "sim" + std::to_string(++counter_); }

  int ApplyLine(const json& line) {
    const auto key = KeyOf(line);
    auto it = records_.find(key);
    const bool exists = it != records_.end();
    const std::string mode = line["importMode"];
    auto identity_and_twin = [&](json& rec) {
      for (const char* f : {"status", "statusReason", "authentication", "capabilities",
                            "deviceScope", "parentScopes"}) {
        if (line.contains(f))
          rec[f] = line[f];
        else
          rec.erase(f);
      }
      rec["tags"] = line["tags"];
      rec["properties"]["desired"] = line["properties"]["desired"];
      rec["eTag"] = NextETag();
      rec["twinETag"] = NextETag();
    };
    if (mode == "create" || mode == "createOrUpdate") {
      if (exists && mode == "create") return 409001;
      json rec = exists ? it->second
                        : json{{"id", line["id"]}, {"properties", {{"reported", json::object()}}}};
      if (line.contains("moduleId")) rec["moduleId"] = line["moduleId"];
      identity_and_twin(rec);
      records_[key] = rec;
      return 0;
    }
    if (!exists) return 404001;
    json& rec = it->second;
    if (mode == "update" || mode == "updateIfMatchETag") {
      if (mode == "updateIfMatchETag" && line["eTag"] != rec["eTag"]) return 412001;
      identity_and_twin(rec);
      return 0;
    }
    if (mode == "updateTwin" || mode == "updateTwinIfMatchETag") {
      if (mode == "updateTwinIfMatchETag" && line["twinETag"] != rec["twinETag"]) return 412001;
      rec["tags"] = line["tags"];
      rec["properties"]["desired"] = line["properties"]["desired"];
      rec["twinETag"] = NextETag();
      return 0;
    }
    if (mode == "delete" || mode == "deleteIfMatchETag") {
      if (mode == "deleteIfMatchETag" && line["eTag"] != rec["eTag"]) return 412001;
      if (key.second.empty()) {  // a device's delete removes its modules
        for (auto m = records_.begin(); m != records_.end();) {
          m = m->first.first == key.first ? records_.erase(m) : std::next(m);
        }
      } else {
        records_.erase(it);
      }
      return 0;
    }
    return 400000;
  }

  std::map<std::pair<std::string, std::string>, json> records_;
  int counter_ = 0;
};

TEST(FailbackPlan, AppliedPlanConvergesAndReplayIsHarmless) {
  Model model;
  testing::IngestFleet(&model);
  TempDir dir;
  Result<PlanSummary> plan = FleetPlan(model, Options(dir, "first"));
  ASSERT_TRUE(plan.ok());
  SimHub hub(ReadFile(DataPath("primary.txt")));
  EXPECT_EQ(hub.Apply(plan->files), "");  // every line applies

  // Planning again against the hub's new export: nothing left to do.
  const std::string after = hub.Export();
  testing::WriteFile(dir.File("after.txt"), after);
  auto after_reader = LineReader::Open(dir.File("after.txt"));
  ASSERT_TRUE(after_reader.ok());
  Result<PlanSummary> again =
      BuildFailbackPlan(FactoryOf(model), **after_reader, Options(dir, "second"), nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(Lines(*again).empty()) << PlanBytes(*again);

  // Replaying the first plan: every line fails its precondition, nothing is overwritten.
  std::string errors = hub.Apply(plan->files);
  EXPECT_EQ(hub.Export(), after);
  EXPECT_NE(errors.find("412001"), std::string::npos);
  EXPECT_NE(errors.find("409001"), std::string::npos);
  EXPECT_NE(errors.find("404001"), std::string::npos);

  // And the retry plan built from those errors, with a fresh export, is empty too.
  auto log = LineReader::FromString("importErrors.log", errors);
  Result<std::vector<ImportError>> parsed = ReadImportErrors(*log, nullptr);
  ASSERT_TRUE(parsed.ok());
  auto fresh = LineReader::Open(dir.File("after.txt"));
  MergedSourceFactory factory = FactoryOf(model);
  RetryInputs inputs{plan->files, &factory, fresh->get()};
  Result<PlanSummary> retry = BuildRetryPlan(inputs, *parsed, Options(dir, "retry"), nullptr);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_TRUE(Lines(*retry).empty()) << PlanBytes(*retry);
}

// ---- retry -----------------------------------------------------------------------------------

TEST(RetryPlan, FromAHandMadeImportErrorsLog) {
  Model model;
  testing::IngestFleet(&model);
  TempDir dir;
  Result<PlanSummary> plan = FleetPlan(model, Options(dir, "first"));
  ASSERT_TRUE(plan.ok());

  auto log = OpenData("importErrors.log");
  RejectCollector rejects;
  Result<std::vector<ImportError>> errors = ReadImportErrors(*log, &rejects);
  ASSERT_TRUE(errors.ok());
  EXPECT_EQ(errors->size(), 6u);
  EXPECT_EQ(rejects.Count(RejectReason::kInvalidErrorCode), 1u);
  EXPECT_EQ((*errors)[2].error_code, 404001);  // given as a string

  // Without a fresh export: switch modes, report the 412s.
  RetryInputs bare{plan->files, nullptr, nullptr};
  Result<PlanSummary> retry = BuildRetryPlan(bare, *errors, Options(dir, "retry"), nullptr);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  std::vector<json> lines = Lines(*retry);
  ASSERT_EQ(lines.size(), 2u);
  const json* s1 = Find(lines, "sensor-01");  // 404001 on updateTwinIfMatchETag -> create
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ((*s1)["importMode"], "create");
  EXPECT_FALSE(s1->contains("twinETag"));
  const json* s4 = Find(lines, "sensor-04");  // 409001 on create -> update
  ASSERT_NE(s4, nullptr);
  EXPECT_EQ((*s4)["importMode"], "update");
  EXPECT_EQ(retry->needs_fresh_export, 1u);      // sensor-02 (412001)
  EXPECT_EQ(retry->not_retried, 2u);             // leaf-02 (400004), ghost-01 (no line)
  EXPECT_EQ(Find(lines, "sensor-03"), nullptr);  // 404001 on a delete: already gone
  ExpectGolden("retry/devices-00001.txt", ReadFile(retry->files[0]));
  ExpectGolden("retry/plan-report.jsonl", ReadFile(retry->report_path));

  // With the merged state and a fresh export: 412001 and 409001 are re-planned against it.
  auto fresh = OpenData("primary_fresh.txt");
  MergedSourceFactory factory = FactoryOf(model);
  RetryInputs full{plan->files, &factory, fresh.get()};
  Result<PlanSummary> replanned = BuildRetryPlan(full, *errors, Options(dir, "retry2"), nullptr);
  ASSERT_TRUE(replanned.ok()) << replanned.status().ToString();
  lines = Lines(*replanned);
  const json* s2 = Find(lines, "sensor-02");
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ((*s2)["importMode"], "updateIfMatchETag");
  EXPECT_EQ((*s2)["eTag"], "Mg3=");          // the fresh eTag
  EXPECT_EQ((*s2)["tags"], json::object());  // the merge's tags win over the primary's new ones
  const json* s4b = Find(lines, "sensor-04");
  ASSERT_NE(s4b, nullptr);
  EXPECT_EQ((*s4b)["importMode"], "updateTwinIfMatchETag");  // exists now; only tags differ
  EXPECT_EQ((*s4b)["twinETag"], "AAAAAAAAAD4=");
  EXPECT_EQ(replanned->needs_fresh_export, 0u);
  ExpectGolden("retry2/devices-00001.txt", ReadFile(replanned->files[0]));
}

TEST(RetryPlan, ReplansAModuleFromASourceThatYieldsOnlyTheFailedKeys) {
  // The orchestrator's re-plan source yields only the failed keys (no device record before the
  // module): the module must still be planned.
  Model model;
  testing::IngestFleet(&model);
  TempDir dir;
  Result<PlanSummary> plan = FleetPlan(model, Options(dir, "first"));
  ASSERT_TRUE(plan.ok());
  const Key filter = testing::Mod("edge-gw-01", "filter");
  MergedSourceFactory only_filter = [&]() -> Result<std::unique_ptr<MergedSource>> {
    std::vector<MergedRecord> records;
    records.push_back({filter, Doc(model, filter, Table()), 0});
    return MakeMergedSource(std::move(records));
  };
  std::vector<ImportError> errors = {{"edge-gw-01", "filter", 412001, "ETag mismatch"}};
  auto fresh = OpenData("primary_fresh.txt");
  RetryInputs inputs{plan->files, &only_filter, fresh.get()};
  Result<PlanSummary> retry = BuildRetryPlan(inputs, errors, Options(dir, "retry"), nullptr);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  const std::vector<json> lines = Lines(*retry);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["moduleId"], "filter");
  EXPECT_EQ(lines[0]["importMode"], "updateTwinIfMatchETag");
  EXPECT_EQ(retry->orphan_modules, 0u);
}

TEST(RetryPlan, RequiresThePreviousFiles) {
  TempDir dir;
  EXPECT_TRUE(BuildRetryPlan(RetryInputs{}, {}, Options(dir), nullptr).status().IsInvalidInput());
}

}  // namespace
}  // namespace reconcile
