// Canonical text of record documents and the hashes the plan compares (plan_text.h).
#include "lib/iothub/plan_text.h"

#include <charconv>
#include <cstring>

#include "lib/core/canonical_text.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/operations.h"

namespace reconcile::iothub {

bool IsEdge(const json& doc) {
  const json* caps = PresentMember(doc, "capabilities");
  const json* edge = caps ? PresentMember(*caps, "iotEdge") : nullptr;
  return edge != nullptr && edge->is_boolean() && edge->get<bool>();
}

// The parent device id named by the first parent scope, or "".
std::string ParentOf(const json& doc) {
  const json* parents = PresentMember(doc, "parentScopes");
  if (parents == nullptr || !parents->is_array() || parents->empty() ||
      !(*parents)[0].is_string()) {
    return "";
  }
  Result<std::string> id = ScopeDeviceId((*parents)[0].get<std::string>());
  return id.ok() ? *id : "";
}

// ---- Canonical text without copies ----------------------------------------------------------
// The plan hashes parts of documents and digests whole ones, always as CanonicalJson's bytes.
// These write the same bytes straight from the document, without building the parts as new JSON
// values first: plain ASCII strings and integers here, anything else (floats, strings with escapes
// or non-ASCII bytes) by nlohmann's own serializer, which is what CanonicalJson runs.

namespace {

// True when `text` is printable ASCII without '"' and '\\': written as it is, between quotes.
// Eight bytes at a time (bit tricks: a byte's high bit marks a byte below 0x20, equal to '"' or
// '\\', or of 0x80 and above).
bool IsPlainAscii(std::string_view text) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  auto special = [](uint64_t w) {  // no false negatives; a false positive is checked bytewise
    const uint64_t quote = w ^ (kOnes * '"');
    const uint64_t slash = w ^ (kOnes * '\\');
    return (((w - kOnes * 0x20) & ~w) | ((quote - kOnes) & ~quote) | ((slash - kOnes) & ~slash) |
            w) &
           kHigh;
  };
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    if (special(w) == 0) continue;
    for (size_t k = i; k < i + 8; ++k) {
      const unsigned char c = static_cast<unsigned char>(text[k]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
    }
  }
  for (; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

void AppendCanonicalString(std::string_view text, std::string* out) {
  if (!IsPlainAscii(text)) {
    out->append(CanonicalJson(json(text)));
    return;
  }
  out->push_back('"');
  out->append(text);
  out->push_back('"');
}

namespace {

template <typename Int>
void AppendInteger(Int n, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
  out->append(buf, end);
}

}  // namespace

void AppendCanonical(const json& value, std::string* out) {
  switch (value.type()) {
    case json::value_t::null:
      out->append("null");
      return;
    case json::value_t::boolean:
      out->append(value.get<bool>() ? "true" : "false");
      return;
    case json::value_t::number_integer:
      AppendInteger(value.get<json::number_integer_t>(), out);
      return;
    case json::value_t::number_unsigned:
      AppendInteger(value.get<json::number_unsigned_t>(), out);
      return;
    case json::value_t::string:
      AppendCanonicalString(value.get_ref<const std::string&>(), out);
      return;
    case json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const json& item : value) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonical(item, out);
      }
      out->push_back(']');
      return;
    }
    case json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& [name, member] : value.get_ref<const json::object_t&>()) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonicalString(name, out);
        out->push_back(':');
        AppendCanonical(member, out);
      }
      out->push_back('}');
      return;
    }
    default:  // floats, binary, discarded
      out->append(CanonicalJson(value));
      return;
  }
}

std::string Canonical(const json& value) {
  std::string out;
  AppendCanonical(value, &out);
  return out;
}

