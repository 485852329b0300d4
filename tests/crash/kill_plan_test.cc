// mergetool plan SIGKILLed and rerun, into an empty output folder and into one holding an earlier
// complete plan (which the plan replaces). Kills come after a random delay within the uninterrupted
// run's time, or as soon as the plan's spill files, its first import file or its manifest appear
// (or, replanning, as soon as the first old file is gone), one to three in a row. After every kill
// the manifest left in the folder, if any, is checked: does it vouch only for what is there (every
// file it lists present, with its SHA-256)? A half-written plan should never look finished; see
// kManifestMeansFinished. The rerun must leave exactly the uninterrupted plan's files, byte for
// byte (the manifest's createdAt aside), and the store the plan read must keep its digest.
//
// RECONCILE_CRASH_SEED reproduces a run; RECONCILE_CRASH_PLAN_POINTS (default 12) sets the kill
// points, RECONCILE_CRASH_DEVICES (default 1500) the fleet.
#include <sys/stat.h>

#include <filesystem>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reconcile/iothub_plan.h"
#include "tests/crash/fleet.h"
#include "tests/crash/harness.h"

namespace crash_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The plan folder's files with the manifest's createdAt (the clock) taken out.
std::map<std::string, std::string> PlanFiles(const std::string& dir) {
  std::map<std::string, std::string> files = FilesUnder(dir);
  auto manifest = files.find("manifest.json");
  if (manifest != files.end()) {
    json m = json::parse(manifest->second, nullptr, false);
    if (m.is_object()) m.erase("createdAt");
    manifest->second = m.dump(2);
  }
  return files;
}

// What is wrong with the manifest a kill left, or "" when there is none or it lists only files
// that are there as it says (their SHA-256): "torn" (it does not parse), "stale" (it lists a file
// that is gone or holds other bytes).
std::string ManifestFault(const std::string& dir) {
  const std::string path = (fs::path(dir) / "manifest.json").string();
  if (!Exists(path)) return "";
  json m = json::parse(ReadFile(path), nullptr, false);
  if (m.is_discarded() || !m.is_object() || !m.contains("files")) return "torn";
  for (const json& f : m["files"]) {
    const std::string file = (fs::path(dir) / f.at("name").get<std::string>()).string();
    auto sha = reconcile::FileSha256(file);
    if (!Exists(file) || !sha.ok() || *sha != f.at("sha256").get<std::string>()) return "stale";
  }
  return "";
}

// Whether a manifest in the folder must always mean a finished plan. lib/iothub/plan.cc writes
// manifest.json in place and, replanning, removes the old plan's files in directory order, so a
// kill can leave a torn manifest, or an old one that lists files already removed (every rerun
// replaces it). Until it writes the manifest last by renaming it into place and removes the old
// one first, such kills are counted and printed, not failed.
constexpr bool kManifestMeansFinished = true;

// The file's inode number; 0 when it is missing.
uint64_t Inode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

bool AnySpill(const std::string& dir) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path().filename().string().rfind(".spill-", 0) == 0) return true;
  }
  return false;
}

