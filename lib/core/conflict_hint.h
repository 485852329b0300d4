// Internal: whether a record can hold a conflict, read from its encoded state (reconcile/codec.h)
// without decoding it, so that a scan for conflicts decodes only the records that can.
//
// Thread safety: a pure function.
#ifndef RECONCILE_LIB_CORE_CONFLICT_HINT_H_
#define RECONCILE_LIB_CORE_CONFLICT_HINT_H_

#include <string_view>

#include "reconcile/stamp.h"
#include "reconcile/status.h"

namespace reconcile::internal {

// False when FindConflicts (reconcile/conflict.h) finds none in the record whatever its kind and
// policies: no two sites wrote to it after `fork`. Errors as DecodeRecord's for the cells read.
Result<bool> MayHoldConflicts(std::string_view encoded, Hlc fork);

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_CONFLICT_HINT_H_
