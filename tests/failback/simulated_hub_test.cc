// The simulated hub (drills and tests only): importMode rules and error codes, ETags, scopes,
// exports the readers accept, notifications, persistence, crash in the middle of a job.
#include <nlohmann/json.hpp>

#include "reconcile/failback.h"
#include "reconcile/iothub.h"
#include "reconcile/iothub_plan.h"
#include "tests/failback/test_util.h"

namespace reconcile {
namespace {

using failback_test::InChild;
using failback_test::Lines;
using failback_test::ReadAll;
using failback_test::TempDir;
using failback_test::WriteAll;
using nlohmann::json;

const Hlc kAt = MakeHlc(1767225600000ULL, 0);  // 2026-01-01T00:00:00Z

std::unique_ptr<SimulatedHub> OpenHub(const std::string& dir, uint64_t seed = 1,
                                      const std::string& name = "sim-a") {
  SimulatedHubOptions o;
  o.name = name;
  o.seed = seed;
  o.clock = [] { return kAt; };  // repeatable exports ($metadata times)
  auto hub = SimulatedHub::Open(dir, o);
  EXPECT_TRUE(hub.ok()) << hub.status().ToString();
  return std::move(*hub);
}

json Record(SimulatedHub& hub, const std::string& id, const std::string& module = "") {
  auto r = hub.GetRecord(id, module);
  if (!r.ok()) return nullptr;
  return json::parse(*r);
}

// Runs one import job of `lines` and returns the errors log's lines as JSON.
std::vector<json> Import(SimulatedHub& hub, const TempDir& dir, const std::string& job,
                         const std::vector<json>& lines) {
  std::string text;
  for (const json& l : lines) text += l.dump() + "\n";
  const std::string file = dir / (job + ".txt");
  WriteAll(file, text);
  auto outcome = hub.Import(job, {file}, dir / (job + ".errors"));
  EXPECT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(outcome->completed);
  EXPECT_EQ(outcome->lines, lines.size());
  std::vector<json> errors;
  for (const std::string& l : Lines(ReadAll(dir / (job + ".errors"))))
    errors.push_back(json::parse(l));
  EXPECT_EQ(outcome->failed, errors.size());
  return errors;
}

TEST(SimulatedHub, CreateAssignsETagsKeysAndRejectsDuplicates) {
  TempDir dir;
  auto hub = OpenHub(dir / "hub");
  ASSERT_TRUE(hub->CreateDevice("d1", "", R"({"tags":{"a":1}})", kAt).ok());
  json d1 = Record(*hub, "d1");
  EXPECT_EQ(d1["status"], "enabled");
  EXPECT_EQ(d1["authentication"]["type"], "sas");
  EXPECT_EQ(d1["authentication"]["symmetricKey"]["primaryKey"].get<std::string>().size(), 44u);
  EXPECT_FALSE(d1["eTag"].get<std::string>().empty());
  EXPECT_EQ(d1["twinETag"].get<std::string>().size(), 12u);  // base64 of 8 bytes
  EXPECT_TRUE(hub->CreateDevice("d1", "", "{}", kAt).IsConflict());
  EXPECT_TRUE(hub->CreateDevice("nodevice", "m", "{}", kAt).IsNotFound());
  EXPECT_EQ(hub->size(), 1u);
}

TEST(SimulatedHub, ImportModesAndErrorCodes) {
  TempDir dir;
  auto hub = OpenHub(dir / "hub");
  ASSERT_TRUE(hub->CreateDevice("d1", "", R"({"tags":{"a":1}})", kAt).ok());
  ASSERT_TRUE(hub->CreateDevice("d2", "", "{}", kAt).ok());
  ASSERT_TRUE(hub->CreateDevice("d3", "", "{}", kAt).ok());
  ASSERT_TRUE(hub->CreateDevice("d3", "m1", "{}", kAt).ok());
  const json d1 = Record(*hub, "d1");
  const json d2 = Record(*hub, "d2");
  const json d3 = Record(*hub, "d3");
  auto errors =
      Import(*hub, dir, "job1",
             {
                 {{"id", "d1"}, {"importMode", "create"}},                              // 409001
                 {{"id", "new1"}, {"importMode", "create"}, {"tags", {{"x", 1}}}},      // ok
                 {{"id", "nope"}, {"importMode", "update"}},                            // 404001
                 {{"id", "d1"}, {"importMode", "updateIfMatchETag"}, {"eTag", "bad"}},  // 412001
                 {{"id", "d2"},
                  {"importMode", "updateIfMatchETag"},
                  {"eTag", d2["eTag"]},
                  {"status", "disabled"}},  // ok
                 {{"id", "d1"},
                  {"importMode", "updateTwinIfMatchETag"},
                  {"twinETag", "AAAA"},
                  {"tags", {{"a", 2}}}},  // 412001
                 {{"id", "d1"},
                  {"importMode", "updateTwinIfMatchETag"},
                  {"twinETag", d1["twinETag"]},
                  {"tags", {{"a", 3}}}},                                                // ok
                 {{"id", "nope"}, {"importMode", "deleteIfMatchETag"}, {"eTag", "x"}},  // 404001
                 {{"id", "d3"}, {"importMode", "deleteIfMatchETag"}, {"eTag", "bad"}},  // 412001
                 {{"id", "nope"}, {"moduleId", "m"}, {"importMode", "create"}},         // 404001
                 {{"id", "new2"}, {"importMode", "createOrUpdate"}},                    // ok
                 {{"id", "new2"}, {"importMode", "createOrUpdate"}, {"status", "disabled"}},
                 {{"id", "nope"}, {"importMode", "updateTwin"}},  // 404001
                 {{"id", "new1"}, {"importMode", "updateTwin"}, {"tags", {{"y", 2}}}},
                 {{"id", "d2"},
                  {"status", "sleeping"},  // 400004
                  {"authentication",
                   {{"type", "sas"}, {"symmetricKey", {{"primaryKey", "SECRETKEYVALUE"}}}}}},
             });
  std::vector<std::pair<std::string, int64_t>> got;
  for (const json& e : errors) {
    got.emplace_back(e["deviceId"].get<std::string>(), e["errorCode"].get<int64_t>());
    EXPECT_EQ(e["errorStatus"].get<std::string>().find("SECRETKEYVALUE"), std::string::npos);
  }
  const std::vector<std::pair<std::string, int64_t>> want = {
      {"d1", 409001}, {"nope", 404001}, {"d1", 412001},   {"d1", 412001}, {"nope", 404001},
      {"d3", 412001}, {"nope", 404001}, {"nope", 404001}, {"d2", 400004}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(errors[6]["moduleId"], "m");
  EXPECT_EQ(Record(*hub, "d2")["status"], "disabled");
  EXPECT_NE(Record(*hub, "d2")["eTag"], d2["eTag"]);
  EXPECT_EQ(Record(*hub, "d1")["tags"], json({{"a", 3}}));
  EXPECT_NE(Record(*hub, "d1")["twinETag"], d1["twinETag"]);
  EXPECT_EQ(Record(*hub, "d1")["eTag"], d1["eTag"]);  // a twin change keeps the identity's eTag
  EXPECT_EQ(Record(*hub, "new1")["tags"], json({{"y", 2}}));
  EXPECT_EQ(Record(*hub, "new2")["status"], "disabled");
  EXPECT_FALSE(Record(*hub, "d3").is_null());

  // Deletes: a device's delete takes its modules with it.
  errors = Import(*hub, dir, "job2",
                  {{{"id", "d3"}, {"importMode", "deleteIfMatchETag"}, {"eTag", d3["eTag"]}},
                   {{"id", "d2"}, {"importMode", "delete"}},
                   {{"id", "d2"}, {"importMode", "delete"}}});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["errorCode"], 404001);
  EXPECT_TRUE(Record(*hub, "d3").is_null());
  EXPECT_TRUE(Record(*hub, "d3", "m1").is_null());
  EXPECT_TRUE(Record(*hub, "d2").is_null());
}

TEST(SimulatedHub, FinishedJobIsNotRunTwice) {
  TempDir dir;
  auto hub = OpenHub(dir / "hub");
  auto errors = Import(*hub, dir, "job", {{{"id", "a"}, {"importMode", "create"}}});
  EXPECT_TRUE(errors.empty());
  const std::string before = Record(*hub, "a").dump();
  // The same job again: nothing is applied (a create would now fail with 409001).
  errors = Import(*hub, dir, "job", {{{"id", "a"}, {"importMode", "create"}}});
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(Record(*hub, "a").dump(), before);
  // A new job id runs.
  errors = Import(*hub, dir, "job-2", {{{"id", "a"}, {"importMode", "create"}}});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["errorCode"], 409001);
}

TEST(SimulatedHub, EdgeDevicesGetScopesAndSystemModules) {
  TempDir dir;
  auto a = OpenHub(dir / "a", 1, "hub-a");
  auto b = OpenHub(dir / "b", 2, "hub-b");
  for (auto* hub : {a.get(), b.get()}) {
    ASSERT_TRUE(hub->CreateDevice("gw", "", R"({"capabilities":{"iotEdge":true}})", kAt).ok());
  }
  json ga = Record(*a, "gw");
  json gb = Record(*b, "gw");
  const std::string sa = ga["deviceScope"];
  auto id = ScopeDeviceId(sa);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "gw");
  EXPECT_EQ(sa.size(), std::string("ms-azure-iot-edge://gw-").size() + 18);
  EXPECT_NE(sa, gb["deviceScope"].get<std::string>());  // hub-specific generation ids
  EXPECT_FALSE(Record(*a, "gw", "$edgeAgent").is_null());
  EXPECT_FALSE(Record(*a, "gw", "$edgeHub").is_null());
  // A child naming the other hub's scope of its parent gets this hub's scope.
  json child = {{"parentScopes", {gb["deviceScope"]}}, {"deviceScope", gb["deviceScope"]}};
  ASSERT_TRUE(a->CreateDevice("leaf", "", child.dump(), kAt).ok());
  EXPECT_EQ(Record(*a, "leaf")["parentScopes"], json::array({sa}));
  EXPECT_EQ(Record(*a, "leaf")["deviceScope"], sa);
}

