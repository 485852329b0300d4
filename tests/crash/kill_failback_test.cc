// mergetool failback SIGKILLed and resumed. The hubs are directory hubs (docs/FAILBACK.md) over a
// prepared drill: the test plays the operator, who runs each import job the command hands over on
// the drill's simulated primary (which makes a concurrent change when the first job starts, so
// ETag-guarded lines fail and are retried) and puts back its importErrors.log and a fresh export.
// A run is a few legs (the command exits "waiting for the import job" between them); each round
// kills one or more legs one to three times in a row — after a random delay within the leg's
// uninterrupted time, or a moment after a step's first file appears (the primary's or the
// secondary's export, the conflicts list, the plan, the job folder, a retry's or verify's export)
// — and resumes with --resume. Every round must end verified, with the uninterrupted run's merged
// and primary projection digests, work store digest, and first plan (import files and report byte
// for byte; the manifest's createdAt and run id aside).
//
// RECONCILE_CRASH_SEED reproduces a run; RECONCILE_CRASH_FAILBACK_POINTS (default 14) sets the
// kill points, RECONCILE_CRASH_FAILBACK_DEVICES (default 400) the fleet.
#include <filesystem>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lib/failback/drill.h"
#include "reconcile/failback.h"
#include "tests/crash/fleet.h"
#include "tests/crash/harness.h"

