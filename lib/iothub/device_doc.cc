#include "lib/iothub/device_doc.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "lib/core/hash.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/operations.h"
#include "reconcile/path.h"

namespace reconcile::iothub {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t CodePoints(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

const json* Member(const json& obj, std::string_view name) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

bool IsNullOrAbsent(const json* v) { return v == nullptr || v->is_null(); }

Invalid WrongType(std::string_view field, std::string_view want) {
  return {RejectReason::kWrongType, "'" + std::string(field) + "' must be " + std::string(want)};
}

// IoT Hub's integer range in tags and properties: -2^52 .. 2^52-1.
constexpr int64_t kMinTwinInteger = -(int64_t{1} << 52);
constexpr int64_t kMaxTwinInteger = (int64_t{1} << 52) - 1;

bool IntegerInTwinRange(const json& node) {
  if (node.is_number_unsigned()) return node.get<uint64_t>() <= uint64_t{kMaxTwinInteger};
  if (node.is_number_integer()) {
    const int64_t v = node.get<int64_t>();
    return v >= kMinTwinInteger && v <= kMaxTwinInteger;
  }
  return true;
}

// C1 control characters (U+0080..U+009F, UTF-8 C2 80..C2 9F): IoT Hub forbids them in twin keys
// like the C0 ones, which ValidateSegment already refuses.
bool HasC1Control(std::string_view key) {
  for (size_t i = 0; i + 1 < key.size(); ++i) {
    const auto lead = static_cast<unsigned char>(key[i]);
    const auto next = static_cast<unsigned char>(key[i + 1]);
    if (lead == 0xC2 && next >= 0x80 && next <= 0x9F) return true;
  }
  return false;
}

// Walks a section below its top level; `depth` is the depth of `node`'s members.
std::optional<Invalid> WalkSection(const json& node, std::string_view section, std::string& path,
                                   size_t depth) {
  if (node.is_array()) {
    for (const json& e : node) {
      if (auto bad = WalkSection(e, section, path, depth)) return bad;
    }
    return std::nullopt;
  }
  if (node.is_string()) {
    if (node.get_ref<const std::string&>().size() > kMaxStringValueBytes) {
      return Invalid{RejectReason::kStringTooLong,
                     "string at '" + std::string(section) + path + "' is longer than 4096 bytes"};
    }
    return std::nullopt;
  }
  if (!IntegerInTwinRange(node)) {
    return Invalid{RejectReason::kNumberOutOfRange,
                   "integer at '" + std::string(section) + path +
                       "' is outside IoT Hub's range -4503599627370496..4503599627370495"};
  }
  if (!node.is_object()) return std::nullopt;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string& key = it.key();
    if (depth == 1 && (key == "$metadata" || key == "$version")) continue;
    Status s = ValidateSegment(key, PathRules::kTwin);
    if (!s.ok()) {
      return Invalid{RejectReason::kInvalidTwinKey,
                     "in '" + std::string(section) + path + "': " + s.message()};
    }
    if (HasC1Control(key)) {
      return Invalid{RejectReason::kInvalidTwinKey,
                     "in '" + std::string(section) + path + "': a key has a C1 control character"};
    }
    if (depth > kMaxSectionDepth) {
      return Invalid{RejectReason::kTooDeep, "'" + std::string(section) + path + "/" + key +
                                                 "' is nested deeper than 10 levels"};
    }
    const size_t len = path.size();
    path += '/';
    path += key;
    if (auto bad = WalkSection(it.value(), section, path, depth + 1)) return bad;
    path.resize(len);
  }
  return std::nullopt;
}

void StripNullsInPlace(json& value) {
  if (!value.is_object()) return;
  for (auto it = value.begin(); it != value.end();) {
    if (it->is_null()) {
      it = value.erase(it);
    } else {
      StripNullsInPlace(*it);
      ++it;
    }
  }
}

// A string member that may be null/absent; kWrongType otherwise.
std::optional<Invalid> OptionalString(const json& obj, std::string_view name,
                                      std::optional<std::string>* out) {
  const json* v = Member(obj, name);
  out->reset();
  if (IsNullOrAbsent(v)) return std::nullopt;
  if (!v->is_string()) return WrongType(name, "a string");
  *out = v->get<std::string>();
  return std::nullopt;
}

Result<Path> MakePath(const std::vector<std::string>& segments) {
  return Path::FromSegments(segments, PathRules::kTwin);
}

Status AddSet(const std::vector<std::string>& segments, const json& value, const Stamp& stamp,
              RecordState* out) {
  Result<Path> path = MakePath(segments);
  if (!path.ok()) return path.status();
  Result<RecordState> d = SetDelta(*path, value, stamp, PathRules::kTwin);
  if (!d.ok()) return d.status();
  out->Join(std::move(*d));
  return Status::Ok();
}

Status AddRemove(const std::vector<std::string>& segments, const Stamp& stamp, RecordState* out) {
  Result<Path> path = MakePath(segments);
  if (!path.ok()) return path.status();
  out->Join(RemoveDelta(*path, stamp));
  return Status::Ok();
}

Status AddSetOrRemove(const std::vector<std::string>& segments, const json* value,
                      const Stamp& stamp, RecordState* out) {
  if (value == nullptr || value->is_null()) return AddRemove(segments, stamp, out);
  return AddSet(segments, *value, stamp, out);
}

bool IsSkipped(const std::vector<std::string>& path, bool keys_excluded) {
  return keys_excluded && path.size() == 2 && path[0] == "authentication" &&
         path[1] == "symmetricKey";
}

Status Diff(std::vector<std::string>& path, const json* base, const json* snap, const Stamp& stamp,
            bool keys_excluded, RecordState* out) {
  if (IsSkipped(path, keys_excluded)) return Status::Ok();
  const bool base_obj = base != nullptr && base->is_object();
  const bool snap_obj = snap != nullptr && snap->is_object();
  if (base_obj && snap_obj) {
    std::vector<std::string> names;
    for (auto it = base->begin(); it != base->end(); ++it) names.push_back(it.key());
    for (auto it = snap->begin(); it != snap->end(); ++it) {
      if (!base->contains(it.key())) names.push_back(it.key());
    }
    for (const std::string& name : names) {
      path.push_back(name);
      Status s = Diff(path, Member(*base, name), Member(*snap, name), stamp, keys_excluded, out);
      path.pop_back();
      RECONCILE_RETURN_IF_ERROR(s);
    }
    return Status::Ok();
  }
  const bool base_absent = IsNullOrAbsent(base);
  const bool snap_absent = IsNullOrAbsent(snap);
  if (base_absent && snap_absent) return Status::Ok();
  if (!base_absent && !snap_absent && *base == *snap) return Status::Ok();
  return AddSetOrRemove(path, snap, stamp, out);
}

// How many object members the JSON text names: every string followed by ':'. A linear scan,
// cheap next to the parse; only run on text that parsed.
size_t MembersInText(std::string_view text) {
  size_t n = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '"') {
      ++i;
      continue;
    }
    ++i;
    while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
    ++i;
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) {
      ++i;
    }
    if (i < text.size() && text[i] == ':') ++n;
  }
  return n;
}

