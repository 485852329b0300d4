// tests/core/lattice_properties_test.cc — the laws of DESIGN §2, checked with rapidcheck.
//
// Every property draws adversarial states from tests/core/generators.h. rapidcheck prints
// "Using configuration: seed=..." when a test starts; reproduce a failure with
// RC_PARAMS="seed=N" (ctest passes max_success=1000). Failing cases log their inputs (RC_LOG).
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "reconcile/clock.h"
#include "reconcile/codec.h"
#include "reconcile/conflict.h"
#include "reconcile/key.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"
#include "reconcile/policy.h"
#include "reconcile/record.h"
#include "reconcile/stamp.h"
#include "tests/core/generators.h"

namespace reconcile_test {
namespace {

using reconcile::Code;
using reconcile::DecodeRecord;
using reconcile::EncodeRecord;
using reconcile::MergeView;
using reconcile::PolicyKind;
using reconcile::PolicyTable;

// The invariants record.h promises, checked independently of RecordState::Validate.
void AssertInvariants(const RecordState& s) {
  RC_ASSERT(s.Validate().ok());
  const auto& cells = s.cells();
  for (size_t i = 0; i < cells.size(); ++i) {
    RC_ASSERT(!cells[i].empty());
    RC_ASSERT(cells[i].has_value || cells[i].has_cover || cells[i].has_below_cover);
    RC_ASSERT(!(cells[i].path.empty() && cells[i].has_below_cover));
    if (i > 0) {
      RC_ASSERT(std::tie(cells[i - 1].path, cells[i - 1].site) <
                std::tie(cells[i].path, cells[i].site));
    }
  }
}

// Every table a materialization is checked under: none, the default, a random one, and each
// policy kind everywhere.
std::vector<PolicyTable> TablesToCheck(const Universe& u) {
  std::vector<PolicyTable> tables = {PolicyTable(), PolicyTable::Default(), *GenPolicyTable(u)};
  for (PolicyKind k : AllPolicyKinds()) tables.push_back(Everywhere(k, Pick(0, 3)));
  return tables;
}

const std::vector<KeyKind>& AllKeyKinds() {
  static const std::vector<KeyKind> kinds = {KeyKind::kDevice, KeyKind::kModule, KeyKind::kMeta};
  return kinds;
}

// ---------------------------------------------------------------------------------------------
// Join: a join-semilattice

RC_GTEST_PROP(LatticeJoin, IsCommutative, ()) {
  const Universe u = *GenUniverse();
  const RecordState a = *GenState(u);
  const RecordState b = *GenState(u);
  RC_LOG() << "a=" << Describe(a) << "\nb=" << Describe(b) << "\n";
  const RecordState ab = RecordState::Joined(a, b);
  const RecordState ba = RecordState::Joined(b, a);
  RC_ASSERT(ab == ba);
  RC_ASSERT(EncodeRecord(ab) == EncodeRecord(ba));
}

RC_GTEST_PROP(LatticeJoin, IsAssociative, ()) {
  const Universe u = *GenUniverse();
  const RecordState a = *GenState(u);
  const RecordState b = *GenState(u);
  const RecordState c = *GenState(u);
  RC_LOG() << "a=" << Describe(a) << "\nb=" << Describe(b) << "\nc=" << Describe(c) << "\n";
  RC_ASSERT(RecordState::Joined(RecordState::Joined(a, b), c) ==
            RecordState::Joined(a, RecordState::Joined(b, c)));
}

RC_GTEST_PROP(LatticeJoin, IsIdempotentAndAbsorbing, ()) {
  const Universe u = *GenUniverse();
  const RecordState a = *GenState(u);
  const RecordState b = *GenState(u);
  RC_LOG() << "a=" << Describe(a) << "\nb=" << Describe(b) << "\n";
  RC_ASSERT(RecordState::Joined(a, a) == a);
  const RecordState ab = RecordState::Joined(a, b);
  // The join is an upper bound: joining either side again changes nothing.
  RC_ASSERT(RecordState::Joined(ab, a) == ab);
  RC_ASSERT(RecordState::Joined(ab, b) == ab);
  RC_ASSERT(RecordState::Joined(RecordState(), a) == a);
}

RC_GTEST_PROP(LatticeJoin, MoveJoinEqualsCopyJoin, ()) {
  const Universe u = *GenUniverse();
  const RecordState a = *GenState(u);
  const RecordState b = *GenState(u);
  RecordState copy_joined = a;
  copy_joined.Join(b);
  RecordState move_joined = a;
  RecordState b_copy = b;
  move_joined.Join(std::move(b_copy));
  RC_ASSERT(copy_joined == move_joined);
  RC_ASSERT(copy_joined == RecordState::Joined(a, b));
}

// Joins b into a every way: into an accumulator that has room for the new cells (one reused after
// an earlier join: copy-assignment keeps its capacity) and one without room, by copy and by move,
// and Joined; each must give `expected`.
void CheckEveryJoinGives(const RecordState& a, const RecordState& b, const RecordState& expected) {
  RecordState roomy = RecordState::Joined(b, a);  // capacity for a's and b's cells
  roomy = a;
  RecordState roomy_moved = RecordState::Joined(b, a);
  roomy_moved = a;
  RecordState tight = a;
  RecordState tight_moved = a;
  roomy.Join(b);
  tight.Join(b);
  RecordState b_copy = b;
  roomy_moved.Join(std::move(b_copy));
  b_copy = b;
  tight_moved.Join(std::move(b_copy));
  RC_ASSERT(roomy == expected);
  RC_ASSERT(roomy_moved == expected);
  RC_ASSERT(tight == expected);
  RC_ASSERT(tight_moved == expected);
  RC_ASSERT(RecordState::Joined(a, b) == expected);
}

// Every way of joining gives what FromCells gives for all the cells at once.
RC_GTEST_PROP(LatticeJoin, JoinWithAndWithoutRoomEqualsFromCells, ()) {
  const Universe u = *GenUniverse();
  const RecordState a = *GenState(u);
  const RecordState b = *GenState(u);
  std::vector<Cell> all = a.cells();
  all.insert(all.end(), b.cells().begin(), b.cells().end());
  const RecordState expected = RecordState::FromCells(all);

  CheckEveryJoinGives(a, b, expected);
}

// The same for states of hundreds of cells, many of them new to the accumulator: long merges.
RC_GTEST_PROP(LatticeJoin, LongJoinsEqualFromCells, ()) {
  const Universe u = *GenUniverse();
  const int keys = Pick(200, 700);
  auto gen_cells = [&](int percent) {
    std::vector<Cell> cells;
    for (int k = 0; k < keys; ++k) {
      if (!Chance(percent)) continue;
      Cell c = *GenRawCell(u);
      c.path = "k" + std::to_string(100000 + k / 2);  // two cells a path, where sites differ
      cells.push_back(std::move(c));
    }
    return cells;
  };
  const RecordState a = RecordState::FromCells(gen_cells(*rc::gen::inRange(10, 100)));
  const RecordState b = RecordState::FromCells(gen_cells(*rc::gen::inRange(10, 100)));
  std::vector<Cell> all = a.cells();
  all.insert(all.end(), b.cells().begin(), b.cells().end());
  const RecordState expected = RecordState::FromCells(all);

  CheckEveryJoinGives(a, b, expected);
}

// Joins one cell into `s` through the Add* calls.
void AddCell(RecordState& s, const Cell& c) {
  const Path p = Path::FromJoined(c.path.str());
  if (c.has_value) s.AddValue(p, c.value_stamp(), c.value.str());
  if (c.has_cover) s.AddCover(p, c.cover_stamp());
  if (c.has_below_cover) s.AddBelowCover(p, c.below_cover_stamp());
}

// FromCells, AddValue/AddCover/AddBelowCover and Join are three roads to the same join.
RC_GTEST_PROP(LatticeJoin, FromCellsAndAddCellsEqualJoin, ()) {
  const Universe u = *GenUniverse();
  const RecordState a = *GenState(u);
  const RecordState b = *GenState(u);
  RC_LOG() << "a=" << Describe(a) << "\nb=" << Describe(b) << "\n";
  const RecordState expected = RecordState::Joined(a, b);

  std::vector<Cell> all = a.cells();
  all.insert(all.end(), b.cells().begin(), b.cells().end());
  std::vector<Cell> shuffled;
  for (size_t i : *GenDeliveryOrder(all.size())) shuffled.push_back(all[i]);
  RC_ASSERT(RecordState::FromCells(shuffled) == expected);

  RecordState added = a;
  std::vector<Cell> b_cells = b.cells();
  for (size_t i : *GenDeliveryOrder(b_cells.size())) {
    AddCell(added, b_cells[i]);
  }
  RC_ASSERT(added == expected);
}

RC_GTEST_PROP(LatticeJoin, KeepsInvariants, ()) {
  const Universe u = *GenUniverse();
  const RecordState a = *GenState(u);
  const RecordState b = *GenState(u);
  RC_LOG() << "a=" << Describe(a) << "\nb=" << Describe(b) << "\n";
  AssertInvariants(a);
  AssertInvariants(RecordState::Joined(a, b));
  AssertInvariants(RecordState::FromCells(*GenRawCells(u)));
  RecordState p = RecordState::Joined(a, b);
  p.Prune();
  AssertInvariants(p);
}

// MaxStampPerSite against a model: the per-site maximum over every value and cover stamp.
RC_GTEST_PROP(LatticeJoin, MaxStampPerSiteIsTheGreatestStampOfEachSite, ()) {
  const Universe u = *GenUniverse();
  const RecordState s = RecordState::Joined(*GenState(u), *GenState(u));
  RC_LOG() << "s=" << Describe(s) << "\n";
  std::map<SiteId, Stamp> model;
  for (const Cell& c : s.cells()) {
    auto bump = [&](const Stamp& st) {
      auto it = model.find(st.site);
      if (it == model.end() || it->second < st) model[st.site] = st;
    };
    if (c.has_value) bump(c.value_stamp());
    if (c.has_cover) bump(c.cover_stamp());
    if (c.has_below_cover) bump(c.below_cover_stamp());
  }
  std::vector<Stamp> expected;
  for (const auto& [site, stamp] : model) expected.push_back(stamp);
  RC_ASSERT(s.MaxStampPerSite() == expected);
}

// ---------------------------------------------------------------------------------------------
// Prune

RC_GTEST_PROP(Prune, PreservesMaterializeUnderEveryPolicy, ()) {
  const Universe u = *GenUniverse();
  const RecordState s = *GenState(u);
  RecordState pruned = s;
  pruned.Prune();
  const std::vector<PolicyTable> tables = TablesToCheck(u);
  const Hlc fork = *GenForkPoint();
  RC_LOG() << Describe(u) << "\ns=" << Describe(s) << "\npruned=" << Describe(pruned)
           << "\nfork=" << fork << "\n";
  for (const PolicyTable& table : tables) {
    const MergeView view{&table, fork};
    for (KeyKind kind : AllKeyKinds()) {
      const std::string before = MaterializeText(kind, s, view);
      const std::string after = MaterializeText(kind, pruned, view);
      RC_LOG() << "table=" << Describe(table) << " kind=" << static_cast<int>(kind)
               << "\n  before=" << before << "\n  after =" << after << "\n";
      RC_ASSERT(before.rfind("<error", 0) != 0);
      RC_ASSERT(before == after);
      // The streamed bytes and the JSON form agree.
      auto json = reconcile::MaterializeJson(kind, s, view);
      RC_ASSERT(json.ok());
      RC_ASSERT((json.value().has_value() ? reconcile::CanonicalJson(*json.value()) : "<absent>") ==
                before);
    }
  }
}

RC_GTEST_PROP(Prune, IsIdempotent, ()) {
  const Universe u = *GenUniverse();
  RecordState once = *GenState(u);
  once.Prune();
  RecordState twice = once;
  twice.Prune();
  RC_LOG() << "once=" << Describe(once) << "\ntwice=" << Describe(twice) << "\n";
  RC_ASSERT(once == twice);
}

// Prune only drops parts of cells; it never invents or changes one.
RC_GTEST_PROP(Prune, OnlyDropsParts, ()) {
  const Universe u = *GenUniverse();
  const RecordState s = *GenState(u);
  RecordState pruned = s;
  pruned.Prune();
  RC_LOG() << "s=" << Describe(s) << "\npruned=" << Describe(pruned) << "\n";
  for (const Cell& c : pruned.cells()) {
    auto it = std::find_if(s.cells().begin(), s.cells().end(),
                           [&](const Cell& o) { return o.path == c.path && o.site == c.site; });
    RC_ASSERT(it != s.cells().end());
    if (c.has_value) {
      RC_ASSERT(it->has_value);
      RC_ASSERT(it->value_hlc == c.value_hlc);
      RC_ASSERT(it->value == c.value);
    }
    if (c.has_cover) {
      RC_ASSERT(it->has_cover);
      RC_ASSERT(it->cover_hlc == c.cover_hlc);
    }
    if (c.has_below_cover) {
      RC_ASSERT(it->has_below_cover);
      RC_ASSERT(it->below_cover_hlc == c.below_cover_hlc);
    }
  }
  // And every root cover survives: nothing dominates it, and it is what keeps a delete deleted.
  for (const Cell& c : s.cells()) {
    if (!c.path.empty() || !c.has_cover) continue;
    auto it = std::find_if(pruned.cells().begin(), pruned.cells().end(),
                           [&](const Cell& o) { return o.path.empty() && o.site == c.site; });
    RC_ASSERT(it != pruned.cells().end());
    RC_ASSERT(it->has_cover);
    RC_ASSERT(it->cover_hlc == c.cover_hlc);
  }
}

// DESIGN §2: join followed by pruning is still a join.
RC_GTEST_PROP(Prune, CommutesWithJoin, ()) {
  const Universe u = *GenUniverse();
  const RecordState a = *GenState(u);
  const RecordState b = *GenState(u);
  RecordState lhs = RecordState::Joined(a, b);
  lhs.Prune();
  RecordState pa = a;
  pa.Prune();
  RecordState pb = b;
  pb.Prune();
  RecordState rhs = RecordState::Joined(pa, pb);
  rhs.Prune();
  RC_LOG() << "a=" << Describe(a) << "\nb=" << Describe(b) << "\nprune(join)=" << Describe(lhs)
           << "\nprune(join(prune,prune))=" << Describe(rhs) << "\n";
  RC_ASSERT(lhs == rhs);
}

// ---------------------------------------------------------------------------------------------
// Codec

RC_GTEST_PROP(Codec, RoundTrips, ()) {
  const Universe u = *GenUniverse();
  const RecordState s = *GenState(u);
  RC_LOG() << "s=" << Describe(s) << "\n";
  const std::string bytes = EncodeRecord(s);
  RC_ASSERT(!bytes.empty());
  RC_ASSERT(static_cast<uint8_t>(bytes[0]) == reconcile::kRecordCodecVersion);
  auto decoded = DecodeRecord(bytes);
  RC_ASSERT(decoded.ok());
  RC_ASSERT(decoded.value() == s);
  RC_ASSERT(EncodeRecord(decoded.value()) == bytes);
  // EncodeRecordTo appends.
  std::string out = "prefix";
  reconcile::EncodeRecordTo(s, &out);
  RC_ASSERT(out == "prefix" + bytes);
}

// What decoding untrusted bytes may do: fail with kCorruption or kUnsupported, or give a state
// that satisfies the invariants, re-encodes to an equal state, and materializes or reports
// corruption (a value that is not JSON) without crashing.
void AssertSafeDecode(const std::string& bytes) {
  auto r = DecodeRecord(bytes);
  if (!r.ok()) {
    RC_ASSERT(r.status().code() == Code::kCorruption || r.status().code() == Code::kUnsupported);
    if (!bytes.empty() && static_cast<uint8_t>(bytes[0]) != reconcile::kRecordCodecVersion) {
      RC_ASSERT(r.status().code() == Code::kUnsupported);
    }
    return;
  }
  RC_ASSERT(!bytes.empty());
  RC_ASSERT(static_cast<uint8_t>(bytes[0]) == reconcile::kRecordCodecVersion);
  AssertInvariants(r.value());
  auto again = DecodeRecord(EncodeRecord(r.value()));
  RC_ASSERT(again.ok());
  RC_ASSERT(again.value() == r.value());
  const PolicyTable table = PolicyTable::Default();
  const MergeView view{&table, 0};
  auto m = reconcile::Materialize(KeyKind::kDevice, r.value(), view);
  if (!m.ok()) RC_ASSERT(m.status().code() == Code::kCorruption);
  auto c = reconcile::FindConflicts(KeyKind::kDevice, r.value(), view);
  if (!c.ok()) RC_ASSERT(c.status().code() == Code::kCorruption);
}

RC_GTEST_PROP(Codec, GarbageNeverCrashes, ()) {
  std::string bytes;
  const int n = Pick(0, 64);
  for (int i = 0; i < n; ++i) {
    // Small bytes often: they are the lengths, counts and flags of a compact encoding.
    bytes.push_back(static_cast<char>(Chance(60) ? Pick(0, 4) : Pick(0, 255)));
  }
  if (!bytes.empty() && Chance(70)) bytes[0] = static_cast<char>(reconcile::kRecordCodecVersion);
  RC_LOG() << "bytes (" << bytes.size() << ")\n";
  AssertSafeDecode(bytes);
}

// codec.h: truncation gives kCorruption.
RC_GTEST_PROP(Codec, EveryTruncationIsCorruption, ()) {
  const Universe u = *GenUniverse();
  const RecordState s = *GenState(u);
  const std::string bytes = EncodeRecord(s);
  RC_LOG() << "s=" << Describe(s) << "\nencoded size " << bytes.size() << "\n";
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = DecodeRecord(std::string_view(bytes).substr(0, len));
    RC_LOG() << "prefix length " << len << ": " << (r.ok() ? "ok" : r.status().ToString()) << "\n";
    RC_ASSERT(!r.ok());
    RC_ASSERT(r.status().code() == Code::kCorruption);
  }
}

RC_GTEST_PROP(Codec, BitFlipsAndSplicesNeverCrash, ()) {
  const Universe u = *GenUniverse();
  const RecordState s = *GenState(u);
  std::string bytes = EncodeRecord(s);
  RC_LOG() << "s=" << Describe(s) << "\n";
  switch (Pick(0, 3)) {
    case 0:
    case 1: {  // flip 1..3 bits
      const int flips = Pick(1, 3);
      for (int i = 0; i < flips; ++i) {
        const size_t at = static_cast<size_t>(Pick(0, static_cast<int>(bytes.size()) - 1));
        bytes[at] = static_cast<char>(bytes[at] ^ (1 << Pick(0, 7)));
        RC_LOG() << "flip byte " << at << "\n";
      }
      break;
    }
    case 2: {  // overwrite a byte
      const size_t at = static_cast<size_t>(Pick(0, static_cast<int>(bytes.size()) - 1));
      bytes[at] = static_cast<char>(Pick(0, 255));
      RC_LOG() << "overwrite byte " << at << "\n";
      break;
    }
    default: {  // insert or append junk
      const size_t at = static_cast<size_t>(Pick(1, static_cast<int>(bytes.size())));
      bytes.insert(at,
                   std::string(static_cast<size_t>(Pick(1, 3)), static_cast<char>(Pick(0, 255))));
      RC_LOG() << "insert at " << at << "\n";
      break;
    }
  }
  AssertSafeDecode(bytes);
}

RC_GTEST_PROP(Codec, UnknownVersionIsUnsupported, ()) {
  const Universe u = *GenUniverse();
  std::string bytes = EncodeRecord(*GenState(u));
  int version = Pick(0, 255);
  if (version == reconcile::kRecordCodecVersion) version = 0;
  bytes[0] = static_cast<char>(version);
  auto r = DecodeRecord(bytes);
  RC_ASSERT(!r.ok());
  RC_ASSERT(r.status().code() == Code::kUnsupported);
}

// codec.h: garbage after a valid encoding is corruption too (a record value is exactly one state).
RC_GTEST_PROP(Codec, TrailingBytesAreCorruption, ()) {
  const Universe u = *GenUniverse();
  const RecordState s = *GenState(u);
  std::string bytes = EncodeRecord(s);
  const int extra = Pick(1, 4);
  for (int i = 0; i < extra; ++i) bytes.push_back(static_cast<char>(Pick(0, 255)));
  RC_LOG() << "s=" << Describe(s) << "\n";
  auto r = DecodeRecord(bytes);
  RC_ASSERT(!r.ok());
  RC_ASSERT(r.status().code() == Code::kCorruption);
}

// ---------------------------------------------------------------------------------------------
// Deltas

// A state built one delta at a time equals the same deltas joined as a tree, thrown together as
// cells, or added cell by cell.
RC_GTEST_PROP(Delta, OneAtATimeEqualsBulkJoin, ()) {
  const Universe u = *GenUniverse();
  const std::vector<Op> ops = *GenHistory(u, 16);
  RC_LOG() << Describe(u) << "\n" << Describe(ops);
  const std::vector<RecordState> deltas = DeltasOf(ops, u);

  RecordState sequential;
  for (const auto& d : deltas) sequential.Join(d);

  std::vector<RecordState> level = deltas;
  while (level.size() > 1) {
    std::vector<RecordState> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2)
      next.push_back(RecordState::Joined(level[i], level[i + 1]));
    if (level.size() % 2 == 1) next.push_back(level.back());
    level = std::move(next);
  }
  RC_ASSERT(sequential == level.front());

