// Model-based test of the store (rapidcheck state machine): random Apply (to two stores),
// MergeFrom (both ways), close/reopen, backup, restore, fork-point and tombstone-GC steps against
// an in-memory model (std::map<Key, RecordState> joined with RecordState::Join, never pruned or
// collected). After every step the materialized records and digests of both stores must equal the
// model's, and Store::Diff must report exactly the keys whose materialized records differ between
// the two models.
//
// GC in the model: the model never drops anything; it only mirrors the horizon's rules (a delta
// with a cell at or below the horizon is rejected; MergeFrom skips the other store's cells at or
// below this store's horizon; the horizon replicates by MergeFrom and is part of a backup). That
// the GC'd store still materializes exactly like the model is the property under test. GC is only
// correct when the acks are honest (Store::Acknowledge), so the steps keep them honest: a store
// collects at a stable point S only when both stores hold each other's writes up to S (Honest
// below), no delta at or below an ack ever given is applied unless the horizon rejects it, and a
// backup is restored only when that keeps the stores honest with each other.
#include <optional>

#include <rapidcheck/state.h>

#include "tests/store/store_test_util.h"

namespace reconcile_test {
namespace {

using reconcile::Hlc;
using reconcile::MergeView;
using reconcile::PolicyTable;

// How often the GC paths ran (over all sequences, shrinking included): the test checks they did.
int g_collecting_gcs = 0;     // CollectGarbage steps that dropped covers
int g_rejecting_applies = 0;  // Apply steps with a delta rejected below a horizon
int g_table_commits = 0;      // Apply steps written by a BulkRun as table files

struct SmModel {
  Model a;
  Model b;
  Hlc fork_a = 0;
  Hlc fork_b = 0;
  Hlc horizon_a = 0;
  Hlc horizon_b = 0;
  Hlc ack_a = 0;  // the ack every pool site gave (acks replicate by MergeFrom, like the horizon)
  Hlc ack_b = 0;
  Hlc promised = 0;  // the greatest ack ever given: no site writes at or below it any more
  bool has_backup = false;
  Model backup;
  Hlc backup_fork = 0;
  Hlc backup_horizon = 0;
  Hlc backup_ack = 0;
};

// The part of `state` at or below `s`: its value and cover parts with hlc <= s.
RecordState PartsAtOrBelow(const RecordState& state, Hlc s) {
  std::vector<Cell> kept;
  for (Cell c : state.cells()) {
    if (c.has_value && c.value_hlc > s) {
      c.has_value = false;
      c.value_hlc = 0;
      c.value.clear();
    }
    if (c.has_cover && c.cover_hlc > s) {
      c.has_cover = false;
      c.cover_hlc = 0;
    }
    if (c.has_value || c.has_cover) kept.push_back(std::move(c));
  }
  return RecordState::FromCells(std::move(kept));
}

// True when each store already holds (dominates) every write of the other up to `s`: what a
// site promises when it acknowledges `s` (Store::Acknowledge).
bool Honest(const reconcile_test::Model& a, const reconcile_test::Model& b, Hlc s) {
  if (s == 0) return true;
  auto holds = [s](const reconcile_test::Model& x, const reconcile_test::Model& y) {
    for (const auto& [k, state] : y) {
      RecordState old = PartsAtOrBelow(state, s);
      if (old.empty()) continue;
      auto it = x.find(k);
      if (it == x.end()) return false;
      if (RecordState::Joined(it->second, old) != it->second) return false;
    }
    return true;
  };
  return holds(a, b) && holds(b, a);
}

// The horizon's rules, as the store documents them.
bool RejectedBelow(const RecordState& state, Hlc horizon) {
  if (horizon == 0) return false;
  for (const Cell& c : state.cells()) {
    if ((c.has_value && c.value_hlc <= horizon) || (c.has_cover && c.cover_hlc <= horizon)) return true;
  }
  return false;
}

RecordState WithoutCellsAtOrBelow(const RecordState& state, Hlc horizon) {
  std::vector<Cell> kept;
  for (Cell c : state.cells()) {
    if (c.has_value && c.value_hlc <= horizon) {
      c.has_value = false;
      c.value_hlc = 0;
      c.value.clear();
    }
    if (c.has_cover && c.cover_hlc <= horizon) {
      c.has_cover = false;
      c.cover_hlc = 0;
    }
    if (c.has_value || c.has_cover) kept.push_back(std::move(c));
  }
  return RecordState::FromCells(std::move(kept));
}

struct SmSut {
  TempDir dir;
  std::string a_dir = dir.Sub("a");
  std::string b_dir = dir.Sub("b");
  std::string backup_dir = dir.Sub("backups");
  std::unique_ptr<Store> a = MustOpen(a_dir, TestOptions("weu-primary"));
  std::unique_ptr<Store> b = MustOpen(b_dir, TestOptions("neu-secondary"));
};

using Cmd = rc::state::Command<SmModel, SmSut>;

// The store must show what the model shows, and digest to the model's digest.
void CheckStore(const Store& store, const Model& model, Hlc fork, const char* name) {
  PolicyTable table = store.policy_table();
  MergeView view{&table, fork};
  std::map<Key, std::string> expected = MaterializeModel(model, view);
  std::map<Key, std::string> actual = MaterializeStore(store);
  if (expected != actual) {
    RC_FAIL(std::string("store ") + name + " differs from the model\nexpected:\n" +
            DescribeMaterialized(expected) + "actual:\n" + DescribeMaterialized(actual));
  }
  RC_ASSERT(store.fork_point() == fork);
  for (const auto& [key, json] : expected) {
    auto got = store.Get(key);
    RC_ASSERT(got.ok());
    RC_ASSERT(*got == json);
  }
  for (const auto& [key, state] : model) {
    if (expected.count(key) == 0) RC_ASSERT(store.Get(key).status().IsNotFound());
  }
  auto digest = store.Digest();
  RC_ASSERT(digest.ok());
  reconcile::StoreDigest want = ModelDigest(expected);
  RC_ASSERT(digest->root == want.root);
  RC_ASSERT(digest->records == want.records);
  // A second digest of an unchanged store is answered from the cache, with the same result.
  auto again = store.Digest();
  RC_ASSERT(again.ok() && again->root == digest->root);
}

void CheckAll(const SmModel& m, const SmSut& sut) {
  CheckStore(*sut.a, m.a, m.fork_a, "a");
  CheckStore(*sut.b, m.b, m.fork_b, "b");
  // Diff must find exactly the keys whose materialized records differ.
  PolicyTable ta = sut.a->policy_table();
  PolicyTable tb = sut.b->policy_table();
  std::map<Key, std::string> ma = MaterializeModel(m.a, MergeView{&ta, m.fork_a});
  std::map<Key, std::string> mb = MaterializeModel(m.b, MergeView{&tb, m.fork_b});
  std::map<Key, reconcile::DiffKind> expected;
  for (const auto& [k, j] : ma) {
    auto it = mb.find(k);
    if (it == mb.end()) expected.emplace(k, reconcile::DiffKind::kOnlyInA);
    else if (it->second != j) expected.emplace(k, reconcile::DiffKind::kDifferent);
  }
  for (const auto& [k, j] : mb) {
    if (ma.count(k) == 0) expected.emplace(k, reconcile::DiffKind::kOnlyInB);
  }
  auto diff = Store::Diff(*sut.a, *sut.b);
  RC_ASSERT(diff.ok());
  std::map<Key, reconcile::DiffKind> actual;
  for (const auto& d : *diff) {
    actual.emplace(d.key, d.kind);
    if (d.kind != reconcile::DiffKind::kOnlyInB) RC_ASSERT(d.a_json == std::optional(ma.at(d.key)));
    if (d.kind != reconcile::DiffKind::kOnlyInA) RC_ASSERT(d.b_json == std::optional(mb.at(d.key)));
  }
  RC_ASSERT(actual == expected);
}

struct ApplyTo : Cmd {
  bool to_a = true;
  // How the batch is written: Store::Apply, or a BulkRun (given the batch in two Adds) whose
  // commit writes table files, or one whose commit goes through the log.
  enum class Way { kApply, kTables, kLoggedRun } way = Way::kApply;
  std::vector<Delta> batch;
  // Deltas from the pool; once acks were given, only deltas newer than every ack, or old ones that
  // the target's horizon rejects (a site that acked never writes below its ack again).
  explicit ApplyTo(const SmModel& m) {
    to_a = *rc::gen::arbitrary<bool>();
    way = static_cast<Way>(Pick(0, 2));
    const Hlc horizon = to_a ? m.horizon_a : m.horizon_b;
    const int n = Pick(1, 5);
    for (int i = 0; i < n; ++i) {
      Delta d = *GenDelta();
      if (m.promised > 0 && !RejectedBelow(d.state, horizon) &&
          !PartsAtOrBelow(d.state, m.promised).empty()) {
        Universe u = UniverseOf(d.key.kind());
        d.state = DeltaOf(*GenOp(u, GenStampAbove(m.promised)), u);
      }
      batch.push_back(std::move(d));
    }
  }
  void checkPreconditions(const SmModel& m) const override {
    const Hlc horizon = to_a ? m.horizon_a : m.horizon_b;
    for (const Delta& d : batch) {
      RC_PRE(m.promised == 0 || RejectedBelow(d.state, horizon) ||
             PartsAtOrBelow(d.state, m.promised).empty());
    }
  }
  std::vector<size_t> Rejected(const SmModel& m) const {
    std::vector<size_t> out;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].state.empty() && RejectedBelow(batch[i].state, to_a ? m.horizon_a : m.horizon_b)) {
        out.push_back(i);
      }
    }
    return out;
  }
  void apply(SmModel& m) const override {
    std::vector<size_t> rejected = Rejected(m);
    std::vector<Delta> accepted;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (std::find(rejected.begin(), rejected.end(), i) == rejected.end()) accepted.push_back(batch[i]);
    }
    ApplyToModel(to_a ? &m.a : &m.b, accepted);
  }
  void run(const SmModel& m, SmSut& sut) const override {
    Store& store = to_a ? *sut.a : *sut.b;
    std::vector<size_t> rejected = Rejected(m);
    if (!rejected.empty()) ++g_rejecting_applies;
    if (way == Way::kApply) {
      auto r = store.Apply(batch);
      RC_ASSERT(r.ok());
      RC_ASSERT(r->rejected == rejected);
      RC_ASSERT(r->applied == batch.size() - rejected.size());
    } else {
      auto run = store.NewBulkRun(way == Way::kTables ? 0 : ~size_t{0});
      const size_t half = batch.size() / 2;
      RC_ASSERT(run->Add(std::span(batch).first(half)).ok());
      RC_ASSERT(run->Add(std::span(batch).subspan(half)).ok());
      RC_ASSERT(run->deltas() == batch.size());
      auto r = run->Commit();
      RC_ASSERT(r.ok());
      RC_ASSERT(r->below_horizon == rejected.size());
      RC_ASSERT(r->applied == batch.size() - rejected.size());
      // A run that holds anything (a delta written or rejected) is written as tables there.
      const bool holds = std::any_of(batch.begin(), batch.end(),
                                     [](const Delta& d) { return !d.state.empty(); });
      RC_ASSERT(r->as_tables == (way == Way::kTables && holds));
      if (r->as_tables) ++g_table_commits;
      RC_ASSERT(run->deltas() == 0 && run->bytes() == 0);
    }
    CheckAll(nextState(m), sut);
  }
  void show(std::ostream& os) const override {
    static const char* const kWays[] = {"Apply", "BulkRun (tables)", "BulkRun (logged)"};
    os << kWays[static_cast<int>(way)] << " to " << (to_a ? "a" : "b") << ":\n"
       << DescribeBatch(batch);
  }
};

