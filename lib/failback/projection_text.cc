#include "lib/failback/projection_text.h"

#include <nlohmann/json.hpp>

#include "lib/core/canonical_text.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/operations.h"
#include "reconcile/path.h"

namespace reconcile::failback {
namespace {

using internal::ForEachItem;
constexpr size_t kBad = internal::kBadText;
using internal::ForEachMember;

// ---- Writing canonical text ----------------------------------------------------------------

// True when CanonicalJson writes `s` as it is between quotes: printable ASCII but '"' and '\\'.
bool IsPlain(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

void AppendString(std::string_view s, std::string* out) {
  if (!IsPlain(s)) {
    out->append(CanonicalJson(nlohmann::json(std::string(s))));
    return;
  }
  out->push_back('"');
  out->append(s);
  out->push_back('"');
}

// A scope names a device: a string that is an edge scope becomes the device id it names (so
// hub-specific generation ids do not count); anything else stays as it is.
void AppendScope(std::string_view value, std::string* out) {
  if (value.size() < 2 || value.front() != '"') {
    out->append(value);
    return;
  }
  std::string decoded;
  std::string_view scope = value.substr(1, value.size() - 2);
  if (scope.find('\\') != std::string_view::npos) {
    nlohmann::json parsed = nlohmann::json::parse(value, nullptr, false);
    if (!parsed.is_string()) {
      out->append(value);
      return;
    }
    decoded = parsed.get<std::string>();
    scope = decoded;
  }
  Result<std::string> id = ScopeDeviceId(scope);
  if (id.ok()) {
    AppendString(*id, out);
  } else {
    out->append(value);
  }
}

// The object `text` without its member `name` (which it holds at most once, canonical text
// having unique names).
void AppendWithoutMember(std::string_view text, std::string_view name, std::string* out) {
  out->push_back('{');
  bool first = true;
  ForEachMember(text, [&](std::string_view member, std::string_view value) {
    if (member == name) return true;
    if (!first) out->push_back(',');
    first = false;
    out->push_back('"');
    out->append(member);
    out->append("\":");
    out->append(value);
    return true;
  });
  out->push_back('}');
}

// capabilities.iotEdge is present and true.
bool IsEdge(std::string_view capabilities) {
  bool edge = false;
  if (!capabilities.empty() && capabilities.front() == '{') {
    ForEachMember(capabilities, [&](std::string_view name, std::string_view value) {
      if (name == "iotEdge") edge = value == "true";
      return true;
    });
  }
  return edge;
}

// ---- Reading a full write's cells ----------------------------------------------------------

// True when cells[k] lies below the path `parent`.
bool Below(const std::vector<Cell>& cells, size_t k, std::string_view parent) {
  std::string_view p = cells[k].path;
  return p.size() > parent.size() && p[parent.size()] == kPathSeparator &&
         p.compare(0, parent.size(), parent) == 0;
}

// Appends the canonical text of the value at cells[i] (nothing when it holds no value) and returns
// the index past its subtree, or kBad for cells no full write makes (two cells at a path, a
// member without its parent's marker, a value with members).
size_t WriteNode(const std::vector<Cell>& cells, size_t i, std::string* out) {
  const Cell& node = cells[i];
  size_t j = i + 1;
  if (!node.has_value) {
    while (j < cells.size() && Below(cells, j, node.path)) ++j;
    return j;
  }
  if (!node.IsObjectMarker()) {
    if (j < cells.size() && (Below(cells, j, node.path) || cells[j].path == node.path)) return kBad;
    out->append(node.value);
    return j;
  }
  if (j < cells.size() && cells[j].path == node.path) return kBad;
  out->push_back('{');
  bool first = true;
  while (j < cells.size() && Below(cells, j, node.path)) {
    const std::string_view name = std::string_view(cells[j].path).substr(node.path.size() + 1);
    if (name.find(kPathSeparator) != std::string_view::npos) return kBad;
    if (cells[j].has_value) {
      if (!first) out->push_back(',');
      first = false;
      AppendString(name, out);
      out->push_back(':');
    }
    j = WriteNode(cells, j, out);
    if (j == kBad) return kBad;
  }
  out->push_back('}');
  return j;
}

}  // namespace

bool MembersOfCanonicalText(std::string_view doc, ProjectedMembers* out) {
  *out = ProjectedMembers();
  return ForEachMember(doc, [&](std::string_view name, std::string_view value) {
    if (value == "null") return true;
    if (name == "authentication") {
      out->authentication = value;
    } else if (name == "capabilities") {
      out->capabilities = value;
    } else if (name == "deviceScope") {
      out->device_scope = value;
    } else if (name == "parentScopes") {
      out->parent_scopes = value;
    } else if (name == "status") {
      out->status = value;
    } else if (name == "statusReason") {
      out->status_reason = value;
    } else if (name == "tags") {
      out->tags = value;
    } else if (name == "properties" && value.front() == '{') {
      return ForEachMember(value, [&](std::string_view inner, std::string_view section) {
        if (inner == "desired" && section != "null") out->desired = section;
        return true;
      });
    }
    return true;
  });
}

bool MembersOfFullWrite(const RecordState& delta, std::string* storage, ProjectedMembers* out) {
  *out = ProjectedMembers();
  storage->clear();
  static const std::string kDesired = std::string("properties") + kPathSeparator + "desired";
  struct Span {
    size_t from = 0;
    size_t to = 0;
  };
  Span spans[8];
  bool seen[8] = {};
  std::string_view ProjectedMembers::*const fields[8] = {
      &ProjectedMembers::authentication, &ProjectedMembers::capabilities,
      &ProjectedMembers::device_scope,   &ProjectedMembers::parent_scopes,
      &ProjectedMembers::status,         &ProjectedMembers::status_reason,
      &ProjectedMembers::tags,           &ProjectedMembers::desired};
  const std::vector<Cell>& cells = delta.cells();
  size_t i = 0;
  while (i < cells.size()) {
    std::string_view path = cells[i].path;
    int which = -1;
    if (path == "authentication")
      which = 0;
    else if (path == "capabilities")
      which = 1;
    else if (path == "deviceScope")
      which = 2;
    else if (path == "parentScopes")
      which = 3;
    else if (path == "status")
      which = 4;
    else if (path == "statusReason")
      which = 5;
    else if (path == "tags")
      which = 6;
    else if (path == kDesired)
      which = 7;
    if (which < 0) {
      ++i;
      continue;
    }
    if (seen[which]) return false;  // two cells at one path
    seen[which] = true;
    const size_t from = storage->size();
    i = WriteNode(cells, i, storage);
    if (i == kBad) return false;
    spans[which] = {from, storage->size()};
  }
  const std::string_view text = *storage;
  for (int k = 0; k < 8; ++k) {
    out->*fields[k] = text.substr(spans[k].from, spans[k].to - spans[k].from);
  }
  return true;
}

void AppendProjection(const Key& key, const ProjectedMembers& m, bool no_keys, std::string* out) {
  const bool is_module = key.kind() == KeyKind::kModule;
  // Members in CanonicalJson's (sorted) order.
  out->push_back('{');
  if (!m.authentication.empty()) {
    out->append("\"authentication\":");
    if (no_keys && m.authentication.front() == '{') {
      AppendWithoutMember(m.authentication, "symmetricKey", out);
    } else {
      out->append(m.authentication);
    }
    out->push_back(',');
  }
  if (!is_module) {
    out->append(IsEdge(m.capabilities) ? "\"capabilities\":{\"iotEdge\":true},"
                                       : "\"capabilities\":{\"iotEdge\":false},");
  }
  out->append("\"desired\":");
  out->append(m.desired.empty() ? std::string_view("{}") : m.desired);
  if (!is_module && !m.device_scope.empty() && m.device_scope != "\"\"") {
    out->append(",\"deviceScope\":");
    AppendScope(m.device_scope, out);
  }
  out->append(",\"id\":");
  AppendString(key.device_id(), out);
  if (is_module) {
    out->append(",\"moduleId\":");
    AppendString(key.module_id(), out);
  }
  if (!is_module && m.parent_scopes.size() > 2 && m.parent_scopes.front() == '[') {
    out->append(",\"parentScopes\":[");
    bool first = true;
    ForEachItem(m.parent_scopes, [&](std::string_view scope) {
      if (!first) out->push_back(',');
      first = false;
      AppendScope(scope, out);
      return true;
    });
    out->push_back(']');
  }
  out->append(",\"status\":");
  out->append(m.status.empty() ? std::string_view("\"enabled\"") : m.status);
  if (m.status_reason.size() > 2 && m.status_reason.front() == '"') {
    out->append(",\"statusReason\":");
    out->append(m.status_reason);
  }
  out->append(",\"tags\":");
  out->append(m.tags.empty() ? std::string_view("{}") : m.tags);
  out->push_back('}');
}

}  // namespace reconcile::failback
