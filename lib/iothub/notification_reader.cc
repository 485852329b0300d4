// Notifications routed from the hub (device/module lifecycle, twin changes) -> deltas.
#include <functional>

#include "lib/iothub/device_doc.h"
#include "reconcile/iothub.h"
#include "reconcile/operations.h"

namespace reconcile {
namespace {

using iothub::Invalid;
using iothub::json;

// The first of two alternative member names.
const json* Either(const json& obj, std::string_view a, std::string_view b) {
  const json* v = iothub::PresentMember(obj, a);
  return v != nullptr ? v : iothub::PresentMember(obj, b);
}

std::optional<Invalid> Missing(std::string_view field) {
  return Invalid{RejectReason::kMissingField, "'" + std::string(field) + "' is missing"};
}

// The record document a create notification's body (a twin) describes.
// Calls `visit(name, section, field)` for the tags ("tags") and each of `sections` of the
// properties ("desired", "reported") that `body` holds, after checking the shape and IoT Hub's size
// limits; `field` is the name rejects use ("tags", "properties.desired", ...).
using SectionVisitor = std::function<std::optional<Invalid>(
    std::string_view name, const json& section, const std::string& field)>;
std::optional<Invalid> VisitSections(const json& body,
                                     std::initializer_list<const char*> sections,
                                     const SectionVisitor& visit) {
  if (const json* tags = iothub::PresentMember(body, "tags")) {
    if (auto bad = iothub::ValidateSection(*tags, "tags", iothub::kMaxTagsBytes)) return bad;
    if (auto bad = visit("tags", *tags, "tags")) return bad;
  }
  if (const json* props = iothub::PresentMember(body, "properties")) {
    if (!props->is_object())
      return Invalid{RejectReason::kWrongType, "'properties' must be an object"};
    for (const char* name : sections) {
      const json* section = iothub::PresentMember(*props, name);
      if (section == nullptr) continue;
      const std::string field = std::string("properties.") + name;
      if (auto bad = iothub::ValidateSection(*section, field, iothub::kMaxPropertiesBytes))
        return bad;
      if (auto bad = visit(name, *section, field)) return bad;
    }
  }
  return std::nullopt;
}

std::optional<Invalid> CreateDoc(const json& body, bool is_module, json* doc) {
  *doc = json::object();
  if (const json* status = iothub::PresentMember(body, "status")) {
    if (!status->is_string()) return Invalid{RejectReason::kWrongType, "'status' must be a string"};
    std::optional<std::string> s = iothub::NormalizeStatus(status->get_ref<const std::string&>());
    if (!s) return Invalid{RejectReason::kInvalidEnum, "'status' must be enabled or disabled"};
    (*doc)["status"] = *s;
  }
  if (const json* reason = iothub::PresentMember(body, "statusReason")) {
    if (auto bad = iothub::CheckStatusReason(*reason)) return bad;
    if (!reason->get_ref<const std::string&>().empty()) (*doc)["statusReason"] = *reason;
  }
  // A twin names the authentication type and thumbprints, never keys.
  json auth_in = json::object();
  if (const json* type = iothub::PresentMember(body, "authenticationType")) auth_in["type"] = *type;
  if (const json* thumbs = iothub::PresentMember(body, "x509Thumbprint")) auth_in["x509Thumbprint"] = *thumbs;
  if (!auth_in.empty()) {
    json auth;
    if (auto bad = iothub::NormalizeAuthentication(auth_in, &auth)) return bad;
    (*doc)["authentication"] = std::move(auth);
  }
  if (!is_module) {
    if (const json* caps = iothub::PresentMember(body, "capabilities")) {
      if (!caps->is_object())
        return Invalid{RejectReason::kWrongType, "'capabilities' must be an object"};
      json kept = json::object();
      if (const json* edge = iothub::PresentMember(*caps, "iotEdge")) {
        if (!edge->is_boolean()) {
          return Invalid{RejectReason::kWrongType, "'capabilities.iotEdge' must be a boolean"};
        }
        kept["iotEdge"] = *edge;
      }
      (*doc)["capabilities"] = std::move(kept);
    }
    if (const json* scope = iothub::PresentMember(body, "deviceScope")) {
      if (!scope->is_string())
        return Invalid{RejectReason::kWrongType, "'deviceScope' must be a string"};
      const std::string& text = scope->get_ref<const std::string&>();
      if (!text.empty()) {
        if (auto bad = iothub::CheckScope(text, "deviceScope")) return bad;
        (*doc)["deviceScope"] = text;
      }
    }
    if (const json* parents = iothub::PresentMember(body, "parentScopes")) {
      if (!parents->is_array()) {
        return Invalid{RejectReason::kWrongType, "'parentScopes' must be an array of strings"};
      }
      for (const json& p : *parents) {
        if (!p.is_string()) {
          return Invalid{RejectReason::kWrongType, "'parentScopes' must be an array of strings"};
        }
        if (auto bad = iothub::CheckScope(p.get_ref<const std::string&>(), "parentScopes"))
          return bad;
      }
      if (!parents->empty()) (*doc)["parentScopes"] = *parents;
    }
  }
  return VisitSections(body, {"desired", "reported"},
                       [&](std::string_view name, const json& section, const std::string&) {
                         if (name == "tags") {
                           (*doc)["tags"] = iothub::StripNulls(section);
                         } else {
                           (*doc)["properties"][std::string(name)] =
                               iothub::StripNulls(iothub::StripSectionMeta(section));
                         }
                         return std::optional<Invalid>();
                       });
}

// updateTwin: a patch of the sections present.
std::optional<Invalid> UpdateTwinDelta(const json& body, const Stamp& stamp, RecordState* out) {
  return VisitSections(body, {"desired", "reported"}, [&](std::string_view name,
                                                          const json& section,
                                                          const std::string& field) {
    if (name == "tags") {
      Result<RecordState> patch = PatchDelta(json{{"tags", section}}, stamp, PathRules::kTwin);
      if (!patch.ok()) return std::optional<Invalid>(Invalid{RejectReason::kInvalidTwinKey,
                                                             patch.status().message()});
      out->Join(std::move(*patch));
      return std::optional<Invalid>();
    }
    const json* meta = iothub::PresentMember(section, "$metadata");
    Hlc top = stamp.hlc;
    if (meta != nullptr) {
      if (const json* lu = iothub::PresentMember(*meta, "$lastUpdated")) {
        if (auto bad = iothub::ParseTimestamp(*lu, field + ".$metadata.$lastUpdated", &top)) {
          return bad;
        }
      }
    }
    const Path at = Path().Child("properties").Child(name);
    out->AddValue(at, Stamp{top, stamp.site}, std::string(kObjectMarker));
    return iothub::WriteWithMetadata(iothub::StripSectionMeta(section), meta, at, top, stamp.site,
                                     /*nulls_cover=*/true, out, nullptr);
  });
}

// replaceTwin: the tags and desired sections present are set whole.
std::optional<Invalid> ReplaceTwinDelta(const json& body, const Stamp& stamp, RecordState* out) {
  return VisitSections(body, {"desired"}, [&](std::string_view name, const json& section,
                                              const std::string&) {
    const bool tags = name == "tags";
    const Path at = tags ? Path().Child("tags") : Path().Child("properties").Child(name);
    const json value = iothub::StripNulls(tags ? section : iothub::StripSectionMeta(section));
    Result<RecordState> set = SetDelta(at, value, stamp, PathRules::kTwin);
    if (!set.ok()) {
      return std::optional<Invalid>(Invalid{RejectReason::kInvalidTwinKey, set.status().message()});
    }
    out->Join(std::move(*set));
    return std::optional<Invalid>();
  });
}

struct Notification {
  std::optional<Key> key;
  std::string site;  // the writing site's name
  RecordState delta;
  enum { kCreate, kPatch, kDelete } kind = kPatch;
};

// iothub-message-schema, when present, names the kind of event; a lifecycle opType under a twin
// schema (or a digital twin's JSON patch under updateTwin) would be read as something it is not.
std::optional<Invalid> CheckSchema(const json& props, const std::string& op_type) {
  const json* schema = iothub::PresentMember(props, "iothub-message-schema");
  if (schema == nullptr) return std::nullopt;
  if (!schema->is_string()) {
    return Invalid{RejectReason::kWrongType, "'iothub-message-schema' must be a string"};
  }
  const std::string& name = schema->get_ref<const std::string&>();
  const bool twin_op = op_type == "updateTwin" || op_type == "replaceTwin";
  const bool fits =
      twin_op ? name == "twinChangeNotification" : name.ends_with("LifecycleNotification");
  if (fits) return std::nullopt;
  return Invalid{RejectReason::kInvalidEnum, "'iothub-message-schema' '" + name.substr(0, 64) +
                                                 "' does not go with opType '" + op_type + "'"};
}

std::optional<Invalid> ParseNotification(const json& msg, const NotificationReadOptions& options,
                                         Notification* out) {
  const json* props = Either(msg, "properties", "application");
  if (props == nullptr) return Missing("properties");
  if (!props->is_object())
    return Invalid{RejectReason::kWrongType, "'properties' must be an object"};
  static const json kEmpty = json::object();
  const json* sys = Either(msg, "systemProperties", "annotations");
  if (sys == nullptr) sys = &kEmpty;

  const json* op = iothub::PresentMember(*props, "opType");
  if (op == nullptr) return Missing("opType");
  if (!op->is_string()) return Invalid{RejectReason::kWrongType, "'opType' must be a string"};
  const std::string& op_type = op->get_ref<const std::string&>();
  const bool known_op = op_type == "createDeviceIdentity" || op_type == "createModuleIdentity" ||
                        op_type == "deleteDeviceIdentity" || op_type == "deleteModuleIdentity" ||
                        op_type == "updateTwin" || op_type == "replaceTwin";
  if (known_op) {
    if (auto bad = CheckSchema(*props, op_type)) return bad;
  }

  // Site.
  std::string site_name = options.site_override;
  if (site_name.empty()) {
    const json* hub = iothub::PresentMember(*props, "hubName");
    if (hub == nullptr) return Missing("hubName");
    if (!hub->is_string()) return Invalid{RejectReason::kWrongType, "'hubName' must be a string"};
    const std::string& name = hub->get_ref<const std::string&>();
    auto it = options.hub_sites.find(name);
    if (it == options.hub_sites.end()) it = options.hub_sites.find(name.substr(0, name.find('.')));
    if (it == options.hub_sites.end()) {
      return Invalid{RejectReason::kUnknownHub, "hub '" + name + "' is mapped to no site"};
    }
    site_name = it->second;
  }
  if (!ValidateSiteName(site_name).ok()) {
    return Invalid{RejectReason::kUnknownHub, "site name '" + site_name + "' is not valid"};
  }

  // Stamp.
  Hlc hlc = 0;
  if (const json* ts = iothub::PresentMember(*props, "operationTimestamp")) {
    if (auto bad = iothub::ParseTimestamp(*ts, "operationTimestamp", &hlc)) return bad;
  } else if (const json* enq = Either(*sys, "iothub-enqueuedtime", "x-opt-enqueued-time")) {
    if (auto bad = iothub::ParseTimestamp(*enq, "iothub-enqueuedtime", &hlc)) return bad;
  } else {
    return Missing("operationTimestamp");
  }
  const Stamp stamp{hlc, SiteId::FromName(site_name)};
  out->site = site_name;

  // Key.
  const json* device_id = iothub::PresentMember(*props, "deviceId");
  if (device_id == nullptr) device_id = iothub::PresentMember(*sys, "iothub-connection-device-id");
  const json* module_id = iothub::PresentMember(*props, "moduleId");
  if (module_id == nullptr) module_id = iothub::PresentMember(*sys, "iothub-connection-module-id");
  const bool module_op = op_type == "createModuleIdentity" || op_type == "deleteModuleIdentity";
  if (module_op && (module_id == nullptr ||
                    (module_id->is_string() && module_id->get_ref<const std::string&>().empty()))) {
    return Missing("moduleId");
  }
  if (auto bad = iothub::MakeKey(device_id, module_id, "deviceId", "moduleId", &out->key))
    return bad;
  const bool is_module = out->key->kind() == KeyKind::kModule;

  // Body: an object, or a string holding one.
  json body_storage;
  const json* body = Either(msg, "body", "payload");
  if (body != nullptr && body->is_string()) {
    if (auto bad = iothub::ParseObject(body->get_ref<const std::string&>(), &body_storage)) {
      bad->detail = "body: " + bad->detail;
      return bad;
    }
    body = &body_storage;
  }
  if (body != nullptr && !body->is_object()) {
    return Invalid{RejectReason::kNotAnObject, "the body is not a JSON object"};
  }

  if (op_type == "createDeviceIdentity" || op_type == "createModuleIdentity") {
    json doc = json::object();
    if (body != nullptr) {
      if (auto bad = CreateDoc(*body, is_module, &doc)) return bad;
    }
    Result<RecordState> create = CreateDelta(doc, stamp, PathRules::kTwin);
    if (!create.ok()) return Invalid{RejectReason::kInvalidTwinKey, create.status().message()};
    out->delta = std::move(*create);
    out->kind = Notification::kCreate;
    return std::nullopt;
  }
  if (op_type == "deleteDeviceIdentity" || op_type == "deleteModuleIdentity") {
    out->delta = DeleteDelta(stamp);
    out->kind = Notification::kDelete;
    return std::nullopt;
  }
  if (op_type == "updateTwin" || op_type == "replaceTwin") {
    if (body == nullptr) return Missing("body");
    out->kind = Notification::kPatch;
    return op_type == "updateTwin" ? UpdateTwinDelta(*body, stamp, &out->delta)
                                   : ReplaceTwinDelta(*body, stamp, &out->delta);
  }
  return Invalid{RejectReason::kUnknownOpType, "opType '" + op_type + "' is not handled"};
}

}  // namespace

Result<ReadStats> ReadNotifications(LineReader& messages, const NotificationReadOptions& options,
                                    RejectSink* rejects, const DeltaSink& sink) {
  if (!options.site_override.empty()) {
    RECONCILE_RETURN_IF_ERROR(
        ValidateSiteName(options.site_override).WithContext("notification read: site"));
  }
  ReadStats stats;
  Status s = iothub::ForEachLine(
      messages, rejects, options.clock_guard.quarantine, &stats.rejected, &stats.quarantined,
      [&](const Line& line, std::optional<Invalid>* invalid) -> Status {
        json msg;
        if ((*invalid = iothub::ParseObject(line.text, &msg))) return Status::Ok();
        Notification n;
        if ((*invalid = ParseNotification(msg, options, &n))) return Status::Ok();
        if ((*invalid = iothub::CheckClock(options.clock_guard, n.delta, n.site)))
          return Status::Ok();
        ++stats.records;
        switch (n.kind) {
          case Notification::kCreate:
            ++stats.creates;
            break;
          case Notification::kDelete:
            ++stats.deletes;
            break;
          case Notification::kPatch:
            ++stats.patches;
            break;
        }
        return sink(*n.key, std::move(n.delta));
      });
  RECONCILE_RETURN_IF_ERROR(s);
  stats.lines = messages.stats();
  return stats;
}

}  // namespace reconcile
