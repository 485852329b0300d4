#include "lib/iothub/export_line.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <string>
#include <vector>

#include "lib/iothub/device_doc.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/path.h"

namespace reconcile::iothub {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr int64_t kMaxTwinInteger = (int64_t{1} << 52) - 1;
constexpr int64_t kMinTwinInteger = -(int64_t{1} << 52);

// True when some object in `e` (at any depth) names a member twice. The exact path rejects such a
// line (which of the two the hub meant is unknown), so the fast path must see them too, also in
// the parts it otherwise skips.
bool HasDuplicateNames(element e) {
  if (e.type() == element_type::ARRAY) {
    for (element v : array(e)) {
      if (HasDuplicateNames(v)) return true;
    }
    return false;
  }
  if (e.type() != element_type::OBJECT) return false;
  // Small objects (nearly all): pairwise; large ones: sorted.
  std::string_view names[16];
  size_t n = 0;
  std::vector<std::string_view> many;
  for (auto field : object(e)) {
    if (n < 16) {
      for (size_t i = 0; i < n; ++i) {
        if (names[i] == field.key) return true;
      }
      names[n++] = field.key;
    } else {
      if (many.empty()) many.assign(names, names + n);
      many.push_back(field.key);
    }
    if (HasDuplicateNames(field.value)) return true;
  }
  if (!many.empty()) {
    std::sort(many.begin(), many.end());
    if (std::adjacent_find(many.begin(), many.end()) != many.end()) return true;
  }
  return false;
}

// A twin key as ValidateSegment (kTwin) and the section walk's C1 check accept it. simdjson has
// already checked the UTF-8.
bool IsTwinKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f || c == '.' || c == '$' || c == ' ') return false;
    if (c == 0xC2 && i + 1 < key.size()) {
      const auto next = static_cast<unsigned char>(key[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return false;
    }
  }
  return true;
}

size_t CodePoints(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

// Where a scalar sits: in a twin section (IoT Hub's integer range and string length apply) or not.
enum class Within { kSection, kOther };

// Appends the canonical JSON of scalar or array `e` (CanonicalJson's bytes). False to decline.
// The line has no backslash, so a string's canonical form is its bytes in quotes: JSON forbids
// the raw characters canonical JSON escapes.
bool AppendCanonical(element e, Within within, std::string* out) {
  switch (e.type()) {
    case element_type::STRING: {
      std::string_view s = e.get_string().value_unsafe();
      if (within == Within::kSection && s.size() > kMaxStringValueBytes) return false;
      out->push_back('"');
      out->append(s);
      out->push_back('"');
      return true;
    }
    case element_type::INT64: {
      const int64_t v = e.get_int64().value_unsafe();
      if (within == Within::kSection && (v < kMinTwinInteger || v > kMaxTwinInteger)) return false;
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v);
      out->append(buf, r.ptr);
      return true;
    }
    case element_type::UINT64: {
      if (within == Within::kSection) return false;  // beyond 2^63: outside the twin range
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, e.get_uint64().value_unsafe());
      out->append(buf, r.ptr);
      return true;
    }
    case element_type::DOUBLE: {
      const double v = e.get_double().value_unsafe();
      // "-0" is an integer to nlohmann (0) but may be a double here: leave it to the exact path.
      if (!std::isfinite(v) || (v == 0 && std::signbit(v))) return false;
      // nlohmann's own number formatting, so that the bytes are the exact path's.
      char buf[64];
      char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v);
      out->append(buf, end);
      return true;
    }
    case element_type::BOOL:
      out->append(e.get_bool().value_unsafe() ? "true" : "false");
      return true;
    case element_type::NULL_VALUE:
      out->append("null");
      return true;
    case element_type::ARRAY: {
      out->push_back('[');
      bool first = true;
      for (element v : array(e)) {
        // An object in an array: its members would need sorting; rare, left to the exact path.
        if (v.type() == element_type::OBJECT) return false;
        if (!first) out->push_back(',');
        first = false;
        if (!AppendCanonical(v, within, out)) return false;
      }
      out->push_back(']');
      return true;
    }
    case element_type::OBJECT:
      return false;
  }
  return false;
}

bool IsNull(element e) { return e.type() == element_type::NULL_VALUE; }

