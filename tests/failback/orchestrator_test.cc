// The orchestrator end to end on a small fleet of simulated hubs: verified, conflicts and plan
// counted, 412001 lines retried; reruns refused without resume, a finished run's report returned
// with resume.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "lib/failback/drill.h"
#include "reconcile/failback.h"
#include "reconcile/stamp.h"
#include "reconcile/store.h"
#include "tests/failback/test_util.h"

namespace reconcile {
namespace {

using failback_test::ReadAll;
using failback_test::TempDir;

struct Prepared {
  TempDir dir;
  failback::DrillOptions drill;
  Prepared(uint64_t devices, uint64_t seed) {
    drill.devices = devices;
    drill.seed = seed;
    drill.work_dir = dir / "drill";
    drill.prepare_only = true;
    auto r = failback::RunDrill(drill);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
  // The drill's simulated primary (or secondary) hub.
  Result<std::unique_ptr<SimulatedHub>> Hub(bool primary) const {
    return SimulatedHub::Open(failback::DrillHubDir(drill.work_dir, primary),
                              failback::DrillHubOptions(drill.work_dir, drill.seed, primary));
  }
};

TEST(Orchestrator, SmallFleetEndToEndVerified) {
  Prepared p(200, 5);
  auto primary = p.Hub(true);
  auto secondary = p.Hub(false);
  ASSERT_TRUE(primary.ok() && secondary.ok());
  FailbackOptions o = failback::DrillFailbackOptions(p.drill.work_dir);
  o.primary = primary->get();
  o.secondary = secondary->get();
  std::vector<std::string> started;
  o.on_step = [&](const std::string& step, bool done) {
    if (!done) started.push_back(step);
  };
  auto report = RunFailback(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->verified) << report->merged_digest << " vs " << report->primary_digest;
  EXPECT_EQ(report->merged_digest, report->primary_digest);
  const std::vector<std::string> steps = {
      "ingest-primary", "ingest-secondary", "ingest-events", "plan", "apply", "retry", "verify"};
  EXPECT_EQ(started, steps);
  ASSERT_EQ(report->steps.size(), steps.size());
  for (const StepReport& s : report->steps) EXPECT_FALSE(s.resumed);
  EXPECT_GT(report->plan_lines_by_mode.at("create"), 0u);
  EXPECT_GT(report->plan_lines_by_mode.at("updateTwinIfMatchETag"), 0u);
  EXPECT_GT(report->plan_lines_by_mode.at("updateIfMatchETag"), 0u);
  EXPECT_FALSE(report->conflicts_by_rule.empty());
  EXPECT_GE(report->retry_rounds, 1);  // the concurrent change made lines fail with 412001
  EXPECT_GT(report->retried_lines, 0u);
  EXPECT_EQ(report->rejected_lines, 0u);
  bool simulated_note = false;
  for (const std::string& n : report->notes)
    simulated_note |= n.find("simulated hub") != std::string::npos;
  EXPECT_TRUE(simulated_note);
  const std::string text = FormatFailbackReport(*report, false);
  EXPECT_NE(text.find("VERIFIED"), std::string::npos);
  auto as_json = nlohmann::json::parse(FormatFailbackReport(*report, true));
  EXPECT_EQ(as_json["verified"], true);

  // A rerun without resume is refused; with resume it returns the same report, all resumed.
  auto rerun = RunFailback(o);
  ASSERT_FALSE(rerun.ok());
  EXPECT_TRUE(rerun.status().IsConflict());
  o.resume = true;
  started.clear();
  auto resumed = RunFailback(o);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_TRUE(started.empty());
  for (const StepReport& s : resumed->steps) EXPECT_TRUE(s.resumed) << s.name;
  EXPECT_EQ(resumed->merged_digest, report->merged_digest);
  EXPECT_EQ(resumed->plan_lines_by_mode, report->plan_lines_by_mode);
  EXPECT_EQ(resumed->conflicts_by_rule, report->conflicts_by_rule);
  EXPECT_TRUE(resumed->verified);

  // Another hub pair for the same work folder is refused.
  SimulatedHubOptions other;
  other.name = "someone-else";
  auto stranger = SimulatedHub::Open(p.dir / "stranger", other);
  ASSERT_TRUE(stranger.ok());
  o.primary = stranger->get();
  EXPECT_TRUE(RunFailback(o).status().IsConflict());
}

TEST(Orchestrator, WithoutBaseEverySnapshotFieldIsAWriteAndStillConverges) {
  Prepared p(60, 9);
  auto primary = p.Hub(true);
  auto secondary = p.Hub(false);
  ASSERT_TRUE(primary.ok() && secondary.ok());
  FailbackOptions o;
  o.work_dir = p.dir / "work";
  o.primary = primary->get();
  o.secondary = secondary->get();
  o.no_keys = true;
  o.max_lines_per_file = 7;
  auto report = RunFailback(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->verified) << FormatFailbackReport(*report, false);
  // Keys never reach the plan with no_keys.
  const std::string plan = ReadAll(p.dir / "work/plan/devices-00001.txt");
  EXPECT_EQ(plan.find("primaryKey"), std::string::npos);
}

// The primary's export is read through its changed lines (only lines that differ from the
// backup's), yet a bad line in it is rejected with the export's own name and line number, and the
// records around it are still read: the run gets through its steps.
TEST(Orchestrator, ABadLineInThePrimarysExportIsRejectedAtItsOwnLine) {
  Prepared p(60, 12);
  auto primary = p.Hub(true);
  auto secondary = p.Hub(false);
  ASSERT_TRUE(primary.ok() && secondary.ok());
  FailbackOptions o = failback::DrillFailbackOptions(p.drill.work_dir);
  o.primary = primary->get();
  o.secondary = secondary->get();
  // The export as if taken before a crash (the orchestrator keeps it), with line 4 broken.
  const std::string exported = o.work_dir + "/exports/primary.txt";
  std::filesystem::create_directories(o.work_dir + "/exports");
  ASSERT_TRUE((*primary)->Export(exported).ok());
  std::vector<std::string> lines = failback_test::Lines(ReadAll(exported));
  ASSERT_GT(lines.size(), 10u);
  lines[3] = R"({"id":"broken-line","eTag":)";
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  failback_test::WriteAll(exported, text);
  std::vector<std::string> finished;
  o.on_step = [&](const std::string& step, bool done) {
    if (done) finished.push_back(step);
  };
  auto report = RunFailback(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(finished.size(), 7u);
  // Once as the primary's line, once more when the retry reads the fresh export against it.
  EXPECT_EQ(report->rejected_lines, 2u) << FormatFailbackReport(*report, false);
  for (const char* step : {"ingest-primary", "retry-1"}) {
    const std::string rejects = ReadAll(o.work_dir + "/rejects/" + step + ".txt");
    EXPECT_NE(rejects.find("# reject file=" + exported + " line=4 "), std::string::npos)
        << step << ": " << rejects;
    EXPECT_NE(rejects.find("broken-line"), std::string::npos) << step << ": " << rejects;
  }
}

// Twin reads carry the site of the hub they were read from: the primary's later desired value
// wins over the secondary's earlier one, and the conflict report names the primary as winner.
// A hub that loses one line of the first import job and still reports the job done: the
// failback ends unverified and names the record the primary lacks.
class LosingHub final : public HubAdapter {
 public:
  LosingHub(HubAdapter* hub, std::string dir) : hub_(hub), dir_(std::move(dir)) {}
  std::string name() const override { return hub_->name(); }
  bool simulated() const override { return true; }
  Status Export(const std::string& path) override { return hub_->Export(path); }
  Result<ImportOutcome> Import(const std::string& job_id, const std::vector<std::string>& files,
                               const std::string& errors_path) override {
    std::vector<std::string> given = files;
    if (lost_.empty() && !files.empty()) {
      const std::string text = ReadAll(files[0]);
      const size_t end = text.find('\n');
      const nlohmann::json line = nlohmann::json::parse(text.substr(0, end));
      lost_ = "device:" + line["id"].get<std::string>();
      if (line.contains("moduleId")) {
        lost_ =
            "module:" + line["id"].get<std::string>() + "/" + line["moduleId"].get<std::string>();
      }
      given[0] = dir_ + "/without-one-line.txt";
      failback_test::WriteAll(given[0], end == std::string::npos ? "" : text.substr(end + 1));
    }
    return hub_->Import(job_id, given, errors_path);
  }
  const std::string& lost() const { return lost_; }

 private:
  HubAdapter* hub_;
  std::string dir_;
  std::string lost_;  // the key of the line lost
};

TEST(Orchestrator, ALineTheHubLostLeavesTheFailbackUnverifiedAndNamesItsRecord) {
  Prepared p(200, 9);
  auto primary = p.Hub(true);
  auto secondary = p.Hub(false);
  ASSERT_TRUE(primary.ok() && secondary.ok());
  LosingHub losing(primary->get(), p.dir.path());
  FailbackOptions o = failback::DrillFailbackOptions(p.drill.work_dir);
  o.primary = &losing;
  o.secondary = secondary->get();
  auto report = RunFailback(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_FALSE(losing.lost().empty());
  EXPECT_FALSE(report->verified);
  EXPECT_NE(report->merged_digest, report->primary_digest);
  EXPECT_GE(report->differing_records, 1u);
  EXPECT_EQ(report->differing_keys.size(), std::min<uint64_t>(report->differing_records, 20));
  EXPECT_NE(std::find(report->differing_keys.begin(), report->differing_keys.end(), losing.lost()),
            report->differing_keys.end())
      << losing.lost() << " not among " << nlohmann::json(report->differing_keys).dump();
}

TEST(Orchestrator, TwinReadsCountForTheSiteTheyWereReadFrom) {
  Prepared p(60, 9);
  auto primary = p.Hub(true);
  auto secondary = p.Hub(false);
  ASSERT_TRUE(primary.ok() && secondary.ok());
  // A device both hubs hold.
  ASSERT_TRUE((*primary)->Export(p.dir / "primary-export.txt").ok());
  std::string id;
  for (const std::string& line : failback_test::Lines(ReadAll(p.dir / "primary-export.txt"))) {
    auto doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_object() && !doc.contains("moduleId") && doc.contains("id")) {
      id = doc["id"].get<std::string>();
      break;
    }
  }
  ASSERT_FALSE(id.empty());
  FailbackOptions o = failback::DrillFailbackOptions(p.drill.work_dir);
  o.primary = primary->get();
  o.secondary = secondary->get();
  auto twin_line = [&](const std::string& value, Hlc at) {
    const std::string t = FormatIso8601(at);
    return nlohmann::json{
               {"deviceId", id},
               {"properties",
                {{"desired",
                  {{"probe", value},
                   {"$metadata", {{"$lastUpdated", t}, {"probe", {{"$lastUpdated", t}}}}}}}}}}
               .dump() +
           "\n";
  };
  const Hlc hour = MakeHlc(3'600'000, 0);
  failback_test::WriteAll(p.dir / "twins-primary.jsonl",
                          twin_line("from-primary", o.fork_point + 2 * hour));
  // The secondary's later read, stamped a day ahead of the run's clock, is quarantined: a skewed
  // clock does not win.
  Hlc now = o.fork_point + 10 * hour;
  o.now = [&now] { return now += MakeHlc(1, 0); };
  failback_test::WriteAll(p.dir / "twins-secondary.jsonl",
                          twin_line("from-secondary", o.fork_point + hour) +
                              twin_line("from-the-future", now + 24 * hour));
  o.twin_files = {{o.primary_site, p.dir / "twins-primary.jsonl"},
                  {o.secondary_site, p.dir / "twins-secondary.jsonl"}};
  auto report = RunFailback(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->verified);
  EXPECT_EQ(report->rejected_lines, 1u);
  const std::string held = ReadAll(o.work_dir + "/rejects/ingest-events.txt");
  EXPECT_NE(held.find("twins-secondary.jsonl line=2 reason=clock-skew"), std::string::npos) << held;
  EXPECT_NE(held.find("site 'secondary'"), std::string::npos) << held;
  bool found = false;
  for (const std::string& line : failback_test::Lines(ReadAll(o.work_dir + "/conflicts.jsonl"))) {
    auto c = nlohmann::json::parse(line);
    if (c["path"] != "properties/desired/probe") continue;
    found = true;
    EXPECT_EQ(c["winner"], o.primary_site) << line;
    EXPECT_EQ(c["losers"], nlohmann::json::array({o.secondary_site})) << line;
  }
  EXPECT_TRUE(found) << "no conflict reported for the probe property of " << id;
  // What the primary holds after the failback is the primary's value.
  ASSERT_TRUE((*primary)->Export(p.dir / "after.txt").ok());
  bool seen = false;
  for (const std::string& line : failback_test::Lines(ReadAll(p.dir / "after.txt"))) {
    auto doc = nlohmann::json::parse(line, nullptr, false);
    if (!doc.is_object() || doc.value("id", "") != id || doc.contains("moduleId")) continue;
    seen = true;
    EXPECT_EQ(doc["properties"]["desired"]["probe"], "from-primary") << line;
  }
  EXPECT_TRUE(seen);
}

TEST(Orchestrator, BadOptionsAreRefused) {
  TempDir dir;
  FailbackOptions o;
  EXPECT_TRUE(RunFailback(o).status().IsInvalidInput());
  o.work_dir = dir / "work";
  EXPECT_TRUE(RunFailback(o).status().IsInvalidInput());
  auto a = MakeDirectoryHub(dir.path(), "a");
  auto b = MakeDirectoryHub(dir.path(), "b");
  o.primary = a.get();
  o.secondary = b.get();
  o.secondary_site = "primary";
  EXPECT_TRUE(RunFailback(o).status().IsInvalidInput());
  o.secondary_site = "secondary";
  o.base_export = dir / "missing.txt";
  EXPECT_TRUE(RunFailback(o).status().IsNotFound());
  o.base_export.clear();
  // No export in the primary's folder: the step fails and names the file to put there.
  auto r = RunFailback(o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound());
  EXPECT_NE(r.status().message().find("export/devices.txt"), std::string::npos);
}

}  // namespace
}  // namespace reconcile