size_t MembersInValue(const json& value) {
  size_t n = 0;
  if (value.is_object()) {
    n += value.size();
    for (const json& v : value) n += MembersInValue(v);
  } else if (value.is_array()) {
    for (const json& v : value) n += MembersInValue(v);
  }
  return n;
}

// The first name that appears twice in one object of `text` (which parsed). Slow path: only
// called once a duplicate is known to exist.
std::string FirstDuplicateName(std::string_view text) {
  std::vector<std::vector<std::string>> open;
  std::string found;
  json::parser_callback_t find = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open.emplace_back();
    if (event == json::parse_event_t::object_end && !open.empty()) open.pop_back();
    if (event == json::parse_event_t::key && found.empty() && !open.empty()) {
      const std::string& name = parsed.get_ref<const std::string&>();
      std::vector<std::string>& names = open.back();
      if (std::find(names.begin(), names.end(), name) != names.end()) found = name;
      names.push_back(name);
    }
    return true;
  };
  const json parsed = json::parse(text.begin(), text.end(), find, /*allow_exceptions=*/false);
  (void)parsed;
  return found;
}

}  // namespace

std::optional<Invalid> ParseObject(std::string_view text, json* out) {
  *out = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    return Invalid{RejectReason::kInvalidJson, "the line is not valid JSON"};
  }
  if (!out->is_object()) {
    return Invalid{RejectReason::kNotAnObject, "the line is not a JSON object"};
  }
  // The parser keeps the last of two equal names in one object: the line says two things and
  // which one the hub meant is unknown, so it is rejected rather than read one way.
  if (MembersInText(text) != MembersInValue(*out)) {
    std::string name = FirstDuplicateName(text);
    if (name.size() > 64) name = name.substr(0, 64) + "...";
    return Invalid{RejectReason::kInvalidJson,
                   "the name '" + name + "' appears twice in one object"};
  }
  return std::nullopt;
}

