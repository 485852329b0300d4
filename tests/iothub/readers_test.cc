// Readers: bulk exports (with and without a base), twins, notifications, metadata, and every
// reject reason.
#include <gtest/gtest.h>

#include "reconcile/iothub.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile {
namespace {

using nlohmann::json;
using testing::DataPath;
using testing::Dev;
using testing::Doc;
using testing::Mod;
using testing::Model;
using testing::OpenData;
using testing::Time;

const PolicyTable& Table() {
  static const PolicyTable table = PolicyTable::Default();
  return table;
}

// The cell at `slashed` path written by `site` in `state` (nullptr if none).
const Cell* CellAt(const RecordState& state, const char* slashed, const char* site) {
  const std::string joined = Path::Parse(slashed).value().joined();
  const SiteId id = SiteId::FromName(site);
  for (const Cell& c : state.cells()) {
    if (c.path == joined && c.site == id) return &c;
  }
  return nullptr;
}

// ---- bulk export -----------------------------------------------------------------------------

TEST(ExportReader, WholeRecordsWithoutBase) {
  Model model;
  RejectCollector rejects;
  auto in = OpenData("secondary.txt");
  ExportReadOptions options{"neu-secondary", Time("2026-11-22T12:00:00Z"), false};
  Result<ReadStats> stats = ReadExport(*in, options, &rejects, model.Sink());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_TRUE(rejects.rejects().empty());
  EXPECT_EQ(stats->records, 14u);
  EXPECT_EQ(stats->creates, 14u);
  EXPECT_EQ(stats->lines.skipped, 1u);  // the comment line
  EXPECT_EQ(stats->lines.blank, 1u);
  EXPECT_EQ(stats->lines.lines, 16u);

  auto s2 = Doc(model, Dev("sensor-02"), Table());
  ASSERT_TRUE(s2);
  EXPECT_EQ((*s2)["status"], "disabled");  // "Disabled" normalized
  EXPECT_EQ((*s2)["statusReason"], "reported stolen");
  // $metadata/$version, eTag, twinETag are not part of the record.
  EXPECT_EQ((*s2)["properties"], json::parse(R"({"desired":{},"reported":{}})"));
  EXPECT_FALSE(s2->contains("eTag"));
  EXPECT_FALSE(s2->contains("twinETag"));
  // An empty deviceScope / parentScopes is no scope.
  EXPECT_FALSE(s2->contains("deviceScope"));
  EXPECT_FALSE(s2->contains("parentScopes"));

  // authentication: null -> unknown: not written at all.
  auto s4 = Doc(model, Dev("sensor-04"), Table());
  ASSERT_TRUE(s4);
  EXPECT_FALSE(s4->contains("authentication"));
  EXPECT_EQ((*s4)["tags"], json::parse(R"({"room":"104"})"));

  auto leaf = Doc(model, Dev("leaf-02"), Table());
  ASSERT_TRUE(leaf);
  EXPECT_EQ((*leaf)["deviceScope"], "ms-azure-iot-edge://edge-gw-03-638333333333333333");
  auto agent = Doc(model, Mod("edge-gw-02", "$edgeAgent"), Table());
  ASSERT_TRUE(agent);
  EXPECT_FALSE(agent->contains("capabilities"));  // device-only fields are not module fields
}

TEST(ExportReader, NullAuthenticationKeepsKeysWrittenElsewhere) {
  Model model;
  auto base = OpenData("base.txt");
  ASSERT_TRUE(
      ReadExport(*base, {"backup", Time("2026-11-20T00:00:00Z"), false}, nullptr, model.Sink())
          .ok());
  auto later = LineReader::FromString(
      "later.txt", R"({"id":"sensor-02","status":"enabled","authentication":null,"tags":{"t":1}})");
  ASSERT_TRUE(ReadExport(*later, {"neu-secondary", Time("2026-11-22T00:00:00Z"), false}, nullptr,
                         model.Sink())
                  .ok());
  auto doc = Doc(model, Dev("sensor-02"), Table());
  ASSERT_TRUE(doc);
  EXPECT_EQ((*doc)["authentication"]["symmetricKey"]["primaryKey"],
            "sensor02PrimarySecret0000000000000000000000000=");
  EXPECT_EQ((*doc)["tags"], json::parse(R"({"t":1})"));
  EXPECT_FALSE(doc->contains("capabilities"));  // absent in the later export: removed
}

TEST(ExportReader, KeysExcludedLeavesSymmetricKeysAlone) {
  Model model;
  auto base = OpenData("base.txt");
  ASSERT_TRUE(
      ReadExport(*base, {"backup", Time("2026-11-20T00:00:00Z"), false}, nullptr, model.Sink())
          .ok());
  auto later = LineReader::FromString(
      "later.txt",
      R"({"id":"sensor-02","status":"enabled","authentication":{"type":"selfSigned","symmetricKey":{"primaryKey":null,"secondaryKey":null},"x509Thumbprint":{"primaryThumbprint":"AB12","secondaryThumbprint":null}}})");
  ASSERT_TRUE(ReadExport(*later, {"neu-secondary", Time("2026-11-22T00:00:00Z"), true}, nullptr,
                         model.Sink())
                  .ok());
  auto doc = Doc(model, Dev("sensor-02"), Table());
  ASSERT_TRUE(doc);
  EXPECT_EQ((*doc)["authentication"]["type"], "selfSigned");
  EXPECT_EQ((*doc)["authentication"]["x509Thumbprint"],
            json::parse(R"({"primaryThumbprint":"AB12"})"));
  EXPECT_TRUE((*doc)["authentication"].contains("symmetricKey"));
}

TEST(ExportReader, ThreeWayWritesOnlyDifferences) {
  Model model;
  RejectCollector rejects;
  auto snapshot = OpenData("secondary.txt");
  auto base = OpenData("base.txt");
  ExportReadOptions options{"neu-secondary", Time("2026-11-22T12:00:00Z"), false};
  Result<ReadStats> stats = ReadExportWithBase(*snapshot, *base, options, &rejects, model.Sink());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_TRUE(rejects.rejects().empty());
  EXPECT_EQ(stats->patches, 5u);    // sensor-01, sensor-02, edge-gw-01 (scope), its filter, leaf-01
  EXPECT_EQ(stats->creates, 6u);    // sensor-04, edge-gw-02 (+2 modules), edge-gw-03, leaf-02
  EXPECT_EQ(stats->deletes, 1u);    // sensor-03
  EXPECT_EQ(stats->unchanged, 3u);  // sensor-05, edge-gw-01/$edgeAgent, edge-gw-01/$edgeHub

  // sensor-01's delta writes exactly the two changed leaves (set = cover + value).
  const RecordState* delta = nullptr;
  for (const auto& [key, d] : model.deltas) {
    if (key == Dev("sensor-01")) delta = &d;
  }
  ASSERT_NE(delta, nullptr);
  ASSERT_EQ(delta->cells().size(), 2u);
  const Cell* interval = CellAt(*delta, "properties/desired/interval", "neu-secondary");
  ASSERT_NE(interval, nullptr);
  EXPECT_EQ(interval->value, "60");
  EXPECT_EQ(interval->value_hlc, Time("2026-11-22T12:00:00Z"));
  EXPECT_TRUE(interval->has_cover);
  ASSERT_NE(CellAt(*delta, "properties/reported/fw", "neu-secondary"), nullptr);

  // A patch alone shows no record (no existence marker); the delete is a root cover.
  EXPECT_FALSE(Doc(model, Dev("sensor-01"), Table()));
  for (const auto& [key, d] : model.deltas) {
    if (key == Dev("sensor-03")) {
      ASSERT_EQ(d.cells().size(), 1u);
      EXPECT_TRUE(d.cells()[0].has_cover);
      EXPECT_TRUE(d.cells()[0].path.empty());
    }
  }
}

TEST(ExportReader, ThreeWayMergesConcurrentChangesOfBothSites) {
  Model model;
  testing::IngestFleet(&model);
  auto s1 = Doc(model, Dev("sensor-01"), Table());
  ASSERT_TRUE(s1);
  EXPECT_EQ((*s1)["tags"]["room"], "102");                    // the primary's change
  EXPECT_EQ((*s1)["properties"]["desired"]["interval"], 60);  // the secondary's change
  EXPECT_EQ((*s1)["properties"]["reported"]["fw"], "1.1");
  EXPECT_FALSE(Doc(model, Dev("sensor-03"), Table()));  // deleted on the secondary
  EXPECT_TRUE(Doc(model, Dev("sensor-06"), Table()));   // created on the primary
  auto s2 = Doc(model, Dev("sensor-02"), Table());
  ASSERT_TRUE(s2);
  EXPECT_EQ((*s2)["status"], "disabled");
}

TEST(ExportReader, ThreeWayRejectsDuplicates) {
  auto base =
      LineReader::FromString("base.txt", "{\"id\":\"a\"}\n{\"id\":\"a\",\"status\":\"enabled\"}\n");
  auto snap = LineReader::FromString("snap.txt", "{\"id\":\"b\"}\n{\"id\":\"b\"}\n");
  RejectCollector rejects;
  Model model;
  Result<ReadStats> stats =
      ReadExportWithBase(*snap, *base, {"s", 1000000, false}, &rejects, model.Sink());
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(rejects.Count(RejectReason::kDuplicateRecord), 2u);
  EXPECT_EQ(rejects.rejects()[0].file, "base.txt");
  EXPECT_EQ(rejects.rejects()[0].line, 2u);
  EXPECT_EQ(rejects.rejects()[1].file, "snap.txt");
  EXPECT_EQ(stats->creates, 1u);
  EXPECT_EQ(stats->deletes, 1u);  // "a" is gone from the snapshot
}

TEST(ExportReader, OptionsAreChecked) {
  auto in = LineReader::FromString("x", "");
  Model model;
  EXPECT_TRUE(ReadExport(*in, {"", 1, false}, nullptr, model.Sink()).status().IsInvalidInput());
  EXPECT_TRUE(ReadExport(*in, {"site", 0, false}, nullptr, model.Sink()).status().IsInvalidInput());
}

TEST(ExportReader, SinkErrorsStopTheRead) {
  auto in = OpenData("base.txt");
  int calls = 0;
  Result<ReadStats> stats =
      ReadExport(*in, {"s", 1000000, false}, nullptr, [&](const Key&, RecordState) -> Status {
        ++calls;
        return Status::IoError("disk full");
      });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(stats.status().code(), Code::kIoError);
}

// ---- twins -----------------------------------------------------------------------------------

TEST(TwinReader, EachLeafCarriesItsOwnLastUpdated) {
  Model model;
  RejectCollector rejects;
  auto in = OpenData("twins.jsonl");
  TwinReadOptions options{"neu-secondary", Time("2026-11-22T00:00:00Z"),
                          TwinTagsStamp::kObservedAt};
  Result<ReadStats> stats = ReadTwins(*in, options, &rejects, model.Sink());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_TRUE(rejects.rejects().empty());
  EXPECT_EQ(stats->records, 4u);

  const RecordState& s1 = model.states.at(Dev("sensor-01"));
  const char* site = "neu-secondary";
  EXPECT_EQ(CellAt(s1, "properties/desired/interval", site)->value_hlc,
            Time("2026-11-21T08:00:00.5000001Z"));
  EXPECT_EQ(CellAt(s1, "properties/desired/alerts/high", site)->value_hlc,
            Time("2026-11-20T07:00:00Z"));
  // No metadata of its own: the nearest ancestor's.
  EXPECT_EQ(CellAt(s1, "properties/desired/alerts/low", site)->value_hlc,
            Time("2026-11-20T07:00:00Z"));
  EXPECT_EQ(CellAt(s1, "properties/reported/battery/level", site)->value_hlc,
            Time("2026-11-21T09:00:00Z"));
  EXPECT_EQ(CellAt(s1, "properties/reported/fw", site)->value, "\"1.1\"");
  // Tags have no metadata: the read's observed-at, as a set of the section.
  const Cell* tags = CellAt(s1, "tags", site);
  ASSERT_NE(tags, nullptr);
  EXPECT_TRUE(tags->has_cover);
  EXPECT_EQ(tags->cover_hlc, Time("2026-11-22T00:00:00Z"));
  // statusUpdateTime 0001-01-01: status is not written; no $metadata/$version paths.
  EXPECT_EQ(CellAt(s1, "status", site), nullptr);
  for (const Cell& c : s1.cells()) EXPECT_EQ(c.path.view().find('$'), std::string_view::npos);
  // A twin read is a patch: no existence marker.
  EXPECT_EQ(CellAt(s1, "", site), nullptr);

  const RecordState& s2 = model.states.at(Dev("sensor-02"));
  EXPECT_EQ(CellAt(s2, "status", site)->value, "\"disabled\"");
  EXPECT_EQ(CellAt(s2, "status", site)->value_hlc, Time("2026-11-21T11:00:00Z"));

  const RecordState& filter = model.states.at(Mod("edge-gw-01", "filter"));
  EXPECT_EQ(CellAt(filter, "properties/desired/threshold", site)->value_hlc,
            Time("2026-11-21T11:30:00Z"));

  // No $metadata at all: observed-at.
  const RecordState& s5 = model.states.at(Dev("sensor-05"));
  EXPECT_EQ(CellAt(s5, "properties/desired/mode", site)->value_hlc, Time("2026-11-22T00:00:00Z"));
}

TEST(TwinReader, TagsStampChoices) {
  auto line =
      R"({"deviceId":"d","tags":{"a":1},"properties":{"desired":{"x":1,"$metadata":{"$lastUpdated":"2026-01-02T00:00:00Z"}}}})";
  for (auto [choice, want] :
       {std::pair{TwinTagsStamp::kMaxLastUpdated, Time("2026-01-02T00:00:00Z")},
        std::pair{TwinTagsStamp::kObservedAt, Time("2026-02-01T00:00:00Z")}}) {
    Model model;
    auto in = LineReader::FromString("t", line);
    ASSERT_TRUE(
        ReadTwins(*in, {"s", Time("2026-02-01T00:00:00Z"), choice}, nullptr, model.Sink()).ok());
    EXPECT_EQ(CellAt(model.states.at(Dev("d")), "tags", "s")->cover_hlc, want);
  }
  Model model;
  auto in = LineReader::FromString("t", line);
  ASSERT_TRUE(ReadTwins(*in, {"s", Time("2026-02-01T00:00:00Z"), TwinTagsStamp::kSkip}, nullptr,
                        model.Sink())
                  .ok());
  EXPECT_EQ(CellAt(model.states.at(Dev("d")), "tags", "s"), nullptr);
}

TEST(TwinReader, TwinValuesMergeWithExportsByStamp) {
  Model model;
  testing::IngestFleet(&model);
  auto in = OpenData("twins.jsonl");
  ASSERT_TRUE(ReadTwins(*in, {"neu-secondary", Time("2026-11-22T00:00:00Z"), TwinTagsStamp::kSkip},
                        nullptr, model.Sink())
                  .ok());
  auto s1 = Doc(model, Dev("sensor-01"), Table());
  ASSERT_TRUE(s1);
  // The export's interval (60 at 2026-11-22T12:00) is newer than the twin's; alerts are new.
  EXPECT_EQ((*s1)["properties"]["desired"],
            json::parse(R"({"alerts":{"high":90,"low":10},"interval":60})"));
  EXPECT_EQ((*s1)["properties"]["reported"]["battery"]["level"], 80);
}

// ---- notifications ---------------------------------------------------------------------------

NotificationReadOptions HubOptions() {
  NotificationReadOptions options;
  options.hub_sites["contoso-neu"] = "neu-secondary";
  return options;
}

TEST(NotificationReader, BothNamingsCoalescedAndDuplicates) {
  Model model;
  RejectCollector rejects;
  auto in = OpenData("notifications.jsonl");
  Result<ReadStats> stats = ReadNotifications(*in, HubOptions(), &rejects, model.Sink());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->records, 8u);
  EXPECT_EQ(stats->creates, 2u);
  EXPECT_EQ(stats->deletes, 1u);
  EXPECT_EQ(stats->patches, 5u);
  ASSERT_EQ(rejects.rejects().size(), 2u);
  EXPECT_EQ(rejects.rejects()[0].reason, RejectReason::kUnknownHub);
  EXPECT_EQ(rejects.rejects()[0].line, 9u);
  EXPECT_EQ(rejects.rejects()[1].reason, RejectReason::kUnknownOpType);
  EXPECT_EQ(rejects.rejects()[1].line, 10u);