// The cells of one full write, all at one stamp, in any order (RecordState::FromCells sorts them
// and joins a path's cover with its value).
class CellWriter {
 public:
  void Reset(const Stamp& stamp) {
    stamp_ = stamp;
    cells_.clear();
    cells_.reserve(64);  // Take() gives the last record's storage away
    path_.clear();
  }

  // The path of the next cells: Enter appends a segment, Leave removes it.
  size_t Enter(std::string_view segment) {
    const size_t mark = path_.size();
    if (!path_.empty()) path_.push_back(kPathSeparator);
    path_.append(segment);
    return mark;
  }
  void Leave(size_t mark) { path_.resize(mark); }
  size_t depth_mark() const { return path_.size(); }

  void Cover() {
    Cell& c = Add();
    c.has_cover = true;
    c.cover_hlc = stamp_.hlc;
  }
  // The value's bytes go straight into the cell (no string in between: most values are longer
  // than a std::string holds in itself, and an allocation per cell was a tenth of the read).
  Cell& Value(std::string_view value) {
    Cell& c = Add();
    c.has_value = true;
    c.value_hlc = stamp_.hlc;
    c.value = value;
    return c;
  }
  // A JSON string's canonical text: `s` in quotes (the line has no backslash to escape).
  Cell& QuotedValue(std::string_view s) {
    Cell& c = Add();
    c.has_value = true;
    c.value_hlc = stamp_.hlc;
    c.value.reserve(s.size() + 2);
    c.value.clear();
    c.value.push_back('"');
    c.value.append(s);
    c.value.push_back('"');
    return c;
  }
  void CoverAndValue(std::string_view value) {
    Cell& c = Value(value);
    c.has_cover = true;
    c.cover_hlc = stamp_.hlc;
  }

  RecordState Take() { return RecordState::FromCells(std::move(cells_)); }

 private:
  // A path's cover and value written one after the other make one cell.
  Cell& Add() {
    if (!cells_.empty() && cells_.back().path == path_) return cells_.back();
    Cell& c = cells_.emplace_back();
    c.path = path_;
    c.site = stamp_.site;
    return c;
  }

  Stamp stamp_;
  std::string path_;
  std::vector<Cell> cells_;
};

// The members of one section object at section depth `depth` (its members' depth; top = 1),
// checked as ValidateSection checks them, written as SetDelta writes the stripped section
// (markers for objects, canonical values for the rest, null members skipped). *size gets the
// object's canonical size with its null members (ValidateSection's measure). `skip_meta`: the
// top level of desired/reported, whose $metadata and $version are dropped unread.
bool WriteSection(object obj, size_t depth, bool skip_meta, CellWriter* w, size_t* size,
                  std::string* scratch) {
  size_t total = 2;
  size_t members = 0;
  // The members in key order, so that the cells go out in path order.
  struct Member {
    std::string_view key;
    element value;
  };
  Member inline_members[32];
  std::vector<Member> many;
  Member* sorted = inline_members;
  size_t count = 0;
  for (auto field : obj) {
    if (skip_meta && (field.key == "$metadata" || field.key == "$version")) continue;
    if (!IsTwinKey(field.key) || depth > kMaxSectionDepth) return false;
    if (count < 32 && many.empty()) {
      inline_members[count++] = {field.key, field.value};
      continue;
    }
    if (many.empty()) many.assign(inline_members, inline_members + count);
    many.push_back({field.key, field.value});
    ++count;
  }
  if (!many.empty()) sorted = many.data();
  std::sort(sorted, sorted + count,
            [](const Member& a, const Member& b) { return a.key < b.key; });
  for (size_t i = 0; i < count; ++i) {
    const Member& field = sorted[i];
    const size_t mark = w->Enter(field.key);
    size_t value_size = 0;
    element v = field.value;
    if (v.type() == element_type::OBJECT) {
      w->Value(kObjectMarker);
      if (!WriteSection(object(v), depth + 1, false, w, &value_size, scratch)) return false;
    } else if (IsNull(v)) {
      value_size = 4;
    } else {
      scratch->clear();
      if (!AppendCanonical(v, Within::kSection, scratch)) return false;
      value_size = scratch->size();
      w->Value(*scratch);
    }
    w->Leave(mark);
    total += field.key.size() + 3 + value_size;
    ++members;
  }
  if (members > 1) total += members - 1;
  *size = total;
  return true;
}

