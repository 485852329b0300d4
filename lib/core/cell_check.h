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
// every pair of equal ones to the end.
inline int CompareBytes(std::string_view a, std::string_view b) {
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) {
      if constexpr (std::endian::native == std::endian::little) {
        x = __builtin_bswap64(x);
        y = __builtin_bswap64(y);
      }
      return x < y ? -1 : 1;
    }
  }
  for (; i < n; ++i) {
    const auto x = static_cast<uint8_t>(a[i]), y = static_cast<uint8_t>(b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
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
