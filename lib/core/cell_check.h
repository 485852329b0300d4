// lib/core/cell_check.h — the per-cell invariants of a RecordState, shared by Validate and the
// decoder (which checks each cell as it reads it), and the byte order of paths and values that
// the join and the codec compare by.
#ifndef RECONCILE_LIB_CORE_CELL_CHECK_H_
#define RECONCILE_LIB_CORE_CELL_CHECK_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "reconcile/record.h"

namespace reconcile::internal {

// What the per-cell invariants look at, as views (of a Cell, or of a cell still encoded).
struct CellParts {
  std::string_view path;
  bool has_value = false;
  std::string_view value;
  bool has_cover = false;
  bool has_below_cover = false;
};

// Orders byte strings as std::string::compare does (unsigned bytes, then length), eight bytes at
// a step and inline: a record's paths and values are a few dozen bytes, and a join compares
// every pair of equal ones to the end. The last step reads the final eight bytes (overlapping
// ones already found equal), and strings shorter than eight are read in two overlapping words
// or three bytes: no byte-at-a-time loop.
inline uint64_t LoadBigEndian64(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  if constexpr (std::endian::native == std::endian::little) x = __builtin_bswap64(x);
  return x;
}
inline uint32_t LoadBigEndian32(const char* p) {
  uint32_t x;
  std::memcpy(&x, p, 4);
  if constexpr (std::endian::native == std::endian::little) x = __builtin_bswap32(x);
  return x;
}
inline int CompareBytes(std::string_view a, std::string_view b) {
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  const char* p = a.data();
  const char* q = b.data();
  uint64_t x = 0, y = 0;
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 < n; i += 8) {
      x = LoadBigEndian64(p + i);
      y = LoadBigEndian64(q + i);
      if (x != y) return x < y ? -1 : 1;
    }
    x = LoadBigEndian64(p + n - 8);
    y = LoadBigEndian64(q + n - 8);
  } else if (n >= 4) {
    // Bytes [0, 4) then [n - 4, n): where the first word agrees, the second holds the rest.
    x = uint64_t{LoadBigEndian32(p)} << 32 | LoadBigEndian32(p + n - 4);
    y = uint64_t{LoadBigEndian32(q)} << 32 | LoadBigEndian32(q + n - 4);
  } else if (n > 0) {
    // Bytes 0, n / 2 and n - 1: every byte, in order, some twice.
    x = uint64_t{static_cast<uint8_t>(p[0])} << 16 | uint64_t{static_cast<uint8_t>(p[n / 2])} << 8 |
        static_cast<uint8_t>(p[n - 1]);
    y = uint64_t{static_cast<uint8_t>(q[0])} << 16 | uint64_t{static_cast<uint8_t>(q[n / 2])} << 8 |
        static_cast<uint8_t>(q[n - 1]);
  }
  if (x != y) return x < y ? -1 : 1;
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

// How many bytes at the front of `a` and `b` agree, from byte `from` on (bytes before it are
// known to agree), eight at a step: the codec finds how much each path shares with the one
// before it.
inline size_t CommonPrefix(const char* a, const char* b, size_t n, size_t from = 0) {
  size_t i = from;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) {
      if constexpr (std::endian::native == std::endian::little) {
        return i + static_cast<size_t>(std::countr_zero(x ^ y)) / 8;
      } else {
        return i + static_cast<size_t>(std::countl_zero(x ^ y)) / 8;
      }
    }
  }
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// kCorruption when the cell holds nothing, has a below-cover at the root, an empty value, an
// object value other than the marker, a root value other than the existence marker, or a path
// with an empty segment. Says nothing about order.
Status CheckCell(const CellParts& c);
inline Status CheckCell(const Cell& c) {
  return CheckCell(CellParts{c.path, c.has_value, c.value, c.has_cover, c.has_below_cover});
}

// The same checks, for a decoder reading cells in order: `checked` bytes at the front of c.path
// are the front of a path that passed them already (the previous cell's), so only the rest of the
// path is searched for an empty segment. CheckCell(c) is CheckCellAfter(c, 0).
// (Inline: the decoder runs it on every cell.)
inline Status CheckCellAfter(const CellParts& c, size_t checked) {
  if (!c.has_value && !c.has_cover && !c.has_below_cover) return Status::Corruption("empty cell");
  if (c.path.empty() && c.has_below_cover) return Status::Corruption("a below-cover at the root");
  if (c.has_value) {
    if (c.value.empty()) return Status::Corruption("cell value is empty");
    if (c.value.front() == '{' && c.value != kObjectMarker) {
      return Status::Corruption("an object value other than the object marker");
    }
    if (c.path.empty() && c.value != kObjectMarker) {
      return Status::Corruption("root value is not the existence marker");
    }
  }
  if (!c.path.empty()) {
    // A checked front starts as a checked path does and holds no two separators in a row: a new
    // empty segment can only end past it.
    bool empty_segment =
        (checked == 0 && c.path.front() == kPathSeparator) || c.path.back() == kPathSeparator;
    for (size_t i = checked > 0 ? checked : 1; i < c.path.size() && !empty_segment; ++i) {
      empty_segment = c.path[i] == kPathSeparator && c.path[i - 1] == kPathSeparator;
    }
    if (empty_segment) return Status::Corruption("cell path has an empty segment");
  }
  return Status::Ok();
}

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_CELL_CHECK_H_