  std::vector<Cell> all;
  for (const auto& d : deltas) all.insert(all.end(), d.cells().begin(), d.cells().end());
  RC_ASSERT(RecordState::FromCells(all) == sequential);

  RecordState added;
  for (const Cell& c : all) AddCell(added, c);
  RC_ASSERT(added == sequential);
}

// Three replicas, each writing with its own site, gossip by shipping single deltas, groups of
// deltas (joined before shipping), and full states, in any order with repeats, pruning now and
// then. At the end (after every delta reached every replica) they all hold the join of all
// deltas: exactly when never pruned, up to pruning otherwise.
RC_GTEST_PROP(Delta, ShippingDeltasEqualsShippingStates, ()) {
  const Universe u = *GenUniverse();
  constexpr int kReplicas = 3;
  std::vector<std::vector<Op>> local_ops(kReplicas);
  for (int i = 0; i < kReplicas; ++i) {
    const SiteId site = Sites()[static_cast<size_t>(i)];
    const int n = Pick(0, 6);
    for (int k = 0; k < n; ++k) {
      local_ops[static_cast<size_t>(i)].push_back(*GenOp(u, rc::gen::exec([site] {
                                                           return Stamp{*GenHlc(), site};
                                                         })));
    }
  }
  std::vector<RecordState> replica(kReplicas);
  std::vector<bool> pruned(kReplicas, false);
  std::vector<std::vector<RecordState>> outbox(kReplicas);
  std::vector<size_t> next_op(kReplicas, 0);
  std::vector<RecordState> all_deltas;

  auto apply_local = [&](size_t i) {
    if (next_op[i] >= local_ops[i].size()) return;
    const Op& op = local_ops[i][next_op[i]++];
    RC_LOG() << "replica " << i << " applies " << Describe(op) << "\n";
    RecordState d = DeltaOf(op, u);
    replica[i].Join(d);
    outbox[i].push_back(d);
    all_deltas.push_back(std::move(d));
  };

  const int steps = Pick(0, 40);
  for (int step = 0; step < steps; ++step) {
    const size_t i = static_cast<size_t>(Pick(0, kReplicas - 1));
    const size_t j = (i + static_cast<size_t>(Pick(1, kReplicas - 1))) % kReplicas;
    switch (Pick(0, 5)) {
      case 0:
      case 1:
        apply_local(i);
        break;
      case 2:
        if (!outbox[i].empty()) {
          const size_t k = static_cast<size_t>(Pick(0, static_cast<int>(outbox[i].size()) - 1));
          RC_LOG() << "delta " << i << "#" << k << " -> " << j << "\n";
          replica[j].Join(outbox[i][k]);
        }
        break;
      case 3:
        if (!outbox[i].empty()) {
          const int first = Pick(0, static_cast<int>(outbox[i].size()) - 1);
          const int last = Pick(first, static_cast<int>(outbox[i].size()) - 1);
          RecordState group;
          for (int k = first; k <= last; ++k) group.Join(outbox[i][static_cast<size_t>(k)]);
          RC_LOG() << "delta group " << i << "#" << first << ".." << last << " -> " << j << "\n";
          replica[j].Join(std::move(group));
        }
        break;
      case 4:
        RC_LOG() << "state " << i << " -> " << j << "\n";
        replica[j].Join(replica[i]);
        pruned[j] = pruned[j] || pruned[i];
        break;
      default:
        RC_LOG() << "prune " << i << "\n";
        replica[i].Prune();
        pruned[i] = true;
        break;
    }
  }
  // Drain: every replica finishes its own operations, then every delta goes everywhere.
  for (size_t i = 0; i < kReplicas; ++i) {
    while (next_op[i] < local_ops[i].size()) apply_local(i);
  }
  for (size_t i = 0; i < kReplicas; ++i) {
    for (size_t j = 0; j < kReplicas; ++j) {
      if (i == j) continue;
      for (size_t k : *GenDeliveryOrder(outbox[i].size())) replica[j].Join(outbox[i][k]);
    }
  }

  const RecordState everything = JoinAll(all_deltas);
  RecordState everything_pruned = everything;
  everything_pruned.Prune();
  const PolicyTable table = PolicyTable::Default();
  const Hlc fork = *GenForkPoint();
  const MergeView view{&table, fork};
  const std::string expected = MaterializeText(u.kind, everything, view);
  for (size_t i = 0; i < kReplicas; ++i) {
    RC_LOG() << "replica " << i << (pruned[i] ? " (pruned)" : "") << ": " << Describe(replica[i])
             << "\nexpected: " << Describe(everything) << "\n";
    if (!pruned[i]) RC_ASSERT(replica[i] == everything);
    RecordState p = replica[i];
    p.Prune();
    RC_ASSERT(p == everything_pruned);
    RC_ASSERT(MaterializeText(u.kind, replica[i], view) == expected);
  }
}