  auto s7 = Doc(model, Dev("sensor-07"), Table());
  ASSERT_TRUE(s7);
  EXPECT_EQ(*s7, json::parse(R"({"authentication":{"type":"sas"},"capabilities":{"iotEdge":false},
      "properties":{"desired":{"interval":20},"reported":{}},"status":"enabled",
      "tags":{"owner":"ops","room":"107"}})"));
  // The coalesced event re-sent interval with its old $lastUpdated: the stamp did not move.
  const Cell* interval =
      CellAt(model.states.at(Dev("sensor-07")), "properties/desired/interval", "neu-secondary");
  EXPECT_EQ(interval->value_hlc, Time("2026-11-21T12:05:00Z"));
  EXPECT_TRUE(Doc(model, Mod("sensor-07", "telemetry"), Table()));
  EXPECT_FALSE(Doc(model, Dev("sensor-03"), Table()));
  // The delete had no operationTimestamp: iothub-enqueuedtime.
  const Cell* root = CellAt(model.states.at(Dev("sensor-03")), "", "neu-secondary");
  EXPECT_EQ(root->cover_hlc, Time("2026-11-21T12:40:00Z"));

  // Ingesting everything again changes nothing.
  std::map<Key, RecordState> once = model.states;
  auto again = OpenData("notifications.jsonl");
  ASSERT_TRUE(ReadNotifications(*again, HubOptions(), nullptr, model.Sink()).ok());
  EXPECT_EQ(once, model.states);
}

