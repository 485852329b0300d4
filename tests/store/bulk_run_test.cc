// BulkRun and StoreWriter's bulk mode: a run committed as table files or through the log leaves
// the store as Apply of the same deltas would (records, raw states, digest, watermarks, counts,
// meta), also after a reopen and a compaction; a GC horizon that rises under a held run stops its
// commit with nothing written; a read-only store refuses; a commit a crash cut short leaves
// nothing behind once the store reopens. (The model test, store_model_test, writes random batches
// every way and checks them against the model through GC, merges, backups and restores; the crash
// test kills a process in the middle of table commits.)
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "reconcile/operations.h"
#include "reconcile/store.h"
#include "reconcile/store_writer.h"
#include "tests/store/store_test_util.h"

namespace reconcile {
namespace {

using reconcile_test::MustOpen;
using reconcile_test::TempDir;
using reconcile_test::TestOptions;

// `n` writes to `devices` devices (most written several times, at rising stamps, from two sites,
// some deletes), each carrying `pad` bytes of tags, so a run of them is `n * pad` bytes or more.
std::vector<Delta> Writes(int n, int devices, size_t pad) {
  std::vector<Delta> out;
  const SiteId sites[] = {SiteId::FromName("weu-primary"), SiteId::FromName("neu-secondary")};
  for (int i = 0; i < n; ++i) {
    const Key key = Key::Device("dev-" + std::to_string(i * 7 % devices)).value();
    const Stamp stamp{MakeHlc(1'700'000'000'000 + static_cast<uint64_t>(i), 0), sites[i % 2]};
    nlohmann::json doc = {{"status", i % 3 == 0 ? "disabled" : "enabled"},
                          {"tags", {{"wave", i % 5}, {"pad", std::string(pad, 'a' + i % 26)}}}};
    Result<RecordState> delta =
        i % 11 == 0 ? Result<RecordState>(DeleteDelta(stamp)) : CreateDelta(doc, stamp);
    EXPECT_TRUE(delta.ok());
    out.push_back(Delta{key, std::move(*delta)});
  }
  return out;
}

// Everything a write can change that a reader can see.
struct Seen {
  std::map<std::string, std::string> states;  // key -> encoded raw state
  std::map<Key, std::string> records;         // key -> materialized JSON
  std::string digest;
  std::vector<SiteHlc> watermarks;
  uint64_t rejected = 0;