// ---------------------------------------------------------------------------------------------
// Convergence

// Any permutation, with any duplicates, of a history over the site pool gives the same state,
// the same bytes and the same conflicts; pruning along the way changes neither the bytes nor the
// pruned state.
RC_GTEST_PROP(Convergence, AnyOrderWithDuplicatesGivesOneByteString, ()) {
  const Universe u = *GenUniverse();
  std::vector<Op> ops = *GenHistory(u, 20);
  // At least three sites write (when there are three operations).
  for (size_t k = 0; k < ops.size() && k < 3; ++k) ops[k].stamp.site = Sites()[k];
  const std::vector<RecordState> deltas = DeltasOf(ops, u);
  const PolicyTable table = *GenPolicyTable(u);
  const PolicyTable defaults = PolicyTable::Default();
  const Hlc fork = *GenForkPoint();
  RC_LOG() << Describe(u) << " fork=" << fork << " table=" << Describe(table) << "\n"
           << Describe(ops);

  const RecordState reference = JoinAll(deltas);
  RecordState reference_pruned = reference;
  reference_pruned.Prune();

  RecordState plain;
  for (size_t i : *GenDeliveryOrder(deltas.size())) plain.Join(deltas[i]);
  RecordState pruning;
  for (size_t i : *GenDeliveryOrder(deltas.size())) {
    pruning.Join(deltas[i]);
    if (Chance(30)) pruning.Prune();
  }
  RecordState pruning_final = pruning;
  pruning_final.Prune();

  RC_ASSERT(plain == reference);
  RC_ASSERT(pruning_final == reference_pruned);
  for (const PolicyTable* t : {&table, &defaults}) {
    const MergeView view{t, fork};
    const std::string bytes = MaterializeText(u.kind, reference, view);
    RC_LOG() << "materialized: " << bytes << "\n";
    RC_ASSERT(bytes.rfind("<error", 0) != 0);
    RC_ASSERT(MaterializeText(u.kind, plain, view) == bytes);
    RC_ASSERT(MaterializeText(u.kind, pruning, view) == bytes);
    RC_ASSERT(MaterializeText(u.kind, pruning_final, view) == bytes);
    const std::string conflicts = ConflictsText(u.kind, reference, view);
    RC_LOG() << "conflicts: " << conflicts << "\n";
    RC_ASSERT(conflicts.rfind("<error", 0) != 0);
    RC_ASSERT(ConflictsText(u.kind, plain, view) == conflicts);
    RC_ASSERT(ConflictsText(u.kind, pruning_final, view) ==
              ConflictsText(u.kind, reference_pruned, view));
  }
}