// A twin section (tags, desired, reported) set at the writer's path: cover, marker and members.
bool SetSection(element section, bool skip_meta, size_t max_bytes, CellWriter* w,
                std::string* scratch) {
  if (section.type() != element_type::OBJECT) return false;
  w->CoverAndValue(kObjectMarker);
  size_t size = 0;
  if (!WriteSection(object(section), 1, skip_meta, w, &size, scratch)) return false;
  return size <= max_bytes;
}

// A string member that may be null or absent; false (decline) when it is something else.
bool OptionalString(const element* e, std::string_view* out) {
  *out = {};
  if (e == nullptr || IsNull(*e)) return true;
  if (e->type() != element_type::STRING) return false;
  *out = e->get_string().value_unsafe();
  return true;
}

// The members of the export line's object that make the record document.
struct Fields {
  const element* id = nullptr;
  const element* module_id = nullptr;
  const element* etag = nullptr;
  const element* twin_etag = nullptr;
  const element* import_mode = nullptr;
  const element* status = nullptr;
  const element* status_reason = nullptr;
  const element* authentication = nullptr;
  const element* capabilities = nullptr;
  const element* device_scope = nullptr;
  const element* parent_scopes = nullptr;
  const element* tags = nullptr;
  const element* properties = nullptr;
};

// authentication as NormalizeAuthentication keeps it, written at the writer's path ("authentication"
// or, keys excluded, its type and x509Thumbprint parts).
bool WriteAuthentication(element auth, bool keys_excluded, CellWriter* w) {
  if (auth.type() != element_type::OBJECT) return false;
  std::optional<std::string> type;
  const element* parts[2] = {nullptr, nullptr};  // symmetricKey, x509Thumbprint
  element symmetric, x509;
  for (auto field : object(auth)) {
    if (field.key == "type") {
      if (IsNull(field.value)) continue;
      if (field.value.type() != element_type::STRING) return false;
      type = NormalizeAuthType(field.value.get_string().value_unsafe());
      if (!type) return false;
    } else if (field.key == "symmetricKey") {
      symmetric = field.value;
      parts[0] = &symmetric;
    } else if (field.key == "x509Thumbprint") {
      x509 = field.value;
      parts[1] = &x509;
    }
  }
  struct Sub {
    std::string_view name, first, second;
  };
  const Sub subs[2] = {{"symmetricKey", "primaryKey", "secondaryKey"},
                       {"x509Thumbprint", "primaryThumbprint", "secondaryThumbprint"}};
  // Each part's kept members (non-empty strings), checked before anything is written.
  std::string_view kept[2][2];
  bool any[2] = {false, false};
  for (int p = 0; p < 2; ++p) {
    if (parts[p] == nullptr || IsNull(*parts[p])) continue;
    if (parts[p]->type() != element_type::OBJECT) return false;
    for (auto field : object(*parts[p])) {
      const int which = field.key == subs[p].first ? 0 : field.key == subs[p].second ? 1 : -1;
      if (which < 0 || IsNull(field.value)) continue;
      if (field.value.type() != element_type::STRING) return false;
      std::string_view v = field.value.get_string().value_unsafe();
      if (v.empty()) continue;
      kept[p][which] = v;
      any[p] = true;
    }
  }
  auto write_part = [&](int p) {
    const size_t mark = w->Enter(subs[p].name);
    if (any[p]) {
      w->Value(kObjectMarker);
      for (int m = 0; m < 2; ++m) {
        if (kept[p][m].empty()) continue;
        const size_t inner = w->Enter(m == 0 ? subs[p].first : subs[p].second);
        w->QuotedValue(kept[p][m]);
        w->Leave(inner);
      }
    }
    w->Leave(mark);
  };

  const size_t mark = w->Enter("authentication");
  if (keys_excluded) {
    // Set-or-remove of authentication/type and authentication/x509Thumbprint; the keys are left
    // alone.
    const size_t t = w->Enter("type");
    w->Cover();
    if (type) w->QuotedValue(*type);
    w->Leave(t);
    const size_t x = w->Enter("x509Thumbprint");
    w->Cover();
    w->Leave(x);
    if (any[1]) write_part(1);
  } else {
    w->CoverAndValue(kObjectMarker);
    if (any[0]) write_part(0);  // symmetricKey < type < x509Thumbprint
    if (type) {
      const size_t t = w->Enter("type");
      w->QuotedValue(*type);
      w->Leave(t);
    }
    if (any[1]) write_part(1);
  }
  w->Leave(mark);
  return true;
}

}  // namespace

