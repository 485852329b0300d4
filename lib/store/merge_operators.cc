// The store's merge operators (see merge_operators.h for the contract).
#include "lib/store/merge_operators.h"

#include <optional>
#include <string_view>

#include <rocksdb/env.h>

#include "lib/store/encoding.h"
#include "reconcile/codec.h"
#include "reconcile/record.h"

namespace reconcile::store {
namespace {

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

void LogFailure(rocksdb::Logger* logger, const char* what, const rocksdb::Slice& key,
                const std::string& message) {
  if (logger == nullptr) return;
  rocksdb::Log(rocksdb::InfoLogLevel::ERROR_LEVEL, logger,
               "reconcile merge failed (%s) for key of %zu bytes: %s", what, key.size(),
               message.c_str());
}

// The views of the parts to join, in a vector each thread reuses: a merge then allocates
// nothing but its result (RocksDB merges on every read, flush and compaction).
std::vector<std::string_view>& ViewsScratch() {
  thread_local std::vector<std::string_view> views;
  views.clear();
  return views;
}

}  // namespace

bool RecordJoinOperator::JoinAll(const std::vector<rocksdb::Slice>& parts,
                                 std::string* out) const {
  try {
    if (!prune_) {
      // The common case joins on the bytes, building no state.
      std::vector<std::string_view>& views = ViewsScratch();
      for (const rocksdb::Slice& part : parts) views.push_back(View(part));
      return JoinEncodedRecords(views, out).ok();
    }
    RecordState joined;
    for (const rocksdb::Slice& part : parts) {
      Result<RecordState> state = DecodeRecord(View(part));
      if (!state.ok()) return false;
      joined.Join(std::move(state).value());
    }
    joined.Prune();
    out->clear();
    EncodeRecordTo(joined, out);
    return true;
  } catch (...) {
    return false;
  }
}

bool RecordJoinOperator::FullMergeV2(const MergeOperationInput& merge_in,
                                     MergeOperationOutput* merge_out) const {
  try {
    if (!prune_) {
      // The common case: straight to the join on the bytes, copying no operand list.
      std::vector<std::string_view>& views = ViewsScratch();
      if (merge_in.existing_value != nullptr) views.push_back(View(*merge_in.existing_value));
      for (const rocksdb::Slice& operand : merge_in.operand_list) views.push_back(View(operand));
      if (!JoinEncodedRecords(views, &merge_out->new_value).ok()) {
        LogFailure(merge_in.logger, "full merge", merge_in.key, "a value does not decode");
        return false;
      }
      return true;
    }
    std::vector<rocksdb::Slice> parts;
    parts.reserve(merge_in.operand_list.size() + 1);
    if (merge_in.existing_value != nullptr) parts.push_back(*merge_in.existing_value);
    parts.insert(parts.end(), merge_in.operand_list.begin(), merge_in.operand_list.end());
    if (!JoinAll(parts, &merge_out->new_value)) {
      LogFailure(merge_in.logger, "full merge", merge_in.key, "a value does not decode");
      return false;
    }
    return true;
  } catch (...) {
    return false;
  }
}

bool RecordJoinOperator::PartialMergeMulti(const rocksdb::Slice& key,
                                           const std::deque<rocksdb::Slice>& operand_list,
                                           std::string* new_value,
                                           rocksdb::Logger* logger) const {
  try {
    // Partial merges only join, also in a pruning store: pruning a part and joining the rest later
    // is not pruning the whole (a cover in a later operand can hide what the pruned part kept);
    // the full merge prunes once, over everything (found by the merge-operator fuzzer).
    std::vector<std::string_view>& views = ViewsScratch();
    for (const rocksdb::Slice& operand : operand_list) views.push_back(View(operand));
    const bool ok = JoinEncodedRecords(views, new_value).ok();
    if (!ok) {
      LogFailure(logger, "partial merge", key, "an operand does not decode");
      return false;
    }
    return true;
  } catch (...) {
    return false;
  }
}

bool RecordJoinOperator::PartialMerge(const rocksdb::Slice& key,
                                      const rocksdb::Slice& left_operand,
                                      const rocksdb::Slice& right_operand,
                                      std::string* new_value, rocksdb::Logger* logger) const {
  try {
    // Only a join, as in PartialMergeMulti.
    std::vector<std::string_view>& views = ViewsScratch();
    views.push_back(View(left_operand));
    views.push_back(View(right_operand));
    const bool ok = JoinEncodedRecords(views, new_value).ok();
    if (!ok) {
      LogFailure(logger, "partial merge", key, "an operand does not decode");
      return false;
    }
    return true;
  } catch (...) {
    return false;
  }
}

namespace {

// The shared body of the 8-byte merge operators: decodes both sides (a missing existing value is
// 0), combines them, and reports a value that is not 8 bytes as a failed merge.
bool MergeU64(const char* what, const rocksdb::Slice& key, const rocksdb::Slice* existing_value,
              const rocksdb::Slice& value, std::string* new_value, rocksdb::Logger* logger,
              uint64_t (*combine)(uint64_t, uint64_t)) {
  try {
    std::optional<uint64_t> v = DecodeU64(View(value));
    std::optional<uint64_t> e =
        existing_value == nullptr ? std::optional<uint64_t>(0) : DecodeU64(View(*existing_value));
    if (!v || !e) {
      LogFailure(logger, what, key, "a value is not 8 bytes");
      return false;
    }
    *new_value = EncodeU64(combine(*e, *v));
    return true;
  } catch (...) {
    return false;
  }
}

uint64_t Max(uint64_t a, uint64_t b) { return a > b ? a : b; }
uint64_t Add(uint64_t a, uint64_t b) { return a + b; }

}  // namespace

bool U64MaxOperator::Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing_value,
                           const rocksdb::Slice& value, std::string* new_value,
                           rocksdb::Logger* logger) const {
  return MergeU64("u64 max", key, existing_value, value, new_value, logger, Max);
}

bool MetaOperator::Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing_value,
                         const rocksdb::Slice& value, std::string* new_value,
                         rocksdb::Logger* logger) const {
  const std::string_view k = View(key);
  if (k == kMetaForkPoint || k == kMetaGcHorizon) {
    return MergeU64("meta", key, existing_value, value, new_value, logger, Max);
  }
  if (k == kMetaRejected || k == kMetaBulkCommits) {
    return MergeU64("meta", key, existing_value, value, new_value, logger, Add);
  }
  LogFailure(logger, "meta", key, "this meta key takes no merge operands");
  return false;
}

}  // namespace reconcile::store
