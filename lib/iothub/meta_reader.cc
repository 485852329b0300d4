// Application metadata lines -> replace/delete deltas of meta records.
#include "lib/iothub/device_doc.h"
#include "reconcile/iothub.h"
#include "reconcile/operations.h"

namespace reconcile {

Result<ReadStats> ReadMeta(LineReader& lines, const MetaReadOptions& options, RejectSink* rejects,
                           const DeltaSink& sink) {
  RECONCILE_RETURN_IF_ERROR(ValidateSiteName(options.site).WithContext("meta read: site"));
  const SiteId site = SiteId::FromName(options.site);
  ReadStats stats;
  using iothub::Invalid;
  using iothub::json;
  Status s = iothub::ForEachLine(
      lines, rejects, options.clock_guard.quarantine, &stats.rejected, &stats.quarantined,
      [&](const Line& line, std::optional<Invalid>* invalid) -> Status {
        json obj;
        if ((*invalid = iothub::ParseObject(line.text, &obj))) return Status::Ok();
        auto member = [&](const char* name) -> const json* {
          auto it = obj.find(name);
          return it == obj.end() || it->is_null() ? nullptr : &*it;
        };
        const json* ns = member("namespace");
        const json* key = member("key");
        const json* updated = member("updatedAt");
        for (auto [name, v] : {std::pair{"namespace", ns}, {"key", key}, {"updatedAt", updated}}) {
          if (v == nullptr) {
            *invalid =
                Invalid{RejectReason::kMissingField, std::string("'") + name + "' is missing"};
            return Status::Ok();
          }
        }
        if (!ns->is_string() || !key->is_string()) {
          *invalid = Invalid{RejectReason::kWrongType, "'namespace' and 'key' must be strings"};
          return Status::Ok();
        }
        Result<Key> k =
            Key::Meta(ns->get_ref<const std::string&>(), key->get_ref<const std::string&>());
        if (!k.ok()) {
          *invalid = Invalid{RejectReason::kInvalidMetaKey, k.status().message()};
          return Status::Ok();
        }
        Hlc hlc = 0;
        if ((*invalid = iothub::ParseTimestamp(*updated, "updatedAt", &hlc))) return Status::Ok();
        const Stamp stamp{hlc, site};
        bool deleted = false;
        if (const json* d = member("deleted")) {
          if (!d->is_boolean()) {
            *invalid = Invalid{RejectReason::kWrongType, "'deleted' must be a boolean"};
            return Status::Ok();
          }
          deleted = d->get<bool>();
        }
        if (deleted) {
          RecordState gone = DeleteDelta(stamp);
          if ((*invalid = iothub::CheckClock(options.clock_guard, gone, options.site))) {
            return Status::Ok();
          }
          ++stats.records;
          ++stats.deletes;
          return sink(*k, std::move(gone));
        }
        ++stats.records;
        const json* doc = member("doc");
        if (doc == nullptr) {
          --stats.records;
          *invalid = Invalid{RejectReason::kMissingField, "'doc' is missing"};
          return Status::Ok();
        }
        if (!doc->is_object()) {
          --stats.records;
          *invalid = Invalid{RejectReason::kNotAnObject, "'doc' must be a JSON object"};
          return Status::Ok();
        }
        Result<RecordState> delta = ReplaceDelta(*doc, stamp, PathRules::kMeta);
        if (!delta.ok()) {
          --stats.records;
          *invalid = Invalid{RejectReason::kInvalidMetaKey, delta.status().message()};
          return Status::Ok();
        }
        if ((*invalid = iothub::CheckClock(options.clock_guard, *delta, options.site))) {
          --stats.records;
          return Status::Ok();
        }
        ++stats.creates;
        return sink(*k, std::move(*delta));
      });
  RECONCILE_RETURN_IF_ERROR(s);
  stats.lines = lines.stats();
  return stats;
}

}  // namespace reconcile