std::optional<std::string> NormalizeStatus(std::string_view text) {
  std::string l = Lower(text);
  if (l == "enabled" || l == "disabled") return l;
  return std::nullopt;
}

std::optional<std::string> NormalizeAuthType(std::string_view text) {
  std::string l = Lower(text);
  if (l == "sas") return std::string("sas");
  if (l == "selfsigned") return std::string("selfSigned");
  if (l == "certificateauthority") return std::string("certificateAuthority");
  if (l == "none") return std::string("none");
  return std::nullopt;
}

std::optional<Invalid> ValidateSection(const json& section, std::string_view name,
                                       size_t max_bytes) {
  if (!section.is_object()) return WrongType(name, "an object");
  std::string path;
  if (auto bad = WalkSection(section, name, path, 1)) return bad;
  json bare = StripSectionMeta(section);
  const size_t size = CanonicalJson(bare).size();
  if (size > max_bytes) {
    return Invalid{RejectReason::kSectionTooLarge, "'" + std::string(name) + "' is " +
                                                       std::to_string(size) + " bytes (at most " +
                                                       std::to_string(max_bytes) + ")"};
  }
  return std::nullopt;
}

json StripSectionMeta(const json& section) {
  json out = section;
  if (out.is_object()) {
    out.erase("$metadata");
    out.erase("$version");
  }
  return out;
}

json StripNulls(const json& value) {
  json out = value;
  StripNullsInPlace(out);
  return out;
}

std::optional<Invalid> CheckStatusReason(const json& value) {
  if (!value.is_string()) return WrongType("statusReason", "a string");
  if (CodePoints(value.get_ref<const std::string&>()) > kMaxStatusReasonChars) {
    return Invalid{RejectReason::kStatusReasonTooLong,
                   "'statusReason' is longer than 128 characters"};
  }
  return std::nullopt;
}

std::optional<Invalid> CheckScope(std::string_view scope, std::string_view field) {
  Result<std::string> id = ScopeDeviceId(scope);
  if (!id.ok()) {
    return Invalid{
        RejectReason::kInvalidScope,
        "'" + std::string(field) + "' is not an edge scope (" + id.status().message() + ")"};
  }
  return std::nullopt;
}