struct ExportLineReader::Impl {
  simdjson::dom::parser parser;
  CellWriter writer;
  std::string scratch;
};

// The record's key from the line's id and moduleId members (MakeKey's rules); false when they
// do not make one.
static bool ReadKey(const element* id_member, const element* module_member,
                    std::optional<Key>* key, bool* is_module) {
  std::string_view id, module_id;
  if (id_member == nullptr || IsNull(*id_member) || !OptionalString(id_member, &id)) return false;
  if (!ValidateDeviceId(id).ok()) return false;
  if (!OptionalString(module_member, &module_id)) return false;
  *is_module = !module_id.empty();
  if (*is_module && !ValidateModuleId(module_id).ok()) return false;
  Result<Key> k = *is_module ? Key::Module(id, module_id) : Key::Device(id);
  if (!k.ok()) return false;
  *key = std::move(*k);
  return true;
}

ExportLineReader::ExportLineReader() : impl_(std::make_unique<Impl>()) {}
ExportLineReader::~ExportLineReader() = default;

bool ExportLineReader::KeyOf(std::string_view line, std::optional<Key>* key) {
  element root;
  if (impl_->parser.parse(line.data(), line.size()).get(root) != simdjson::SUCCESS) return false;
  if (root.type() != element_type::OBJECT) return false;
  element id, module_id;
  bool has_id = false;
  bool has_module = false;
  for (auto field : object(root)) {
    if (field.key == "id") {
      if (has_id) return false;
      has_id = true;
      id = field.value;
    } else if (field.key == "moduleId") {
      if (has_module) return false;
      has_module = true;
      module_id = field.value;
    }
  }
  bool is_module = false;
  return ReadKey(has_id ? &id : nullptr, has_module ? &module_id : nullptr, key, &is_module);
}

