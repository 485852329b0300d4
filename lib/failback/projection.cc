#include "lib/failback/projection.h"

#include <cstdio>

#include "lib/core/hash.h"
#include "lib/failback/store_source.h"
#include "lib/iothub/device_doc.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/operations.h"

namespace reconcile::failback {
namespace {

using nlohmann::json;

// A scope names a device; hub-specific generation ids are dropped.
json NormalizeScope(const json& scope) {
  if (!scope.is_string()) return scope;
  Result<std::string> id = ScopeDeviceId(scope.get<std::string>());
  return id.ok() ? json(*id) : scope;
}

}  // namespace

std::optional<std::string> ProjectRecord(const Key& key, const json& doc, bool no_keys) {
  if (key.kind() == KeyKind::kMeta || iothub::IsSystemModule(key)) return std::nullopt;
  const bool is_module = key.kind() == KeyKind::kModule;
  json p = json::object();
  p["id"] = key.device_id();
  if (is_module) p["moduleId"] = key.module_id();
  const json* status = iothub::PresentMember(doc, "status");
  p["status"] = status ? *status : json("enabled");
  if (const json* r = iothub::PresentMember(doc, "statusReason");
      r && r->is_string() && !r->get<std::string>().empty()) {
    p["statusReason"] = *r;
  }
  if (const json* auth = iothub::PresentMember(doc, "authentication")) {
    json a = *auth;
    if (no_keys && a.is_object()) a.erase("symmetricKey");
    p["authentication"] = std::move(a);
  }
  if (!is_module) {
    const json* caps = iothub::PresentMember(doc, "capabilities");
    const json* edge = caps ? iothub::PresentMember(*caps, "iotEdge") : nullptr;
    p["capabilities"] = {{"iotEdge", edge != nullptr && edge->is_boolean() && edge->get<bool>()}};
    if (const json* s = iothub::PresentMember(doc, "deviceScope");
        s && !(s->is_string() && s->get<std::string>().empty())) {
      p["deviceScope"] = NormalizeScope(*s);
    }
    if (const json* ps = iothub::PresentMember(doc, "parentScopes"); ps && ps->is_array() && !ps->empty()) {
      json out = json::array();
      for (const json& s : *ps) out.push_back(NormalizeScope(s));
      p["parentScopes"] = std::move(out);
    }
  }
  const json* tags = iothub::PresentMember(doc, "tags");
  p["tags"] = tags ? *tags : json::object();
  const json* props = iothub::PresentMember(doc, "properties");
  const json* desired = props ? iothub::PresentMember(*props, "desired") : nullptr;
  p["desired"] = desired ? *desired : json::object();
  return CanonicalJson(p);
}

void Projection::Add(const std::string& key, const std::string& projection, bool keep) {
  std::string text = key;
  text += '\n';
  text += projection;
  const uint64_t a = internal::Hash64(text, 1);
  const uint64_t b = internal::Hash64(text, 2);
  hi += a;
  lo += b;
  ++records;
  if (keep) per_key[key] = a;
}

std::string Projection::Hex() const {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return std::string(buf) + "/" + std::to_string(records);
}

Result<Projection> ProjectStore(const Store& store, bool no_keys, bool keep_keys) {
  Projection out;
  std::unique_ptr<MergedSource> source = MakeStoreSource(store);
  MergedRecord rec{Key::Device("x").value(), std::nullopt, 0};
  std::string device;
  bool device_exists = false;
  while (true) {
    Result<bool> got = source->Next(&rec);
    if (!got.ok()) return got.status();
    if (!*got) break;
    if (rec.key.kind() == KeyKind::kDevice) {
      device = rec.key.device_id();
      device_exists = rec.doc.has_value();
    }
    if (!rec.doc) continue;
    if (rec.key.kind() == KeyKind::kModule && (!device_exists || device != rec.key.device_id())) {
      continue;  // an orphan module: the plan cannot make it
    }
    std::optional<std::string> p = ProjectRecord(rec.key, *rec.doc, no_keys);
    if (p) out.Add(rec.key.ToString(), *p, keep_keys);
  }
  return out;
}

Result<Projection> ProjectExport(const std::string& path, bool no_keys, bool keep_keys,
                                 RejectSink* rejects, uint64_t* rejected) {
  Result<std::unique_ptr<LineReader>> reader = LineReader::Open(path);
  if (!reader.ok()) return reader.status();
  Projection out;
  uint64_t bad = 0;
  Status s = iothub::ForEachLine(
      **reader, rejects, &bad,
      [&](const Line& line, std::optional<iothub::Invalid>* invalid) -> Status {
        iothub::ExportDevice dev;
        if ((*invalid = iothub::ParseExportDevice(line.text, &dev))) return Status::Ok();
        std::optional<std::string> p = ProjectRecord(*dev.key, dev.doc, no_keys);
        if (p) out.Add(dev.key->ToString(), *p, keep_keys);
        return Status::Ok();
      });
  RECONCILE_RETURN_IF_ERROR(s);
  if (rejected != nullptr) *rejected += bad;
  return out;
}

std::vector<std::string> DiffProjections(const Projection& a, const Projection& b, size_t limit,
                                         uint64_t* total) {
  std::vector<std::string> out;
  uint64_t n = 0;
  auto note = [&](const std::string& key) {
    ++n;
    if (out.size() < limit) out.push_back(key);
  };
  auto ia = a.per_key.begin();
  auto ib = b.per_key.begin();
  while (ia != a.per_key.end() || ib != b.per_key.end()) {
    if (ib == b.per_key.end() || (ia != a.per_key.end() && ia->first < ib->first)) {
      note(ia->first);
      ++ia;
    } else if (ia == a.per_key.end() || ib->first < ia->first) {
      note(ib->first);
      ++ib;
    } else {
      if (ia->second != ib->second) note(ia->first);
      ++ia;
      ++ib;
    }
  }
  if (total != nullptr) *total = n;
  return out;
}

}  // namespace reconcile::failback