void WriteDocText(const json& doc, DocText* out) {
  out->text.clear();
  out->tags = out->desired = out->reported = {};
  out->identity.clear();
  if (!doc.is_object()) {
    AppendCanonical(doc, &out->text);
    return;
  }
  // Offsets first: the text may move while it grows.
  std::pair<size_t, size_t> tags{0, 0}, desired{0, 0}, reported{0, 0};
  std::string& t = out->text;
  t.push_back('{');
  bool first = true;
  for (const auto& [name, member] : doc.get_ref<const json::object_t&>()) {
    if (!first) t.push_back(',');
    first = false;
    AppendCanonicalString(name, &t);
    t.push_back(':');
    const size_t at = t.size();
    if (name == "properties" && member.is_object()) {
      t.push_back('{');
      bool inner_first = true;
      for (const auto& [inner, section] : member.get_ref<const json::object_t&>()) {
        if (!inner_first) t.push_back(',');
        inner_first = false;
        AppendCanonicalString(inner, &t);
        t.push_back(':');
        const size_t from = t.size();
        AppendCanonical(section, &t);
        if (section.is_null()) continue;
        if (inner == "desired") desired = {from, t.size()};
        if (inner == "reported") reported = {from, t.size()};
      }
      t.push_back('}');
      continue;
    }
    AppendCanonical(member, &t);
    if (name == "tags" && !member.is_null()) tags = {at, t.size()};
  }
  t.push_back('}');
  auto view = [&](std::pair<size_t, size_t> span) {
    return std::string_view(t).substr(span.first, span.second - span.first);
  };
  out->tags = view(tags);
  out->desired = view(desired);
  out->reported = view(reported);
}

// ---- Reading canonical text -----------------------------------------------------------------
// A record that comes as canonical text (CanonicalTextSource) is not parsed whole to be compared:
// its members are found in the text (canonical: no whitespace, keys as plain as they can be).

using internal::ForEachMember;

// Fills out->tags/desired/reported/identity from out->text; false when it is not an object.
bool ScanDocText(DocText* out) {
  out->tags = out->desired = out->reported = {};
  out->identity.clear();
  const std::string_view text = out->text;
  bool inner_ok = true;
  const bool ok = ForEachMember(text, [&](std::string_view name, std::string_view value) {
    if (name == "tags") {
      if (value != "null") out->tags = value;
    } else if (name == "properties") {
      if (value.front() != '{') return true;
      inner_ok = ForEachMember(value,
                               [&](std::string_view inner, std::string_view section) {
                                 if (section == "null") return true;
                                 if (inner == "desired") out->desired = section;
                                 if (inner == "reported") out->reported = section;
                                 return true;
                               }) &&
                 inner_ok;
    } else if (name == "authentication" || name == "capabilities" || name == "deviceScope" ||
               name == "parentScopes" || name == "status" || name == "statusReason") {
      out->identity.emplace_back(name, value);
    }
    return true;
  });
  return ok && inner_ok;
}

