// Internal: a fast 64-bit non-cryptographic hash (FNV-1a over 8-byte words, finished with the
// murmur3 fmix64 avalanche). Stable across runs and machines: its outputs may reach disk and
// reports, so never change it.
#ifndef RECONCILE_LIB_CORE_HASH_H_
#define RECONCILE_LIB_CORE_HASH_H_

#include <cstdint>
#include <cstring>
#include <string_view>

namespace reconcile::internal {

inline uint64_t Mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

inline uint64_t Hash64(std::string_view data, uint64_t seed = 0) {
  uint64_t h = 0xcbf29ce484222325ULL ^ Mix64(seed + data.size());
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h = (h << 29) | (h >> 35);
  }
  for (; i < data.size(); ++i) {
    h = (h ^ static_cast<unsigned char>(data[i])) * 0x100000001b3ULL;
  }
  return Mix64(h);
}

// Hash64(data, seed_a) and Hash64(data, seed_b), the same values, in one pass: the two chains
// are independent, so they run side by side in the time of one.
struct HashPair {
  uint64_t a, b;
};
inline HashPair Hash64Pair(std::string_view data, uint64_t seed_a, uint64_t seed_b) {
  uint64_t ha = 0xcbf29ce484222325ULL ^ Mix64(seed_a + data.size());
  uint64_t hb = 0xcbf29ce484222325ULL ^ Mix64(seed_b + data.size());
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    ha = (ha ^ w) * 0x100000001b3ULL;
    ha = (ha << 29) | (ha >> 35);
    hb = (hb ^ w) * 0x100000001b3ULL;
    hb = (hb << 29) | (hb >> 35);
  }
  for (; i < data.size(); ++i) {
    const uint64_t c = static_cast<unsigned char>(data[i]);
    ha = (ha ^ c) * 0x100000001b3ULL;
    hb = (hb ^ c) * 0x100000001b3ULL;
  }
  return {Mix64(ha), Mix64(hb)};
}

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_HASH_H_
