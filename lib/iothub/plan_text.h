// Internal: the canonical text of record documents as the plan reads and compares them, and the
// hashes it compares the merged state with the primary's export by (docs/DECISIONS.md P4).
//
// Every text here is CanonicalJson's bytes (sorted keys, no whitespace), written straight from a
// document or found in canonical text without parsing it whole. The merged side and the primary's
// side of a comparison must go through these same functions, so that equal content gives equal
// hashes whichever way it came.
//
// Thread safety: pure functions.
#ifndef RECONCILE_LIB_IOTHUB_PLAN_TEXT_H_
#define RECONCILE_LIB_IOTHUB_PLAN_TEXT_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/iothub/device_doc.h"

namespace reconcile::iothub {

// True when the document's capabilities.iotEdge is true.
bool IsEdge(const nlohmann::json& doc);
// The parent device id named by the document's first parent scope, or "".
std::string ParentOf(const nlohmann::json& doc);

// CanonicalJson's bytes of `value` (of a string `text`), appended to *out.
void AppendCanonical(const nlohmann::json& value, std::string* out);
void AppendCanonicalString(std::string_view text, std::string* out);
std::string Canonical(const nlohmann::json& value);

// A record document as canonical text, with where its big twin sections lie in it (empty when
// absent or null), so their hashes need no second serialization.
struct DocText {
  std::string text;
  std::string_view tags;
  std::string_view desired;
  std::string_view reported;
  // ScanDocText only: the identity members, null ones included (name, canonical value).
  std::vector<std::pair<std::string_view, std::string_view>> identity;
};

// The identity members of a scanned record by name, each its canonical text (empty: absent).
struct IdentityTexts {
  std::string_view authentication, capabilities, device_scope, parent_scopes, status, status_reason;
  // Takes `value` as the text of member `name` when that is an identity member.
  void Take(std::string_view name, std::string_view value);
};

// Writes `doc` as canonical text into *out, with its sections (not its identity members).
void WriteDocText(const nlohmann::json& doc, DocText* out);
// Fills out->tags/desired/reported/identity from out->text; false when it is not an object.
bool ScanDocText(DocText* out);
// Canonical text into a document; discarded when it is not JSON.
nlohmann::json ParseCanonicalText(std::string_view text);
// The identity members of a scanned record as a document (enough for IsEdge, ParentOf, the scopes
// and IdentityMembers); false when one does not parse.
bool IdentityDoc(const DocText& text, nlohmann::json* out);
// The twin sections of a document, for a document not written out whole (out->text holds them).
void WriteSections(const nlohmann::json& doc, DocText* out);

// The plan writes scopes as the primary has them: a scope that names a device (ScopeDeviceId)
// becomes `primary_scope_for(that device)`, any other scope stays; an edge device without a
// deviceScope gets `primary_scope_for(its own id)` first (mapped like any other).
using PrimaryScopeFn = std::function<Result<std::string>(const std::string& device_id)>;
// deviceScope and the strings of parentScopes of `doc` rewritten so.
Status RewriteScopes(const std::string& device_id, const PrimaryScopeFn& primary_scope_for,
                     nlohmann::json& doc);

// The parts of a record the plan compares, each hashed as the canonical text of:
//   identity:          {"authentication"? (no symmetricKey when no_keys), "capabilities":
//                       {"iotEdge"}, "deviceScope"?, "parentScopes"? (non-empty), "status"
//                       (default "enabled"), "statusReason"? (non-empty string)} (modules: only
//                       "authentication"?)
//   identity_no_auth:  the same without "authentication"
//   twin:              {"desired" (default {}), "tags" (default {})}
//   reported:          properties.reported (default {})
// IdentityMembers gives the identity's members but authentication, joined by commas.
std::string IdentityMembers(const nlohmann::json& doc, bool is_module);
Hash128 IdentityNoAuthHash(const std::string& members);
// REQUIRES: `auth` is the document's non-null authentication.
Hash128 IdentityHash(const std::string& members, const nlohmann::json& auth, bool no_keys);
// The identity hash of a scanned record (ScanDocText) straight from its text: what IdentityDoc,
// RewriteScopes, IdentityMembers and IdentityHash (IdentityNoAuthHash without authentication)
// give, without building a document. nullopt when a member is not read plainly here (a null, a
// string with escapes or non-ASCII bytes, an unexpected type, capabilities other than exactly
// {"iotEdge":bool}) or when no_keys: the document path decides those.
struct TextIdentity {
  Hash128 hash;
  bool has_auth = false;  // which of the primary's two identity hashes it compares with
};
Result<std::optional<TextIdentity>> IdentityOfText(const DocText& text, bool is_module,
                                                   bool no_keys, const std::string& device_id,
                                                   const PrimaryScopeFn& primary_scope_for);
// Sections as found by ScanDocText or WriteSections (empty: absent).
Hash128 TwinHash(std::string_view desired, std::string_view tags);
Hash128 ReportedHash(std::string_view reported);

}  // namespace reconcile::iothub

#endif  // RECONCILE_LIB_IOTHUB_PLAN_TEXT_H_