TEST(NotificationReader, ReplaceTwinSetsSectionsOverAnExport) {
  Model model;
  testing::IngestFleet(&model);
  auto in = OpenData("notifications.jsonl");
  ASSERT_TRUE(ReadNotifications(*in, HubOptions(), nullptr, model.Sink()).ok());
  auto s5 = Doc(model, Dev("sensor-05"), Table());
  ASSERT_TRUE(s5);
  EXPECT_EQ((*s5)["tags"], json::parse(R"({"owner":"facilities"})"));
  EXPECT_EQ((*s5)["properties"]["desired"], json::parse(R"({"mode":"normal"})"));
}

TEST(NotificationReader, SiteOverrideAndEnqueuedTimeAsNumber) {
  NotificationReadOptions options;
  options.site_override = "drill-site";
  auto in = LineReader::FromString(
      "n",
      R"({"application":{"hubName":"nowhere","deviceId":"d","opType":"deleteDeviceIdentity"},"annotations":{"iothub-enqueuedtime":1795263901000}})");
  Model model;
  ASSERT_TRUE(ReadNotifications(*in, options, nullptr, model.Sink()).ok());
  const Cell* root = CellAt(model.states.at(Dev("d")), "", "drill-site");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->cover_hlc, MakeHlc(1795263901000ULL, 0));
}