// Every policy kind, with a fork point, is a function of the state: any delivery order gives the
// same bytes and conflicts, and pruning does not change the bytes.
void CheckPolicyDeterminism(PolicyKind kind) {
  const Universe u = *GenUniverse();
  const std::vector<Op> ops = *GenFocusedHistory(u, 14);
  const std::vector<RecordState> deltas = DeltasOf(ops, u);
  const PolicyTable table = Everywhere(kind, Pick(0, 7));
  const Hlc fork = *GenForkPoint();
  const MergeView view{&table, fork};
  RC_LOG() << Describe(u) << " fork=" << fork << " table=" << Describe(table) << "\n"
           << Describe(ops);

  RecordState first;
  for (size_t i : *GenDeliveryOrder(deltas.size())) first.Join(deltas[i]);
  RecordState second;
  for (size_t i : *GenDeliveryOrder(deltas.size())) {
    second.Join(deltas[i]);
    if (Chance(20)) second.Prune();
  }
  RecordState first_pruned = first;
  first_pruned.Prune();

  const std::string bytes = MaterializeText(u.kind, first, view);
  RC_LOG() << "state: " << Describe(first) << "\nmaterialized: " << bytes << "\n";
  RC_ASSERT(bytes.rfind("<error", 0) != 0);
  RC_ASSERT(MaterializeText(u.kind, second, view) == bytes);
  RC_ASSERT(MaterializeText(u.kind, first_pruned, view) == bytes);
  // The JSON form agrees with the bytes.
  auto json = reconcile::MaterializeJson(u.kind, first, view);
  RC_ASSERT(json.ok());
  RC_ASSERT(json.value().has_value() == (bytes != "<absent>"));
  if (json.value().has_value()) RC_ASSERT(reconcile::CanonicalJson(*json.value()) == bytes);

  RecordState second_pruned = second;
  second_pruned.Prune();
  const std::string conflicts = ConflictsText(u.kind, first, view);
  RC_LOG() << "conflicts: " << conflicts << "\n";
  RC_ASSERT(conflicts.rfind("<error", 0) != 0);
  RC_ASSERT(ConflictsText(u.kind, first_pruned, view) ==
            ConflictsText(u.kind, second_pruned, view));
}