TEST(KillPlan, KilledAndRerunLeavesTheUninterruptedPlan) {
  const uint64_t seed = Seed("KillPlan");
  std::mt19937_64 rng(seed);
  const uint64_t points = EnvNumber("RECONCILE_CRASH_PLAN_POINTS", 12);
  TempDir dir("crash-plan");
  const Fleet fleet = PrepareFleet(dir / "fleet", EnvNumber("RECONCILE_CRASH_DEVICES", 1500), 7);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const std::string merged = dir / "merged";
  RunPipeline(PrimaryPipeline(fleet), merged);
  RunPipeline(SecondaryPipeline(fleet), dir / "secondary");
  MustRun({"merge", merged, dir / "secondary"});
  ASSERT_FALSE(::testing::Test::HasFailure());
  const std::string merged_digest = MustRun({"digest", merged});

  auto plan_args = [&](const std::string& out) -> std::vector<std::string> {
    return {"plan", merged, "--primary-export", fleet.primary_export,
            "-o",   out,    "--max-lines",      "150"};
  };
  const std::string ref_dir = dir / "reference-plan";
  const Child ref = RunMergetool(plan_args(ref_dir));
  ASSERT_EQ(ref.exit_code, 0) << ref.Describe();
  const std::map<std::string, std::string> ref_files = PlanFiles(ref_dir);
  ASSERT_GE(ref_files.size(), 4u) << "expected several import files, a manifest and a report";
  std::cout << "plan: " << ref.seconds << " s uninterrupted, " << ref_files.size() << " files\n";

  KillTally tally;
  std::map<std::string, int> manifest_faults;
  const std::string out = dir / "out";
  std::uniform_int_distribution<int> chain(1, 3);
  for (int round = 0; tally.landed() < points && round < static_cast<int>(points) * 4; ++round) {
    const bool replan = round % 2 == 1;  // over an earlier complete plan
    RemoveTree(out);
    if (replan) CopyTree(ref_dir, out);
    const std::string variant = replan ? "replan " : "";
    std::vector<LabeledKill> kills;
    for (int i = chain(rng); i > 0; --i) {
      const std::string first_file = (fs::path(out) / "devices-00001.txt").string();
      const std::string manifest = (fs::path(out) / "manifest.json").string();
      switch (rng() % 6) {
        case 0:
          kills.push_back({variant + "spill", KillAt{[&out] { return AnySpill(out); }, {}}});
          break;
        case 1:
          // Replanning, the old first file is there from the start: wait until it is gone.
          if (replan) {
            kills.push_back({variant + "old-file-gone",
                             KillAt{[first_file] { return !Exists(first_file); }, {}}});
          } else {
            kills.push_back(
                {"import-file", KillAt{[first_file] { return Exists(first_file); }, {}}});
          }
          break;
        case 2:
          // Replanning, as soon as a new manifest replaces the old one (another inode).
          kills.push_back({variant + "manifest", KillAt{[manifest, old = Inode(manifest)] {
                                                          const uint64_t now = Inode(manifest);
                                                          return now != 0 && now != old;
                                                        },
                                                        {}}});
          break;
        default: {
          const auto max_us = static_cast<int64_t>(ref.seconds * 1e6);
          kills.push_back(
              {variant + "delay",
               KillAt{nullptr, std::chrono::microseconds(
                                   std::uniform_int_distribution<int64_t>(0, max_us)(rng))}});
        }
      }
    }
    const Child last = KillAndRerun(plan_args(out), kills, tally, {}, [&] {
      const std::string fault = ManifestFault(out);
      if (fault.empty()) return;
      ++manifest_faults[fault];
      EXPECT_FALSE(kManifestMeansFinished)
          << "round " << round << ": a kill left a " << fault << " manifest.json";
    });
    ASSERT_EQ(last.exit_code, 0) << "round " << round << ": " << last.Describe();
    const std::map<std::string, std::string> got = PlanFiles(out);
    std::vector<std::string> names, ref_names;
    for (const auto& [name, bytes] : got) names.push_back(name);
    for (const auto& [name, bytes] : ref_files) ref_names.push_back(name);
    ASSERT_EQ(names, ref_names) << "round " << round << ": other files than the uninterrupted plan";
    for (const auto& [name, bytes] : ref_files) {
      ASSERT_TRUE(got.at(name) == bytes) << "round " << round << ": " << name << " differs";
    }
    ASSERT_EQ(MustRun({"digest", merged}), merged_digest) << "round " << round;
  }
  std::cout << tally.Summary("plan") << "\n";
  for (const auto& [fault, n] : manifest_faults) {
    std::cout << "plan: " << n << " kills left a " << fault
              << " manifest.json (see kManifestMeansFinished); the rerun replaced it\n";
  }
  EXPECT_GE(tally.landed(), points) << "too few kills landed while the command ran";
}

}  // namespace
}  // namespace crash_test