namespace crash_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One failback "world": the drill (with the simulated primary behind the primary's folder), the
// two directory hubs, the work folder.
struct World {
  std::string root;
  std::string drill() const { return root + "/drill"; }
  std::string primary() const { return root + "/weu"; }
  std::string secondary() const { return root + "/neu"; }
  std::string work() const { return root + "/work"; }
};

std::vector<std::string> FailbackArgs(const Fleet& f, const World& w, bool resume) {
  std::vector<std::string> args = {"failback",
                                   "--primary",
                                   w.primary(),
                                   "--secondary",
                                   w.secondary(),
                                   "--work",
                                   w.work(),
                                   "--base",
                                   w.drill() + "/backup/devices.txt",
                                   "--fork-point",
                                   f.fork_point,
                                   "--primary-observed-at",
                                   f.primary_observed_at,
                                   "--secondary-observed-at",
                                   f.secondary_observed_at,
                                   "--primary-name",
                                   f.primary_hub,
                                   "--secondary-name",
                                   f.secondary_hub,
                                   "--primary-site",
                                   f.primary_site,
                                   "--secondary-site",
                                   f.secondary_site,
                                   "--notifications",
                                   w.drill() + "/events/delivered.jsonl",
                                   "--max-lines",
                                   "120",
                                   "--json"};
  if (resume) args.push_back("--resume");
  return args;
}

// The operator: runs every job handed to the primary's folder and not yet back on the drill's
// simulated primary, puts its importErrors.log back, then a fresh export. Returns the jobs run.
int RunHandedOverJobs(const Fleet& f, const World& w) {
  int jobs = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(w.primary() + "/import", ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::path job = it->path();
    if (!Exists((job / "job.json").string()) || Exists((job / "importErrors.log").string())) {
      continue;
    }
    const json manifest = json::parse(ReadFile((job / "job.json").string()));
    std::vector<std::string> files;
    for (const json& name : manifest.at("files")) {
      files.push_back((job / name.get<std::string>()).string());
    }
    auto hub = reconcile::SimulatedHub::Open(
        reconcile::failback::DrillHubDir(w.drill(), true),
        reconcile::failback::DrillHubOptions(w.drill(), f.seed, true));
    EXPECT_TRUE(hub.ok()) << hub.status().ToString();
    if (!hub.ok()) return jobs;
    const std::string errors = (job / "importErrors.log.part").string();
    auto outcome = (*hub)->Import(manifest.at("job").get<std::string>(), files, errors);
    EXPECT_TRUE(outcome.ok()) << outcome.status().ToString();
    if (!Exists(errors)) WriteFile(errors, "");
    fs::rename(errors, job / "importErrors.log");
    const std::string fresh = w.primary() + "/export/devices.txt";
    EXPECT_TRUE((*hub)->Export(fresh + ".part").ok());
    fs::rename(fresh + ".part", fresh);
    ++jobs;
  }
  return jobs;
}

// Files a step writes first, to kill at: the step starts when it appears.
std::vector<std::pair<std::string, std::string>> StepFiles(const World& w) {
  return {{"ingest-primary", w.work() + "/exports/primary.txt"},
          {"ingest-secondary", w.work() + "/exports/secondary.txt"},
          {"plan", w.work() + "/conflicts.jsonl"},
          {"plan-files", w.work() + "/plan/plan-report.jsonl"},
          {"apply", w.primary() + "/import"},
          {"retry", w.work() + "/retry-1/primary.txt"},
          {"retry-plan", w.work() + "/retry-1/plan/plan-report.jsonl"},
          {"verify", w.work() + "/verify/primary.txt"}};
}

struct Legs {
  Child last;
  std::vector<double> seconds;  // each leg's completing run
  int jobs = 0;
};

// Runs the failback to its end: legs separated by the operator's jobs. The kills of leg i are
// made, in order, on its first runs; the leg then runs to its end.
Legs RunFailbackLegs(const Fleet& f, const World& w,
                     const std::map<int, std::vector<LabeledKill>>& kills, KillTally& tally,
                     const std::function<void(int leg)>& after_leg = nullptr) {
  Legs legs;
  bool started = false;
  for (int leg = 0; leg < 12; ++leg) {
    auto planned = kills.find(leg);
    const std::vector<LabeledKill> none;
    legs.last =
        KillAndRerun(FailbackArgs(f, w, started), planned == kills.end() ? none : planned->second,
                     tally, FailbackArgs(f, w, true));
    started = true;
    legs.seconds.push_back(legs.last.seconds);
    if (after_leg) after_leg(leg);
    if (legs.last.exit_code == 1 &&
        legs.last.err.find("waiting for the import job") != std::string::npos) {
      legs.jobs += RunHandedOverJobs(f, w);
      continue;
    }
    return legs;
  }
  ADD_FAILURE() << "the failback did not end in 12 legs";
  return legs;
}

// The plan folder's files; the manifest without its clock and run id (they differ per run).
std::map<std::string, std::string> PlanFiles(const std::string& dir) {
  std::map<std::string, std::string> files = FilesUnder(dir);
  auto manifest = files.find("manifest.json");
  if (manifest != files.end()) {
    json m = json::parse(manifest->second, nullptr, false);
    if (m.is_object()) {
      m.erase("createdAt");
      json inputs = json::array();
      for (const json& i : m.value("inputs", json::array())) {
        if (i.value("name", "") != "run") inputs.push_back(i);
      }
      m["inputs"] = inputs;
    }
    manifest->second = m.dump(2);
  }
  return files;
}

struct Outcome {
  std::string merged_digest;
  std::string primary_digest;
  bool verified = false;
  int retry_rounds = 0;
  std::string store_digest;
  std::map<std::string, std::string> plan;
};

Outcome Observe(const World& w, const Child& last) {
  Outcome o;
  json report = json::parse(last.out, nullptr, false);
  EXPECT_TRUE(report.is_object()) << last.Describe() << "\n" << last.out;
  if (!report.is_object()) return o;
  o.merged_digest = report.value("mergedDigest", "");
  o.primary_digest = report.value("primaryDigest", "");
  o.verified = report.value("verified", false);
  o.retry_rounds = report.value("retryRounds", 0);
  o.store_digest = MustRun({"digest", w.work() + "/store"});
  o.plan = PlanFiles(w.work() + "/plan");
  return o;
}

TEST(KillFailback, KilledAnywhereAndResumedEndsVerifiedWithTheSameDigests) {
  const uint64_t seed = Seed("KillFailback");
  std::mt19937_64 rng(seed);
  const uint64_t points = EnvNumber("RECONCILE_CRASH_FAILBACK_POINTS", 14);
  TempDir dir("crash-failback");
  const Fleet fleet =
      PrepareFleet(dir / "fleet", EnvNumber("RECONCILE_CRASH_FAILBACK_DEVICES", 400), 8);
  ASSERT_FALSE(::testing::Test::HasFailure());
  // The world every round starts from: the drill, and the hubs' folders with their exports.
  const World start{dir / "start"};
  CopyTree(fleet.drill, start.drill());
  WriteFile(start.primary() + "/export/devices.txt", ReadFile(fleet.primary_export));
  WriteFile(start.secondary() + "/export/devices.txt", ReadFile(fleet.secondary_export));

  // The uninterrupted run, and in which leg each step's first file appeared.
  const World ref_world{dir / "reference"};
  CopyTree(start.root, ref_world.root);
  KillTally unused;
  std::map<std::string, int> step_leg;
  const Legs ref = RunFailbackLegs(fleet, ref_world, {}, unused, [&](int leg) {
    for (const auto& [step, file] : StepFiles(ref_world)) {
      if (Exists(file) && step_leg.count(step) == 0) step_leg[step] = leg;
    }
  });
  ASSERT_EQ(ref.last.exit_code, 0) << ref.last.Describe();
  const Outcome want = Observe(ref_world, ref.last);
  ASSERT_TRUE(want.verified);
  ASSERT_GE(want.retry_rounds, 1) << "the concurrent change should make lines fail and retry";
  ASSERT_FALSE(want.plan.empty());
  std::cout << "failback: " << ref.seconds.size() << " legs, " << ref.jobs
            << " import jobs; leg s:";
  for (double s : ref.seconds) std::cout << " " << s;
  std::cout << "; steps by leg:";
  for (const auto& [step, leg] : step_leg) std::cout << " " << step << "@" << leg;
  std::cout << "\n";

  KillTally tally;
  const World world{dir / "world"};
  std::uniform_int_distribution<int> chain(1, 3);
  for (int round = 0; tally.landed() < points && round < static_cast<int>(points) * 4; ++round) {
    CopyTree(start.root, world.root);
    std::map<int, std::vector<LabeledKill>> kills;
    for (int i = chain(rng); i > 0; --i) {
      const std::vector<std::pair<std::string, std::string>> files = StepFiles(world);
      const auto& [step, file] = files[rng() % files.size()];
      if (rng() % 2 == 0 && step_leg.count(step) != 0) {
        // A moment (0 to 20 ms) after the step's first file appears.
        const int leg = step_leg.at(step);
        kills[leg].push_back(
            {step,
             KillAt{[file = file] { return Exists(file); },
                    std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20000)(rng))}});
      } else {
        const int leg = static_cast<int>(rng() % ref.seconds.size());
        const auto max_us = static_cast<int64_t>(ref.seconds[leg] * 1e6);
        kills[leg].push_back(
            {"leg-" + std::to_string(leg) + " delay",
             KillAt{nullptr, std::chrono::microseconds(
                                 std::uniform_int_distribution<int64_t>(0, max_us)(rng))}});
      }
    }
    const Legs got_legs = RunFailbackLegs(fleet, world, kills, tally);
    ASSERT_EQ(got_legs.last.exit_code, 0) << "round " << round << ": " << got_legs.last.Describe();
    const Outcome got = Observe(world, got_legs.last);
    ASSERT_TRUE(got.verified) << "round " << round;
    EXPECT_EQ(got.merged_digest, want.merged_digest) << "round " << round;
    EXPECT_EQ(got.primary_digest, want.primary_digest) << "round " << round;
    EXPECT_EQ(got.store_digest, want.store_digest) << "round " << round;
    EXPECT_EQ(got.retry_rounds, want.retry_rounds) << "round " << round;
    EXPECT_EQ(got_legs.jobs, ref.jobs) << "round " << round << ": import jobs handed over";
    EXPECT_TRUE(got.plan == want.plan) << "round " << round << ": the first plan differs";
    ASSERT_FALSE(::testing::Test::HasFailure()) << "round " << round;
  }
  std::cout << tally.Summary("failback") << "\n";
  EXPECT_GE(tally.landed(), points) << "too few kills landed while the command ran";
}

}  // namespace
}  // namespace crash_test