  friend bool operator==(const Seen&, const Seen&) = default;
};

Seen SeenIn(const Store& store) {
  Seen out;
  Status s = store.Scan(std::nullopt, [&](const Key& key, const RecordState& state) {
    out.states[key.ToString()] = EncodeRecord(state);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  out.records = reconcile_test::MaterializeStore(store);
  auto digest = store.Digest();
  EXPECT_TRUE(digest.ok());
  if (digest.ok()) out.digest = digest->root.ToHex();
  out.watermarks = store.Watermarks();
  auto stats = store.Stats();
  EXPECT_TRUE(stats.ok());
  if (stats.ok()) out.rejected = stats->rejected_below_horizon;
  return out;
}

// Also with the merge operator pruning: records that go in as values are pruned as a read of
// them would be.
class BulkRunEndsAsApply : public ::testing::TestWithParam<bool> {};

TEST_P(BulkRunEndsAsApply, TablesAndTheLogAlsoAfterReopenAndCompaction) {
  const std::vector<Delta> writes = Writes(1500, 400, 200);
  StoreOptions options = TestOptions();
  options.prune_in_merge = GetParam();
  TempDir dir;
  Seen want;
  {
    auto direct = MustOpen(dir.Sub("direct"), options);
    ASSERT_TRUE(direct);
    ASSERT_TRUE(direct->Apply(writes).ok());
    want = SeenIn(*direct);
  }
  ASSERT_GT(want.records.size(), 300u);

  // Runs of `per_commit` deltas, each given in Adds of 97; tables for every commit, or none.
  for (size_t per_commit : {size_t{37}, size_t{1500}}) {
    for (bool tables : {true, false}) {
      SCOPED_TRACE("per commit " + std::to_string(per_commit) + (tables ? ", tables" : ", log"));
      const std::string path = dir.Sub("r" + std::to_string(per_commit) + (tables ? "t" : "l"));
      {
        auto store = MustOpen(path, options);
        ASSERT_TRUE(store);
        auto run = store->NewBulkRun(tables ? 0 : ~size_t{0});
        // Every commit reuses the buffers of the one before (with or without an expected size):
        // what they held must not leak into the next.
        if (per_commit == 37) run->ExpectBytes(64);
        for (size_t at = 0; at < writes.size(); at += per_commit) {
          const size_t end = std::min(writes.size(), at + per_commit);
          for (size_t from = at; from < end; from += 97) {
            ASSERT_TRUE(run->Add(std::span(writes).subspan(from, std::min<size_t>(97, end - from))).ok());
          }
          EXPECT_EQ(run->deltas(), end - at);
          auto c = run->Commit();
          ASSERT_TRUE(c.ok()) << c.status().ToString();
          EXPECT_EQ(c->applied, end - at);
          EXPECT_EQ(c->below_horizon, 0u);
          EXPECT_EQ(c->as_tables, tables);
          // The first commit finds the store empty; the later ones of 37 hit its keys again.
          EXPECT_EQ(c->as_values, tables && at == 0);
          EXPECT_EQ(run->bytes(), 0u);
          EXPECT_EQ(run->deltas(), 0u);
        }
        EXPECT_EQ(SeenIn(*store), want);
      }
      auto store = MustOpen(path, options);
      ASSERT_TRUE(store);
      EXPECT_EQ(SeenIn(*store), want) << "after a reopen";
      ASSERT_TRUE(store->Compact().ok());
      EXPECT_EQ(SeenIn(*store), want) << "after a compaction";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Prune, BulkRunEndsAsApply, ::testing::Bool());

// Records go in as values only where the store holds no key in their range (from the run's first
// key to its last): the first run of a fresh store, a run before or past every key held, or
// between two; a run with a held key in its range joins as operands.
TEST(BulkRun, ValuesOnlyWhereTheStoreHoldsNoKeyOfTheRange) {
  TempDir dir;
  auto store = MustOpen(dir.Sub("s"), TestOptions());
  ASSERT_TRUE(store);
  const SiteId site = SiteId::FromName("weu-primary");
  auto create = [&](const std::string& id, int v) {
    return Delta{*Key::Device(id), *CreateDelta({{"v", v}}, Stamp{MakeHlc(1000 + v, 0), site})};
  };
  auto commit = [&](std::vector<Delta> deltas) {
    auto run = store->NewBulkRun(0);
    EXPECT_TRUE(run->Add(deltas).ok());
    auto c = run->Commit();
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() && c->as_values;
  };
  EXPECT_TRUE(commit({create("b", 1), create("d", 2)})) << "a fresh store";
  EXPECT_TRUE(commit({create("e", 3), create("f", 4)})) << "past every key held";
  EXPECT_TRUE(commit({create("a", 5)})) << "before every key held";
  EXPECT_TRUE(commit({create("c", 6)})) << "between held keys, none in its range";
  EXPECT_FALSE(commit({create("c1", 9), create("da", 10)})) << "a held key (d) in its range";
  EXPECT_FALSE(commit({create("d", 7), create("g", 8)})) << "a held key again";
  EXPECT_EQ(*store->Get(*Key::Device("c")), "{\"v\":6}");
  EXPECT_EQ(*store->Get(*Key::Device("da")), "{\"v\":10}");
  EXPECT_EQ(*store->Get(*Key::Device("d")), "{\"v\":7}");
  EXPECT_EQ(*store->Get(*Key::Device("g")), "{\"v\":8}");
  EXPECT_EQ(*store->Get(*Key::Device("b")), "{\"v\":1}");
}

// Values would hide a write that reached their range between the check and the ingestion. Here
// every commit's range is free when it is checked, while another thread applies deltas to the
// same keys all along: whatever the timing, the store ends as Apply of everything, in any order.
TEST(BulkRun, ValuesNeverHideAWriteThatRacedTheCommit) {
  const SiteId a = SiteId::FromName("weu-primary"), b = SiteId::FromName("neu-secondary");
  constexpr int kRuns = 40, kPerRun = 300;
  auto key = [](int run, int i) {
    char id[32];
    std::snprintf(id, sizeof id, "dev-%03d-%04d", run, i);
    return *Key::Device(id);
  };
  std::vector<std::vector<Delta>> runs(kRuns), racing(kRuns);
  for (int r = 0; r < kRuns; ++r) {
    for (int i = 0; i < kPerRun; ++i) {
      const Hlc hlc = MakeHlc(1'700'000'000'000 + static_cast<uint64_t>(r * kPerRun + i), 0);
      runs[r].push_back(Delta{key(r, i), *CreateDelta({{"bulk", i}, {"pad", std::string(200, 'p')}},
                                                      Stamp{hlc, a})});
      racing[r].push_back(Delta{key(r, i), *CreateDelta({{"raced", i}}, Stamp{hlc + 1, b})});
    }
  }
  TempDir dir;
  Seen want;
  {
    auto direct = MustOpen(dir.Sub("direct"), TestOptions());
    ASSERT_TRUE(direct);
    for (int r = 0; r < kRuns; ++r) {
      ASSERT_TRUE(direct->Apply(runs[r]).ok());
      ASSERT_TRUE(direct->Apply(racing[r]).ok());
    }
    want = SeenIn(*direct);
  }
  auto store = MustOpen(dir.Sub("s"), TestOptions());
  ASSERT_TRUE(store);
  std::atomic<int> committing{-1};
  std::atomic<bool> done{false};
  std::thread racer([&] {
    // Applies the racing writes of each run while that run is being committed, a few at a time.
    int next = 0;
    while (next < kRuns) {
      if (committing.load() < next) {
        if (done.load()) break;
        std::this_thread::yield();
        continue;
      }
      for (int i = 0; i < kPerRun; i += 10) {
        EXPECT_TRUE(store->Apply(std::span(racing[next]).subspan(i, 10)).ok());
      }
      ++next;
    }
    for (; next < kRuns; ++next) EXPECT_TRUE(store->Apply(racing[next]).ok());
  });
  int as_values = 0;
  for (int r = 0; r < kRuns; ++r) {
    auto run = store->NewBulkRun(0);
    ASSERT_TRUE(run->Add(runs[r]).ok());
    committing.store(r);
    auto c = run->Commit();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    as_values += c->as_values ? 1 : 0;
  }
  done.store(true);
  racer.join();
  EXPECT_EQ(SeenIn(*store), want) << as_values << " of " << kRuns << " runs went in as values";
  ASSERT_TRUE(store->Compact().ok());
  EXPECT_EQ(SeenIn(*store), want) << "after a compaction";
}

// The default threshold: a small commit goes through the log, a large one becomes tables.
TEST(BulkRun, OnlyALargeCommitIsWrittenAsTables) {
  TempDir dir;
  auto store = MustOpen(dir.Sub("s"), TestOptions());
  ASSERT_TRUE(store);
  auto run = store->NewBulkRun();
  ASSERT_TRUE(run->Add(Writes(100, 50, 100)).ok());
  EXPECT_LT(run->bytes(), kBulkTableBytes);
  auto small = run->Commit();
  ASSERT_TRUE(small.ok());
  EXPECT_FALSE(small->as_tables);
  const std::vector<Delta> big = Writes(6000, 6000, 1000);
  ASSERT_TRUE(run->Add(big).ok());
  EXPECT_GE(run->bytes(), kBulkTableBytes);
  auto large = run->Commit();
  ASSERT_TRUE(large.ok());
  EXPECT_TRUE(large->as_tables);
  EXPECT_EQ(large->applied, big.size());
}

// A commit that adds keys the store does not hold yet (its files overlap nothing) still changes
// the sequence number the digest cache is checked against: the digest after a reopen is the
// store's, not the one cached before the commit.
TEST(BulkRun, ADisjointCommitInvalidatesTheCachedDigest) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  const SiteId site = SiteId::FromName("weu-primary");
  const std::vector<Delta> first{
      Delta{*Key::Device("a"), *CreateDelta({{"x", 1}}, Stamp{MakeHlc(1000, 0), site})}};
  // Another site: no key of the commit (record, index entry, watermark) is in the store yet.
  const std::vector<Delta> second{Delta{
      *Key::Device("z"),
      *CreateDelta({{"y", 2}}, Stamp{MakeHlc(2000, 0), SiteId::FromName("neu-secondary")})}};
  std::string before;
  {
    auto store = MustOpen(path, TestOptions());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Apply(first).ok());
    before = store->Digest()->root.ToHex();
  }  // the digest cache is stored at close
  {
    auto store = MustOpen(path, TestOptions());
    ASSERT_TRUE(store);
    auto run = store->NewBulkRun(0);
    ASSERT_TRUE(run->Add(second).ok());
    auto c = run->Commit();
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c->as_tables);
    ASSERT_TRUE(c->as_values);  // at sequence number 0: the count of bulk commits moves it
  }
  auto store = MustOpen(path, TestOptions());
  ASSERT_TRUE(store);
  auto direct = MustOpen(dir.Sub("direct"), TestOptions());
  ASSERT_TRUE(direct);
  ASSERT_TRUE(direct->Apply(first).ok());
  ASSERT_TRUE(direct->Apply(second).ok());
  EXPECT_NE(store->Digest()->root.ToHex(), before);
  EXPECT_EQ(store->Digest()->root.ToHex(), direct->Digest()->root.ToHex());
}

TEST(BulkRun, BelowTheHorizonIsCountedAndARisingHorizonStopsTheCommit) {
  TempDir dir;
  auto store = MustOpen(dir.Sub("s"), TestOptions());
  ASSERT_TRUE(store);
  const SiteId a = SiteId::FromName("weu-primary"), b = SiteId::FromName("neu-secondary");
  auto create = [](const char* id, int v, Hlc hlc, const SiteId& site) {
    return Delta{*Key::Device(id), *CreateDelta({{"v", v}}, Stamp{hlc, site})};
  };
  ASSERT_TRUE(store->Apply(std::vector<Delta>{create("d", 1, 100, b)}).ok());
  ASSERT_TRUE(store->Acknowledge(b, 150).ok());
  ASSERT_EQ(store->CollectGarbage()->horizon, 150u);

  // Held against horizon 150: one delta below it, counted; the rest written, as tables.
  auto run = store->NewBulkRun(0);
  ASSERT_TRUE(run->Add(std::vector<Delta>{create("d", 2, 120, b), create("e", 3, 300, a)}).ok());
  auto c = run->Commit();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->applied, 1u);
  EXPECT_EQ(c->below_horizon, 1u);
  EXPECT_EQ(*store->Get(*Key::Device("d")), "{\"v\":1}");
  EXPECT_EQ(*store->Get(*Key::Device("e")), "{\"v\":3}");
  EXPECT_EQ(store->Stats()->rejected_below_horizon, 1u);

  // The horizon rises to 250 while a delta at 200 is held: the commit writes nothing.
  ASSERT_TRUE(run->Add(std::vector<Delta>{create("f", 4, 200, b)}).ok());
  ASSERT_TRUE(store->Apply(std::vector<Delta>{create("g", 5, 240, b)}).ok());
  ASSERT_TRUE(store->Acknowledge(b, 250).ok());
  ASSERT_EQ(store->CollectGarbage()->horizon, 250u);
  auto stopped = run->Commit();
  EXPECT_EQ(stopped.status().code(), Code::kConflict) << stopped.status().ToString();
  EXPECT_TRUE(store->Get(*Key::Device("f")).status().IsNotFound());
  EXPECT_EQ(run->deltas(), 0u);
  // The run is empty and usable again; the same delta is now below the horizon.
  ASSERT_TRUE(run->Add(std::vector<Delta>{create("f", 4, 200, b)}).ok());
  auto again = run->Commit();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->below_horizon, 1u);
  EXPECT_TRUE(store->Get(*Key::Device("f")).status().IsNotFound());
}

TEST(BulkRun, MetaGoesWithTheCommitAndALaterValueWins) {
  TempDir dir;
  auto store = MustOpen(dir.Sub("s"), TestOptions());
  ASSERT_TRUE(store);
  auto run = store->NewBulkRun(0);
  const std::vector<Delta> writes = Writes(50, 20, 10);
  ASSERT_TRUE(
      run->Add(writes, std::vector<MetaPut>{{"reader/state", "first"}, {"reader/other", "x"}}).ok());
  ASSERT_TRUE(run->Add({}, std::vector<MetaPut>{{"reader/state", "second"}}).ok());
  EXPECT_EQ(run->Add({}, std::vector<MetaPut>{{"", "empty name"}}).code(), Code::kInvalidInput);
  EXPECT_TRUE(store->GetMeta("reader/state").status().IsNotFound()) << "held, not written";
  auto c = run->Commit();
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->as_tables);
  EXPECT_EQ(*store->GetMeta("reader/state"), "second");
  EXPECT_EQ(*store->GetMeta("reader/other"), "x");
  // Meta alone: still one commit, still as tables.
  ASSERT_TRUE(run->Add({}, std::vector<MetaPut>{{"reader/state", "third"}}).ok());
  ASSERT_TRUE(run->Commit().ok());
  EXPECT_EQ(*store->GetMeta("reader/state"), "third");
}