TEST(SimulatedHub, ExportAndNotificationsAreReadable) {
  TempDir dir;
  auto hub = OpenHub(dir / "hub", 1, "contoso");
  ASSERT_TRUE(
      hub->CreateDevice("gw", "", R"({"capabilities":{"iotEdge":true},"tags":{"t":1}})", kAt).ok());
  ASSERT_TRUE(
      hub->CreateDevice("d", "", R"({"properties":{"desired":{"x":1},"reported":{"y":2}}})", kAt)
          .ok());
  ASSERT_TRUE(hub->CreateDevice("d", "m", R"({"properties":{"desired":{"z":1}}})", kAt).ok());
  ASSERT_TRUE(hub->UpdateDevice("d", "",
                                R"({"properties":{"desired":{"x":null,"w":5}},"tags":{"k":"v"}})",
                                kAt + MakeHlc(1, 0))
                  .ok());
  ASSERT_TRUE(hub->DeleteDevice("d", "m", kAt + MakeHlc(2, 0)).ok());
  ASSERT_TRUE(hub->Export(dir / "devices.txt").ok());
  const std::string text = ReadAll(dir / "devices.txt");
  EXPECT_NE(text.find("\"eTag\""), std::string::npos);
  EXPECT_NE(text.find("\"twinETag\""), std::string::npos);
  EXPECT_NE(text.find("\"$metadata\""), std::string::npos);

  auto reader = LineReader::Open(dir / "devices.txt");
  ASSERT_TRUE(reader.ok());
  RejectCollector rejects;
  std::map<std::string, int> keys;
  ExportReadOptions ro;
  ro.site = "s";
  ro.observed_at = kAt;
  auto stats = ReadExport(**reader, ro, &rejects, [&](const Key& k, RecordState) {
    ++keys[k.ToString()];
    return Status::Ok();
  });
  ASSERT_TRUE(stats.ok());
  EXPECT_TRUE(rejects.rejects().empty());
  EXPECT_EQ(keys.size(), 4u);  // gw, gw/$edgeAgent, gw/$edgeHub, d
  EXPECT_EQ(Record(*hub, "d")["properties"]["desired"], json({{"w", 5}}));

  ASSERT_TRUE(hub->WriteNotifications(dir / "events.jsonl").ok());
  auto events = LineReader::Open(dir / "events.jsonl");
  ASSERT_TRUE(events.ok());
  NotificationReadOptions no;
  no.hub_sites = {{"contoso", "s"}};
  std::map<std::string, int> ops;
  auto read = ReadNotifications(**events, no, &rejects,
                                [&](const Key&, RecordState) { return Status::Ok(); });
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(rejects.rejects().empty()) << rejects.rejects()[0].ToString();
  EXPECT_EQ(read->creates, 5u);  // gw and its 2 system modules, d, d/m
  EXPECT_EQ(read->patches, 1u);
  EXPECT_EQ(read->deletes, 1u);
  for (const std::string& l : Lines(ReadAll(dir / "events.jsonl"))) {
    json m = json::parse(l);
    EXPECT_EQ(m["properties"]["hubName"], "contoso");
    EXPECT_TRUE(m["properties"].contains("operationTimestamp"));
    EXPECT_TRUE(m["systemProperties"].contains("iothub-enqueuedtime"));
  }
}

