// lib/store/xxhash64.h — xxHash64 (Yann Collet's XXH64, version 0.8 output), implemented here so
// the digest needs no new dependency. The output for a given (bytes, seed) is part of the digest
// definition (reconcile/digest.h): never change it. Tests check it against reference vectors.
//
// Thread safety: pure functions.
#ifndef RECONCILE_LIB_STORE_XXHASH64_H_
#define RECONCILE_LIB_STORE_XXHASH64_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace reconcile::store {

uint64_t XxHash64(const void* data, size_t size, uint64_t seed);

inline uint64_t XxHash64(std::string_view bytes, uint64_t seed) {
  return XxHash64(bytes.data(), bytes.size(), seed);
}

}  // namespace reconcile::store

#endif  // RECONCILE_LIB_STORE_XXHASH64_H_