namespace {

// Canonical text into a document, for the common case: objects, arrays, plain ASCII strings,
// literals and integers of up to 18 digits, the same values nlohmann's parser gives (non-negative
// integers unsigned). False (and *out unspecified) for anything else: the caller asks nlohmann.
bool ParseSimple(std::string_view text, size_t* i, json* out) {
  if (*i >= text.size()) return false;
  const char c = text[*i];
  if (c == '{' || c == '[') {
    const bool object = c == '{';
    const char close = object ? '}' : ']';
    *out = object ? json::object() : json::array();
    ++*i;
    if (*i < text.size() && text[*i] == close) {
      ++*i;
      return true;
    }
    while (true) {
      if (object) {
        json name;
        if (*i >= text.size() || text[*i] != '"' || !ParseSimple(text, i, &name)) return false;
        if (*i >= text.size() || text[*i] != ':') return false;
        ++*i;
        auto& members = out->get_ref<json::object_t&>();
        auto it =
            members.emplace_hint(members.end(), std::move(name.get_ref<std::string&>()), json());
        if (!ParseSimple(text, i, &it->second)) return false;
      } else {
        json item;
        if (!ParseSimple(text, i, &item)) return false;
        out->get_ref<json::array_t&>().push_back(std::move(item));
      }
      if (*i >= text.size()) return false;
      if (text[*i] == close) {
        ++*i;
        return true;
      }
      if (text[*i] != ',') return false;
      ++*i;
    }
  }
  if (c == '"') {
    const size_t from = *i + 1;
    size_t k = from;
    while (k < text.size() && text[k] != '"') {
      const unsigned char b = static_cast<unsigned char>(text[k]);
      if (b < 0x20 || b >= 0x80 || b == '\\') return false;
      ++k;
    }
    if (k >= text.size()) return false;
    *out = std::string(text.substr(from, k - from));
    *i = k + 1;
    return true;
  }
  for (std::string_view literal : {"true", "false", "null"}) {
    if (text.substr(*i, literal.size()) == literal) {
      *out = literal == "null" ? json() : json(literal == "true");
      *i += literal.size();
      return true;
    }
  }
  const bool negative = c == '-';
  size_t k = *i + (negative ? 1 : 0);
  const size_t first = k;
  while (k < text.size() && text[k] >= '0' && text[k] <= '9') ++k;
  const size_t digits = k - first;
  if (digits == 0 || digits > 18 || (digits > 1 && text[first] == '0')) return false;
  if (k < text.size() && (text[k] == '.' || text[k] == 'e' || text[k] == 'E')) return false;
  uint64_t n = 0;
  for (size_t d = first; d < k; ++d) n = n * 10 + static_cast<uint64_t>(text[d] - '0');
  if (negative) {
    *out = -static_cast<json::number_integer_t>(n);
  } else {
    *out = static_cast<json::number_unsigned_t>(n);
  }
  *i = k;
  return true;
}

}  // namespace

// Canonical text into a document; discarded when it is not JSON.
json ParseCanonicalText(std::string_view text) {
  json out;
  size_t i = 0;
  if (ParseSimple(text, &i, &out) && i == text.size()) return out;
  return json::parse(text, nullptr, false);
}

// The identity members of a scanned record as a document (enough for RewriteScopes, IsEdge and
// IdentityMembers); false when one does not parse.
bool IdentityDoc(const DocText& text, json* out) {
  *out = json::object();
  for (const auto& [name, value] : text.identity) {
    json v = ParseCanonicalText(value);
    if (v.is_discarded()) return false;
    (*out)[std::string(name)] = std::move(v);
  }
  return true;
}

void IdentityTexts::Take(std::string_view name, std::string_view value) {
  if (name == "authentication") authentication = value;
  if (name == "capabilities") capabilities = value;
  if (name == "deviceScope") device_scope = value;
  if (name == "parentScopes") parent_scopes = value;
  if (name == "status") status = value;
  if (name == "statusReason") status_reason = value;
}

namespace {

Result<std::string> MapScope(const std::string& scope, const PrimaryScopeFn& primary_scope_for) {
  Result<std::string> owner = ScopeDeviceId(scope);
  return owner.ok() ? primary_scope_for(*owner) : Result<std::string>(scope);
}

}  // namespace

Status RewriteScopes(const std::string& device_id, const PrimaryScopeFn& primary_scope_for,
                     json& doc) {
  // An edge device always gets its own scope, so it and its children agree on one value.
  if (IsEdge(doc) && !doc.contains("deviceScope")) {
    Result<std::string> own = primary_scope_for(device_id);
    if (!own.ok()) return own.status();
    doc["deviceScope"] = std::move(*own);
  }
  if (auto it = doc.find("deviceScope"); it != doc.end() && it->is_string()) {
    Result<std::string> mapped = MapScope(it->get<std::string>(), primary_scope_for);
    if (!mapped.ok()) return mapped.status();
    *it = std::move(*mapped);
  }
  if (auto it = doc.find("parentScopes"); it != doc.end() && it->is_array()) {
    for (json& s : *it) {
      if (!s.is_string()) continue;
      Result<std::string> mapped = MapScope(s.get<std::string>(), primary_scope_for);
      if (!mapped.ok()) return mapped.status();
      s = std::move(*mapped);
    }
  }
  return Status::Ok();
}