// What MergeFrom does, in the model: b into a (into_a) or a into b.
void MergeModel(SmModel& m, bool into_a) {
  reconcile_test::Model& into = into_a ? m.a : m.b;
  const reconcile_test::Model& from = into_a ? m.b : m.a;
  const Hlc horizon = into_a ? m.horizon_a : m.horizon_b;
  for (const auto& [k, s] : from) {
    RecordState kept = horizon > 0 ? WithoutCellsAtOrBelow(s, horizon) : s;
    if (!kept.empty()) into[k].Join(kept);
  }
  if (into_a) {
    m.fork_a = std::max(m.fork_a, m.fork_b);
    m.horizon_a = std::max(m.horizon_a, m.horizon_b);
    m.ack_a = std::max(m.ack_a, m.ack_b);
  } else {
    m.fork_b = std::max(m.fork_a, m.fork_b);
    m.horizon_b = std::max(m.horizon_a, m.horizon_b);
    m.ack_b = std::max(m.ack_a, m.ack_b);
  }
}

struct Merge : Cmd {
  bool into_a = *rc::gen::arbitrary<bool>();
  void apply(SmModel& m) const override { MergeModel(m, into_a); }
  void run(const SmModel& m, SmSut& sut) const override {
    reconcile::Status s = into_a ? sut.a->MergeFrom(*sut.b) : sut.b->MergeFrom(*sut.a);
    RC_ASSERT(s.ok());
    CheckAll(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "MergeFrom " << (into_a ? "b into a" : "a into b"); }
};

// Both stores merge from each other (a sync between sites), so later GC steps find them honest.
struct Sync : Cmd {
  void apply(SmModel& m) const override {
    MergeModel(m, true);
    MergeModel(m, false);
  }
  void run(const SmModel& m, SmSut& sut) const override {
    RC_ASSERT(sut.a->MergeFrom(*sut.b).ok());
    RC_ASSERT(sut.b->MergeFrom(*sut.a).ok());
    CheckAll(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "Sync (b into a, then a into b)"; }
};

struct Reopen : Cmd {
  bool a = *rc::gen::arbitrary<bool>();
  void run(const SmModel& m, SmSut& sut) const override {
    std::unique_ptr<Store>& store = a ? sut.a : sut.b;
    store.reset();
    store = MustOpen(a ? sut.a_dir : sut.b_dir, TestOptions(a ? "weu-primary" : "neu-secondary"));
    RC_ASSERT(store != nullptr);
    CheckAll(m, sut);
  }
  void show(std::ostream& os) const override { os << "Reopen " << (a ? "a" : "b"); }
};

struct Backup : Cmd {
  void apply(SmModel& m) const override {
    m.has_backup = true;
    m.backup = m.a;
    m.backup_fork = m.fork_a;
    m.backup_horizon = m.horizon_a;
    m.backup_ack = m.ack_a;
  }
  void run(const SmModel& m, SmSut& sut) const override {
    auto info = sut.a->CreateBackup(sut.backup_dir);
    RC_ASSERT(info.ok());
    RC_ASSERT(Store::VerifyBackup(sut.backup_dir, info->id).ok());
    auto list = Store::ListBackups(sut.backup_dir);
    RC_ASSERT(list.ok() && !list->empty() && list->back().id == info->id);
    CheckAll(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "Backup a"; }
};

struct Restore : Cmd {
  void checkPreconditions(const SmModel& m) const override {
    RC_PRE(m.has_backup);
    RC_PRE(Honest(m.backup, m.b, std::max(m.backup_horizon, m.horizon_b)));
  }
  void apply(SmModel& m) const override {
    m.a = m.backup;
    m.fork_a = m.backup_fork;
    m.horizon_a = m.backup_horizon;
    m.ack_a = m.backup_ack;
  }
  void run(const SmModel& m, SmSut& sut) const override {
    // Restoring over an open store is refused.
    RC_ASSERT(Store::RestoreBackup(sut.backup_dir, 0, sut.a_dir).IsConflict());
    sut.a.reset();
    RC_ASSERT(Store::RestoreBackup(sut.backup_dir, 0, sut.a_dir).ok());
    sut.a = MustOpen(sut.a_dir, TestOptions("weu-primary"));
    RC_ASSERT(sut.a != nullptr);
    CheckAll(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "Restore a from the latest backup"; }
};

struct SetFork : Cmd {
  Hlc fork = *GenForkPoint();
  void apply(SmModel& m) const override { m.fork_a = std::max(m.fork_a, fork); }
  void run(const SmModel& m, SmSut& sut) const override {
    RC_ASSERT(sut.a->SetForkPoint(fork).ok());
    CheckAll(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "SetForkPoint a " << fork; }
};

// Every site of the pool acknowledges `ack` to store a (or b), which then collects garbage. All
// sites always get the same acks, so the stable point (the least ack over the known sites: the
// pool minus the owner) is the greatest ack the store holds, its own or joined by MergeFrom.
struct CollectGarbage : Cmd {
  bool a = *rc::gen::arbitrary<bool>();
  Hlc ack = reconcile::MakeHlc(kBaseMillis + static_cast<uint64_t>(Pick(0, 4)),
                               static_cast<uint64_t>(Pick(0, 2)));
  void checkPreconditions(const SmModel& m) const override {
    RC_PRE(!(a ? m.a : m.b).empty());
    SmModel next = nextState(m);
    RC_PRE(Honest(next.a, next.b, std::max(next.horizon_a, next.horizon_b)));
  }
  void apply(SmModel& m) const override {
    Hlc& acked = a ? m.ack_a : m.ack_b;
    acked = std::max(acked, ack);
    Hlc& horizon = a ? m.horizon_a : m.horizon_b;
    horizon = std::max(horizon, acked);
    m.promised = std::max(m.promised, ack);
  }
  void run(const SmModel& m, SmSut& sut) const override {
    Store& store = a ? *sut.a : *sut.b;
    for (const SiteId& site : Sites()) RC_ASSERT(store.Acknowledge(site, ack).ok());
    auto r = store.CollectGarbage();
    RC_ASSERT(r.ok());
    SmModel next = nextState(m);
    RC_ASSERT(store.gc_horizon() == (a ? next.horizon_a : next.horizon_b));
    if (r->covers_dropped > 0) ++g_collecting_gcs;
    CheckAll(next, sut);
  }
  void show(std::ostream& os) const override {
    os << "Acknowledge " << ack << " for every site, then CollectGarbage on " << (a ? "a" : "b");
  }
};

TEST(StoreModel, RandomStepsMatchTheModel) {
  // Each sequence opens two RocksDB stores and may back up and restore: ~100 ms a sequence, so
  // this property runs at most 120 sequences (the brief asks for at least 100) of up to ~40 steps
  // rather than RC_PARAMS' 1000.
  CheckCapped(120, [] {
    SmSut sut;
    RC_ASSERT(sut.a != nullptr && sut.b != nullptr);
    SmModel initial;
    rc::state::check(initial, sut,
                     rc::state::gen::execOneOfWithArgs<ApplyTo, ApplyTo, ApplyTo, ApplyTo, Merge,
                                                       Merge, Sync, Reopen, Backup, Restore, SetFork,
                                                       CollectGarbage, CollectGarbage>());
  }, /*max_size=*/40);
  std::cout << g_collecting_gcs << " GC steps dropped covers, " << g_rejecting_applies
            << " Apply steps had deltas rejected below a horizon\n";
  std::cout << g_table_commits << " Apply steps were written as table files\n";
  EXPECT_GT(g_table_commits, 0);
  EXPECT_GT(g_collecting_gcs, 0);
  EXPECT_GT(g_rejecting_applies, 0);
}

}  // namespace
}  // namespace reconcile_test