// ---- metadata --------------------------------------------------------------------------------

TEST(MetaReader, ReplaceAndDelete) {
  Model model;
  auto in = OpenData("meta.jsonl");
  RejectCollector rejects;
  Result<ReadStats> stats = ReadMeta(*in, {"weu-primary"}, &rejects, model.Sink());
  ASSERT_TRUE(stats.ok());
  EXPECT_TRUE(rejects.rejects().empty());
  EXPECT_EQ(stats->creates, 1u);
  EXPECT_EQ(stats->deletes, 1u);
  Key wave1 = Key::Meta("fleet", "rollout/wave-1").value();
  auto doc = Doc(model, wave1, Table());
  ASSERT_TRUE(doc);
  EXPECT_EQ((*doc)["owner"]["email.address"], "ops@example.com");  // '.' allowed in meta keys
  EXPECT_FALSE(Doc(model, Key::Meta("fleet", "rollout/wave-0").value(), Table()));
}

// ---- every reject reason ---------------------------------------------------------------------

enum class Reader { kExport, kNotification, kMeta, kErrors };

struct RejectCase {
  const char* name;
  Reader reader;
  std::string line;
  RejectReason reason;
};

std::string Nested(int depth) {
  std::string s = "1";
  for (int i = 0; i < depth; ++i) s = "{\"k" + std::to_string(i) + "\":" + s + "}";
  return s;
}