std::optional<Invalid> MakeKey(const json* device_id, const json* module_id,
                               std::string_view id_field, std::string_view module_field,
                               std::optional<Key>* out) {
  if (IsNullOrAbsent(device_id)) {
    return Invalid{RejectReason::kMissingField, "'" + std::string(id_field) + "' is missing"};
  }
  if (!device_id->is_string()) return WrongType(id_field, "a string");
  const std::string& id = device_id->get_ref<const std::string&>();
  Status s = ValidateDeviceId(id);
  if (!s.ok()) return Invalid{RejectReason::kInvalidDeviceId, s.message()};
  if (IsNullOrAbsent(module_id) ||
      (module_id->is_string() && module_id->get_ref<const std::string&>().empty())) {
    Result<Key> k = Key::Device(id);
    if (!k.ok()) return Invalid{RejectReason::kInvalidDeviceId, k.status().message()};
    *out = std::move(*k);
    return std::nullopt;
  }
  if (!module_id->is_string()) return WrongType(module_field, "a string");
  const std::string& mid = module_id->get_ref<const std::string&>();
  s = ValidateModuleId(mid);
  if (!s.ok()) return Invalid{RejectReason::kInvalidModuleId, s.message()};
  Result<Key> k = Key::Module(id, mid);
  if (!k.ok()) return Invalid{RejectReason::kInvalidModuleId, k.status().message()};
  *out = std::move(*k);
  return std::nullopt;
}

std::optional<Invalid> ParseTimestamp(const json& value, std::string_view field, Hlc* out) {
  if (value.is_string()) {
    Result<Hlc> h = ParseIso8601(value.get_ref<const std::string&>());
    if (!h.ok()) {
      return Invalid{RejectReason::kInvalidTimestamp,
                     "'" + std::string(field) + "': " + h.status().message()};
    }
    // The epoch itself is refused as it is in milliseconds below: hlc 0 means "no stamp known",
    // so a write stamped there could not be exported with its time and read back.
    if (*h == 0) {
      return Invalid{RejectReason::kInvalidTimestamp,
                     "'" + std::string(field) + "' is the epoch itself, which stamps nothing"};
    }
    *out = *h;
    return std::nullopt;
  }
  if (value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() > 0)) {
    uint64_t ms = value.get<uint64_t>();
    if (ms == 0 || ms > kHlcMaxMillis) {
      return Invalid{RejectReason::kInvalidTimestamp,
                     "'" + std::string(field) + "' is out of range"};
    }
    *out = MakeHlc(ms, 0);
    return std::nullopt;
  }
  return Invalid{
      RejectReason::kInvalidTimestamp,
      "'" + std::string(field) + "' is neither an ISO-8601 string nor epoch milliseconds"};
}

std::optional<Invalid> NormalizeAuthentication(const json& value, json* out) {
  if (!value.is_object()) return WrongType("authentication", "an object or null");
  json auth = json::object();
  const json* type = Member(value, "type");
  if (!IsNullOrAbsent(type)) {
    if (!type->is_string()) return WrongType("authentication.type", "a string");
    std::optional<std::string> t = NormalizeAuthType(type->get_ref<const std::string&>());
    if (!t) {
      return Invalid{RejectReason::kInvalidEnum,
                     "'authentication.type' must be sas, selfSigned, certificateAuthority or none"};
    }
    auth["type"] = *t;
  }
  struct Sub {
    const char* name;
    const char* first;
    const char* second;
  };
  for (const Sub& sub : {Sub{"symmetricKey", "primaryKey", "secondaryKey"},
                         Sub{"x509Thumbprint", "primaryThumbprint", "secondaryThumbprint"}}) {
    const json* obj = Member(value, sub.name);
    if (IsNullOrAbsent(obj)) continue;
    std::string field = std::string("authentication.") + sub.name;
    if (!obj->is_object()) return WrongType(field, "an object or null");
    json kept = json::object();
    for (const char* member : {sub.first, sub.second}) {
      const json* v = Member(*obj, member);
      if (IsNullOrAbsent(v)) continue;
      if (!v->is_string()) return WrongType(field + "." + member, "a string or null");
      if (v->get_ref<const std::string&>().empty()) continue;
      kept[member] = *v;
    }
    if (!kept.empty()) auth[sub.name] = std::move(kept);
  }
  *out = std::move(auth);
  return std::nullopt;
}