TEST(BulkRun, AReadOnlyStoreRefuses) {
  TempDir dir;
  { ASSERT_TRUE(MustOpen(dir.Sub("s"), TestOptions())); }
  StoreOptions read_only = TestOptions();
  read_only.read_only = true;
  auto store = MustOpen(dir.Sub("s"), read_only);
  ASSERT_TRUE(store);
  auto run = store->NewBulkRun(0);
  EXPECT_EQ(run->Add(Writes(5, 5, 10)).code(), Code::kUnsupported);
  EXPECT_EQ(run->Commit().status().code(), Code::kUnsupported);
}

// Two runs of one store commit as tables at the same time (each stages its files in a folder of
// its own): the store ends as Apply of both.
TEST(BulkRun, TwoRunsCommitAtOnce) {
  const std::vector<Delta> writes = Writes(2400, 900, 200);
  TempDir dir;
  Seen want;
  {
    auto direct = MustOpen(dir.Sub("direct"), TestOptions());
    ASSERT_TRUE(direct);
    ASSERT_TRUE(direct->Apply(writes).ok());
    want = SeenIn(*direct);
  }
  auto store = MustOpen(dir.Sub("s"), TestOptions());
  ASSERT_TRUE(store);
  auto commit_half = [&](size_t half) {
    auto run = store->NewBulkRun(0);
    for (size_t at = half; at < writes.size(); at += 2 * 60) {
      EXPECT_TRUE(run->Add(std::span(writes).subspan(at, std::min<size_t>(60, writes.size() - at))).ok());
      auto c = run->Commit();
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      EXPECT_TRUE(c.ok() && c->as_tables);
    }
  };
  std::thread other(commit_half, 60);
  commit_half(0);
  other.join();
  EXPECT_EQ(SeenIn(*store), want);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("s") + "/bulk")) << "both cleaned up";
}

