// lib/store/merge_operators.h — the RocksDB merge operators of a store.
//
// RecordJoinOperator is the lattice join of DESIGN §2 run by RocksDB: every operand and the
// existing value are EncodeRecord bytes; the result is EncodeRecord(join of all of them). The join
// is commutative, associative and idempotent, so every partial merge RocksDB chooses to do is
// legal and the result does not depend on how RocksDB groups operands. It is deterministic and
// never throws (every exception is caught); an operand or value that fails to decode makes the
// merge return false, which RocksDB reports to the reader as Corruption (and keeps the operands
// for a partial merge), so corrupt bytes are neither a crash nor silently dropped.
//
// U64MaxOperator joins 8-byte big-endian integers by maximum (watermarks, acks).
// MetaOperator joins the few merged meta keys (encoding.h): max for the fork point and the GC
// horizon, add for counters; any other key or size fails the merge.
//
// Thread safety: the operators are stateless after construction; RocksDB calls them from many
// threads.
#ifndef RECONCILE_LIB_STORE_MERGE_OPERATORS_H_
#define RECONCILE_LIB_STORE_MERGE_OPERATORS_H_

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <rocksdb/merge_operator.h>
#include <rocksdb/slice.h>

namespace reconcile::store {

class RecordJoinOperator : public rocksdb::MergeOperator {
 public:
  explicit RecordJoinOperator(bool prune) : prune_(prune) {}

  bool FullMergeV2(const MergeOperationInput& merge_in,
                   MergeOperationOutput* merge_out) const override;
  bool PartialMergeMulti(const rocksdb::Slice& key, const std::deque<rocksdb::Slice>& operand_list,
                         std::string* new_value, rocksdb::Logger* logger) const override;
  bool PartialMerge(const rocksdb::Slice& key, const rocksdb::Slice& left_operand,
                    const rocksdb::Slice& right_operand, std::string* new_value,
                    rocksdb::Logger* logger) const override;
  bool AllowSingleOperand() const override { return true; }
  const char* Name() const override { return "reconcile.RecordJoin"; }

 private:
  // Joins every slice into *out; false on any decode failure or exception.
  bool JoinAll(const std::vector<rocksdb::Slice>& parts, std::string* out) const;

  bool prune_;
};

class U64MaxOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* logger) const override;
  const char* Name() const override { return "reconcile.U64Max"; }
};

class MetaOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* logger) const override;
  const char* Name() const override { return "reconcile.Meta"; }
};

// The operator of a column family this build does not know (a newer format's): every merge fails,
// so nothing is ever combined or dropped. Having an operator at all matters: RocksDB's WAL
// recovery refuses merge operands of a family without one, and point-in-time recovery would then
// stop there and lose the rest of the log before the format version check could refuse the store.
class RefuseMergeOperator : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput&, MergeOperationOutput*) const override { return false; }
  bool PartialMergeMulti(const rocksdb::Slice&, const std::deque<rocksdb::Slice>&, std::string*,
                         rocksdb::Logger*) const override {
    return false;
  }
  const char* Name() const override { return "reconcile.RefuseMerge"; }
};

}  // namespace reconcile::store

#endif  // RECONCILE_LIB_STORE_MERGE_OPERATORS_H_
