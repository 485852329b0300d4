// lib/store/digest.h — the digest tree of reconcile/digest.h: record hashes, buckets, inner nodes.
//
// Pure functions and a small accumulator; the store (store_digest.cc) decides which records to
// feed. The model-based tests use the same functions over an in-memory model, so a store and a
// model with equal materialized states must give equal roots.
//
// Thread safety: pure functions; a DigestBuckets is a value (external synchronization to mutate).
#ifndef RECONCILE_LIB_STORE_DIGEST_H_
#define RECONCILE_LIB_STORE_DIGEST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/digest.h"

namespace reconcile::store {

// The bucket of an encoded key: the top log2(kDigestBuckets) bits of xxHash64(key, seed 0).
uint32_t DigestBucketOf(std::string_view encoded_key);

// H(r) of reconcile/digest.h for one existing record.
Hash128 RecordHash(std::string_view encoded_key, std::string_view materialized);

// One bucket: the lane-wise sum of its records' hashes, and how many records were added.
struct BucketSum {
  Hash128 sum;
  uint64_t records = 0;

  void Add(const Hash128& h) {
    sum.hi += h.hi;
    sum.lo += h.lo;
    ++records;
  }
  friend bool operator==(const BucketSum&, const BucketSum&) = default;
};

// The parent of two nodes.
Hash128 InnerHash(const Hash128& left, const Hash128& right);

// Every level of the tree: levels[0] are the kDigestBuckets leaves, levels.back() the root alone.
std::vector<std::vector<Hash128>> DigestTree(std::vector<Hash128> leaves);

// The StoreDigest of kDigestBuckets buckets.
StoreDigest MakeStoreDigest(const std::vector<BucketSum>& buckets);

// Builds a digest from (encoded key, materialized JSON) pairs in any order: the digest of a
// model. Add each existing record once.
class DigestBuilder {
 public:
  DigestBuilder() : buckets_(kDigestBuckets) {}
  void Add(std::string_view encoded_key, std::string_view materialized) {
    buckets_[DigestBucketOf(encoded_key)].Add(RecordHash(encoded_key, materialized));
  }
  StoreDigest Finish() const { return MakeStoreDigest(buckets_); }

 private:
  std::vector<BucketSum> buckets_;
};

}  // namespace reconcile::store

#endif  // RECONCILE_LIB_STORE_DIGEST_H_
