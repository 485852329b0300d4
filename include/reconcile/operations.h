// reconcile/operations.h — what inputs become: operations turned into small states (deltas).
//
// DESIGN §2 "Operations". Every function returns the delta of one operation with one stamp:
//   Create/Replace(doc): cover(root) + existence marker + a value for every leaf; "{}" markers for
//                        every nested object (so empty objects survive).
//   Patch(doc):          a value and a below-cover for every leaf (a scalar replaces the object
//                        that was there), a cover for every null, markers for nested objects;
//                        no existence marker (a patch to a deleted record stays hidden).
//   Delete():            cover(root).
//   Set(path, v):        cover(path) + the values of v (markers for its objects).
//   Remove(path):        cover(path).
// Arrays are atomic leaves. Documents are JSON objects; paths are validated with `rules`.
// Errors (kInvalidInput) name the offending path; nothing is partially returned.
//
// This header is about JSON by nature and so takes nlohmann::json.
//
// Thread safety: pure functions.
#ifndef RECONCILE_OPERATIONS_H_
#define RECONCILE_OPERATIONS_H_

#include <string>

#include <nlohmann/json.hpp>

#include "reconcile/path.h"
#include "reconcile/record.h"
#include "reconcile/stamp.h"

namespace reconcile {

// Canonical JSON: sorted object keys, no insignificant whitespace, UTF-8 as is.
std::string CanonicalJson(const nlohmann::json& value);

Result<RecordState> CreateDelta(const nlohmann::json& doc, const Stamp& stamp,
                                PathRules rules = PathRules::kTwin);
// Same as CreateDelta: a replace is a create over whatever was there.
Result<RecordState> ReplaceDelta(const nlohmann::json& doc, const Stamp& stamp,
                                 PathRules rules = PathRules::kTwin);
Result<RecordState> PatchDelta(const nlohmann::json& doc, const Stamp& stamp,
                               PathRules rules = PathRules::kTwin);
RecordState DeleteDelta(const Stamp& stamp);
// Replaces the subtree at `path` (not the root: use ReplaceDelta) with `value`; a null value
// is a Remove. Ancestors need no markers: a visible value below a path makes it an object.
Result<RecordState> SetDelta(const Path& path, const nlohmann::json& value, const Stamp& stamp,
                             PathRules rules = PathRules::kTwin);
RecordState RemoveDelta(const Path& path, const Stamp& stamp);

}  // namespace reconcile

#endif  // RECONCILE_OPERATIONS_H_
