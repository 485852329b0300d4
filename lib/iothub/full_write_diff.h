// Internal: the 3-way diff of two export lines computed from their full-write deltas (the cells
// ExportLineReader::FullWrite gives), instead of from the two parsed documents DiffDelta walks.
//
// A full write holds the whole normalized document as cells in path order: an object is a marker
// cell with its members below it, a scalar or array its canonical text, an absent field a cover
// alone. Walking two such cell lists side by side is DiffDelta's walk of the two documents: equal
// parts give nothing, a part that differs is set (cover, value, and the values below it) at the
// deepest object member where the two differ, a part the snapshot lacks is removed (a cover).
//
// Values are compared as DiffDelta compares them: an integer equals the float of the same value
// (1 and 1.0), which the canonical texts alone do not show. Like the fast reader it is an
// accelerator: it declines (returns false) where the cells cannot tell what DiffDelta would do
// (two arrays that differ in text with a float in one of them), and the caller then runs
// DiffDelta on the parsed documents. A differential test holds the two to the same bytes.
#ifndef RECONCILE_LIB_IOTHUB_FULL_WRITE_DIFF_H_
#define RECONCILE_LIB_IOTHUB_FULL_WRITE_DIFF_H_

#include "reconcile/record.h"
#include "reconcile/stamp.h"

namespace reconcile::iothub {

// The delta DiffDelta(base, snap, stamp, keys_excluded = false) gives, from the full writes of
// the two lines (any one stamp each: only paths and values are read). True with *out set; false
// (*out unspecified) when the caller must run DiffDelta.
bool DiffFullWrites(const RecordState& base, const RecordState& snap, const Stamp& stamp,
                    RecordState* out);

}  // namespace reconcile::iothub

#endif  // RECONCILE_LIB_IOTHUB_FULL_WRITE_DIFF_H_
