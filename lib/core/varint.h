// Internal: LEB128 variable-length unsigned integers (7 bits a byte, low groups first, high bit
// set on every byte but the last), as used by the record codec and the store's encodings.
#ifndef RECONCILE_LIB_CORE_VARINT_H_
#define RECONCILE_LIB_CORE_VARINT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace reconcile::internal {

inline void PutVarint(std::string* out, uint64_t v) {
  if (v < 0x80) {  // the common one-byte case
    out->push_back(static_cast<char>(v));
    return;
  }
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

// Reads a varint from the front of *in and advances it. False on truncation or a value that
// does not fit in 64 bits.
inline bool GetVarint(std::string_view* in, uint64_t* v) {
  if (!in->empty() && static_cast<uint8_t>(in->front()) < 0x80) {  // the common one-byte case
    *v = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    return true;
  }
  uint64_t result = 0;
  for (int shift = 0; shift <= 63; shift += 7) {
    if (in->empty()) return false;
    const uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    if (shift == 63 && byte > 1) return false;
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

// Reads `n` bytes from the front of *in. False when fewer remain.
inline bool GetBytes(std::string_view* in, uint64_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_VARINT_H_
