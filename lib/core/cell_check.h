// lib/core/cell_check.h — the per-cell invariants of a RecordState, shared by Validate and the
// decoder (which checks each cell as it reads it).
#ifndef RECONCILE_LIB_CORE_CELL_CHECK_H_
#define RECONCILE_LIB_CORE_CELL_CHECK_H_

#include "reconcile/record.h"

namespace reconcile::internal {

// kCorruption when `c` holds nothing, has a below-cover at the root, an empty value, an object
// value other than the marker, a root value other than the existence marker, or a path with an
// empty segment. Says nothing about order.
Status CheckCell(const Cell& c);

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_CELL_CHECK_H_