RC_GTEST_PROP(Policies, LwwIsDeterministic, ()) { CheckPolicyDeterminism(PolicyKind::kLww); }
RC_GTEST_PROP(Policies, OrderIsDeterministic, ()) { CheckPolicyDeterminism(PolicyKind::kOrder); }
RC_GTEST_PROP(Policies, MaxIsDeterministic, ()) { CheckPolicyDeterminism(PolicyKind::kMax); }
RC_GTEST_PROP(Policies, UnionIsDeterministic, ()) { CheckPolicyDeterminism(PolicyKind::kUnion); }
RC_GTEST_PROP(Policies, SitePriorityIsDeterministic, ()) {
  CheckPolicyDeterminism(PolicyKind::kSitePriority);
}
RC_GTEST_PROP(Policies, MultiIsDeterministic, ()) { CheckPolicyDeterminism(PolicyKind::kMulti); }

// ---------------------------------------------------------------------------------------------
// Model: under lww, the merged record equals the operations applied one by one in stamp order to
// a plain JSON document, as a hub would apply them (create/replace set the document, ignoring null
// members (DECISIONS D7); delete drops it; patch is a JSON merge patch and does nothing to a
// deleted record; set writes a subtree, making objects along the way; remove erases a subtree).
//
// Stamps are made unique (an operation whose stamp an earlier one already has is dropped), since
// two operations at one stamp have no sequential order; sites and hlcs still collide freely.
// One variant uses a different site for every operation, the other the small site pool, where a
// site's newer value replaces its older one in the same cell.

Json StripNulls(const Json& v) {
  if (!v.is_object()) return v;
  Json out = Json::object();
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it->is_null()) out[it.key()] = StripNulls(*it);
  }
  return out;
}

void MergePatch(Json& target, const Json& patch) {
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it->is_null()) {
      target.erase(it.key());
    } else if (it->is_object()) {
      Json& child = target[it.key()];
      if (!child.is_object()) child = Json::object();
      MergePatch(child, *it);
    } else {
      target[it.key()] = *it;
    }
  }
}

void ModelApply(std::optional<Json>& doc, const Op& op) {
  switch (op.kind) {
    case OpKind::kCreate:
    case OpKind::kReplace:
      doc = StripNulls(op.doc);
      return;
    case OpKind::kDelete:
      doc.reset();
      return;
    case OpKind::kPatch:
      if (doc) MergePatch(*doc, op.doc);
      return;
    case OpKind::kSet:
    case OpKind::kRemove: {
      if (!doc) return;
      const std::vector<std::string> segs = op.path.segments();
      const bool remove = op.kind == OpKind::kRemove || op.doc.is_null();
      Json* node = &*doc;
      for (size_t i = 0; i + 1 < segs.size(); ++i) {
        if (remove) {
          if (!node->is_object() || !node->contains(segs[i])) return;
          node = &(*node)[segs[i]];
        } else {
          Json& child = (*node)[segs[i]];
          if (!child.is_object()) child = Json::object();
          node = &child;
        }
      }
      if (remove) {
        if (node->is_object()) node->erase(segs.back());
      } else {
        (*node)[segs.back()] = StripNulls(op.doc);
      }
      return;
    }
  }
}

const std::vector<SiteId>& ModelSites() {
  static const std::vector<SiteId> sites = [] {
    std::vector<SiteId> out;
    for (int i = 0; i < 10; ++i) out.push_back(SiteId::FromName("model-" + std::to_string(i)));
    return out;
  }();
  return sites;
}

RC_GTEST_PROP(Model, LwwMatchesOperationsAppliedInStampOrder, ()) {
  const Universe u = *GenUniverse();
  std::vector<Op> generated = *GenHistory(u, 10);
  if (Chance(30)) {
    // Distinct sites, in a random assignment.
    const std::vector<size_t> order = *GenDeliveryOrder(ModelSites().size());
    std::vector<size_t> distinct;
    for (size_t i : order) {
      if (std::find(distinct.begin(), distinct.end(), i) == distinct.end()) distinct.push_back(i);
    }
    for (size_t k = 0; k < generated.size(); ++k)
      generated[k].stamp.site = ModelSites()[distinct[k]];
  }
  // A set below the top level makes its missing ancestors implicit objects (operations.h: they
  // get no markers), which vanish again when emptied, where a hub keeps "{}"; and an older scalar
  // at such an ancestor shows again once the nested write is removed (materialize rule 3). Both
  // follow the spec but not a hub's document, so the model sets only top-level paths.
  for (Op& op : generated) {
    if (op.kind == OpKind::kSet && op.path.depth() > 1)
      op.path = Path().Child(op.path.segments()[0]);
  }
  std::vector<Op> ops;
  for (const Op& op : generated) {
    if (std::none_of(ops.begin(), ops.end(), [&](const Op& o) { return o.stamp == op.stamp; })) {
      ops.push_back(op);
    }
  }
  RC_LOG() << Describe(u) << "\n" << Describe(ops);

  std::vector<Op> sorted = ops;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Op& a, const Op& b) { return a.stamp < b.stamp; });
  std::optional<Json> doc;
  for (const Op& op : sorted) ModelApply(doc, op);
  const std::string expected = doc ? reconcile::CanonicalJson(*doc) : "<absent>";

  const RecordState s = JoinAll(DeltasOf(ops, u));
  const PolicyTable lww;
  const std::string shown = MaterializeText(u.kind, s, MergeView{&lww, 0});
  RC_LOG() << "state: " << Describe(s) << "\nmodel: " << expected << "\nshown: " << shown << "\n";
  RC_ASSERT(shown == expected);
}