bool ExportLineReader::FullWrite(std::string_view line, const Stamp& stamp, bool keys_excluded,
                                 std::optional<Key>* key, RecordState* delta) {
  // Escapes are where JSON parsers differ most (surrogates, \u0000 in names): the exact path's.
  if (line.find('\\') != std::string_view::npos) return false;
  element root;
  if (impl_->parser.parse(line.data(), line.size()).get(root) != simdjson::SUCCESS) return false;
  if (root.type() != element_type::OBJECT) return false;
  if (HasDuplicateNames(root)) return false;

  // Every member is looked at once; the ones the document does not use are only parsed.
  Fields f;
  element values[16];
  size_t used = 0;
  for (auto field : object(root)) {
    const element** slot = nullptr;
    std::string_view k = field.key;
    if (k == "id") slot = &f.id;
    else if (k == "moduleId") slot = &f.module_id;
    else if (k == "eTag") slot = &f.etag;
    else if (k == "twinETag") slot = &f.twin_etag;
    else if (k == "importMode") slot = &f.import_mode;
    else if (k == "status") slot = &f.status;
    else if (k == "statusReason") slot = &f.status_reason;
    else if (k == "authentication") slot = &f.authentication;
    else if (k == "capabilities") slot = &f.capabilities;
    else if (k == "deviceScope") slot = &f.device_scope;
    else if (k == "parentScopes") slot = &f.parent_scopes;
    else if (k == "tags") slot = &f.tags;
    else if (k == "properties") slot = &f.properties;
    if (slot == nullptr) continue;
    values[used] = field.value;
    *slot = &values[used++];
  }

  // The key (MakeKey).
  bool is_module = false;
  if (!ReadKey(f.id, f.module_id, key, &is_module)) return false;

  std::string_view text;
  if (!OptionalString(f.etag, &text) || !OptionalString(f.twin_etag, &text)) return false;
  if (!OptionalString(f.import_mode, &text)) return false;
  if (f.import_mode != nullptr && !IsNull(*f.import_mode) && !ParseImportMode(text).ok()) {
    return false;
  }

  CellWriter& w = impl_->writer;
  std::string& scratch = impl_->scratch;
  w.Reset(stamp);
  // The cells go out in path order (fields and members sorted, depth first: the separator sorts
  // below every byte a key may hold), so the state is built without a sort.
  w.Value(kObjectMarker);  // the record exists

  // authentication: unknown when null or absent (left alone).
  if (f.authentication != nullptr && !IsNull(*f.authentication)) {
    if (!WriteAuthentication(*f.authentication, keys_excluded, &w)) return false;
  }

  if (!is_module) {
    {
      const size_t mark = w.Enter("capabilities");
      w.Cover();
      if (f.capabilities != nullptr && !IsNull(*f.capabilities)) {
        if (f.capabilities->type() != element_type::OBJECT) return false;
        w.Value(kObjectMarker);
        for (auto field : object(*f.capabilities)) {
          if (field.key != "iotEdge" || IsNull(field.value)) continue;
          if (field.value.type() != element_type::BOOL) return false;
          const size_t inner = w.Enter("iotEdge");
          w.Value(field.value.get_bool().value_unsafe() ? "true" : "false");
          w.Leave(inner);
        }
      }
      w.Leave(mark);
    }
    {
      if (!OptionalString(f.device_scope, &text)) return false;
      const size_t mark = w.Enter("deviceScope");
      w.Cover();
      if (!text.empty()) {
        if (!ScopeDeviceId(text).ok()) return false;
        w.QuotedValue(text);
      }
      w.Leave(mark);
    }
    {
      const size_t mark = w.Enter("parentScopes");
      w.Cover();
      if (f.parent_scopes != nullptr && !IsNull(*f.parent_scopes)) {
        if (f.parent_scopes->type() != element_type::ARRAY) return false;
        scratch.assign("[");
        bool first = true;
        for (element p : array(*f.parent_scopes)) {
          if (p.type() != element_type::STRING) return false;
          std::string_view scope = p.get_string().value_unsafe();
          if (!ScopeDeviceId(scope).ok()) return false;
          if (!first) scratch.push_back(',');
          first = false;
          scratch.push_back('"');
          scratch.append(scope);
          scratch.push_back('"');
        }
        scratch.push_back(']');
        if (!first) w.Value(scratch);
      }
      w.Leave(mark);
    }
  }

  {
    element sections[2];
    bool present[2] = {false, false};
    if (f.properties != nullptr && !IsNull(*f.properties)) {
      if (f.properties->type() != element_type::OBJECT) return false;
      for (auto field : object(*f.properties)) {
        const int which = field.key == "desired" ? 0 : field.key == "reported" ? 1 : -1;
        if (which < 0 || IsNull(field.value)) continue;
        sections[which] = field.value;
        present[which] = true;
      }
    }
    const size_t mark = w.Enter("properties");
    for (int s = 0; s < 2; ++s) {
      const size_t inner = w.Enter(s == 0 ? "desired" : "reported");
      if (present[s]) {
        if (!SetSection(sections[s], true, kMaxPropertiesBytes, &w, &scratch)) return false;
      } else {
        w.Cover();
      }
      w.Leave(inner);
    }
    w.Leave(mark);
  }

  // status, statusReason.
  if (!OptionalString(f.status, &text)) return false;
  {
    const size_t mark = w.Enter("status");
    w.Cover();
    if (f.status != nullptr && !IsNull(*f.status)) {
      std::optional<std::string> s = NormalizeStatus(text);
      if (!s) return false;
      w.QuotedValue(*s);
    }
    w.Leave(mark);
  }
  {
    if (!OptionalString(f.status_reason, &text)) return false;
    if (CodePoints(text) > kMaxStatusReasonChars) return false;
    const size_t mark = w.Enter("statusReason");
    w.Cover();
    if (!text.empty()) w.QuotedValue(text);
    w.Leave(mark);
  }


  {
    const size_t mark = w.Enter("tags");
    if (f.tags != nullptr && !IsNull(*f.tags)) {
      if (!SetSection(*f.tags, false, kMaxTagsBytes, &w, &scratch)) return false;
    } else {
      w.Cover();
    }
    w.Leave(mark);
  }

  *delta = w.Take();
  return true;
}

}  // namespace reconcile::iothub
