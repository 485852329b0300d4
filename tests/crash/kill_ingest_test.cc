// mergetool ingest SIGKILLed and rerun, for every input format: the export whole, the export 3-way
// against a base, notifications (each delivered three times), twin reads and metadata. Each round
// starts from the store the previous command left (its last writes still in the write-ahead log),
// kills the command one to three times in a row — after a random delay within the uninterrupted
// run's time, or right after its k-th write batch reached the log — and reruns it to completion.
// The store must reopen every time, and the rerun must end with the uninterrupted run's digest and
// export bytes: batches acknowledged before the kill are neither lost nor joined into something
// else, and what a killed run half did is finished by the rerun (the join is idempotent).
//
// RECONCILE_CRASH_SEED reproduces a run; RECONCILE_CRASH_INGEST_POINTS (default 20) sets the kill
// points, RECONCILE_CRASH_DEVICES (default 1500) the fleet.
#include <random>

#include <gtest/gtest.h>

#include "tests/crash/fleet.h"
#include "tests/crash/harness.h"

namespace crash_test {
namespace {

TEST(KillIngest, EveryFormatKilledAndRerunGivesTheUninterruptedState) {
  const uint64_t seed = Seed("KillIngest");
  std::mt19937_64 rng(seed);
  const uint64_t points = EnvNumber("RECONCILE_CRASH_INGEST_POINTS", 20);
  TempDir dir("crash-ingest");
  const Fleet fleet = PrepareFleet(dir / "fleet", EnvNumber("RECONCILE_CRASH_DEVICES", 1500), 5);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const std::vector<Command> steps = SecondaryPipeline(fleet);

  // The uninterrupted pipeline. before[k] is the store as command k finds it (copied before any
  // reopen, so its last writes are still in the log); after[k] what it shows once k is done.
  struct Reference {
    std::string before;
    Child run;
    uint64_t wal_bytes = 0;
    Observed after;
  };
  std::vector<Reference> refs(steps.size());
  const std::string ref_store = dir / "reference";
  for (size_t k = 0; k < steps.size(); ++k) {
    refs[k].before = dir / ("before-" + std::to_string(k));
    if (k > 0) CopyTree(ref_store, refs[k].before);
    const std::set<std::string> wals = Wals(ref_store);
    refs[k].run = RunMergetool(steps[k].args(ref_store));
    ASSERT_EQ(refs[k].run.exit_code, 0) << steps[k].name << ": " << refs[k].run.Describe();
    refs[k].wal_bytes = NewWalBytes(ref_store, wals);
    CopyTree(ref_store, dir / "scratch");
    refs[k].after = Observe(dir / "scratch");
    std::cout << steps[k].name << ": " << refs[k].run.seconds << " s uninterrupted, "
              << refs[k].wal_bytes << " bytes of log\n";
  }

  KillTally tally;
  const std::string work = dir / "work";
  std::uniform_int_distribution<int> chain(1, 3);
  for (int round = 0; tally.landed() < points && round < static_cast<int>(points) * 4; ++round) {
    const size_t k = 1 + static_cast<size_t>(round) % (steps.size() - 1);  // every ingest in turn
    const Reference& ref = refs[k];
    CopyTree(ref.before, work);
    const std::set<std::string> wals = Wals(work);
    std::vector<LabeledKill> kills;
    for (int i = chain(rng); i > 0; --i) {
      if (rng() % 3 == 0 && ref.wal_bytes > 0) {
        // Right after a write batch reached the log (the first run's log, or a rerun's).
        const uint64_t bytes = std::uniform_int_distribution<uint64_t>(1, ref.wal_bytes)(rng);
        kills.push_back({steps[k].name + " after-batch",
                         KillAt{[&work, wals, bytes] { return NewWalBytes(work, wals) >= bytes; },
                                std::chrono::microseconds(0)}});
      } else {
        const auto max_us = static_cast<int64_t>(ref.run.seconds * 1e6);
        kills.push_back(
            {steps[k].name + " delay",
             KillAt{nullptr, std::chrono::microseconds(
                                 std::uniform_int_distribution<int64_t>(0, max_us)(rng))}});
      }
    }
    const Child last = KillAndRerun(steps[k].args(work), kills, tally);
    ASSERT_EQ(last.exit_code, ref.run.exit_code)
        << "round " << round << ", " << steps[k].name << ": " << last.Describe();
    const Observed got = Observe(work);
    ASSERT_EQ(got.digest, ref.after.digest) << "round " << round << ", " << steps[k].name;
    ASSERT_TRUE(got.exported == ref.after.exported)
        << "round " << round << ", " << steps[k].name << ": export bytes differ";
  }
  std::cout << tally.Summary("ingest") << "\n";
  EXPECT_GE(tally.landed(), points) << "too few kills landed while the command ran";
}

}  // namespace
}  // namespace crash_test