// What a crash in the middle of writing the table files leaves (a staging folder with a partial
// file) is never part of the store, and is removed when the store opens.
TEST(BulkRun, LeftoverStagingIsRemovedAtOpen) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  { ASSERT_TRUE(MustOpen(path, TestOptions())); }
  std::filesystem::create_directories(path + "/bulk");
  { std::ofstream(path + "/bulk/records.sst") << "half a table file"; }
  auto store = MustOpen(path, TestOptions());
  ASSERT_TRUE(store);
  EXPECT_FALSE(std::filesystem::exists(path + "/bulk"));
  auto run = store->NewBulkRun(0);
  ASSERT_TRUE(run->Add(Writes(20, 10, 10)).ok());
  ASSERT_TRUE(run->Commit().ok());
  EXPECT_FALSE(std::filesystem::exists(path + "/bulk")) << "a commit cleans up after itself";
}

// StoreWriter's bulk mode: runs of one batch or a few hundred kilobytes (through the log), of
// 4 MiB (table files, committed beside the filling of the next run), or one run of everything
// (about 6 MB: table files), end as Apply of the same deltas.
TEST(StoreWriterBulk, RunsEndAsApplyOfTheSameDeltas) {
  const std::vector<Delta> writes = Writes(4000, 3000, 1500);
  TempDir dir;
  auto direct = MustOpen(dir.Sub("direct"), TestOptions());
  ASSERT_TRUE(direct);
  ASSERT_TRUE(direct->Apply(writes).ok());
  ASSERT_TRUE(direct->Apply({}, std::vector<MetaPut>{{"reader/done", "yes"}}).ok());
  const Seen want = SeenIn(*direct);

  // kBulkTableBytes: the first run commits as tables on a thread of its own while the rest fills.
  for (size_t run_bytes : {size_t{1}, size_t{200} << 10, kBulkTableBytes, size_t{1} << 30}) {
    SCOPED_TRACE("run bytes " + std::to_string(run_bytes));
    auto store = MustOpen(dir.Sub("w" + std::to_string(run_bytes)), TestOptions());
    ASSERT_TRUE(store);
    StoreWriter writer(*store, 100, run_bytes);
    for (const Delta& d : writes) ASSERT_TRUE(writer.Add(d.key, d.state).ok());
    ASSERT_TRUE(writer.Flush({{"reader/done", "yes"}}).ok());
    EXPECT_EQ(writer.written(), writes.size());
    EXPECT_EQ(writer.below_horizon(), 0u);
    EXPECT_EQ(SeenIn(*store), want);
    EXPECT_EQ(*store->GetMeta("reader/done"), "yes");
  }
}

