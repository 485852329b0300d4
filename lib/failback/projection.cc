#include "lib/failback/projection.h"

#include <algorithm>
#include <cstdio>
#include <memory>

#include "lib/core/hash.h"
#include "lib/failback/projection_text.h"
#include "lib/failback/store_source.h"
#include "lib/iothub/device_doc.h"
#include "lib/iothub/export_line.h"
#include "lib/iothub/line_pipeline.h"
#include "lib/iothub/plan_internal.h"
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
    if (const json* ps = iothub::PresentMember(doc, "parentScopes");
        ps && ps->is_array() && !ps->empty()) {
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

RecordHash HashRecord(std::string_view text) {
  const internal::HashPair h = internal::Hash64Pair(text, 1, 2);
  return {h.a, h.b};
}

void Projection::Add(const std::string& key, const std::string& projection, bool keep) {
  std::string text = key;
  text += '\n';
  text += projection;
  Add(key, HashRecord(text), keep);
}

void Projection::Add(std::string key, const RecordHash& hash, bool keep) {
  hi += hash.a;
  lo += hash.b;
  ++records;
  if (keep) per_key.emplace_back(std::move(key), hash.a);
}

void Projection::Finish() {
  auto by_key = [](const auto& x, const auto& y) { return x.first < y.first; };
  if (std::is_sorted(per_key.begin(), per_key.end(), by_key) &&
      std::adjacent_find(per_key.begin(), per_key.end(), [](const auto& x, const auto& y) {
        return x.first == y.first;
      }) == per_key.end()) {
    return;
  }
  // Stable: of a key added twice the later entry stays later, and is the one kept.
  std::stable_sort(per_key.begin(), per_key.end(), by_key);
  size_t kept = 0;
  for (size_t i = 0; i < per_key.size(); ++i) {
    if (i + 1 < per_key.size() && per_key[i + 1].first == per_key[i].first) continue;
    if (kept != i) per_key[kept] = std::move(per_key[i]);
    ++kept;
  }
  per_key.resize(kept);
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
  // The store source yields canonical text (store_source.h): no document is built unless the
  // text path declines a record.
  auto* text_source = dynamic_cast<iothub::CanonicalTextSource*>(source.get());
  if (text_source == nullptr) return Status::Internal("verify: the store source yields no text");
  text_source->YieldText();
  Key key = Key::Device("x").value();
  std::optional<std::string> doc;
  std::string device;
  bool device_exists = false;
  std::string text;
  ProjectedMembers members;
  while (true) {
    Result<bool> got = text_source->NextText(&key, &doc);
    if (!got.ok()) return got.status();
    if (!*got) break;
    if (key.kind() == KeyKind::kDevice) {
      device = key.device_id();
      device_exists = doc.has_value();
    }
    if (!doc || key.kind() == KeyKind::kMeta || iothub::IsSystemModule(key)) continue;
    if (key.kind() == KeyKind::kModule && (!device_exists || device != key.device_id())) {
      continue;  // an orphan module: the plan cannot make it
    }
    text = key.ToString();
    const size_t key_size = text.size();
    text += '\n';
    if (MembersOfCanonicalText(*doc, &members)) {
      AppendProjection(key, members, no_keys, &text);
    } else {
      nlohmann::json parsed = nlohmann::json::parse(*doc, nullptr, false);
      if (parsed.is_discarded()) {
        return Status::Corruption("verify: the merged text of " + key.ToString() + " is not JSON");
      }
      text += *ProjectRecord(key, parsed, no_keys);
    }
    out.Add(text.substr(0, key_size), HashRecord(text), keep_keys);
  }
  out.Finish();
  return out;
}

namespace {

// One export line as a worker leaves it for the commit: projected (key and hashes), not
// projected (a system module), or invalid.
struct ExportItem {
  bool projected = false;
  std::string key;
  RecordHash hash;
  std::optional<iothub::Invalid> invalid;
};

// A worker's reusable state.
struct ExportWorker {
  iothub::ExportLineReader reader;
  std::optional<Key> key;
  RecordState delta;
  std::string members_text;
  ProjectedMembers members;
  std::string text;
};

// Projects one line: through the fast reader's full write when it reads the line, else through
// the exact parse and ProjectRecord (which also says why a line is invalid).
void ProjectLine(ExportWorker& w, std::string_view line, bool no_keys, ExportItem* item) {
  // Any stamp: only the cells' paths and values are read.
  static const Stamp kStamp{MakeHlc(1, 0), SiteId()};
  w.text.clear();
  if (w.reader.FullWrite(line, kStamp, false, &w.key, &w.delta) &&
      MembersOfFullWrite(w.delta, &w.members_text, &w.members)) {
    if (iothub::IsSystemModule(*w.key)) return;
    w.text = w.key->ToString();
    item->key = w.text;
    w.text += '\n';
    AppendProjection(*w.key, w.members, no_keys, &w.text);
  } else {
    iothub::ExportDevice dev;
    if ((item->invalid = iothub::ParseExportDevice(line, &dev))) return;
    std::optional<std::string> p = ProjectRecord(*dev.key, dev.doc, no_keys);
    if (!p) return;
    w.text = dev.key->ToString();
    item->key = w.text;
    w.text += '\n';
    w.text += *p;
  }
  item->projected = true;
  item->hash = HashRecord(w.text);
}

}  // namespace

Result<Projection> ProjectExport(const std::string& path, bool no_keys, bool keep_keys,
                                 RejectSink* rejects, uint64_t* rejected, size_t workers) {
  Result<std::unique_ptr<LineReader>> reader = LineReader::Open(path);
  if (!reader.ok()) return reader.status();
  if (workers == 0) workers = iothub::ParseWorkers();
  std::vector<std::unique_ptr<ExportWorker>> state;
  for (size_t i = 0; i < workers; ++i) state.push_back(std::make_unique<ExportWorker>());
  Projection out;
  uint64_t bad = 0;
  Status s = iothub::ForEachLineParallel<ExportItem>(
      **reader, rejects, nullptr, &bad, nullptr, workers,
      [&](size_t worker, const Line& line, ExportItem* item) {
        ProjectLine(*state[worker], line.text, no_keys, item);
      },
      [&](const Line&, ExportItem& item, std::optional<iothub::Invalid>* invalid) -> Status {
        if (item.invalid) {
          *invalid = std::move(item.invalid);
        } else if (item.projected) {
          out.Add(std::move(item.key), item.hash, keep_keys);
        }
        return Status::Ok();
      });
  RECONCILE_RETURN_IF_ERROR(s);
  if (rejected != nullptr) *rejected += bad;
  out.Finish();
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