// An oracle for the policies at one path: sites patch "a" (values only, no covers) with values
// the policies rank differently; each site's best value is its newest (stamp, then bytes), and
// the winner follows policy.h word for word.
RC_GTEST_PROP(Policies, WinnerAtOnePathMatchesTheOracle, ()) {
  static const std::vector<Json> pool = {"disabled",
                                         "enabled",
                                         "x",
                                         1,
                                         1.0,
                                         7,
                                         -3,
                                         0.5,
                                         true,
                                         Json::array({1, 2}),
                                         Json::array({2, "b"}),
                                         Json::array()};
  const Universe u = *GenUniverse();
  std::vector<Op> ops;
  Op create;
  create.kind = OpKind::kCreate;
  create.stamp = Stamp{0, *GenSite()};  // before every patch, so it hides none of them
  create.doc = Json::object();
  ops.push_back(create);
  const int n = Pick(1, 6);
  for (int i = 0; i < n; ++i) {
    Op patch;
    patch.kind = OpKind::kPatch;
    patch.stamp = Stamp{reconcile::MakeHlc(kBaseMillis + Pick(0, 4), Pick(0, 2)), *GenSite()};
    patch.doc = Json{{"a", pool[static_cast<size_t>(Pick(0, static_cast<int>(pool.size()) - 1))]}};
    ops.push_back(patch);
  }
  const Hlc fork = *GenForkPoint();
  const PolicyKind kind = *rc::gen::elementOf(AllPolicyKinds());
  const PolicyTable table = Everywhere(kind, Pick(0, 7));
  const reconcile::Policy& policy = table.rules()[0].policy;
  RC_LOG() << "fork=" << fork << " table=" << Describe(table) << "\n" << Describe(ops);

  // Each site's best value at "a".
  struct Candidate {
    Stamp stamp;
    std::string bytes;
    Json value;
  };
  std::map<SiteId, Candidate> best;
  for (const Op& op : ops) {
    if (op.kind != OpKind::kPatch) continue;
    Candidate c{op.stamp, reconcile::CanonicalJson(op.doc["a"]), op.doc["a"]};
    auto it = best.find(op.stamp.site);
    if (it == best.end() ||
        std::tie(it->second.stamp, it->second.bytes) < std::tie(c.stamp, c.bytes)) {
      best[op.stamp.site] = c;
    }
  }
  std::vector<Candidate> cands;
  for (const auto& [site, c] : best) cands.push_back(c);
  auto newer = [](const Candidate& a, const Candidate& b) {  // a older than b
    return std::tie(a.stamp, a.bytes) < std::tie(b.stamp, b.bytes);
  };
  auto newest = [&](const std::vector<Candidate>& cs) {
    return *std::max_element(cs.begin(), cs.end(), newer);
  };

  std::string expected;
  switch (kind) {
    case PolicyKind::kLww:
    case PolicyKind::kMulti:
      expected = newest(cands).bytes;
      break;
    case PolicyKind::kOrder: {
      std::vector<Candidate> post;
      for (const auto& c : cands) {
        if (c.stamp.hlc > fork) post.push_back(c);
      }
      if (post.empty()) {
        expected = newest(cands).bytes;
        break;
      }
      auto rank = [&](const Candidate& c) {
        return std::find(policy.order.begin(), policy.order.end(), c.bytes) - policy.order.begin();
      };
      Candidate win = post.front();
      for (const auto& c : post) {
        if (rank(c) < rank(win) || (rank(c) == rank(win) && newer(win, c))) win = c;
      }
      expected = win.bytes;
      break;
    }
    case PolicyKind::kMax: {
      std::vector<Candidate> numbers;
      for (const auto& c : cands) {
        if (c.value.is_number()) numbers.push_back(c);
      }
      if (numbers.empty()) {
        expected = newest(cands).bytes;
        break;
      }
      Candidate win = numbers.front();
      for (const auto& c : numbers) {
        const double a = c.value.get<double>(), b = win.value.get<double>();
        if (a > b || (a == b && newer(win, c))) win = c;
      }
      expected = win.bytes;
      break;
    }
    case PolicyKind::kUnion: {
      bool all_arrays = true;
      std::set<std::string> elems;
      for (const auto& c : cands) {
        if (!c.value.is_array())
          all_arrays = false;
        else
          for (const auto& e : c.value) elems.insert(reconcile::CanonicalJson(e));
      }
      if (!all_arrays) {
        expected = newest(cands).bytes;
        break;
      }
      expected = "[";
      for (const auto& e : elems) expected += (expected.size() > 1 ? "," : "") + e;
      expected += "]";
      break;
    }
    case PolicyKind::kSitePriority: {
      std::vector<Candidate> preferred;
      for (const auto& c : cands) {
        if (c.stamp.site == policy.priority_site && c.stamp.hlc > fork) preferred.push_back(c);
      }
      expected = newest(preferred.empty() ? cands : preferred).bytes;
      break;
    }
  }
  expected = "{\"a\":" + expected + "}";
  const RecordState s = JoinAll(DeltasOf(ops, u));
  const std::string shown = MaterializeText(u.kind, s, MergeView{&table, fork});
  RC_LOG() << "expected " << expected << " shown " << shown << "\n";
  RC_ASSERT(shown == expected);
}

// ---------------------------------------------------------------------------------------------
// Conflicts