// A run that fails to commit on its own thread: the error comes back from the calls after it and
// from Flush, nothing of it is counted written, and nothing after it is written.
TEST(StoreWriterBulk, AFailedRunCommitComesBackFromTheCallsAfterIt) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  auto store = MustOpen(path, TestOptions());
  ASSERT_TRUE(store);
  // A file where a table commit makes its staging folder: every table commit fails.
  { std::ofstream(path + "/bulk") << "in the way"; }
  const std::vector<Delta> writes = Writes(12000, 12000, 1500);  // about 18 MB: several runs
  StoreWriter writer(*store, 100, kBulkTableBytes);
  Status first_error;
  size_t failed_at = 0;
  for (size_t i = 0; i < writes.size(); ++i) {
    Status s = writer.Add(writes[i].key, writes[i].state);
    if (!s.ok()) {
      first_error = s;
      failed_at = i;
      break;
    }
  }
  ASSERT_FALSE(first_error.ok()) << "a later Add reports the failed commit";
  EXPECT_EQ(first_error.code(), Code::kIoError) << first_error.ToString();
  EXPECT_GT(failed_at, 0u);
  EXPECT_LT(failed_at, writes.size() / 2) << "well before the end: the first run failed";
  EXPECT_EQ(writer.Add(writes[0].key, writes[0].state).code(), Code::kIoError) << "sticky";
  EXPECT_EQ(writer.Flush().code(), Code::kIoError);
  EXPECT_EQ(writer.written(), 0u);
  EXPECT_TRUE(reconcile_test::MaterializeStore(*store).empty());
}

}  // namespace
}  // namespace reconcile
