#include "lib/iothub/plan_primary.h"

#include <vector>

#include "lib/core/canonical_text.h"

#include "reconcile/iothub_plan.h"

namespace reconcile::iothub {
namespace {

using nlohmann::json;

// The stamp of the full writes the fast reading makes: any one stamp does (the text is the same).
constexpr Stamp kStamp{1, SiteId()};

// The parts both summaries fill alike: the twin hashes, and no edge, parent or own scope yet.
void SetSectionsAndClear(const DocText& sections, PrimaryRecord* out) {
  out->twin = TwinHash(sections.desired, sections.tags);
  out->reported = ReportedHash(sections.reported);
  out->edge = false;
  out->parent.clear();
  out->own_scope.reset();
}

// Sets the own scope when `scope` (a device's deviceScope) names the device itself.
void SetOwnScope(const Key& key, std::string_view scope, PrimaryRecord* out) {
  Result<std::string> owner = ScopeDeviceId(scope);
  if (owner.ok() && *owner == key.device_id()) out->own_scope = std::string(scope);
}

// Fills *out from a document holding at least the identity members, and the record's sections.
void Summarize(const Key& key, const json& doc, const DocText& sections, bool no_keys,
               PrimaryRecord* out) {
  const bool is_module = key.kind() == KeyKind::kModule;
  const std::string members = IdentityMembers(doc, is_module);
  out->identity_no_auth = IdentityNoAuthHash(members);
  const json* auth = PresentMember(doc, "authentication");
  out->identity = auth ? IdentityHash(members, *auth, no_keys) : out->identity_no_auth;
  SetSectionsAndClear(sections, out);
  if (!is_module) {
    if (IsEdge(doc)) {
      out->edge = true;
      out->parent = ParentOf(doc);
    }
    if (const json* s = PresentMember(doc, "deviceScope"); s && s->is_string()) {
      SetOwnScope(key, s->get_ref<const std::string&>(), out);
    }
  }
  out->key = key;
}

// True when canonical text is plain: outside its strings only structure and the literals; inside
// them printable ASCII without escapes. Such text is its own canonical form member by member
// (ParseCanonicalText then AppendCanonical give it back), so its parts can be hashed as they are.
bool PlainText(std::string_view text) {
  bool in_string = false;
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"') {
      in_string = !in_string;
    } else if (in_string) {
      if (c < 0x20 || c >= 0x80 || c == '\\') return false;
    } else if (std::string_view("{}[],:truefalsn").find(ch) == std::string_view::npos) {
      return false;  // a number, or anything unexpected: the document path reads it
    }
  }
  return !in_string;
}

// A plain string's content (its text without the quotes); nullopt for any other value.
std::optional<std::string_view> PlainString(std::string_view value) {
  if (value.size() < 2 || value.front() != '"') return std::nullopt;
  return value.substr(1, value.size() - 2);
}

// Summarize from the canonical text of the identity members (ScanDocText's), without a document:
// the same record as Summarize of the parsed members. False when a member is not plain text.
bool SummarizeText(const Key& key, const DocText& sections, bool no_keys, PrimaryRecord* out) {
  IdentityTexts present;  // null members stay empty, as absent ones
  for (const auto& [name, value] : sections.identity) {
    if (!PlainText(value)) return false;
    if (value != "null") present.Take(name, value);
  }
  std::string_view auth = present.authentication, caps = present.capabilities,
                   scope = present.device_scope, parents = present.parent_scopes,
                   status = present.status, reason = present.status_reason;
  const bool is_module = key.kind() == KeyKind::kModule;
  bool edge = false;
  internal::ForEachMember(caps, [&](std::string_view name, std::string_view value) {
    if (name == "iotEdge") edge = value == "true";
    return true;
  });
  // IdentityMembers' text.
  thread_local std::string members;
  members.clear();
  if (!is_module) {
    members.append(edge ? "\"capabilities\":{\"iotEdge\":true}"
                        : "\"capabilities\":{\"iotEdge\":false}");
    if (!scope.empty()) members.append(",\"deviceScope\":").append(scope);
    if (!parents.empty() && parents != "[]" && parents != "{}") {
      members.append(",\"parentScopes\":").append(parents);
    }
    members.append(",\"status\":").append(status.empty() ? "\"enabled\"" : status);
    if (PlainString(reason) && reason != "\"\"")
      members.append(",\"statusReason\":").append(reason);
  }
  out->identity_no_auth = IdentityNoAuthHash(members);
  if (auth.empty()) {
    out->identity = out->identity_no_auth;
  } else {
    // IdentityHash's text.
    thread_local std::string text;
    text.assign("{\"authentication\":");
    if (no_keys && auth.front() == '{') {
      text.push_back('{');
      bool first = true;
      internal::ForEachMember(auth, [&](std::string_view name, std::string_view value) {
        if (name == "symmetricKey") return true;
        if (!first) text.push_back(',');
        first = false;
        text.append("\"").append(name).append("\":").append(value);
        return true;
      });
      text.push_back('}');
    } else {
      text.append(auth);
    }
    if (!members.empty()) text.push_back(',');
    text.append(members).push_back('}');
    out->identity = HashText(text);
  }
  SetSectionsAndClear(sections, out);
  if (!is_module) {
    if (edge) {
      out->edge = true;
      internal::ForEachItem(parents, [&](std::string_view first) {
        if (std::optional<std::string_view> s = PlainString(first)) {
          Result<std::string> id = ScopeDeviceId(*s);
          if (id.ok()) out->parent = std::move(*id);
        }
        return false;  // the first parent scope only
      });
    }
    if (std::optional<std::string_view> s = PlainString(scope)) SetOwnScope(key, *s, out);
  }
  out->key = key;
  return true;
}

}  // namespace