const std::vector<std::string>& RecordFields(bool is_module) {
  static const std::vector<std::string> kDevice = {"authentication", "capabilities", "deviceScope",
                                                   "parentScopes",   "properties",   "status",
                                                   "statusReason",   "tags"};
  static const std::vector<std::string> kModule = {"authentication", "properties", "status",
                                                   "statusReason", "tags"};
  return is_module ? kModule : kDevice;
}

std::optional<Invalid> ExportDeviceFromJson(const json& obj, ExportDevice* out) {
  *out = ExportDevice();
  if (auto bad = MakeKey(Member(obj, "id"), Member(obj, "moduleId"), "id", "moduleId", &out->key)) {
    return bad;
  }
  const bool is_module = out->key->kind() == KeyKind::kModule;
  json& doc = out->doc;

  std::optional<std::string> text;
  if (auto bad = OptionalString(obj, "eTag", &text)) return bad;
  if (text) out->etag = *text;
  if (auto bad = OptionalString(obj, "twinETag", &text)) return bad;
  if (text) out->twin_etag = *text;
  if (auto bad = OptionalString(obj, "importMode", &text)) return bad;
  if (text && !ParseImportMode(*text).ok()) {
    return Invalid{RejectReason::kInvalidEnum, "'importMode' is not a known import mode"};
  }

  if (auto bad = OptionalString(obj, "status", &text)) return bad;
  if (text) {
    std::optional<std::string> s = NormalizeStatus(*text);
    if (!s) return Invalid{RejectReason::kInvalidEnum, "'status' must be enabled or disabled"};
    doc["status"] = *s;
  }
  if (const json* reason = Member(obj, "statusReason"); !IsNullOrAbsent(reason)) {
    if (auto bad = CheckStatusReason(*reason)) return bad;
    if (!reason->get_ref<const std::string&>().empty()) doc["statusReason"] = *reason;
  }

  const json* auth = Member(obj, "authentication");
  if (IsNullOrAbsent(auth)) {
    out->auth_unknown = true;
  } else {
    json normalized;
    if (auto bad = NormalizeAuthentication(*auth, &normalized)) return bad;
    doc["authentication"] = std::move(normalized);
  }

  if (!is_module) {
    if (const json* caps = Member(obj, "capabilities"); !IsNullOrAbsent(caps)) {
      if (!caps->is_object()) return WrongType("capabilities", "an object or null");
      json kept = json::object();
      if (const json* edge = Member(*caps, "iotEdge"); !IsNullOrAbsent(edge)) {
        if (!edge->is_boolean()) return WrongType("capabilities.iotEdge", "a boolean");
        kept["iotEdge"] = *edge;
      }
      doc["capabilities"] = std::move(kept);
    }
    if (auto bad = OptionalString(obj, "deviceScope", &text)) return bad;
    if (text && !text->empty()) {
      if (auto bad2 = CheckScope(*text, "deviceScope")) return bad2;
      doc["deviceScope"] = *text;
    }
    if (const json* parents = Member(obj, "parentScopes"); !IsNullOrAbsent(parents)) {
      if (!parents->is_array()) return WrongType("parentScopes", "an array of strings");
      for (const json& p : *parents) {
        if (!p.is_string()) return WrongType("parentScopes", "an array of strings");
        if (auto bad = CheckScope(p.get_ref<const std::string&>(), "parentScopes")) return bad;
      }
      if (!parents->empty()) doc["parentScopes"] = *parents;
    }
  }

  if (const json* tags = Member(obj, "tags"); !IsNullOrAbsent(tags)) {
    if (auto bad = ValidateSection(*tags, "tags", kMaxTagsBytes)) return bad;
    doc["tags"] = StripNulls(*tags);
  }
  if (const json* props = Member(obj, "properties"); !IsNullOrAbsent(props)) {
    if (!props->is_object()) return WrongType("properties", "an object or null");
    json kept = json::object();
    for (const char* section : {"desired", "reported"}) {
      const json* s = Member(*props, section);
      if (IsNullOrAbsent(s)) continue;
      std::string name = std::string("properties.") + section;
      if (auto bad = ValidateSection(*s, name, kMaxPropertiesBytes)) return bad;
      kept[section] = StripNulls(StripSectionMeta(*s));
    }
    if (!kept.empty()) doc["properties"] = std::move(kept);
  }
  return std::nullopt;
}

