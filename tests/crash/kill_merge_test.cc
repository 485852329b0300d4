// mergetool merge SIGKILLed and rerun: the primary's and the secondary's stores joined in both
// directions, the merge killed one to three times in a row (after a random delay within the
// uninterrupted run's time, or right after its k-th write batch reached the log), then rerun to
// completion. Both stores must reopen; the target must end with the uninterrupted merge's digest
// and export bytes, and the store merged from (opened only to be read) must keep its digest.
//
// RECONCILE_CRASH_SEED reproduces a run; RECONCILE_CRASH_MERGE_POINTS (default 12) sets the kill
// points, RECONCILE_CRASH_DEVICES (default 1500) the fleet.
#include <random>

#include <gtest/gtest.h>

#include "tests/crash/fleet.h"
#include "tests/crash/harness.h"

namespace crash_test {
namespace {

TEST(KillMerge, BothDirectionsKilledAndRerunGiveTheUninterruptedState) {
  const uint64_t seed = Seed("KillMerge");
  std::mt19937_64 rng(seed);
  const uint64_t points = EnvNumber("RECONCILE_CRASH_MERGE_POINTS", 12);
  TempDir dir("crash-merge");
  const Fleet fleet = PrepareFleet(dir / "fleet", EnvNumber("RECONCILE_CRASH_DEVICES", 1500), 6);
  ASSERT_FALSE(::testing::Test::HasFailure());
  // The two stores as their last ingest left them (its writes still in the log).
  const std::string stores[2] = {dir / "primary", dir / "secondary"};
  RunPipeline(PrimaryPipeline(fleet), stores[0]);
  RunPipeline(SecondaryPipeline(fleet), stores[1]);
  ASSERT_FALSE(::testing::Test::HasFailure());
  std::string own_digest[2];
  for (int i = 0; i < 2; ++i) {
    CopyTree(stores[i], dir / "scratch");
    own_digest[i] = MustRun({"digest", dir / "scratch"});
  }

  // The uninterrupted merges: into the primary (direction 0) and into the secondary (1).
  struct Reference {
    Child run;
    uint64_t wal_bytes = 0;
    Observed after;
  };
  Reference refs[2];
  for (int d = 0; d < 2; ++d) {
    CopyTree(stores[d], dir / "target");
    CopyTree(stores[1 - d], dir / "other");
    const std::set<std::string> wals = Wals(dir / "target");
    refs[d].run = RunMergetool({"merge", dir / "target", dir / "other"});
    ASSERT_EQ(refs[d].run.exit_code, 0) << refs[d].run.Describe();
    refs[d].wal_bytes = NewWalBytes(dir / "target", wals);
    refs[d].after = Observe(dir / "target");
    std::cout << "merge into " << stores[d] << ": " << refs[d].run.seconds << " s uninterrupted, "
              << refs[d].wal_bytes << " bytes of log\n";
  }
  // The join commutes: both directions end in the same state.
  ASSERT_EQ(refs[0].after.digest, refs[1].after.digest);

  KillTally tally;
  const std::string target = dir / "target";
  const std::string other = dir / "other";
  std::uniform_int_distribution<int> chain(1, 3);
  for (int round = 0; tally.landed() < points && round < static_cast<int>(points) * 4; ++round) {
    const int d = round % 2;
    const Reference& ref = refs[d];
    CopyTree(stores[d], target);
    CopyTree(stores[1 - d], other);
    const std::set<std::string> wals = Wals(target);
    std::vector<LabeledKill> kills;
    const std::string label = d == 0 ? "into-primary" : "into-secondary";
    for (int i = chain(rng); i > 0; --i) {
      if (rng() % 3 == 0) {
        const uint64_t bytes = std::uniform_int_distribution<uint64_t>(1, ref.wal_bytes)(rng);
        kills.push_back({label + " after-batch", KillAt{[&target, wals, bytes] {
                                                          return NewWalBytes(target, wals) >= bytes;
                                                        },
                                                        std::chrono::microseconds(0)}});
      } else {
        const auto max_us = static_cast<int64_t>(ref.run.seconds * 1e6);
        kills.push_back(
            {label + " delay",
             KillAt{nullptr, std::chrono::microseconds(
                                 std::uniform_int_distribution<int64_t>(0, max_us)(rng))}});
      }
    }
    const Child last = KillAndRerun({"merge", target, other}, kills, tally);
    ASSERT_EQ(last.exit_code, 0) << "round " << round << ": " << last.Describe();
    const Observed got = Observe(target);
    ASSERT_EQ(got.digest, ref.after.digest) << "round " << round << " (" << label << ")";
    ASSERT_TRUE(got.exported == ref.after.exported)
        << "round " << round << " (" << label << "): export bytes differ";
    ASSERT_EQ(MustRun({"digest", other}), own_digest[1 - d])
        << "round " << round << ": the store merged from changed";
  }
  std::cout << tally.Summary("merge") << "\n";
  EXPECT_GE(tally.landed(), points) << "too few kills landed while the command ran";
}

}  // namespace
}  // namespace crash_test
