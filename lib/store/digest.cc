// The digest tree (definition in reconcile/digest.h).
#include "lib/store/digest.h"

#include <cstdio>

#include "lib/store/xxhash64.h"

namespace reconcile::store {
namespace {

constexpr int kBucketBits = [] {
  int bits = 0;
  while ((size_t{1} << bits) < kDigestBuckets) ++bits;
  return bits;
}();
static_assert((size_t{1} << kBucketBits) == kDigestBuckets, "kDigestBuckets is a power of two");

constexpr uint64_t kSeedBucket = 0;
constexpr uint64_t kSeedHi = 1;
constexpr uint64_t kSeedLo = 2;

void PutLe64(uint64_t v, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

uint32_t DigestBucketOf(std::string_view encoded_key) {
  return static_cast<uint32_t>(XxHash64(encoded_key, kSeedBucket) >> (64 - kBucketBits));
}

Hash128 RecordHash(std::string_view encoded_key, std::string_view materialized) {
  // b = varint32(len(key)) key materialized
  std::string b;
  b.reserve(5 + encoded_key.size() + materialized.size());
  uint32_t n = static_cast<uint32_t>(encoded_key.size());
  while (n >= 0x80) {
    b.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  b.push_back(static_cast<char>(n));
  b.append(encoded_key);
  b.append(materialized);
  return Hash128{XxHash64(b, kSeedHi), XxHash64(b, kSeedLo)};
}

Hash128 InnerHash(const Hash128& left, const Hash128& right) {
  uint8_t bytes[32];
  PutLe64(left.hi, bytes);
  PutLe64(left.lo, bytes + 8);
  PutLe64(right.hi, bytes + 16);
  PutLe64(right.lo, bytes + 24);
  return Hash128{XxHash64(bytes, sizeof bytes, kSeedHi), XxHash64(bytes, sizeof bytes, kSeedLo)};
}

std::vector<std::vector<Hash128>> DigestTree(std::vector<Hash128> leaves) {
  std::vector<std::vector<Hash128>> levels;
  levels.push_back(std::move(leaves));
  while (levels.back().size() > 1) {
    const std::vector<Hash128>& below = levels.back();
    std::vector<Hash128> up;
    up.reserve(below.size() / 2);
    for (size_t i = 0; i + 1 < below.size(); i += 2) up.push_back(InnerHash(below[i], below[i + 1]));
    levels.push_back(std::move(up));
  }
  return levels;
}

StoreDigest MakeStoreDigest(const std::vector<BucketSum>& buckets) {
  StoreDigest digest;
  std::vector<Hash128> leaves;
  leaves.reserve(buckets.size());
  for (const BucketSum& b : buckets) leaves.push_back(b.sum);
  std::vector<std::vector<Hash128>> tree = DigestTree(std::move(leaves));
  digest.root = tree.back().front();
  digest.buckets = std::move(tree.front());
  for (const BucketSum& b : buckets) digest.records += b.records;
  return digest;
}

}  // namespace reconcile::store

namespace reconcile {

std::string Hash128::ToHex() const {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return std::string(buf, 32);
}

}  // namespace reconcile