TEST(SimulatedHub, SurvivesReopenAndIsLocked) {
  TempDir dir;
  std::string before;
  {
    auto hub = OpenHub(dir / "hub");
    ASSERT_TRUE(hub->CreateDevice("d1", "", R"({"tags":{"a":1}})", kAt).ok());
    ASSERT_TRUE(hub->UpdateDevice("d1", "", R"({"status":"disabled"})", kAt).ok());
    SimulatedHubOptions o;
    o.name = "sim-a";
    EXPECT_TRUE(SimulatedHub::Open(dir / "hub", o).status().IsConflict());
    ASSERT_TRUE(hub->Export(dir / "before.txt").ok());
  }
  auto hub = OpenHub(dir / "hub");
  ASSERT_TRUE(hub->Export(dir / "after.txt").ok());
  EXPECT_EQ(ReadAll(dir / "before.txt"), ReadAll(dir / "after.txt"));
  EXPECT_EQ(Record(*hub, "d1")["status"], "disabled");
}

// A job killed part way (SIGKILL mid-job) and continued with the same job id ends exactly as a
// job that was never interrupted: lines applied before the kill are not applied again.
TEST(SimulatedHub, JobKilledMidwayContinuesWhereItStopped) {
  TempDir dir;
  std::string lines;
  for (int i = 0; i < 4000; ++i) {
    lines += json({{"id", "d" + std::to_string(i)}, {"importMode", "create"}, {"tags", {{"i", i}}}})
                 .dump() +
             "\n";
    if (i % 10 == 0) {
      lines += json({{"id", "d" + std::to_string(i)}, {"importMode", "create"}}).dump() + "\n";
    }
  }
  WriteAll(dir / "import.txt", lines);
  auto run = [&](const std::string& hub_dir) {
    auto hub = OpenHub(hub_dir);
    auto r = hub->Import("job", {dir / "import.txt"}, hub_dir + ".errors");
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(hub->Export(hub_dir + ".export").ok());
  };
  run(dir / "clean");
  bool killed_midway = false;
  for (int delay_us : {3000, 10000, 30000}) {
    const std::string hub_dir = dir / ("killed-" + std::to_string(delay_us));
    pid_t pid = fork();
    if (pid == 0) {
      auto hub = OpenHub(hub_dir);
      (void)hub->Import("job", {dir / "import.txt"}, hub_dir + ".errors");
      _exit(0);
    }
    usleep(delay_us);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    killed_midway = killed_midway || WIFSIGNALED(status);
    run(hub_dir);
    EXPECT_EQ(ReadAll(hub_dir + ".export"), ReadAll(dir / "clean.export")) << delay_us;
    EXPECT_EQ(ReadAll(hub_dir + ".errors"), ReadAll(dir / "clean.errors")) << delay_us;
  }
  EXPECT_EQ(Lines(ReadAll(dir / "clean.errors")).size(), 400u);
  if (!killed_midway) GTEST_SKIP() << "the children finished before they were killed";
}

}  // namespace
}  // namespace reconcile
