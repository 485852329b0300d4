// Twin documents (GET twin / query output) -> per-leaf stamped patches.
#include "lib/iothub/device_doc.h"
#include "reconcile/iothub.h"
#include "reconcile/operations.h"

namespace reconcile {
namespace {

using iothub::Invalid;
using iothub::json;

// Builds the delta of one twin; returns the reject reason when the twin is invalid.
std::optional<Invalid> TwinDelta(const json& twin, const TwinReadOptions& options,
                                 const SiteId& site, std::optional<Key>* key, RecordState* out) {
  if (auto bad = iothub::MakeKey(iothub::PresentMember(twin, "deviceId"), iothub::PresentMember(twin, "moduleId"), "deviceId",
                                 "moduleId", key)) {
    return bad;
  }
  Hlc max_seen = 0;
  RecordState delta;

  // properties.desired / reported, leaf by leaf with their $metadata stamps.
  if (const json* props = iothub::PresentMember(twin, "properties")) {
    if (!props->is_object()) {
      return Invalid{RejectReason::kWrongType, "'properties' must be an object"};
    }
    for (const char* name : {"desired", "reported"}) {
      const json* section = iothub::PresentMember(*props, name);
      if (section == nullptr) continue;
      const std::string field = std::string("properties.") + name;
      if (auto bad = iothub::ValidateSection(*section, field, iothub::kMaxPropertiesBytes)) {
        return bad;
      }
      const json* meta = iothub::PresentMember(*section, "$metadata");
      Hlc top = options.observed_at;
      if (meta != nullptr && meta->is_object()) {
        if (const json* lu = iothub::PresentMember(*meta, "$lastUpdated")) {
          if (auto bad = iothub::ParseTimestamp(*lu, field + ".$metadata.$lastUpdated", &top)) {
            return bad;
          }
        }
      }
      max_seen = std::max(max_seen, top);
      const Path at = Path().Child("properties").Child(name);
      delta.AddValue(at, Stamp{top, site}, std::string(kObjectMarker));
      json bare = iothub::StripNulls(iothub::StripSectionMeta(*section));
      if (auto bad = iothub::WriteWithMetadata(bare, meta, at, top, site, /*nulls_cover=*/false,
                                               &delta, &max_seen)) {
        return bad;
      }
    }
  }

  // status, when the hub says when it last changed.
  if (const json* status = iothub::PresentMember(twin, "status")) {
    if (!status->is_string()) return Invalid{RejectReason::kWrongType, "'status' must be a string"};
    std::optional<std::string> s = iothub::NormalizeStatus(status->get_ref<const std::string&>());
    if (!s) return Invalid{RejectReason::kInvalidEnum, "'status' must be enabled or disabled"};
    const json* when = iothub::PresentMember(twin, "statusUpdateTime");
    Hlc at = 0;
    // The hub writes 0001-01-01T00:00:00Z for "never": no usable stamp, status is not written.
    // Any other time must parse: a garbled one is a bad line, not "never".
    const bool never =
        when == nullptr ||
        (when->is_string() && when->get_ref<const std::string&>().starts_with("0001-"));
    if (!never) {
      if (auto bad = iothub::ParseTimestamp(*when, "statusUpdateTime", &at)) return bad;
      Result<RecordState> set =
          SetDelta(Path().Child("status"), json(*s), Stamp{at, site}, PathRules::kTwin);
      if (!set.ok()) return Invalid{RejectReason::kInvalidEnum, set.status().message()};
      delta.Join(std::move(*set));
    }
  }

  // tags: no $metadata; stamped as the options say.
  if (const json* tags = iothub::PresentMember(twin, "tags");
      tags != nullptr && options.tags_stamp != TwinTagsStamp::kSkip) {
    if (auto bad = iothub::ValidateSection(*tags, "tags", iothub::kMaxTagsBytes)) return bad;
    Hlc at = options.observed_at;
    if (options.tags_stamp == TwinTagsStamp::kMaxLastUpdated && max_seen != 0) at = max_seen;
    Result<RecordState> set = SetDelta(Path().Child("tags"), iothub::StripNulls(*tags),
                                       Stamp{at, site}, PathRules::kTwin);
    if (!set.ok()) return Invalid{RejectReason::kInvalidTwinKey, set.status().message()};
    delta.Join(std::move(*set));
  }
  *out = std::move(delta);
  return std::nullopt;
}

}  // namespace

Result<ReadStats> ReadTwins(LineReader& twins, const TwinReadOptions& options, RejectSink* rejects,
                            const DeltaSink& sink) {
  RECONCILE_RETURN_IF_ERROR(ValidateSiteName(options.site).WithContext("twin read: site"));
  if (options.observed_at == 0) return Status::InvalidInput("twin read: observed_at is required");
  RECONCILE_RETURN_IF_ERROR(
      iothub::CheckObservedAt(options.clock_guard, options.observed_at, "twin read"));
  const SiteId site = SiteId::FromName(options.site);
  ReadStats stats;
  Status s = iothub::ForEachLine(
      twins, rejects, options.clock_guard.quarantine, &stats.rejected, &stats.quarantined,
      [&](const Line& line, std::optional<Invalid>* invalid) -> Status {
        json twin;
        if ((*invalid = iothub::ParseObject(line.text, &twin))) return Status::Ok();
        std::optional<Key> key;
        RecordState delta;
        if ((*invalid = TwinDelta(twin, options, site, &key, &delta))) return Status::Ok();
        if (delta.empty()) return Status::Ok();
        if ((*invalid = iothub::CheckClock(options.clock_guard, delta, options.site)))
          return Status::Ok();
        ++stats.records;
        ++stats.patches;
        return sink(*key, std::move(delta));
      });
  RECONCILE_RETURN_IF_ERROR(s);
  stats.lines = twins.stats();
  return stats;
}

}  // namespace reconcile
