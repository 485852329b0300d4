// Internal: the record document of IoT Hub devices and modules — parsing, validation against the
// hub's limits, normalization, and the deltas that write a document (whole or as a 3-way diff).
// Shared by the readers, the writers and the plan builder. See reconcile/iothub.h for the document.
#ifndef RECONCILE_LIB_IOTHUB_DEVICE_DOC_H_
#define RECONCILE_LIB_IOTHUB_DEVICE_DOC_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/iothub.h"
#include "reconcile/key.h"
#include "reconcile/line_reader.h"
#include "reconcile/record.h"
#include "reconcile/reject.h"
#include "reconcile/stamp.h"

namespace reconcile::iothub {

// The member `name` of `obj` when `obj` is an object and the member is present and not null;
// nullptr otherwise.
inline const nlohmann::json* PresentMember(const nlohmann::json& obj, std::string_view name) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// The IoT Edge system modules ($edgeAgent, $edgeHub): the hub manages them, plans skip them.
inline bool IsSystemModule(const Key& key) {
  return key.kind() == KeyKind::kModule &&
         (key.module_id() == "$edgeAgent" || key.module_id() == "$edgeHub");
}


using nlohmann::json;

// IoT Hub limits (canonical JSON bytes for sections).
constexpr size_t kMaxTagsBytes = 8 * 1024;
constexpr size_t kMaxPropertiesBytes = 32 * 1024;
constexpr size_t kMaxStringValueBytes = 4 * 1024;
constexpr size_t kMaxStatusReasonChars = 128;
constexpr size_t kMaxSectionDepth = 10;
constexpr std::string_view kScopePrefix = "ms-azure-iot-edge://";

// Why a line cannot be used.
struct Invalid {
  RejectReason reason;
  std::string detail;
};

// Parses `text` as a JSON object.
std::optional<Invalid> ParseObject(std::string_view text, json* out);

// "enabled"/"disabled" in any case -> lowerCamel; nullopt otherwise.
std::optional<std::string> NormalizeStatus(std::string_view text);
// sas | selfSigned | certificateAuthority | none, any case -> lowerCamel; nullopt otherwise.
std::optional<std::string> NormalizeAuthType(std::string_view text);

// Validates a tags/desired/reported section: an object whose keys follow the twin key rules,
// nested at most 10 deep, string values at most 4 KB, canonical size at most `max_bytes`.
// Members named "$metadata" and "$version" at the top are ignored (call StripSectionMeta to drop
// them). Nulls are allowed (patches).
std::optional<Invalid> ValidateSection(const json& section, std::string_view name,
                                       size_t max_bytes);
// The section without its top-level "$metadata" and "$version".
json StripSectionMeta(const json& section);
// The value with every null object member removed (recursively; arrays untouched).
json StripNulls(const json& value);

// statusReason: a string of at most 128 characters (code points).
std::optional<Invalid> CheckStatusReason(const json& value);
// deviceScope / parentScopes element rules.
std::optional<Invalid> CheckScope(std::string_view scope, std::string_view field);

// A device or module key from id fields. module_id may be null/absent/empty (a device).
std::optional<Invalid> MakeKey(const json* device_id, const json* module_id,
                               std::string_view id_field, std::string_view module_field,
                               std::optional<Key>* out);

// An ISO-8601 string or a number of milliseconds since the epoch.
std::optional<Invalid> ParseTimestamp(const json& value, std::string_view field, Hlc* out);

// Normalized authentication object (type lowerCamel, null members dropped, unknown members
// dropped, empty sub-objects dropped).
std::optional<Invalid> NormalizeAuthentication(const json& value, json* out);

// One ExportImportDevice line, normalized.
struct ExportDevice {
  std::optional<Key> key;
  json doc = json::object();  // the record document
  bool auth_unknown = false;  // `authentication` was null or absent
  std::string etag;
  std::string twin_etag;
};

std::optional<Invalid> ExportDeviceFromJson(const json& obj, ExportDevice* out);
std::optional<Invalid> ParseExportDevice(std::string_view text, ExportDevice* out);

// The fields of the record document of a device / of a module, in a fixed order.
const std::vector<std::string>& RecordFields(bool is_module);

// The delta that writes the whole document at `stamp`: the existence marker and, per field, a set
// (present) or a remove (absent); unknown authentication (and symmetric keys when keys_excluded)
// are left alone.
Result<RecordState> FullWriteDelta(const ExportDevice& dev, const Stamp& stamp, bool keys_excluded);

// The delta that turns `base` into `snap` field by field (set/remove at the deepest differing
// object member); empty when they are equal. Unknown parts of `snap` are left alone.
Result<RecordState> DiffDelta(const ExportDevice& base, const ExportDevice& snap,
                              const Stamp& stamp, bool keys_excluded);

// Writes `section` below `at` as a patch whose stamps come from the mirrored `meta` object's
// "$lastUpdated" members (nearest ancestor's when missing; `fallback` at the top). Objects get
// markers; nulls become covers when nulls_cover, are skipped otherwise. *max_seen (if not null)
// is raised to every stamp used.
std::optional<Invalid> WriteWithMetadata(const json& section, const json* meta, const Path& at,
                                         Hlc fallback, const SiteId& site, bool nulls_cover,
                                         RecordState* out, Hlc* max_seen);

// A 128-bit in-memory hash (not for disk).
struct Hash128 {
  uint64_t a = 0;
  uint64_t b = 0;
  friend bool operator==(const Hash128&, const Hash128&) = default;
};
Hash128 HashText(std::string_view text);
// Hash of a normalized export device (doc and unknown flag).
Hash128 HashExportDevice(const ExportDevice& dev);

// "1h 0m 0s", "4m 59.5s", "0.25s": a duration in milliseconds for people.
std::string FormatDuration(uint64_t ms);

// The clock guard's verdict on the delta of one line written for `site`: kClockSkew, naming the
// site and the skew, when its greatest stamp is more than guard.max_offset_ms ahead of the guard's
// clock; nullopt otherwise (and always when the guard is off).
std::optional<Invalid> CheckClock(const ClockGuard& guard, const RecordState& delta,
                                  std::string_view site);
// The same for an observed-at time given to a whole read: kInvalidInput naming the skew.
Status CheckObservedAt(const ClockGuard& guard, Hlc observed_at, std::string_view what);

// Where a line found invalid goes: to `rejects`, or, when its reason is kClockSkew and
// `quarantined` is given, to `quarantine` (`rejects` when null), counted in *quarantined instead
// of *rejected. Nothing happens when `invalid` is empty.
inline Status SendInvalid(const LineReader& reader, const Line& line,
                          std::optional<Invalid>& invalid, RejectSink* rejects,
                          RejectSink* quarantine, uint64_t* rejected, uint64_t* quarantined) {
  if (!invalid) return Status::Ok();
  const bool held = invalid->reason == RejectReason::kClockSkew && quarantined != nullptr;
  ++*(held ? quarantined : rejected);
  RejectSink* to = held && quarantine != nullptr ? quarantine : rejects;
  if (to == nullptr) return Status::Ok();
  Reject r{reader.shown_as(), line.number, invalid->reason, std::move(invalid->detail)};
  return to->Add(r, line.text);
}

// Rejects the line at `offset` (line number `line`) of `reader`, whose record key (encoded) an
// earlier line, `first_line`, already had: the first line wins. For indexes that find repeats
// only once they are sorted (DiskIndex): the line is read again to go into the rejects file.
Status RejectRepeatedKey(LineReader& reader, std::string_view encoded_key, uint64_t first_line,
                         uint64_t line, uint64_t offset, RejectSink* rejects, uint64_t* rejected);

// Reads every line of `reader`, calling fn(line, &invalid) for each; an `invalid` set by fn is
// sent to `rejects` as a reject of that line, or, when its reason is kClockSkew, to `quarantine`
// (`rejects` when null) and counted in *quarantined instead. Returns fn's first non-OK status or a
// sink/I/O error; counts into *rejected.
template <typename Fn>
Status ForEachLine(LineReader& reader, RejectSink* rejects, RejectSink* quarantine,
                   uint64_t* rejected, uint64_t* quarantined, Fn&& fn) {
  Line line;
  const uint64_t before = reader.stats().rejected;
  while (true) {
    Result<bool> got = reader.Next(&line, rejects);
    if (!got.ok()) return got.status();
    if (!*got) break;
    std::optional<Invalid> invalid;
    RECONCILE_RETURN_IF_ERROR(fn(line, &invalid));
    RECONCILE_RETURN_IF_ERROR(
        SendInvalid(reader, line, invalid, rejects, quarantine, rejected, quarantined));
  }
  *rejected += reader.stats().rejected - before;
  return Status::Ok();
}

template <typename Fn>
Status ForEachLine(LineReader& reader, RejectSink* rejects, uint64_t* rejected, Fn&& fn) {
  return ForEachLine(reader, rejects, nullptr, rejected, nullptr, std::forward<Fn>(fn));
}

}  // namespace reconcile::iothub

#endif  // RECONCILE_LIB_IOTHUB_DEVICE_DOC_H_
