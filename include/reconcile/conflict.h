// reconcile/conflict.h — conflicts, derived from the state (never logged on the side).
//
// DESIGN §2 "Fork point and conflicts". A conflict is a path at which two or more sites wrote
// after the fork point: values at the path, a cover at the path, or a cover at the path against
// another site's values below it. Sites that all wrote the same value bytes (and no cover) do not
// conflict. The winner is the write the materialized record shows (or the newest cover when
// nothing is shown there); the losers are the other sites' writes, newest first. Because the state
// keeps each site's best cell, the report is as order-independent as the merge.
//
// Values in a Conflict are the raw canonical JSON; callers that print them must redact secrets
// (RedactForReport below does it for authentication keys).
//
// Thread safety: pure functions.
#ifndef RECONCILE_CONFLICT_H_
#define RECONCILE_CONFLICT_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reconcile/key.h"
#include "reconcile/policy.h"
#include "reconcile/record.h"

namespace reconcile {

struct ConflictWrite {
  // The path written: the conflict's path, or a path below it for a value that a remove (or a
  // replace) at the conflict's path hid.
  Path path;
  Stamp stamp;
  bool is_cover = false;  // a remove/delete rather than a value
  std::string value;      // canonical JSON; empty for a cover
  friend bool operator==(const ConflictWrite&, const ConflictWrite&) = default;
};

struct Conflict {
  Path path;
  std::string rule;  // the policy name that chose, or "cover" when a remove decided
  ConflictWrite winner;
  std::vector<ConflictWrite> losers;
  friend bool operator==(const Conflict&, const Conflict&) = default;
};

// Conflicts of one record, sorted by path.
Result<std::vector<Conflict>> FindConflicts(KeyKind kind, const RecordState& state,
                                            const MergeView& view);

// The text to show for `value` at `path` in a report: the value itself, or, for secrets (any path
// under "authentication" ending in a key, e.g. authentication/symmetricKey/primaryKey), a
// fingerprint "redacted:xxxxxxxx" (the low 32 bits of a 64-bit hash, which cannot reveal a key).
std::string RedactForReport(const Path& path, const std::string& value);

// A copy of a materialized record with every secret leaf replaced as RedactForReport does.
nlohmann::json RedactDocument(const nlohmann::json& doc);

}  // namespace reconcile

#endif  // RECONCILE_CONFLICT_H_