std::vector<RejectCase> RejectCases() {
  const std::string keys =
      R"("authentication":{"type":"sas","symmetricKey":{"primaryKey":"TopSecretKey1==","secondaryKey":"TopSecretKey2=="}})";
  return {
      {"invalid-utf8", Reader::kExport, "{\"id\":\"d\xFF\"}", RejectReason::kInvalidUtf8},
      {"invalid-json", Reader::kExport, R"({"id":"d",)", RejectReason::kInvalidJson},
      {"not-an-object", Reader::kMeta,
       R"({"namespace":"n","key":"k","updatedAt":"2026-01-01T00:00:00Z","doc":[1]})",
       RejectReason::kNotAnObject},
      {"missing-field", Reader::kExport, R"({"status":"enabled"})", RejectReason::kMissingField},
      {"wrong-type", Reader::kExport, R"({"id":"d","tags":[1]})", RejectReason::kWrongType},
      {"invalid-device-id", Reader::kExport, R"({"id":"has space"})",
       RejectReason::kInvalidDeviceId},
      {"invalid-module-id", Reader::kExport, R"({"id":"d","moduleId":"$custom"})",
       RejectReason::kInvalidModuleId},
      {"invalid-enum status", Reader::kExport, R"({"id":"d","status":"on",)" + keys + "}",
       RejectReason::kInvalidEnum},
      {"invalid-enum auth type", Reader::kExport, R"({"id":"d","authentication":{"type":"token"}})",
       RejectReason::kInvalidEnum},
      {"invalid-enum importMode", Reader::kExport, R"({"id":"d","importMode":"upsert"})",
       RejectReason::kInvalidEnum},
      {"status-reason-too-long", Reader::kExport,
       R"({"id":"d","statusReason":")" + std::string(129, 'r') + "\"}",
       RejectReason::kStatusReasonTooLong},
      {"invalid-twin-key", Reader::kExport, R"({"id":"d","tags":{"a.b":1}})",
       RejectReason::kInvalidTwinKey},
      {"invalid-twin-key $", Reader::kExport,
       R"({"id":"d","properties":{"desired":{"x":{"$y":1}}}})", RejectReason::kInvalidTwinKey},
      {"too-deep", Reader::kExport, R"({"id":"d","tags":)" + Nested(11) + "}",
       RejectReason::kTooDeep},
      {"section-too-large tags", Reader::kExport,
       R"({"id":"d","tags":{"a":")" + std::string(3000, 'a') + R"(","b":")" +
           std::string(3000, 'b') + R"(","c":")" + std::string(3000, 'c') + "\"}}",
       RejectReason::kSectionTooLarge},
      {"string-too-long", Reader::kExport,
       R"({"id":"d","tags":{"a":")" + std::string(4097, 'a') + "\"}}",
       RejectReason::kStringTooLong},
      {"invalid-timestamp", Reader::kMeta,
       R"({"namespace":"n","key":"k","updatedAt":"yesterday","doc":{}})",
       RejectReason::kInvalidTimestamp},
      // The epoch itself stamps nothing (hlc 0 means "unknown"), as text or as milliseconds;
      // found by the meta fuzzer: a meta record read at the epoch was exported without updatedAt.
      {"invalid-timestamp epoch text", Reader::kMeta,
       R"({"namespace":"n","key":"k","updatedAt":"1970-01-01T00:00:00.000Z","doc":{}})",
       RejectReason::kInvalidTimestamp},
      {"invalid-timestamp epoch offset", Reader::kMeta,
       R"({"namespace":"n","key":"k","updatedAt":"1970-01-01T01:00:00+01:00","deleted":true})",
       RejectReason::kInvalidTimestamp},
      {"invalid-timestamp epoch millis", Reader::kMeta,
       R"({"namespace":"n","key":"k","updatedAt":0,"doc":{}})", RejectReason::kInvalidTimestamp},
      {"invalid-timestamp notification", Reader::kNotification,
       R"({"properties":{"hubName":"contoso-neu","deviceId":"d","opType":"deleteDeviceIdentity","operationTimestamp":"2026-13-01T00:00:00Z"}})",
       RejectReason::kInvalidTimestamp},
      {"unknown-op-type", Reader::kNotification,
       R"({"properties":{"hubName":"contoso-neu","deviceId":"d","opType":"deviceConnected","operationTimestamp":"2026-01-01T00:00:00Z"}})",
       RejectReason::kUnknownOpType},
      {"unknown-hub", Reader::kNotification,
       R"({"properties":{"hubName":"elsewhere","deviceId":"d","opType":"deleteDeviceIdentity","operationTimestamp":"2026-01-01T00:00:00Z"}})",
       RejectReason::kUnknownHub},
      {"invalid-meta-key", Reader::kMeta,
       R"({"namespace":"","key":"k","updatedAt":"2026-01-01T00:00:00Z","doc":{}})",
       RejectReason::kInvalidMetaKey},
      {"invalid-scope", Reader::kExport, R"({"id":"d","deviceScope":"edge-1"})",
       RejectReason::kInvalidScope},
      {"invalid-error-code", Reader::kErrors, R"({"deviceId":"d","errorCode":"n/a"})",
       RejectReason::kInvalidErrorCode},
  };
}

