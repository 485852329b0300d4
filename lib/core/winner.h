// Internal: the walk over a record's paths that decides visibility and winners.
//
// Shared by Materialize and FindConflicts so that both read the state by the same rules
// (DESIGN §2 "Materialize" steps 2 and 3; the policies of reconcile/policy.h).
//
// Thread safety: pure functions.
#ifndef RECONCILE_LIB_CORE_WINNER_H_
#define RECONCILE_LIB_CORE_WINNER_H_

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/key.h"
#include "reconcile/policy.h"
#include "reconcile/record.h"

namespace reconcile::internal {

// What a path shows, as chosen by its policy.
struct Winner {
  const Cell* cell = nullptr;    // the chosen cell; null when synthesized
  Stamp stamp;                   // the stamp of the chosen write (union: the newest)
  std::string synthesized;       // the value when no single cell holds it (union)

  // Canonical JSON of what is shown.
  std::string_view value() const { return cell != nullptr ? cell->value.view() : synthesized; }
};

// One path of the walk, in path order.
struct PathGroup {
  std::string_view path;            // joined
  std::span<const Cell> cells;      // every cell at this path (one per site)
  std::vector<const Cell*> visible; // cells whose value is visible, in site order
  bool has_cover = false;           // a cover at this path or above exists
  Stamp cover;                      // the greatest such cover
  const Policy* policy = nullptr;
  std::optional<Winner> winner;     // set iff `visible` is not empty
};

// Calls `fn` for each path that has cells, in path order. Stops at and returns the first
// non-OK status from `fn`.
Status WalkPaths(KeyKind kind, const RecordState& state, const MergeView& view,
                 const std::function<Status(const PathGroup&)>& fn);

// True when canonical JSON `value` is a scalar or an array (not the object marker).
inline bool IsLeafValue(std::string_view value) { return value != kObjectMarker; }

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_WINNER_H_
