// Fuzz target: the store's record merge operator (lib/store/merge_operators.h) fed arbitrary
// operands, as RocksDB calls it during reads, flushes and compactions.
//
// Input: a control byte, then operands separated by "#op#". Control bit 0: the operator prunes
// (Options::prune_in_merge); bit 1: the first operand is the existing value; the rest seeds the
// choice of partial merge groups.
// Invariants: no call crashes or lets an exception out. A full merge succeeds iff every operand
// (and the existing value) decodes, and a partial merge iff its operands decode. When all decode,
// the full merge gives EncodeRecord of the join of all of them (pruned when the operator prunes),
// and so does every other way RocksDB may arrive at it: operands reversed (commutativity), any
// chain of partial merges of adjacent groups followed by a full merge (associativity), every
// operand twice (idempotence), the existing value passed as an operand, and the result merged
// again with the operands. The result decodes to a valid state.
#include <cstddef>
#include <cstdint>
#include <deque>

#include <rocksdb/slice.h>

#include "fuzz/fuzz_util.h"
#include "lib/store/merge_operators.h"

namespace reconcile::fuzz {
namespace {

using store::RecordJoinOperator;

constexpr std::string_view kSeparator = "#op#";
constexpr size_t kMaxOperands = 64;

std::vector<std::string> SplitOperands(std::string_view in) {
  std::vector<std::string> out;
  while (out.size() < kMaxOperands) {
    const size_t at = in.find(kSeparator);
    if (at == std::string_view::npos) {
      out.emplace_back(in);
      break;
    }
    out.emplace_back(in.substr(0, at));
    in.remove_prefix(at + kSeparator.size());
  }
  return out;
}

// Full merge of `operands` on `existing` (nullptr: none). nullopt when the merge fails.
std::optional<std::string> FullMerge(const RecordJoinOperator& op, const std::string* existing,
                                     const std::vector<std::string>& operands) {
  std::vector<rocksdb::Slice> slices(operands.begin(), operands.end());
  const rocksdb::Slice key("device-key");
  rocksdb::Slice existing_slice;
  if (existing != nullptr) existing_slice = rocksdb::Slice(*existing);
  const rocksdb::MergeOperator::MergeOperationInput in(
      key, existing != nullptr ? &existing_slice : nullptr, slices, nullptr);
  std::string out;
  rocksdb::Slice existing_operand(nullptr, 0);
  rocksdb::MergeOperator::MergeOperationOutput result(out, existing_operand);
  bool ok = false;
  try {
    ok = op.FullMergeV2(in, &result);
  } catch (...) {
    FUZZ_CHECK(false, "FullMergeV2 threw");
  }
  if (!ok) return std::nullopt;
  if (existing_operand.data() != nullptr) return existing_operand.ToString();
  return out;
}

// Partial merge of a group; uses PartialMerge for two operands when `pair` is set.
std::optional<std::string> PartialMerge(const RecordJoinOperator& op,
                                        const std::vector<std::string>& group, bool pair) {
  const rocksdb::Slice key("device-key");
  std::string out;
  bool ok = false;
  try {
    if (pair && group.size() == 2) {
      ok = op.PartialMerge(key, group[0], group[1], &out, nullptr);
    } else {
      std::deque<rocksdb::Slice> slices(group.begin(), group.end());
      ok = op.PartialMergeMulti(key, slices, &out, nullptr);
    }
  } catch (...) {
    FUZZ_CHECK(false, "a partial merge threw");
  }
  if (!ok) return std::nullopt;
  return out;
}

bool Decodes(const std::string& bytes) { return DecodeRecord(bytes).ok(); }

// A small deterministic generator for the grouping choices (splitmix64).
class Choices {
 public:
  explicit Choices(uint64_t seed) : state_(seed) {}
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }

 private:
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

}  // namespace
}  // namespace reconcile::fuzz

RECONCILE_FUZZ_TARGET(input) {
  if (input.empty()) return;
  const uint8_t control = static_cast<uint8_t>(input[0]);
  const bool prune = control & 1;
  std::vector<std::string> operands = SplitOperands(input.substr(1));
  std::optional<std::string> existing;
  if ((control & 2) && operands.size() > 1) {
    existing = operands.front();
    operands.erase(operands.begin());
  }
  const RecordJoinOperator op(prune);

  bool all_decode = !existing || Decodes(*existing);
  for (const std::string& o : operands) all_decode = all_decode && Decodes(o);

  const std::string* existing_ptr = existing ? &*existing : nullptr;
  const std::optional<std::string> full = FullMerge(op, existing_ptr, operands);
  FUZZ_CHECK(full.has_value() == all_decode,
             all_decode ? "a full merge of decodable operands failed"
                        : "a full merge of an undecodable operand succeeded");

  // Partial merges of adjacent groups, as RocksDB may do them, then a full merge.
  Choices choices((control >> 2) ^ input.size());
  std::vector<std::string> grouped = operands;
  const size_t rounds = choices.Below(4);
  for (size_t r = 0; r < rounds && grouped.size() >= 2; ++r) {
    const size_t begin = choices.Below(grouped.size() - 1);
    const size_t end = begin + 2 + choices.Below(grouped.size() - begin - 1);
    std::vector<std::string> group(grouped.begin() + begin, grouped.begin() + end);
    bool group_decodes = true;
    for (const std::string& g : group) group_decodes = group_decodes && Decodes(g);
    const std::optional<std::string> merged = PartialMerge(op, group, choices.Below(2) == 0);
    FUZZ_CHECK(merged.has_value() == group_decodes,
               group_decodes ? "a partial merge of decodable operands failed"
                             : "a partial merge of an undecodable operand succeeded");
    if (!merged) break;  // RocksDB keeps the operands as they were
    grouped.erase(grouped.begin() + begin, grouped.begin() + end);
    grouped.insert(grouped.begin() + begin, *merged);
  }
  if (!all_decode) {
    FUZZ_CHECK(!FullMerge(op, existing_ptr, grouped).has_value(),
               "a full merge after partial merges hid an undecodable operand");
    return;
  }

  RecordState joined = existing ? DecodeRecord(*existing).value() : RecordState();
  for (const std::string& o : operands) joined.Join(DecodeRecord(o).value());
  if (prune) joined.Prune();
  const std::string expected = EncodeRecord(joined);
  FUZZ_CHECK(*full == expected, "the full merge differs from the join");
  Result<RecordState> result = DecodeRecord(*full);
  FUZZ_CHECK(result.ok() && result->Validate().ok(), "the merge result is not a valid state");

  const std::optional<std::string> after_partial = FullMerge(op, existing_ptr, grouped);
  FUZZ_CHECK(after_partial == expected, "partial merges changed the result (associativity)");

  std::vector<std::string> reversed(operands.rbegin(), operands.rend());
  FUZZ_CHECK(FullMerge(op, existing_ptr, reversed) == expected,
             "the operands' order changed the result (commutativity)");

  std::vector<std::string> doubled = operands;
  doubled.insert(doubled.end(), operands.begin(), operands.end());
  FUZZ_CHECK(FullMerge(op, existing_ptr, doubled) == expected,
             "repeated operands changed the result (idempotence)");

  if (existing) {
    std::vector<std::string> with_existing = operands;
    with_existing.insert(with_existing.begin(), *existing);
    FUZZ_CHECK(FullMerge(op, nullptr, with_existing) == expected,
               "the existing value as an operand changed the result");
  }
  FUZZ_CHECK(FullMerge(op, &expected, operands) == expected,
             "merging the result again with its operands changed it");
}