TEST(Rejects, EveryReasonWithFileAndLineAndNoSecrets) {
  for (const RejectCase& c : RejectCases()) {
    SCOPED_TRACE(c.name);
    // The bad line is line 2, after a good one, and reading goes on past it.
    std::string good;
    switch (c.reader) {
      case Reader::kExport:
        good = R"({"id":"ok"})";
        break;
      case Reader::kNotification:
        good =
            R"({"properties":{"hubName":"contoso-neu","deviceId":"ok","opType":"deleteDeviceIdentity","operationTimestamp":"2026-01-01T00:00:00Z"}})";
        break;
      case Reader::kMeta:
        good = R"({"namespace":"n","key":"ok","updatedAt":"2026-01-01T00:00:00Z","doc":{}})";
        break;
      case Reader::kErrors:
        good = R"({"deviceId":"ok","errorCode":404001})";
        break;
    }
    auto in = LineReader::FromString("case.txt", good + "\n" + c.line + "\n" + good + "\n");
    RejectCollector rejects;
    Model model;
    Status s;
    uint64_t records = 0;
    switch (c.reader) {
      case Reader::kExport: {
        auto r = ReadExport(*in, {"s", 1000000, false}, &rejects, model.Sink());
        s = r.status();
        if (r.ok()) records = r->records;
        EXPECT_EQ(r.ok() ? r->rejected : 0, 1u);
        break;
      }
      case Reader::kNotification: {
        auto r = ReadNotifications(*in, HubOptions(), &rejects, model.Sink());
        s = r.status();
        if (r.ok()) records = r->records;
        break;
      }
      case Reader::kMeta: {
        auto r = ReadMeta(*in, {"s"}, &rejects, model.Sink());
        s = r.status();
        if (r.ok()) records = r->records;
        break;
      }
      case Reader::kErrors: {
        auto r = ReadImportErrors(*in, &rejects);
        s = r.status();
        if (r.ok()) records = r->size();
        break;
      }
    }
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(records, 2u);
    ASSERT_EQ(rejects.rejects().size(), 1u);
    const Reject& r = rejects.rejects()[0];
    EXPECT_EQ(r.reason, c.reason) << r.ToString();
    EXPECT_EQ(r.file, "case.txt");
    EXPECT_EQ(r.line, 2u);
    EXPECT_FALSE(r.detail.empty());
    EXPECT_EQ(r.ToString().find("TopSecret"), std::string::npos);
  }
}

TEST(Rejects, LineTooLongThroughAReader) {
  LineReaderOptions small;
  small.max_line_bytes = 32;
  auto in = LineReader::FromString("big.txt",
                                   R"({"id":"ok"})"
                                   "\n"
                                   R"({"id":"d","tags":{"a":"0123456789012345678901234567890"}})"
                                   "\n",
                                   small);
  RejectCollector rejects;
  Model model;
  auto r = ReadExport(*in, {"s", 1000000, false}, &rejects, model.Sink());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 1u);
  EXPECT_EQ(r->rejected, 1u);
  EXPECT_EQ(rejects.Count(RejectReason::kLineTooLong), 1u);
}

TEST(Rejects, DepthTenIsAllowed) {
  auto in =
      LineReader::FromString("ok.txt", R"({"id":"d","properties":{"desired":)" + Nested(10) + "}}");
  RejectCollector rejects;
  Model model;
  auto r = ReadExport(*in, {"s", 1000000, false}, &rejects, model.Sink());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(rejects.rejects().empty()) << rejects.rejects()[0].ToString();
  EXPECT_EQ(r->records, 1u);
}

}  // namespace
}  // namespace reconcile