std::optional<Invalid> ReadPrimaryLineExact(std::string_view line, bool no_keys,
                                            PrimaryRecord* out) {
  ExportDevice dev;
  if (auto invalid = ParseExportDevice(line, &dev)) return invalid;
  DocText sections;
  WriteSections(dev.doc, &sections);
  Summarize(*dev.key, dev.doc, sections, no_keys, out);
  return std::nullopt;
}

bool FullWriteText(const RecordState& delta, std::string* out) {
  out->clear();
  const std::vector<Cell>& cells = delta.cells();
  if (cells.empty() || !cells[0].path.empty() || !cells[0].IsObjectMarker()) return false;
  // The objects open around the next member: each one's path and whether it has members yet.
  struct Open {
    std::string_view path;
    bool members;
  };
  std::vector<Open> open{{std::string_view(), false}};
  out->push_back('{');
  // Writes `name` as the next member's name of the innermost open object.
  auto member = [&](std::string_view name) {
    if (open.back().members) out->push_back(',');
    open.back().members = true;
    AppendCanonicalString(name, out);
    out->push_back(':');
  };
  for (size_t i = 1; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    if (!c.has_value) continue;  // a cover alone: a member the line does not have
    const std::string_view path = c.path;
    if (path.empty()) return false;
    while (open.size() > 1 && !Path::IsWithin(path, open.back().path)) {
      out->push_back('}');
      open.pop_back();
    }
    // Objects between the innermost open one and the member: written by the members below them
    // only (a full write gives "properties" no marker of its own).
    size_t from = open.back().path.empty() ? 0 : open.back().path.size() + 1;
    for (size_t sep = path.find(kPathSeparator, from); sep != std::string_view::npos;
         sep = path.find(kPathSeparator, from)) {
      member(path.substr(from, sep - from));
      out->push_back('{');
      open.push_back({path.substr(0, sep), false});
      from = sep + 1;
    }
    member(path.substr(from));
    if (c.IsObjectMarker()) {
      out->push_back('{');
      open.push_back({path, false});
    } else {
      out->append(c.value);
    }
  }
  for (size_t i = 0; i < open.size(); ++i) out->push_back('}');
  return true;
}

PrimaryLineReader::PrimaryLineReader(bool no_keys) : no_keys_(no_keys) {}

std::optional<Invalid> PrimaryLineReader::Read(std::string_view line, PrimaryRecord* out) {
  if (ReadFast(line, out)) return std::nullopt;
  ++declined_;
  return ReadPrimaryLineExact(line, no_keys_, out);
}

bool PrimaryLineReader::ReadFast(std::string_view line, PrimaryRecord* out) {
  std::optional<Key> key;
  if (!lines_.FullWrite(line, kStamp, /*keys_excluded=*/false, &key, &delta_)) return false;
  if (!FullWriteText(delta_, &text_.text) || !ScanDocText(&text_)) return false;
  if (SummarizeText(*key, text_, no_keys_, out)) return true;
  json identity;
  if (!IdentityDoc(text_, &identity)) return false;
  Summarize(*key, identity, text_, no_keys_, out);
  return true;
}

}  // namespace reconcile::iothub
