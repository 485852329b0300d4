// reconcile/materialize.h — the record a state shows, as canonical JSON.
//
// DESIGN §2 "Materialize", a pure function of (kind, state, view):
//  1. The record exists iff a root value (existence marker) is visible.
//  2. A value is visible iff every cover at its path and above, and every below-cover above it,
//     is older than or equal to it (a patch's scalar replaced the object below it).
//  3. At each path the policy chooses a winner among the sites' visible values; a scalar or array
//     is shown only if nothing visible exists below it; an object marker keeps an empty object.
//  4. The output has sorted keys and no insignificant whitespace.
// A value that is not valid JSON (a corrupt store) gives kCorruption naming the path.
//
// Thread safety: pure functions.
#ifndef RECONCILE_MATERIALIZE_H_
#define RECONCILE_MATERIALIZE_H_

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "reconcile/key.h"
#include "reconcile/policy.h"
#include "reconcile/record.h"

namespace reconcile {

// The record as a JSON object, or nullopt when it does not exist.
Result<std::optional<nlohmann::json>> MaterializeJson(KeyKind kind, const RecordState& state,
                                                      const MergeView& view);

// The same as canonical JSON bytes.
Result<std::optional<std::string>> Materialize(KeyKind kind, const RecordState& state,
                                               const MergeView& view);

}  // namespace reconcile

#endif  // RECONCILE_MATERIALIZE_H_