// Follows `path` through a materialized document; nullptr when it is not there.
const Json* Find(const Json& doc, const Path& path) {
  const Json* node = &doc;
  for (const std::string& seg : path.segments()) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(seg);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

// The shape conflict.h promises: sorted unique paths, two or more sites, losers newest first, no
// loser equal to the winner, a known rule; under lww a shown scalar is the winner's value.
RC_GTEST_PROP(Conflicts, AreWellFormed, ()) {
  const Universe u = *GenUniverse();
  const std::vector<Op> ops = *GenFocusedHistory(u, 14);
  const RecordState s = JoinAll(DeltasOf(ops, u));
  const bool lww = Chance(50);
  const PolicyTable table = lww ? PolicyTable() : *GenPolicyTable(u);
  const Hlc fork = *GenForkPoint();
  const MergeView view{&table, fork};
  RC_LOG() << Describe(u) << " fork=" << fork << " table=" << Describe(table) << "\n"
           << Describe(ops) << "state: " << Describe(s)
           << "\nconflicts: " << ConflictsText(u.kind, s, view) << "\n";
  auto conflicts = reconcile::FindConflicts(u.kind, s, view);
  RC_ASSERT(conflicts.ok());
  auto shown = reconcile::MaterializeJson(u.kind, s, view);
  RC_ASSERT(shown.ok());
  std::set<std::string> rules = {"cover"};
  for (PolicyKind k : AllPolicyKinds()) rules.insert(std::string(reconcile::PolicyName(k)));
  for (size_t i = 0; i < conflicts.value().size(); ++i) {
    const reconcile::Conflict& c = conflicts.value()[i];
    if (i > 0) RC_ASSERT(conflicts.value()[i - 1].path < c.path);
    RC_ASSERT(rules.count(c.rule) == 1);
    RC_ASSERT(!c.losers.empty());
    std::set<SiteId> sites = {c.winner.stamp.site};
    for (size_t k = 0; k < c.losers.size(); ++k) {
      sites.insert(c.losers[k].stamp.site);
      RC_ASSERT(!(c.losers[k] == c.winner));
      if (k > 0) RC_ASSERT(c.losers[k - 1].stamp >= c.losers[k].stamp);
    }
    RC_ASSERT(sites.size() >= 2);
    RC_ASSERT(c.winner.is_cover == c.winner.value.empty());
    if (lww && !c.winner.is_cover && shown.value().has_value()) {
      const Json* node = Find(*shown.value(), c.path);
      if (node != nullptr && !node->is_object()) {
        RC_ASSERT(reconcile::CanonicalJson(*node) == c.winner.value);
      }
    }
  }
}

// One site alone never conflicts, and nothing conflicts when every write is at or before the
// fork point.
RC_GTEST_PROP(Conflicts, NeedTwoSitesAfterTheForkPoint, ()) {
  const Universe u = *GenUniverse();
  const PolicyTable table = *GenPolicyTable(u);
  std::vector<Op> ops = *GenFocusedHistory(u, 14);
  const SiteId only = *GenSite();
  std::vector<Op> single = ops;
  for (Op& op : single) op.stamp.site = only;
  RC_LOG() << Describe(u) << " table=" << Describe(table) << "\n" << Describe(ops);

  const MergeView any_fork{&table, *GenForkPoint()};
  auto one_site = reconcile::FindConflicts(u.kind, JoinAll(DeltasOf(single, u)), any_fork);
  RC_ASSERT(one_site.ok());
  RC_ASSERT(one_site.value().empty());

  Hlc newest = 0;
  for (const Op& op : ops) newest = std::max(newest, op.stamp.hlc);
  const MergeView after_all{&table, newest};
  auto synced = reconcile::FindConflicts(u.kind, JoinAll(DeltasOf(ops, u)), after_all);
  RC_ASSERT(synced.ok());
  RC_ASSERT(synced.value().empty());
}

// ---------------------------------------------------------------------------------------------
// Stamps, clock, keys and paths

RC_GTEST_PROP(Stamps, Iso8601FormatParseRoundTrips, ()) {
  // Up to the year ~2248 (2^43 ms), every 100 ns tick of a millisecond.
  const uint64_t millis = static_cast<uint64_t>(*rc::gen::inRange<int64_t>(0, int64_t{1} << 43));
  const Hlc hlc = reconcile::MakeHlc(millis, static_cast<uint64_t>(Pick(0, 9999)));
  const std::string text = reconcile::FormatIso8601(hlc);
  RC_LOG() << hlc << " -> " << text << "\n";
  RC_ASSERT(text.size() == 28u);  // YYYY-MM-DDTHH:MM:SS.fffffffZ
  RC_ASSERT(text.back() == 'Z');
  auto parsed = reconcile::ParseIso8601(text);
  RC_ASSERT(parsed.ok());
  RC_ASSERT(parsed.value() == hlc);
}

// The clock's stamps only go up, whatever the physical clock does; Receive moves past the remote
// stamp; the guard refuses exactly the stamps more than max_offset ahead and leaves the clock be.
RC_GTEST_PROP(Clock, IsMonotonicAndGuarded, ()) {
  auto physical = std::make_shared<uint64_t>(kBaseMillis);
  reconcile::ClockOptions options;
  options.max_offset_ms = static_cast<uint64_t>(Pick(0, 20));
  options.physical_ms = [physical] { return *physical; };
  reconcile::HlcClock clock(options);
  Hlc last = clock.Last();
  RC_ASSERT(last == 0u);
  const int steps = Pick(1, 40);
  for (int i = 0; i < steps; ++i) {
    *physical = static_cast<uint64_t>(static_cast<int64_t>(*physical) + Pick(-5, 5));
    if (Chance(50)) {
      const Hlc now = clock.Now();
      RC_LOG() << "pt=" << *physical << " Now -> " << now << "\n";
      RC_ASSERT(now > last);
      RC_ASSERT(reconcile::HlcMillis(now) >= *physical);
      // l' = max(l, pt): the wall part never runs ahead of what it saw.
      RC_ASSERT(reconcile::HlcMillis(now) == std::max(reconcile::HlcMillis(last), *physical));
      last = now;
    } else {
      const Hlc remote =
          reconcile::MakeHlc(static_cast<uint64_t>(static_cast<int64_t>(*physical) + Pick(-10, 25)),
                             static_cast<uint64_t>(Pick(0, 3)));
      const bool too_far = reconcile::HlcMillis(remote) > *physical + options.max_offset_ms;
      RC_ASSERT(clock.Check(remote).ok() == !too_far);
      auto r = clock.Receive(remote);
      RC_LOG() << "pt=" << *physical << " Receive(" << remote << ") -> "
               << (r.ok() ? std::to_string(r.value()) : r.status().ToString()) << "\n";
      if (too_far) {
        RC_ASSERT(!r.ok());
        RC_ASSERT(r.status().code() == Code::kConflict);
        RC_ASSERT(clock.Last() == last);
      } else {
        RC_ASSERT(r.ok());
        RC_ASSERT(r.value() > last);
        RC_ASSERT(r.value() > remote);
        RC_ASSERT(reconcile::HlcMillis(r.value()) ==
                  std::max({reconcile::HlcMillis(last), reconcile::HlcMillis(remote), *physical}));
        last = r.value();
      }
    }
    RC_ASSERT(clock.Last() == last);
  }
}

rc::Gen<reconcile::Key> GenKey() {
  return rc::gen::exec([] {
    static const std::vector<std::string> ids = {"a", "a!", "a-b", "a0", "ab", "b", "A", "a'(x)"};
    static const std::vector<std::string> modules = {"m", "$edgeAgent", "$edgeHub", "a", "zz"};
    static const std::vector<std::string> meta = {"a", "ns", "ключ", "a b", "ns.x"};
    switch (Pick(0, 2)) {
      case 0:
        return reconcile::Key::Device(*rc::gen::elementOf(ids)).value();
      case 1:
        return reconcile::Key::Module(*rc::gen::elementOf(ids), *rc::gen::elementOf(modules))
            .value();
      default:
        return reconcile::Key::Meta(*rc::gen::elementOf(meta), *rc::gen::elementOf(meta)).value();
    }
  });
}

// Keys order as their encodings do; devices and modules order by device id, a device directly
// before its modules; every device or module before every meta record; Decode inverts Encode.
RC_GTEST_PROP(Keys, OrderFollowsEncodingAndModel, ()) {
  const reconcile::Key a = *GenKey();
  const reconcile::Key b = *GenKey();
  RC_LOG() << a.ToString() << " vs " << b.ToString() << "\n";
  const std::string ea = a.Encode();
  const std::string eb = b.Encode();
  RC_ASSERT((a <=> b) == (ea <=> eb));
  RC_ASSERT((a == b) == (ea == eb));
  auto decoded = reconcile::Key::Decode(ea);
  RC_ASSERT(decoded.ok());
  RC_ASSERT(decoded.value() == a);
  auto model = [](const reconcile::Key& k) {
    const bool meta = k.kind() == KeyKind::kMeta;
    return std::make_tuple(meta, meta ? std::string() : k.first(),
                           !meta && k.kind() == KeyKind::kModule,
                           meta ? std::string() : k.second());
  };
  if (a.kind() != KeyKind::kMeta || b.kind() != KeyKind::kMeta) {
    RC_ASSERT((model(a) < model(b)) == (ea < eb));
  }
}

// Paths: an ancestor sorts before its subtree and the subtree is contiguous.
RC_GTEST_PROP(Paths, SubtreesAreContiguous, ()) {
  const Universe u = *GenUniverse();
  std::vector<Path> paths = {*GenPath(u), *GenPath(u), *GenPath(u)};
  std::sort(paths.begin(), paths.end());
  RC_LOG() << paths[0].ToString() << " <= " << paths[1].ToString() << " <= " << paths[2].ToString()
           << "\n";
  if (paths[2].IsWithin(paths[0])) RC_ASSERT(paths[1].IsWithin(paths[0]));
  for (const Path& p : paths) {
    auto parsed = Path::Parse(p.ToString(), u.rules);
    RC_ASSERT(parsed.ok());
    RC_ASSERT(parsed.value() == p);
    auto rebuilt = Path::FromSegments(p.segments(), u.rules);
    RC_ASSERT(rebuilt.ok());
    RC_ASSERT(rebuilt.value() == p);
    RC_ASSERT(p.depth() == p.segments().size());
    if (!p.is_root()) {
      RC_ASSERT(p.parent() < p);
      RC_ASSERT(p.IsWithin(p.parent()));
      RC_ASSERT(!p.parent().IsWithin(p));
      RC_ASSERT(p.parent().Child(p.last()) == p);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Join on the bytes (what the merge operator runs)

// JoinEncodedRecords is EncodeRecord of the join of the decoded parts, byte for byte, for any
// number of parts in any order, repeats included.
RC_GTEST_PROP(EncodedJoin, EqualsDecodeJoinEncode, ()) {
  const Universe u = *GenUniverse();
  const int n = Pick(0, 5);
  std::vector<std::string> encoded;
  RecordState expected;
  for (int i = 0; i < n; ++i) {
    if (i > 0 && Chance(15)) {
      encoded.push_back(encoded[static_cast<size_t>(Pick(0, i - 1))]);  // a repeat
      continue;
    }
    RecordState s = *GenState(u);
    expected.Join(s);
    encoded.push_back(reconcile::EncodeRecord(s));
  }
  std::vector<std::string_view> views(encoded.begin(), encoded.end());
  std::string out;
  RC_ASSERT(reconcile::JoinEncodedRecords(views, &out).ok());
  RC_ASSERT(out == reconcile::EncodeRecord(expected));
}

// Bytes the decoder accepts but the encoder never writes: each cell shares fewer path bytes with
// the one before than it could, hlcs equal to the value's are spelled out (no 0x04/0x10 flags),
// and varints carry redundant high groups (at most 10 bytes). The grammar of lib/core/codec.cc.
void PutLooseVarint(std::string* out, uint64_t v, int pad) {
  int bytes = 1;
  for (uint64_t t = v; t >= 0x80; t >>= 7) ++bytes;
  pad = std::min(pad, 10 - bytes);
  for (int i = 0; i < bytes + pad; ++i) {
    const bool last = i == bytes + pad - 1;
    out->push_back(static_cast<char>((v & 0x7f) | (last ? 0 : 0x80)));
    v >>= 7;
  }
}

std::string LooseEncoding(const RecordState& state) {
  std::vector<SiteId> sites;
  for (const Cell& c : state.cells()) sites.push_back(c.site);
  std::sort(sites.begin(), sites.end());
  sites.erase(std::unique(sites.begin(), sites.end()), sites.end());
  std::string out(1, static_cast<char>(reconcile::kRecordCodecVersion));
  PutLooseVarint(&out, sites.size(), Pick(0, 2));
  for (const SiteId& s : sites) out.append(reinterpret_cast<const char*>(s.bytes().data()), 16);
  PutLooseVarint(&out, state.cells().size(), Pick(0, 2));
  std::string_view prev;
  for (const Cell& c : state.cells()) {
    size_t lcp = 0;
    while (lcp < prev.size() && lcp < c.path.size() && prev[lcp] == c.path[lcp]) ++lcp;
    const size_t shared = static_cast<size_t>(Pick(0, static_cast<int>(lcp)));
    PutLooseVarint(&out, shared, Pick(0, 1));
    PutLooseVarint(&out, c.path.size() - shared, Pick(0, 1));
    out.append(c.path, shared);
    PutLooseVarint(
        &out,
        static_cast<uint64_t>(std::lower_bound(sites.begin(), sites.end(), c.site) - sites.begin()),
        Pick(0, 1));
    out.push_back(static_cast<char>((c.has_value ? 0x01 : 0) | (c.has_cover ? 0x02 : 0) |
                                    (c.has_below_cover ? 0x08 : 0)));
    if (c.has_value) {
      PutLooseVarint(&out, c.value_hlc, Pick(0, 1));
      PutLooseVarint(&out, c.value.size(), Pick(0, 1));
      out.append(c.value);
    }
    if (c.has_cover) PutLooseVarint(&out, c.cover_hlc, Pick(0, 1));
    if (c.has_below_cover) PutLooseVarint(&out, c.below_cover_hlc, Pick(0, 1));
    prev = c.path;
  }
  return out;
}

// The join on the bytes re-derives everything it writes (each path's shared prefix, the flags,
// the varints) rather than trust the input's spelling: loose parts give the canonical join.
RC_GTEST_PROP(EncodedJoin, LoosePartsGiveTheCanonicalJoin, ()) {
  const Universe u = *GenUniverse();
  const RecordState a = *GenState(u);
  const RecordState b = *GenState(u);
  const std::string loose_a = LooseEncoding(a);
  const std::string loose_b = LooseEncoding(b);
  reconcile::Result<RecordState> decoded = DecodeRecord(loose_a);
  RC_ASSERT(decoded.ok());
  RC_ASSERT(*decoded == a);
  std::string out;
  RC_ASSERT(reconcile::JoinEncodedRecords({loose_a}, &out).ok());
  RC_ASSERT(out == EncodeRecord(a));
  const std::string canonical_b = EncodeRecord(b);
  RC_ASSERT(reconcile::JoinEncodedRecords({loose_a, loose_b}, &out).ok());
  RC_ASSERT(out == EncodeRecord(RecordState::Joined(a, b)));
  RC_ASSERT(reconcile::JoinEncodedRecords({canonical_b, loose_a, loose_b}, &out).ok());
  RC_ASSERT(out == EncodeRecord(RecordState::Joined(a, b)));
}

// A part the decoder refuses makes the join refuse, with the decoder's code; a part it accepts
// never does.
RC_GTEST_PROP(EncodedJoin, RefusesWhatDecodeRefuses, ()) {
  const Universe u = *GenUniverse();
  std::string good = reconcile::EncodeRecord(*GenState(u));
  std::string bad = reconcile::EncodeRecord(*GenState(u));
  const int flips = Pick(0, 3);
  for (int i = 0; i < flips && !bad.empty(); ++i) {
    const size_t at = static_cast<size_t>(Pick(0, static_cast<int>(bad.size()) - 1));
    bad[at] = static_cast<char>(bad[at] ^ (1 << Pick(0, 7)));
  }
  if (Chance(30) && !bad.empty()) bad.resize(static_cast<size_t>(Pick(0, static_cast<int>(bad.size()) - 1)));
  reconcile::Result<RecordState> decoded = reconcile::DecodeRecord(bad);
  std::vector<std::string_view> views{good, bad};
  if (Chance(50)) std::swap(views[0], views[1]);
  std::string out;
  reconcile::Status s = reconcile::JoinEncodedRecords(views, &out);
  RC_ASSERT(s.ok() == decoded.ok());
  if (!decoded.ok()) {
    RC_ASSERT(s.code() == decoded.status().code());
  } else {
    RecordState expected = *reconcile::DecodeRecord(good);
    expected.Join(*decoded);
    RC_ASSERT(out == reconcile::EncodeRecord(expected));
  }
}

// CanonicalJson writes common scalars itself; the bytes are dump()'s for every scalar, however
// odd (control characters, quotes, backslashes, invalid UTF-8, DEL, extreme integers, floats).
RC_GTEST_PROP(Canonical, ScalarsAreWhatDumpWrites, ()) {
  nlohmann::json v;
  switch (*rc::gen::inRange(0, 7)) {
    case 0: v = *rc::gen::arbitrary<std::string>(); break;
    case 1:
      v = *rc::gen::container<std::string>(rc::gen::inRange<char>(0x1e, 0x7f));
      break;
    case 2: v = *rc::gen::arbitrary<int64_t>(); break;
    case 3: v = *rc::gen::arbitrary<uint64_t>(); break;
    case 4: v = *rc::gen::arbitrary<bool>(); break;
    case 5: v = *rc::gen::arbitrary<double>(); break;
    default: v = nullptr; break;
  }
  RC_ASSERT(reconcile::CanonicalJson(v) ==
            v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace
}  // namespace reconcile_test