std::optional<Invalid> ParseExportDevice(std::string_view text, ExportDevice* out) {
  json obj;
  if (auto bad = ParseObject(text, &obj)) return bad;
  return ExportDeviceFromJson(obj, out);
}

Result<RecordState> FullWriteDelta(const ExportDevice& dev, const Stamp& stamp,
                                   bool keys_excluded) {
  RecordState out;
  out.AddValue(Path(), stamp, std::string(kObjectMarker));
  const bool is_module = dev.key->kind() == KeyKind::kModule;
  for (const std::string& field : RecordFields(is_module)) {
    const json* value = Member(dev.doc, field);
    if (field == "authentication") {
      if (dev.auth_unknown) continue;
      if (keys_excluded) {
        RECONCILE_RETURN_IF_ERROR(
            AddSetOrRemove({field, "type"}, value ? Member(*value, "type") : nullptr, stamp, &out));
        RECONCILE_RETURN_IF_ERROR(AddSetOrRemove({field, "x509Thumbprint"},
                                                 value ? Member(*value, "x509Thumbprint") : nullptr,
                                                 stamp, &out));
        continue;
      }
    }
    if (field == "properties") {
      for (const char* section : {"desired", "reported"}) {
        const json* s = value ? Member(*value, section) : nullptr;
        RECONCILE_RETURN_IF_ERROR(AddSetOrRemove({field, section}, s, stamp, &out));
      }
      continue;
    }
    RECONCILE_RETURN_IF_ERROR(AddSetOrRemove({field}, value, stamp, &out));
  }
  return out;
}

Result<RecordState> DiffDelta(const ExportDevice& base, const ExportDevice& snap,
                              const Stamp& stamp, bool keys_excluded) {
  RecordState out;
  const bool is_module = snap.key->kind() == KeyKind::kModule;
  std::vector<std::string> path;
  for (const std::string& field : RecordFields(is_module)) {
    if (field == "authentication" && snap.auth_unknown) continue;
    path.assign(1, field);
    RECONCILE_RETURN_IF_ERROR(
        Diff(path, Member(base.doc, field), Member(snap.doc, field), stamp, keys_excluded, &out));
  }
  return out;
}

std::optional<Invalid> WriteWithMetadata(const json& section, const json* meta, const Path& at,
                                         Hlc fallback, const SiteId& site, bool nulls_cover,
                                         RecordState* out, Hlc* max_seen) {
  for (auto it = section.begin(); it != section.end(); ++it) {
    const std::string& name = it.key();
    if (!name.empty() && name[0] == '$') continue;  // $metadata, $version (validated before)
    const json* child_meta = nullptr;
    if (meta != nullptr && meta->is_object()) {
      auto m = meta->find(name);
      if (m != meta->end() && m->is_object()) child_meta = &*m;
    }
    Hlc hlc = fallback;
    if (child_meta != nullptr) {
      if (const json* lu = Member(*child_meta, "$lastUpdated"); !IsNullOrAbsent(lu)) {
        if (auto bad = ParseTimestamp(*lu, "$metadata.$lastUpdated", &hlc)) return bad;
      }
    }
    if (max_seen != nullptr) *max_seen = std::max(*max_seen, hlc);
    const Path child = at.Child(name);
    const Stamp stamp{hlc, site};
    const json& v = it.value();
    if (v.is_object()) {
      out->AddValue(child, stamp, std::string(kObjectMarker));
      if (auto bad =
              WriteWithMetadata(v, child_meta, child, hlc, site, nulls_cover, out, max_seen)) {
        return bad;
      }
    } else if (v.is_null()) {
      if (nulls_cover) out->AddCover(child, stamp);
    } else {
      out->AddValue(child, stamp, CanonicalJson(v));
    }
  }
  return std::nullopt;
}

