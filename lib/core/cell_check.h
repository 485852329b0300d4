// lib/core/cell_check.h — the per-cell invariants of a RecordState, shared by Validate and the
// decoder (which checks each cell as it reads it).
#ifndef RECONCILE_LIB_CORE_CELL_CHECK_H_
#define RECONCILE_LIB_CORE_CELL_CHECK_H_

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

// kCorruption when the cell holds nothing, has a below-cover at the root, an empty value, an
// object value other than the marker, a root value other than the existence marker, or a path
// with an empty segment. Says nothing about order.
Status CheckCell(const CellParts& c);
inline Status CheckCell(const Cell& c) {
  return CheckCell(CellParts{c.path, c.has_value, c.value, c.has_cover, c.has_below_cover});
}

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_CELL_CHECK_H_
