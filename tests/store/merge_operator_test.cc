// The store's merge operators, called directly: for random operand lists (and an optional
// existing value), FullMergeV2 equals the in-memory join, equals any grouping of partial merges
// followed by a full merge, and does not depend on the order of the operands; corrupt operands
// make the merge fail (never crash); through a real store a corrupt operand is a kCorruption read.
#include <filesystem>

#include <rocksdb/db.h>

#include "lib/store/encoding.h"
#include "lib/store/merge_operators.h"
#include "reconcile/codec.h"
#include "tests/store/store_test_util.h"

namespace reconcile_test {
namespace {

using reconcile::EncodeRecord;
using reconcile::store::RecordJoinOperator;

// Full merge of `operands` on `existing` (nullptr: no value). nullopt when the merge fails.
std::optional<std::string> FullMerge(const RecordJoinOperator& op, const std::string* existing,
                                     const std::vector<std::string>& operands) {
  std::vector<rocksdb::Slice> slices(operands.begin(), operands.end());
  rocksdb::Slice key("k");
  rocksdb::Slice existing_slice;
  if (existing != nullptr) existing_slice = rocksdb::Slice(*existing);
  rocksdb::MergeOperator::MergeOperationInput in(key, existing ? &existing_slice : nullptr, slices,
                                                 nullptr);
  std::string out;
  rocksdb::Slice existing_operand(nullptr, 0);  // as RocksDB does: set only when reused
  rocksdb::MergeOperator::MergeOperationOutput result(out, existing_operand);
  if (!op.FullMergeV2(in, &result)) return std::nullopt;
  if (existing_operand.data() != nullptr) return existing_operand.ToString();
  return out;
}

std::optional<std::string> PartialMerge(const RecordJoinOperator& op,
                                        const std::vector<std::string>& operands) {
  rocksdb::Slice key("k");
  std::string out;
  if (operands.size() == 2 && *rc::gen::arbitrary<bool>()) {
    if (!op.PartialMerge(key, operands[0], operands[1], &out, nullptr)) return std::nullopt;
    return out;
  }
  std::deque<rocksdb::Slice> slices(operands.begin(), operands.end());
  if (!op.PartialMergeMulti(key, slices, &out, nullptr)) return std::nullopt;
  return out;
}

// Replaces runs of adjacent operands by their partial merge, recursively and at random, as
// RocksDB may during flushes and compactions.
std::vector<std::string> RandomlyPartiallyMerge(const RecordJoinOperator& op,
                                                std::vector<std::string> operands) {
  int rounds = Pick(0, 3);
  for (int r = 0; r < rounds && operands.size() >= 2; ++r) {
    size_t begin = static_cast<size_t>(Pick(0, static_cast<int>(operands.size()) - 2));
    size_t end = static_cast<size_t>(Pick(static_cast<int>(begin) + 2, static_cast<int>(operands.size())));
    std::vector<std::string> group(operands.begin() + begin, operands.begin() + end);
    std::optional<std::string> merged = PartialMerge(op, group);
    RC_ASSERT(merged.has_value());
    operands.erase(operands.begin() + begin, operands.begin() + end);
    operands.insert(operands.begin() + begin, *merged);
  }
  return operands;
}

void CheckOperator(bool prune) {
  Universe u = *GenUniverse();
  std::vector<RecordState> states = *rc::gen::container<std::vector<RecordState>>(
      static_cast<size_t>(Pick(1, 7)), GenState(u));
  bool with_existing = *rc::gen::arbitrary<bool>();
  RecordState existing_state = with_existing ? *GenState(u) : RecordState();

  RecordState expected = existing_state;
  for (const RecordState& s : states) expected.Join(s);
  if (prune) expected.Prune();
  const std::string expected_bytes = EncodeRecord(expected);

  RecordJoinOperator op(prune);
  std::vector<std::string> operands;
  for (const RecordState& s : states) operands.push_back(EncodeRecord(s));
  std::string existing = EncodeRecord(existing_state);

  std::optional<std::string> full = FullMerge(op, with_existing ? &existing : nullptr, operands);
  RC_ASSERT(full.has_value());
  if (*full != expected_bytes) {
    RC_FAIL("full merge != join\nexpected " + Describe(expected) + "\ngot " +
            Describe(*reconcile::DecodeRecord(*full)));
  }

  // Any grouping of partial merges, then a full merge, gives the same bytes.
  std::vector<std::string> grouped = RandomlyPartiallyMerge(op, operands);
  std::optional<std::string> after = FullMerge(op, with_existing ? &existing : nullptr, grouped);
  RC_ASSERT(after.has_value());
  RC_ASSERT(*after == expected_bytes);

  // The order of the operands does not matter (the join is commutative), nor do repeats.
  std::vector<size_t> order = *GenDeliveryOrder(operands.size());
  std::vector<std::string> shuffled;
  for (size_t i : order) shuffled.push_back(operands[i]);
  std::optional<std::string> reordered = FullMerge(op, with_existing ? &existing : nullptr, shuffled);
  RC_ASSERT(reordered.has_value());
  RC_ASSERT(*reordered == expected_bytes);

  // The existing value may itself be the result of an earlier full merge.
  size_t split = static_cast<size_t>(Pick(0, static_cast<int>(operands.size())));
  std::vector<std::string> first(operands.begin(), operands.begin() + split);
  std::vector<std::string> rest(operands.begin() + split, operands.end());
  std::optional<std::string> base = FullMerge(op, with_existing ? &existing : nullptr, first);
  RC_ASSERT(base.has_value());
  std::optional<std::string> stacked = FullMerge(op, &*base, rest);
  RC_ASSERT(stacked.has_value());
  RC_ASSERT(*stacked == expected_bytes);
}

RC_GTEST_PROP(StoreMergeOperator, FullEqualsPartialGroupingsEqualsJoin, ()) { CheckOperator(false); }

RC_GTEST_PROP(StoreMergeOperator, PruningOperatorEqualsPrunedJoin, ()) { CheckOperator(true); }

RC_GTEST_PROP(StoreMergeOperator, CorruptOperandFailsTheMerge, ()) {
  Universe u = *GenUniverse();
  RecordJoinOperator op(*rc::gen::arbitrary<bool>());
  std::vector<std::string> operands;
  int n = Pick(1, 4);
  for (int i = 0; i < n; ++i) operands.push_back(EncodeRecord(*GenState(u)));
  // Corrupt one operand: truncate it, flip a byte, or replace it with random bytes.
  size_t victim = static_cast<size_t>(Pick(0, n - 1));
  std::string& bad = operands[victim];
  switch (Pick(0, 2)) {
    case 0:
      if (bad.size() <= 1) bad = "\x7f";
      else bad.resize(static_cast<size_t>(Pick(1, static_cast<int>(bad.size()) - 1)));
      break;
    case 1: {
      size_t at = static_cast<size_t>(Pick(0, static_cast<int>(bad.size()) - 1));
      bad[at] = static_cast<char>(bad[at] ^ static_cast<char>(Pick(1, 255)));
      break;
    }
    default: bad = *rc::gen::arbitrary<std::string>(); break;
  }
  // Some corruptions still decode to a valid state (a flipped byte inside a string value): the
  // merge must then succeed; it must fail exactly when the operand does not decode.
  bool decodes = reconcile::DecodeRecord(bad).ok();
  RC_TAG(decodes ? "still decodes" : "does not decode");
  std::optional<std::string> full = FullMerge(op, nullptr, operands);
  RC_ASSERT(full.has_value() == decodes);
  if (operands.size() >= 2) {
    std::optional<std::string> partial = PartialMerge(op, operands);
    RC_ASSERT(partial.has_value() == decodes);
  }
}

TEST(StoreMergeOperator, U64MaxAndMetaOperators) {
  using reconcile::store::EncodeU64;
  reconcile::store::U64MaxOperator max_op;
  reconcile::store::MetaOperator meta_op;
  rocksdb::Slice key("site");
  std::string out;
  std::string a = EncodeU64(5), b = EncodeU64(9);
  rocksdb::Slice sa(a), sb(b);
  ASSERT_TRUE(max_op.Merge(key, &sa, sb, &out, nullptr));
  EXPECT_EQ(out, EncodeU64(9));
  ASSERT_TRUE(max_op.Merge(key, &sb, sa, &out, nullptr));
  EXPECT_EQ(out, EncodeU64(9));
  ASSERT_TRUE(max_op.Merge(key, nullptr, sa, &out, nullptr));
  EXPECT_EQ(out, EncodeU64(5));
  rocksdb::Slice bad("short");
  EXPECT_FALSE(max_op.Merge(key, &sa, bad, &out, nullptr));

  rocksdb::Slice horizon(reconcile::store::kMetaGcHorizon.data(),
                         reconcile::store::kMetaGcHorizon.size());
  rocksdb::Slice rejected(reconcile::store::kMetaRejected.data(),
                          reconcile::store::kMetaRejected.size());
  ASSERT_TRUE(meta_op.Merge(horizon, &sb, sa, &out, nullptr));
  EXPECT_EQ(out, EncodeU64(9));
  ASSERT_TRUE(meta_op.Merge(rejected, &sb, sa, &out, nullptr));
  EXPECT_EQ(out, EncodeU64(14));
  rocksdb::Slice other("user/x");
  EXPECT_FALSE(meta_op.Merge(other, &sb, sa, &out, nullptr));
}

// A corrupt operand written into a real store is reported by reads as kCorruption; the other
// records stay readable.
TEST(StoreMergeOperator, CorruptOperandInTheStoreIsACorruptionError) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  Key good = *Key::Device("good");
  Key bad = *Key::Device("bad");
  {
    auto store = MustOpen(path, TestOptions());
    ASSERT_NE(store, nullptr);
    auto delta = reconcile::CreateDelta(Json{{"a", 1}}, Stamp{1000, Sites()[0]});
    ASSERT_TRUE(delta.ok());
    std::vector<Delta> batch{{good, *delta}, {bad, *delta}};
    ASSERT_TRUE(store->Apply(batch).ok());
  }
  {
    // Write a garbage operand for `bad` behind the store's back.
    RawDb raw(path);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    ASSERT_TRUE(raw.db()->Merge(rocksdb::WriteOptions(), raw.family(reconcile::store::kRecordsFamily),
                                bad.Encode(), "\xff garbage").ok());
  }
  auto store = MustOpen(path, TestOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->Get(good), "{\"a\":1}");
  auto r = store->Get(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_TRUE(store->GetState(bad).status().IsCorruption());
  // Flushing and compacting keep the operands (the merge fails) rather than dropping them.
  EXPECT_TRUE(store->Flush().ok());
  (void)store->Compact();
  EXPECT_TRUE(store->Get(bad).status().IsCorruption());
  EXPECT_EQ(*store->Get(good), "{\"a\":1}");
  EXPECT_TRUE(store->Digest().status().IsCorruption());
}

}  // namespace
}  // namespace reconcile_test