namespace {

// The content of a canonical string value without escapes or non-ASCII bytes; nullopt for any
// other value.
std::optional<std::string_view> PlainString(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::nullopt;
  const std::string_view inner = value.substr(1, value.size() - 2);
  if (!IsPlainAscii(inner)) return std::nullopt;
  return inner;
}

// The mapped scope of a plain string `value`, appended to *out as canonical text; false (and
// nothing appended) when `value` is not a plain string.
Result<bool> AppendMappedScope(std::string_view value, const PrimaryScopeFn& primary_scope_for,
                               std::string* out) {
  const std::optional<std::string_view> scope = PlainString(value);
  if (!scope) return false;
  Result<std::string> mapped = MapScope(std::string(*scope), primary_scope_for);
  if (!mapped.ok()) return mapped.status();
  AppendCanonicalString(*mapped, out);
  return true;
}

}  // namespace

Result<std::optional<TextIdentity>> IdentityOfText(const DocText& text, bool is_module,
                                                   bool no_keys, const std::string& device_id,
                                                   const PrimaryScopeFn& primary_scope_for) {
  const std::optional<TextIdentity> declined;
  if (no_keys) return declined;
  IdentityTexts members;
  for (const auto& [name, value] : text.identity) members.Take(name, value);
  std::string_view auth = members.authentication, caps = members.capabilities,
                   scope = members.device_scope, parents = members.parent_scopes,
                   status = members.status, reason = members.status_reason;
  // Only the document's authentication counts for a module (IdentityMembers gives nothing).
  if (is_module) caps = scope = parents = status = reason = {};
  std::string hashed = "{";
  if (!auth.empty()) {
    if (auth.front() != '{') return declined;  // null, or not an object
    hashed.append("\"authentication\":");
    hashed.append(auth);  // canonical text already: the bytes AppendCanonical writes
  }
  if (!is_module) {
    bool edge = false;
    if (caps == "{\"iotEdge\":true}") {
      edge = true;
    } else if (!caps.empty() && caps != "{\"iotEdge\":false}") {
      return declined;
    }
    if (!auth.empty()) hashed.push_back(',');
    hashed.append(edge ? "\"capabilities\":{\"iotEdge\":true}"
                       : "\"capabilities\":{\"iotEdge\":false}");
    if (!scope.empty()) {
      hashed.append(",\"deviceScope\":");
      Result<bool> plain = AppendMappedScope(scope, primary_scope_for, &hashed);
      if (!plain.ok()) return plain.status();
      if (!*plain) return declined;
    } else if (edge) {
      Result<std::string> own = primary_scope_for(device_id);
      if (!own.ok()) return own.status();
      Result<std::string> mapped = MapScope(*own, primary_scope_for);
      if (!mapped.ok()) return mapped.status();
      hashed.append(",\"deviceScope\":");
      AppendCanonicalString(*mapped, &hashed);
    }
    if (!parents.empty() && parents != "[]") {
      if (parents.front() != '[' || parents.back() != ']') return declined;
      hashed.append(",\"parentScopes\":[");
      // Cut at every comma: a piece of a string cut at a comma inside it is not a plain string
      // (it lacks a quote at one end, or holds the escaped quotes of a '","' inside).
      std::string_view rest = parents.substr(1, parents.size() - 2);
      bool first = true;
      while (true) {
        const size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        if (!first) hashed.push_back(',');
        first = false;
        Result<bool> plain = AppendMappedScope(item, primary_scope_for, &hashed);
        if (!plain.ok()) return plain.status();
        if (!*plain) return declined;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
      hashed.push_back(']');
    }
    hashed.append(",\"status\":");
    if (status.empty()) {
      hashed.append("\"enabled\"");
    } else if (PlainString(status)) {
      hashed.append(status);
    } else {
      return declined;
    }
    if (!reason.empty() && reason != "\"\"") {
      if (!PlainString(reason)) return declined;
      hashed.append(",\"statusReason\":");
      hashed.append(reason);
    }
  }
  hashed.push_back('}');
  return std::optional<TextIdentity>(TextIdentity{HashText(hashed), !auth.empty()});
}

// The members in the order written are sorted, as CanonicalJson writes them.
std::string IdentityMembers(const json& doc, bool is_module) {
  std::string out;
  if (is_module) return out;
  out.append(IsEdge(doc) ? "\"capabilities\":{\"iotEdge\":true}"
                         : "\"capabilities\":{\"iotEdge\":false}");
  if (const json* s = PresentMember(doc, "deviceScope")) {
    out.append(",\"deviceScope\":");
    AppendCanonical(*s, &out);
  }
  if (const json* p = PresentMember(doc, "parentScopes"); p && !p->empty()) {
    out.append(",\"parentScopes\":");
    AppendCanonical(*p, &out);
  }
  out.append(",\"status\":");
  if (const json* status = PresentMember(doc, "status")) {
    AppendCanonical(*status, &out);
  } else {
    out.append("\"enabled\"");
  }
  if (const json* r = PresentMember(doc, "statusReason");
      r && r->is_string() && !r->get_ref<const std::string&>().empty()) {
    out.append(",\"statusReason\":");
    AppendCanonical(*r, &out);
  }
  return out;
}

Hash128 IdentityNoAuthHash(const std::string& members) {
  std::string text;
  text.reserve(members.size() + 2);
  text.push_back('{');
  text.append(members);
  text.push_back('}');
  return HashText(text);
}

Hash128 IdentityHash(const std::string& members, const json& auth, bool no_keys) {
  std::string text = "{\"authentication\":";
  if (no_keys && auth.is_object()) {
    text.push_back('{');
    bool first = true;
    for (const auto& [name, member] : auth.get_ref<const json::object_t&>()) {
      if (name == "symmetricKey") continue;
      if (!first) text.push_back(',');
      first = false;
      AppendCanonicalString(name, &text);
      text.push_back(':');
      AppendCanonical(member, &text);
    }
    text.push_back('}');
  } else {
    AppendCanonical(auth, &text);
  }
  if (!members.empty()) text.push_back(',');
  text.append(members);
  text.push_back('}');
  return HashText(text);
}

Hash128 TwinHash(std::string_view desired, std::string_view tags) {
  std::string text = "{\"desired\":";
  text.append(desired.empty() ? std::string_view("{}") : desired);
  text.append(",\"tags\":");
  text.append(tags.empty() ? std::string_view("{}") : tags);
  text.push_back('}');
  return HashText(text);
}

Hash128 ReportedHash(std::string_view reported) {
  return HashText(reported.empty() ? std::string_view("{}") : reported);
}

// The twin sections of a document (for a document not written out whole).
void WriteSections(const json& doc, DocText* out) {
  out->text.clear();
  std::pair<size_t, size_t> tags{0, 0}, desired{0, 0}, reported{0, 0};
  std::string& t = out->text;
  if (const json* v = PresentMember(doc, "tags")) {
    AppendCanonical(*v, &t);
    tags = {0, t.size()};
  }
  if (const json* props = PresentMember(doc, "properties")) {
    if (const json* v = PresentMember(*props, "desired")) {
      const size_t from = t.size();
      AppendCanonical(*v, &t);
      desired = {from, t.size()};
    }
    if (const json* v = PresentMember(*props, "reported")) {
      const size_t from = t.size();
      AppendCanonical(*v, &t);
      reported = {from, t.size()};
    }
  }
  auto view = [&](std::pair<size_t, size_t> span) {
    return std::string_view(t).substr(span.first, span.second - span.first);
  };
  out->tags = view(tags);
  out->desired = view(desired);
  out->reported = view(reported);
}

}  // namespace reconcile::iothub
