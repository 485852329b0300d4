// Internal: the plan projection (projection.h) made from canonical text, without building JSON
// documents. The verify step projects every merged record and every line of the primary's export;
// the store hands records over as canonical text (Materialize) and the fast export reader
// (lib/iothub/export_line.h) as a full-write delta, whose cells hold canonical text too. Both are
// cut into the members the projection reads, and the projection is written from those members'
// bytes: the bytes ProjectRecord writes for the same document (a differential test holds them to
// it).
//
// Canonical text (CanonicalJson's bytes) is compositional: the text of a member's value is the
// canonical text of that value, so the members are copied as they stand.
//
// Thread safety: pure functions.
#ifndef RECONCILE_LIB_FAILBACK_PROJECTION_TEXT_H_
#define RECONCILE_LIB_FAILBACK_PROJECTION_TEXT_H_

#include <string>
#include <string_view>

#include "reconcile/key.h"
#include "reconcile/record.h"

namespace reconcile::failback {

// The canonical text of the members of a record document that the projection reads; empty when
// the member is absent or null. `desired` is properties.desired (empty also when properties is not
// an object).
struct ProjectedMembers {
  std::string_view authentication;
  std::string_view capabilities;
  std::string_view device_scope;
  std::string_view parent_scopes;
  std::string_view status;
  std::string_view status_reason;
  std::string_view tags;
  std::string_view desired;
};

// Finds the members in `doc`, the canonical text of a record document. False when `doc` is not a
// canonical JSON object (the caller then parses it and uses ProjectRecord).
bool MembersOfCanonicalText(std::string_view doc, ProjectedMembers* out);

// Finds the members in `delta`, a full write of a whole document at one stamp (FullWriteDelta's
// cells, keys not excluded): cells in path order, object markers for objects, canonical values
// for the rest, covers where a member is absent. Their text is written into *storage, which the
// views of *out point into (so *storage must outlive them and stay unchanged). False for cells
// no full write makes (two at one path, a member without its object's marker, a value with
// members below it): the caller then takes the exact path.
bool MembersOfFullWrite(const RecordState& delta, std::string* storage, ProjectedMembers* out);

// Appends ProjectRecord(key, doc, no_keys)'s bytes for a document with these members.
// REQUIRES: `key` is a device or a module other than the system modules (ProjectRecord's
// nullopt cases are the caller's).
void AppendProjection(const Key& key, const ProjectedMembers& members, bool no_keys,
                      std::string* out);

}  // namespace reconcile::failback

#endif  // RECONCILE_LIB_FAILBACK_PROJECTION_TEXT_H_
