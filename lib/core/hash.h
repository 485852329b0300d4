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

// The steps of Hash64's chain: its start, an 8-byte word, a tail byte.
inline uint64_t HashStart(std::string_view data, uint64_t seed) {
  return 0xcbf29ce484222325ULL ^ Mix64(seed + data.size());
}
inline uint64_t HashWord(uint64_t h, uint64_t word) {
  h = (h ^ word) * 0x100000001b3ULL;
  return (h << 29) | (h >> 35);
}
inline uint64_t HashByte(uint64_t h, char byte) {
  return (h ^ static_cast<unsigned char>(byte)) * 0x100000001b3ULL;
}

// Calls word(w) for each 8-byte word of `data`, then byte(c) for each byte after them.
template <typename Word, typename Byte>
inline void ForEachHashUnit(std::string_view data, Word word, Byte byte) {
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    word(w);
  }
  for (; i < data.size(); ++i) byte(data[i]);
}

inline uint64_t Hash64(std::string_view data, uint64_t seed = 0) {
  uint64_t h = HashStart(data, seed);
  ForEachHashUnit(
      data, [&](uint64_t w) { h = HashWord(h, w); }, [&](char c) { h = HashByte(h, c); });
  return Mix64(h);
}

// Hash64(data, seed_a) and Hash64(data, seed_b), the same values, in one pass: the two chains
// are independent, so they run side by side in the time of one.
struct HashPair {
  uint64_t a, b;
};
inline HashPair Hash64Pair(std::string_view data, uint64_t seed_a, uint64_t seed_b) {
  uint64_t ha = HashStart(data, seed_a), hb = HashStart(data, seed_b);
  ForEachHashUnit(
      data,
      [&](uint64_t w) {
        ha = HashWord(ha, w);
        hb = HashWord(hb, w);
      },
      [&](char c) {
        ha = HashByte(ha, c);
        hb = HashByte(hb, c);
      });
  return {Mix64(ha), Mix64(hb)};
}

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_HASH_H_