std::string FormatDuration(uint64_t ms) {
  const uint64_t hours = ms / 3'600'000;
  const uint64_t minutes = ms / 60'000 % 60;
  const uint64_t millis = ms % 60'000;
  std::string seconds = std::to_string(millis / 1000);
  if (millis % 1000 != 0) {
    std::string frac = std::to_string(1000 + millis % 1000).substr(1);
    while (frac.back() == '0') frac.pop_back();
    seconds += "." + frac;
  }
  std::string out;
  if (hours > 0) out += std::to_string(hours) + "h ";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m ";
  return out + seconds + "s";
}

namespace {

uint64_t GuardNowMs(const ClockGuard& guard) {
  if (guard.now_ms) return guard.now_ms();
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

// How far `hlc` is beyond the guard's limit: 0 when within it (or the guard is off), else its
// distance ahead of the clock in milliseconds.
uint64_t AheadBeyondLimit(const ClockGuard& guard, Hlc hlc) {
  if (guard.max_offset_ms == 0) return 0;
  const uint64_t now = GuardNowMs(guard);
  const uint64_t at = HlcMillis(hlc);
  if (at <= now || at - now <= guard.max_offset_ms) return 0;
  return at - now;
}

std::string ClockName(const ClockGuard& guard) {
  return guard.ingesting_site.empty() ? std::string("this site's clock")
                                      : "the clock of '" + guard.ingesting_site + "'";
}

}  // namespace

std::optional<Invalid> CheckClock(const ClockGuard& guard, const RecordState& delta,
                                  std::string_view site) {
  if (guard.max_offset_ms == 0) return std::nullopt;
  const Hlc newest = delta.MaxHlc();
  const uint64_t ahead = AheadBeyondLimit(guard, newest);
  if (ahead == 0) return std::nullopt;
  return Invalid{RejectReason::kClockSkew,
                 "site '" + std::string(site) + "' stamped " + FormatIso8601(newest) + ", " +
                     FormatDuration(ahead) + " ahead of " + ClockName(guard) + " (max offset " +
                     FormatDuration(guard.max_offset_ms) + ")"};
}

Status CheckObservedAt(const ClockGuard& guard, Hlc observed_at, std::string_view what) {
  const uint64_t ahead = AheadBeyondLimit(guard, observed_at);
  if (ahead == 0) return Status::Ok();
  return Status::InvalidInput(std::string(what) + ": observed-at " + FormatIso8601(observed_at) +
                              " is " + FormatDuration(ahead) + " ahead of " + ClockName(guard) +
                              " (max offset " + FormatDuration(guard.max_offset_ms) + ")");
}

Hash128 HashText(std::string_view text) {
  const internal::HashPair h =
      internal::Hash64Pair(text, 0x9e3779b97f4a7c15ULL, 0x2545f4914f6cdd1dULL);
  return {h.a, h.b};
}

Hash128 HashExportDevice(const ExportDevice& dev) {
  std::string text = CanonicalJson(dev.doc);
  if (dev.auth_unknown) text += "\n?auth";
  return HashText(text);
}

Status RejectRepeatedKey(LineReader& reader, std::string_view encoded_key, uint64_t first_line,
                         uint64_t line, uint64_t offset, RejectSink* rejects, uint64_t* rejected) {
  std::string text;
  RECONCILE_RETURN_IF_ERROR(reader.ReadLineAt(offset, &text));
  Result<Key> key = Key::Decode(encoded_key);
  if (!key.ok()) return key.status();
  std::optional<Invalid> invalid =
      Invalid{RejectReason::kDuplicateRecord, key->ToString() + " appears again (first at line " +
                                                  std::to_string(first_line) + ")"};
  return SendInvalid(reader, Line{line, offset, text}, invalid, rejects, nullptr, rejected,
                     nullptr);
}

}  // namespace reconcile::iothub
