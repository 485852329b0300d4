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

// The general case of GetVarint below, kept out of line so the one-byte case inlines. Works on
// a pointer: an hlc takes nine bytes.
[[gnu::noinline]] inline bool GetVarintSlow(std::string_view* in, uint64_t* v) {
  const auto* p = reinterpret_cast<const uint8_t*>(in->data());
  const size_t n = in->size() < 10 ? in->size() : 10;
  uint64_t result = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t byte = p[i];
    if (i == 9 && byte > 1) return false;  // bits beyond the 64th
    result |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      *v = result;
      in->remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}

// Reads a varint from the front of *in and advances it. False on truncation or a value that
// does not fit in 64 bits. (Always inlined: the decoder reads several a cell.)
[[gnu::always_inline]] inline bool GetVarint(std::string_view* in, uint64_t* v) {
  if (!in->empty() && static_cast<uint8_t>(in->front()) < 0x80) {  // the common one-byte case
    *v = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    return true;
  }
  return GetVarintSlow(in, v);
}

// The number of bytes PutVarint writes for `v`.
inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes `v` at `p` (room for 10 bytes needed) and returns the end: PutVarint's bytes.
inline char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
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
