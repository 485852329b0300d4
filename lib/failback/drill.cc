// The failback drill (see drill.h): a simulated outage from fleet to verified failback.
//
// Timeline (simulated; T0 = 2026-01-01T00:00:00Z):
//   T0 + i ms            device i is created on the primary
//   Tb = T0 + 2 h        the backup (the primary's export); the fork point
//   Tb + 1 s ...         RPO window: primary changes the backup does not have
//   To = Tb + 10 min     the outage: the primary's last change (its observed-at time)
//   To + 1 min ...       the secondary's outage changes
//   Tf = To + 6 h        the failback: the secondary's export is taken
//   Tf + 1 h + k ms      the drill clock: import jobs, the concurrent change, retry exports
#include "lib/failback/drill.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "lib/failback/files.h"
#include "lib/iothub/device_doc.h"
#include "reconcile/conflict.h"
#include "reconcile/iothub.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"
#include "reconcile/store.h"

namespace reconcile::failback {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr char kPrimaryHub[] = "contoso-weu";
constexpr char kSecondaryHub[] = "contoso-neu";
constexpr char kPrimarySite[] = "primary";
constexpr char kSecondarySite[] = "secondary";
constexpr uint64_t kMinute = 60 * 1000;
constexpr uint64_t kHour = 60 * kMinute;

// A write a hub acknowledged, to be found on the primary at the end.
struct Ack {
  std::string site;
  std::string device;
  std::string module;
  std::string path;           // slashed; "" means the record itself
  std::optional<json> value;  // nullopt: the record must not exist; at "": it must exist
};

std::string Fmt(const char* pattern, uint64_t n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), pattern, static_cast<unsigned long long>(n));
  return buf;
}

const json* At(const json& doc, const std::string& path) {
  const json* cur = &doc;
  if (path.empty()) return cur;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string seg = path.substr(start, end - start);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(seg);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    start = end + 1;
  }
  return cur;
}

Hlc T0() { return ParseIso8601("2026-01-01T00:00:00Z").value(); }
Hlc Tb() { return T0() + MakeHlc(2 * kHour, 0); }
Hlc To() { return Tb() + MakeHlc(10 * kMinute, 0); }
Hlc Tf() { return To() + MakeHlc(6 * kHour, 0); }

constexpr char kTargetsFile[] = "concurrent-targets.txt";
const json& ConcurrentPatch() {
  static const json patch = {{"statusReason", "concurrent maintenance"},
                             {"tags", {{"maintenance", "window-7"}}}};
  return patch;
}

// The concurrent change: some devices the secondary changed are changed on the primary when the
// first import job starts. Idempotent (a device that has it already is left alone), so a hook that
// runs again after a crash changes nothing twice.
void ConcurrentChange(SimulatedHub& hub, const std::string& work_dir,
                      const std::function<void(const std::string&)>& on_change) {
  std::ifstream in((fs::path(work_dir) / kTargetsFile).string());
  std::vector<std::string> targets;
  std::string id;
  while (std::getline(in, id)) {
    if (!id.empty()) targets.push_back(id);
  }
  const size_t want = std::min(targets.size(), std::max<size_t>(3, targets.size() / 20));
  const Hlc at = Tf() + MakeHlc(90 * kMinute, 0);
  for (size_t k = 0; k < want; ++k) {
    const std::string& target = targets[k * (targets.size() / want)];
    Result<std::string> now = hub.GetRecord(target, "");
    if (!now.ok()) continue;
    json doc = json::parse(*now);
    if (const json* tags = At(doc, "tags/maintenance"); tags != nullptr) continue;
    if (hub.UpdateDevice(target, "", CanonicalJson(ConcurrentPatch()), at).ok() && on_change) {
      on_change(target);
    }
  }
}

class Drill {
 public:
  explicit Drill(const DrillOptions& o) : o_(o), rng_(o.seed * 0x9e3779b97f4a7c15ULL + 17) {}

  Result<DrillReport> Run();

 private:
  std::string Path(const std::string& rel) const { return (fs::path(o_.work_dir) / rel).string(); }
  void StartPhase(const std::string& name) {
    EndPhase();
    if (o_.on_phase) o_.on_phase(name);
    phase_name_ = name;
    phase_records_ = 0;
    phase_start_ = std::chrono::steady_clock::now();
  }
  void EndPhase() {
    if (phase_name_.empty()) return;
    double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - phase_start_).count();
    report_.phases.push_back({phase_name_, s, phase_records_});
    phase_name_.clear();
  }
  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  uint64_t Below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  std::string NewKey() {
    std::string bytes(32, '\0');
    for (char& c : bytes) c = static_cast<char>(Below(256));
    return Base64(bytes);
  }
  Hlc ClockNow() { return clock_ += MakeHlc(1, 0); }

  json DeviceDoc(uint64_t i, bool edge, const std::string& parent_scope, bool parent_is_edge_parent,
                 bool disabled) {
    json doc = json::object();
    doc["status"] = disabled ? "disabled" : "enabled";
    if (disabled) doc["statusReason"] = "decommissioned";
    doc["authentication"] = {{"type", "sas"}};
    doc["capabilities"] = {{"iotEdge", edge}};
    if (!parent_scope.empty()) {
      if (!parent_is_edge_parent) doc["deviceScope"] = parent_scope;
      doc["parentScopes"] = json::array({parent_scope});
    }
    doc["tags"] = {{"site", "plant-" + std::to_string(i % 50)},
                   {"line", "line-" + std::to_string(i % 7)},
                   {"owner", "team-" + std::to_string(i % 13)},
                   {"floor", static_cast<int>(i % 9)},
                   {"labels", json::array({"prod", "zone-" + std::to_string(i % 4)})},
                   {"serial", Fmt("SN-%010llx", i * 2654435761ULL)}};
    doc["properties"] = {
        {"desired",
         {{"telemetryInterval", 30},
          {"firmware", {{"version", "2." + std::to_string(i % 5) + ".0"}, {"channel", "stable"}}},
          {"thresholds", {{"temperature", 70}, {"humidity", 55}}},
          {"mode", "normal"}}},
        {"reported",
         {{"firmware", {{"version", "2." + std::to_string(i % 5) + ".0"}}},
          {"battery", static_cast<int>(i % 100)},
          {"network", {{"type", "wifi"}, {"rssi", -40 - static_cast<int>(i % 50)}}},
          {"lastBoot", "2025-12-31T23:00:00Z"}}}};
    return doc;
  }

  std::string ScopeOf(SimulatedHub& hub, const std::string& id) {
    Result<std::string> rec = hub.GetRecord(id, "");
    if (!rec.ok()) return "";
    json doc = json::parse(*rec);
    return doc.value("deviceScope", std::string());
  }

  Status Create(SimulatedHub& hub, const std::string& site, const std::string& id,
                const std::string& module, const json& doc, Hlc at, bool ack) {
    RECONCILE_RETURN_IF_ERROR(hub.CreateDevice(id, module, CanonicalJson(doc), at));
    ++phase_records_;
    if (ack) {
      acks_.push_back({site, id, module, "", json(true)});
      if (const json* tags = At(doc, "tags/owner")) {
        acks_.push_back({site, id, module, "tags/owner", *tags});
      }
    }
    return Status::Ok();
  }

  // A patch, with every leaf it sets recorded as acknowledged (reported properties excepted: the
  // plan never writes them).
  Status Update(SimulatedHub& hub, const std::string& site, const std::string& id,
                const std::string& module, const json& patch, Hlc at) {
    RECONCILE_RETURN_IF_ERROR(hub.UpdateDevice(id, module, CanonicalJson(patch), at));
    ++phase_records_;
    std::function<void(const json&, const std::string&)> walk = [&](const json& v,
                                                                    const std::string& path) {
      if (path == "properties/reported") return;
      if (v.is_object() && path != "authentication/symmetricKey" && !v.empty()) {
        for (auto it = v.begin(); it != v.end(); ++it) {
          walk(it.value(), path.empty() ? it.key() : path + "/" + it.key());
        }
        return;
      }
      acks_.push_back({site, id, module, path, v});
    };
    walk(patch, "");
    return Status::Ok();
  }

  Status Delete(SimulatedHub& hub, const std::string& site, const std::string& id, Hlc at) {
    RECONCILE_RETURN_IF_ERROR(hub.DeleteDevice(id, "", at));
    ++phase_records_;
    acks_.push_back({site, id, "", "", std::nullopt});
    return Status::Ok();
  }

  Status CreateFleet(SimulatedHub& primary);
  Status RpoWindow(SimulatedHub& primary);
  Status Outage(SimulatedHub& secondary);
  Status Notifications(SimulatedHub& primary, SimulatedHub& secondary);
  Status WriteMeta();
  Status Check();

  const DrillOptions& o_;
  std::mt19937_64 rng_;
  DrillReport report_;
  std::string phase_name_;
  uint64_t phase_records_ = 0;
  std::chrono::steady_clock::time_point phase_start_;
  Hlc t0_ = 0, tb_ = 0, to_ = 0, tf_ = 0;
  Hlc clock_ = 0;

  std::vector<std::string> gateways_;                // edge gateway ids
  std::vector<std::string> gateway_scopes_;          // their scopes on the primary
  std::vector<std::string> leaves_;                  // other device ids
  std::set<std::string> with_module_;                // leaves with an "agent" module
  std::map<std::string, std::string> primary_kind_;  // RPO window changes: device -> kind
  std::set<std::string> both_;                       // devices whose paths both sides change
  std::vector<std::string> concurrent_targets_;
  std::vector<Ack> acks_;
};

Status Drill::CreateFleet(SimulatedHub& primary) {
  const uint64_t n = o_.devices;
  const uint64_t gateways = std::max<uint64_t>(1, n / 20);
  primary.SetNotifications(false);  // long before the outage: aged out of the event route
  uint64_t created = 0;
  auto at = [&]() { return t0_ + MakeHlc(created++, 0); };
  for (uint64_t j = 0; j < gateways; ++j) {
    const std::string id = Fmt("gw-%06llu", j);
    // One gateway in ten is nested below an earlier (top-level) gateway.
    std::string parent;
    if (j >= 10 && j % 10 == 0) parent = gateway_scopes_[Below(j / 2)];
    RECONCILE_RETURN_IF_ERROR(Create(primary, kPrimarySite, id, "",
                                     DeviceDoc(j, true, parent, true, false), at(), false));
    gateways_.push_back(id);
    gateway_scopes_.push_back(ScopeOf(primary, id));
    if (!parent.empty()) ++report_.edge_children;
    for (const char* module : {"telemetry", "filter"}) {
      json doc = {{"authentication", {{"type", "sas"}}},
                  {"properties", {{"desired", {{"route", "upstream"}, {"batch", 10}}}}}};
      RECONCILE_RETURN_IF_ERROR(Create(primary, kPrimarySite, id, module, doc, at(), false));
      report_.modules += 1;
    }
    report_.modules += 2;  // $edgeAgent, $edgeHub
  }
  for (uint64_t i = 0; leaves_.size() + gateways < n; ++i) {
    const std::string id = Fmt("dev-%07llu", i);
    std::string parent;
    if (i % 5 == 0) {
      parent = gateway_scopes_[Below(gateways)];
      ++report_.edge_children;
    }
    const bool disabled = i % 100 == 99;
    RECONCILE_RETURN_IF_ERROR(Create(primary, kPrimarySite, id, "",
                                     DeviceDoc(i, false, parent, false, disabled), at(), false));
    leaves_.push_back(id);
    if (i % 20 == 7) {
      json doc = {{"authentication", {{"type", "sas"}}},
                  {"tags", {{"role", "agent"}}},
                  {"properties", {{"desired", {{"logLevel", "info"}}}}}};
      RECONCILE_RETURN_IF_ERROR(Create(primary, kPrimarySite, id, "agent", doc, at(), false));
      with_module_.insert(id);
      report_.modules += 1;
    }
  }
  report_.devices = gateways + leaves_.size();
  report_.edge_devices = gateways;
  report_.identities = primary.size();
  RECONCILE_RETURN_IF_ERROR(primary.Flush());
  primary.SetNotifications(true);
  return Status::Ok();
}

Status Drill::RpoWindow(SimulatedHub& primary) {
  Hlc t = tb_ + MakeHlc(1000, 0);
  auto at = [&]() { return t += MakeHlc(7, 0); };
  const uint64_t n = leaves_.size();
  // Creates the backup does not have.
  for (uint64_t k = 0; k < std::max<uint64_t>(1, n / 200); ++k) {
    const std::string id = Fmt("rpo-%06llu", k);
    RECONCILE_RETURN_IF_ERROR(Create(primary, kPrimarySite, id, "",
                                     DeviceDoc(k + 7, false, "", false, false), at(), true));
    ++report_.primary_changes["create"];
  }
  // Twin patches, disables and deletes of backed-up devices: ~1.5% of them; two thirds of those
  // get the same paths changed by the secondary during the outage (the both-sides set).
  const uint64_t changes = std::max<uint64_t>(3, n * 3 / 200);
  for (uint64_t k = 0; k < changes; ++k) {
    const std::string& id = leaves_[Below(n)];
    if (primary_kind_.count(id) != 0) continue;
    const double u = Uniform();
    std::string kind;
    if (u < 0.6) {
      RECONCILE_RETURN_IF_ERROR(Update(primary, kPrimarySite, id, "",
                                       {{"properties", {{"desired", {{"mode", "eco"}}}}}}, at()));
      kind = "twin-patch";
    } else if (u < 0.85) {
      RECONCILE_RETURN_IF_ERROR(Update(primary, kPrimarySite, id, "",
                                       {{"status", "disabled"}, {"statusReason", "rpo: suspect"}},
                                       at()));
      kind = "disable";
    } else {
      RECONCILE_RETURN_IF_ERROR(Delete(primary, kPrimarySite, id, at()));
      kind = "delete";
    }
    ++report_.primary_changes[kind];
    primary_kind_[id] = kind;
    if (k % 3 != 0) both_.insert(id);
  }
  return Status::Ok();
}

Status Drill::Outage(SimulatedHub& secondary) {
  Hlc t = to_ + MakeHlc(kMinute, 0);
  auto at = [&]() { return t += MakeHlc(3, 0); };
  const uint64_t n = leaves_.size();
  // New devices, some of them new gateways with children and modules.
  const uint64_t creates = std::max<uint64_t>(2, n / 50);
  std::vector<std::string> new_gateway_scopes;
  for (uint64_t k = 0; k < creates; ++k) {
    if (k % 25 == 0) {
      const std::string id = Fmt("sec-gw-%05llu", k / 25);
      RECONCILE_RETURN_IF_ERROR(Create(secondary, kSecondarySite, id, "",
                                       DeviceDoc(k, true, "", true, false), at(), true));
      json mod = {{"authentication", {{"type", "sas"}}},
                  {"properties", {{"desired", {{"route", "upstream"}, {"batch", 20}}}}}};
      RECONCILE_RETURN_IF_ERROR(
          Create(secondary, kSecondarySite, id, "telemetry", mod, at(), true));
      new_gateway_scopes.push_back(ScopeOf(secondary, id));
      ++report_.secondary_changes["create-gateway"];
      continue;
    }
    const std::string id = Fmt("sec-%06llu", k);
    std::string parent;
    if (!new_gateway_scopes.empty() && k % 3 == 0) parent = new_gateway_scopes.back();
    RECONCILE_RETURN_IF_ERROR(Create(secondary, kSecondarySite, id, "",
                                     DeviceDoc(k + 3, false, parent, false, false), at(), true));
    ++report_.secondary_changes["create"];
  }
  // Changes to backed-up devices, ~10% of them.
  for (uint64_t i = 0; i < n; ++i) {
    const std::string& id = leaves_[i];
    if (both_.count(id) != 0) {
      // The secondary changes the paths the primary changed in the RPO window.
      const std::string& kind = primary_kind_[id];
      json patch;
      if (kind == "twin-patch") {
        patch = {{"properties", {{"desired", {{"mode", "boost"}}}}},
                 {"tags", {{"owner", "team-outage"}}}};
      } else if (kind == "disable") {
        patch = {{"status", "disabled"}, {"statusReason", "outage: quarantined"}};
      } else {
        patch = {{"tags", {{"owner", "team-outage"}}}};  // the primary deleted it meanwhile
      }
      RECONCILE_RETURN_IF_ERROR(Update(secondary, kSecondarySite, id, "", patch, at()));
      ++report_.both_sides;
      ++report_.secondary_changes["both-sides"];
      continue;
    }
    if (primary_kind_.count(id) != 0) continue;
    const double u = Uniform();
    if (u >= 0.10) continue;
    if (u < 0.03) {
      RECONCILE_RETURN_IF_ERROR(Update(secondary, kSecondarySite, id, "",
                                       {{"properties",
                                         {{"desired",
                                           {{"telemetryInterval", 10 + static_cast<int>(i % 50)},
                                            {"firmware", {{"version", "3.0.0"}}}}}}}},
                                       at()));
      ++report_.secondary_changes["twin-patch"];
      concurrent_targets_.push_back(id);
    } else if (u < 0.05) {
      RECONCILE_RETURN_IF_ERROR(Update(secondary, kSecondarySite, id, "",
                                       {{"tags", {{"owner", "team-dr"}, {"incident", "INC-1234"}}}},
                                       at()));
      ++report_.secondary_changes["tags-patch"];
    } else if (u < 0.06) {
      RECONCILE_RETURN_IF_ERROR(
          Update(secondary, kSecondarySite, id, "",
                 {{"status", "disabled"}, {"statusReason", "outage: quarantined"}}, at()));
      ++report_.secondary_changes["disable"];
      concurrent_targets_.push_back(id);
    } else if (u < 0.07) {
      RECONCILE_RETURN_IF_ERROR(
          Update(secondary, kSecondarySite, id, "",
                 {{"authentication",
                   {{"type", "sas"},
                    {"symmetricKey", {{"primaryKey", NewKey()}, {"secondaryKey", NewKey()}}}}}},
                 at()));
      ++report_.secondary_changes["re-key"];
    } else if (u < 0.08) {
      RECONCILE_RETURN_IF_ERROR(Delete(secondary, kSecondarySite, id, at()));
      ++report_.secondary_changes["delete"];
    } else if (u < 0.09) {
      // The device reports (reported properties are the device's: never planned, not acked).
      RECONCILE_RETURN_IF_ERROR(secondary.UpdateDevice(
          id, "", CanonicalJson({{"properties", {{"reported", {{"battery", 12}}}}}}), at()));
      ++phase_records_;
      ++report_.secondary_changes["reported"];
    } else if (with_module_.count(id) != 0) {
      RECONCILE_RETURN_IF_ERROR(Update(secondary, kSecondarySite, id, "agent",
                                       {{"properties", {{"desired", {{"logLevel", "debug"}}}}}},
                                       at()));
      ++report_.secondary_changes["module-patch"];
    } else {
      RECONCILE_RETURN_IF_ERROR(
          Update(secondary, kSecondarySite, id, "",
                 {{"properties", {{"desired", {{"thresholds", {{"temperature", 65}}}}}}}}, at()));
      ++report_.secondary_changes["twin-patch"];
    }
  }
  return Status::Ok();
}

Status Drill::Notifications(SimulatedHub& primary, SimulatedHub& secondary) {
  RECONCILE_RETURN_IF_ERROR(MakeDirs(Path("events")));
  RECONCILE_RETURN_IF_ERROR(primary.WriteNotifications(Path("events/primary.jsonl")));
  RECONCILE_RETURN_IF_ERROR(secondary.WriteNotifications(Path("events/secondary.jsonl")));
  std::vector<std::string> lines;
  for (const char* f : {"events/primary.jsonl", "events/secondary.jsonl"}) {
    std::ifstream in(Path(f), std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) lines.push_back(line);
    }
  }
  report_.events = lines.size();
  const size_t unique = lines.size();
  for (size_t i = 0; i < unique; ++i) {
    const double u = Uniform();
    if (u < 0.25) lines.push_back(lines[i]);
    if (u < 0.05) lines.push_back(lines[i]);
  }
  std::shuffle(lines.begin(), lines.end(), rng_);
  report_.delivered = lines.size();
  report_.duplicates = lines.size() - unique;
  phase_records_ = lines.size();
  std::string text;
  for (const std::string& l : lines) {
    text += l;
    text += '\n';
  }
  return WriteFileAtomic(Path("events/delivered.jsonl"), text);
}

Status Drill::WriteMeta() {
  RECONCILE_RETURN_IF_ERROR(MakeDirs(Path("meta")));
  const uint64_t groups = std::max<uint64_t>(10, o_.devices / 1000);
  std::string primary, secondary;
  for (uint64_t g = 0; g < groups; ++g) {
    const std::string key = Fmt("group-%05llu", g);
    json line = {{"namespace", "fleet"},
                 {"key", key},
                 {"updatedAt", FormatIso8601(t0_ + MakeHlc(g, 0))},
                 {"doc",
                  {{"name", "Group " + std::to_string(g)},
                   {"owner", "team-" + std::to_string(g % 13)},
                   {"devices", static_cast<int>(o_.devices / groups)}}}};
    primary += CanonicalJson(line) + "\n";
    if (g % 5 == 0) {  // changed at the secondary during the outage
      line["updatedAt"] = FormatIso8601(to_ + MakeHlc(kMinute + g, 0));
      line["doc"]["owner"] = "team-dr";
      secondary += CanonicalJson(line) + "\n";
    }
    if (g % 10 == 0) {  // and at the primary in the RPO window (an lww conflict)
      line["updatedAt"] = FormatIso8601(tb_ + MakeHlc(2000 + g, 0));
      line["doc"]["owner"] = "team-rpo";
      primary += CanonicalJson(line) + "\n";
    }
  }
  report_.meta_records = groups;
  RECONCILE_RETURN_IF_ERROR(WriteFileAtomic(Path("meta/primary.jsonl"), primary));
  return WriteFileAtomic(Path("meta/secondary.jsonl"), secondary);
}

Status Drill::Check() {
  // The primary at the end, for the keys that were acknowledged.
  std::set<std::string> wanted;
  for (const Ack& a : acks_) wanted.insert(a.device + "/" + a.module);
  std::map<std::string, json> final_docs;
  {
    Result<std::unique_ptr<LineReader>> reader =
        LineReader::Open(Path("failback/verify/primary.txt"));
    if (!reader.ok()) return reader.status();
    Line line;
    while (true) {
      Result<bool> got = (*reader)->Next(&line, nullptr);
      if (!got.ok()) return got.status();
      if (!*got) break;
      std::string id, module;
      if (PeekIds(line.text, &id, &module) && wanted.count(id + "/" + module) == 0) continue;
      iothub::ExportDevice dev;
      if (iothub::ParseExportDevice(line.text, &dev)) continue;
      const std::string k = dev.key->device_id() + "/" +
                            (dev.key->kind() == KeyKind::kModule ? dev.key->module_id() : "");
      if (wanted.count(k) != 0) final_docs[k] = std::move(dev.doc);
    }
  }
  StoreOptions so;
  so.create_if_missing = false;
  Result<std::unique_ptr<Store>> store = Store::Open(Path("failback/store"), so);
  if (!store.ok()) return store.status().WithContext("the failback's work store");
  PolicyTable table = (*store)->policy_table();
  MergeView view;
  view.policies = &table;
  view.fork_point = (*store)->fork_point();

  // A write that a later write of the same site replaced (same path, above or below it, or the
  // whole record) is superseded, not lost: acks_ is in the order the writes were made.
  auto within = [](const std::string& p, const std::string& q) {  // p equals q or lies below it
    return q.empty() || p == q ||
           (p.size() > q.size() && p.compare(0, q.size(), q) == 0 && p[q.size()] == '/');
  };
  std::map<std::string, std::vector<std::tuple<std::string, std::string, std::string>>>
      plan_conflicts;
  {
    std::ifstream in(Path("failback/conflicts.jsonl"), std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      json c = json::parse(line, nullptr, false);
      if (c.is_discarded()) continue;
      plan_conflicts[c.value("key", "")].emplace_back(c.value("path", ""), c.value("rule", ""),
                                                      c.value("winner", ""));
    }
  }
  std::vector<bool> superseded(acks_.size(), false);
  {
    std::map<std::string, std::vector<size_t>> by_key;
    for (size_t i = 0; i < acks_.size(); ++i) {
      by_key[acks_[i].device + "/" + acks_[i].module].push_back(i);
    }
    for (const auto& [key, idx] : by_key) {
      for (size_t x = 0; x < idx.size(); ++x) {
        for (size_t y = x + 1; y < idx.size(); ++y) {
          const Ack& a = acks_[idx[x]];
          const Ack& b = acks_[idx[y]];
          if (a.site == b.site && (within(a.path, b.path) || within(b.path, a.path))) {
            superseded[idx[x]] = true;
            break;
          }
        }
      }
    }
  }
  for (size_t i = 0; i < acks_.size(); ++i) {
    const Ack& a = acks_[i];
    ++report_.acknowledged;
    if (superseded[i]) {
      ++report_.superseded;
      continue;
    }
    auto it = final_docs.find(a.device + "/" + a.module);
    const json* doc = it == final_docs.end() ? nullptr : &it->second;
    bool ok = false;
    if (!a.value) {
      ok = doc == nullptr;
    } else if (doc != nullptr) {
      const json* v = At(*doc, a.path);
      ok = a.path.empty() ? true : (v != nullptr && *v == *a.value);
    }
    if (ok) {
      ++report_.kept;
      continue;
    }
    // Not there: a conflict rule must have chosen another site's write at this path (or above
    // or below it).
    Result<Key> key = a.module.empty() ? Key::Device(a.device) : Key::Module(a.device, a.module);
    if (!key.ok()) return key.status();
    std::string rule;
    // First the decisions the plan was built on (conflicts.jsonl, written before the plan);
    // then the state as it is now (a retry may have added writes since).
    if (auto c = plan_conflicts.find(key->ToString()); c != plan_conflicts.end()) {
      for (const auto& [cpath, crule, winner] : c->second) {
        if (winner != a.site && (within(a.path, cpath) || within(cpath, a.path))) {
          rule = crule;
          break;
        }
      }
    }
    Result<RecordState> state = (*store)->GetState(*key);
    if (rule.empty() && state.ok()) {
      Result<std::vector<Conflict>> conflicts = FindConflicts(key->kind(), *state, view);
      if (!conflicts.ok()) return conflicts.status();
      Result<reconcile::Path> path = reconcile::Path::Parse(a.path);
      const SiteId mine = SiteId::FromName(a.site);
      for (const Conflict& c : *conflicts) {
        if (c.winner.stamp.site == mine) continue;
        if (path.ok() && (path->IsWithin(c.path) || c.path.IsWithin(*path))) {
          rule = c.rule;
          break;
        }
      }
    }
    if (!rule.empty()) {
      ++report_.decided_by_rule[rule];
      continue;
    }
    ++report_.lost;
    if (report_.lost_examples.size() < 10) {
      report_.lost_examples.push_back(key->ToString() + " " +
                                      (a.path.empty() ? "(record)" : a.path) + " [" + a.site + "]");
    }
  }
  return Status::Ok();
}

Result<DrillReport> Drill::Run() {
  if (o_.work_dir.empty()) return Status::InvalidInput("drill: a work folder is required");
  if (o_.devices < 20) return Status::InvalidInput("drill: at least 20 devices");
  if (Exists(Path("failback")) || Exists(DrillHubDir(o_.work_dir, true))) {
    return Status::Conflict("drill: '" + o_.work_dir +
                            "' holds an earlier drill; use a new folder");
  }
  RECONCILE_RETURN_IF_ERROR(MakeDirs(o_.work_dir));
  const auto start = std::chrono::steady_clock::now();
  t0_ = T0();
  tb_ = Tb();
  to_ = To();
  tf_ = Tf();
  clock_ = tf_ + MakeHlc(kHour, 0);

  bool armed = false;
  SimulatedHubOptions po = DrillHubOptions(o_.work_dir, o_.seed, true);
  po.clock = [this] { return ClockNow(); };
  po.before_import = [&](SimulatedHub& hub) {
    if (!armed) return;
    // Someone changes planned devices on the primary while the failback runs.
    ConcurrentChange(hub, o_.work_dir, [&](const std::string& id) {
      ++report_.concurrent_changes;
      std::function<void(const json&, const std::string&)> walk = [&](const json& v,
                                                                      const std::string& path) {
        if (v.is_object()) {
          for (auto it = v.begin(); it != v.end(); ++it)
            walk(it.value(), path.empty() ? it.key() : path + "/" + it.key());
          return;
        }
        acks_.push_back({kPrimarySite, id, "", path, v});
      };
      walk(ConcurrentPatch(), "");
    });
  };
  Result<std::unique_ptr<SimulatedHub>> primary =
      SimulatedHub::Open(DrillHubDir(o_.work_dir, true), po);
  if (!primary.ok()) return primary.status();
  SimulatedHubOptions so = DrillHubOptions(o_.work_dir, o_.seed, false);
  so.clock = [this] { return ClockNow(); };
  Result<std::unique_ptr<SimulatedHub>> secondary =
      SimulatedHub::Open(DrillHubDir(o_.work_dir, false), so);
  if (!secondary.ok()) return secondary.status();

  // 1. The fleet, the backup, the secondary seeded from it.
  StartPhase("create-fleet");
  RECONCILE_RETURN_IF_ERROR(CreateFleet(**primary));
  StartPhase("backup");
  RECONCILE_RETURN_IF_ERROR(MakeDirs(Path("backup")));
  RECONCILE_RETURN_IF_ERROR((*primary)->Export(Path("backup/devices.txt")));
  phase_records_ = report_.identities;
  StartPhase("seed-secondary");
  {
    // The secondary is restored from the backup and its devices reconnect to it (reported
    // properties included, which an import job could not set).
    Result<uint64_t> seeded = (*secondary)->RestoreFromExport(Path("backup/devices.txt"), tb_);
    if (!seeded.ok()) return seeded.status();
    phase_records_ = *seeded;
  }
  RECONCILE_RETURN_IF_ERROR(WriteMeta());

  // 2. The RPO window, 3. the outage.
  StartPhase("rpo-window");
  RECONCILE_RETURN_IF_ERROR(RpoWindow(**primary));
  StartPhase("outage");
  RECONCILE_RETURN_IF_ERROR(Outage(**secondary));
  {
    std::string text;
    for (const std::string& id : concurrent_targets_) text += id + "\n";
    RECONCILE_RETURN_IF_ERROR(WriteFileAtomic(Path(kTargetsFile), text));
  }
  StartPhase("notifications");
  RECONCILE_RETURN_IF_ERROR(Notifications(**primary, **secondary));
  if (o_.prepare_only) {
    EndPhase();
    report_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report_;
  }

  // 4. The failback.
  StartPhase("failback");
  FailbackOptions fo = DrillFailbackOptions(o_.work_dir);
  fo.primary = primary->get();
  fo.secondary = secondary->get();
  fo.now = [this] { return ClockNow(); };
  armed = true;
  Result<FailbackReport> failback = RunFailback(fo);
  if (!failback.ok()) return failback.status();
  report_.failback = *failback;
  for (const StepReport& s : failback->steps) phase_records_ += s.records;

  // 5. Checks.
  StartPhase("check");
  RECONCILE_RETURN_IF_ERROR(Check());
  phase_records_ = report_.acknowledged;
  EndPhase();
  report_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (!report_.failback.verified) {
    report_.failures.push_back("the primary does not match the merged state (" +
                               std::to_string(report_.failback.differing_records) + " records)");
  }
  if (report_.lost > 0) {
    report_.failures.push_back(std::to_string(report_.lost) + " acknowledged writes were lost");
  }
  if (report_.concurrent_changes > 0 && report_.failback.retried_lines == 0) {
    report_.failures.push_back("the concurrent changes made no ETag-guarded line fail and retry");
  }
  report_.passed = report_.failures.empty();
  return report_;
}

std::string Rate(uint64_t records, double seconds) {
  if (seconds <= 0 || records == 0) return "";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f/s", records / seconds);
  return buf;
}

}  // namespace

std::string DrillHubDir(const std::string& work_dir, bool primary) {
  return (fs::path(work_dir) / (primary ? "primary-hub" : "secondary-hub")).string();
}

SimulatedHubOptions DrillHubOptions(const std::string& work_dir, uint64_t seed, bool primary) {
  SimulatedHubOptions o;
  o.name = primary ? kPrimaryHub : kSecondaryHub;
  o.seed = seed * 2 + (primary ? 1 : 2);
  if (primary) {
    o.before_import = [work_dir](SimulatedHub& hub) { ConcurrentChange(hub, work_dir, nullptr); };
  }
  return o;
}

FailbackOptions DrillFailbackOptions(const std::string& work_dir) {
  auto path = [&](const std::string& rel) { return (fs::path(work_dir) / rel).string(); };
  FailbackOptions fo;
  fo.work_dir = path("failback");
  fo.primary_site = kPrimarySite;
  fo.secondary_site = kSecondarySite;
  fo.base_export = path("backup/devices.txt");
  fo.primary_observed_at = To();  // the primary's last change: when it went down
  fo.secondary_observed_at = Tf();
  fo.fork_point = Tb();
  fo.notification_files = {path("events/delivered.jsonl")};
  fo.meta_files = {{kPrimarySite, path("meta/primary.jsonl")},
                   {kSecondarySite, path("meta/secondary.jsonl")}};
  fo.max_lines_per_file = 50000;
  return fo;
}

Result<DrillReport> RunDrill(const DrillOptions& options) {
  Drill drill(options);
  return drill.Run();
}

std::string FormatDrillReport(const DrillReport& r, bool as_json) {
  if (as_json) {
    json phases = json::array();
    for (const DrillPhase& p : r.phases) {
      phases.push_back({{"name", p.name},
                        {"seconds", p.seconds},
                        {"records", p.records},
                        {"recordsPerSecond", p.seconds > 0 ? p.records / p.seconds : 0.0}});
    }
    json failback = json::parse(FormatFailbackReport(r.failback, true));
    json j = {
        {"verdict", r.passed ? "pass" : "fail"},
        {"failures", r.failures},
        {"simulated", true},
        {"fleet",
         {{"devices", r.devices},
          {"edgeDevices", r.edge_devices},
          {"edgeChildren", r.edge_children},
          {"modules", r.modules},
          {"identities", r.identities},
          {"metaRecords", r.meta_records}}},
        {"changes",
         {{"primaryRpoWindow", r.primary_changes},
          {"secondaryOutage", r.secondary_changes},
          {"bothSides", r.both_sides},
          {"concurrent", r.concurrent_changes}}},
        {"notifications",
         {{"written", r.events}, {"delivered", r.delivered}, {"duplicatesAbsorbed", r.duplicates}}},
        {"failback", failback},
        {"acknowledged",
         {{"checked", r.acknowledged},
          {"kept", r.kept},
          {"superseded", r.superseded},
          {"decidedByRule", r.decided_by_rule},
          {"lost", r.lost},
          {"lostExamples", r.lost_examples}}},
        {"phases", phases},
        {"seconds", r.seconds}};
    return j.dump() + "\n";
  }
  std::ostringstream out;
  char line[256];
  out << "reconcile failback drill (SIMULATED hubs: for drills and tests only)\n\n";
  out << "fleet        " << r.devices << " devices (" << r.edge_devices << " IoT Edge gateways, "
      << r.edge_children << " with a parent), " << r.modules << " modules, " << r.identities
      << " identities; " << r.meta_records << " metadata records\n";
  auto kinds = [](const std::map<std::string, uint64_t>& m) {
    std::string s;
    uint64_t total = 0;
    for (const auto& [k, n] : m) {
      s += (s.empty() ? "" : ", ") + k + " " + std::to_string(n);
      total += n;
    }
    return std::to_string(total) + (s.empty() ? "" : " (" + s + ")");
  };
  out << "rpo window   primary changes not in the backup: " << kinds(r.primary_changes) << "\n";
  out << "outage       secondary changes: " << kinds(r.secondary_changes) << "\n";
  out << "             devices changed on both sides: " << r.both_sides << "\n";
  out << "events       " << r.events << " notifications, delivered " << r.delivered
      << " times shuffled: " << r.duplicates << " duplicates absorbed\n";
  out << "conflicts   ";
  if (r.failback.conflicts_by_rule.empty()) out << " none";
  for (const auto& [rule, n] : r.failback.conflicts_by_rule) out << " " << rule << " " << n;
  out << "\nplan        ";
  for (const auto& [mode, n] : r.failback.plan_lines_by_mode) {
    if (n > 0) out << " " << mode << " " << n;
  }
  out << "\nconcurrent   " << r.concurrent_changes
      << " devices changed on the primary during the import (ETag-guarded lines fail: 412001)\n";
  out << "retries      " << r.failback.retry_rounds << " rounds, " << r.failback.retried_lines
      << " lines re-planned against a fresh export and applied\n";
  out << "converged    merged " << r.failback.merged_digest << "\n             primary "
      << r.failback.primary_digest << "  " << (r.failback.verified ? "EQUAL" : "DIFFERENT") << "\n";
  out << "acknowledged " << r.acknowledged << " writes checked: " << r.kept << " on the primary, "
      << r.superseded << " superseded by a later write of the same site";
  for (const auto& [rule, n] : r.decided_by_rule) out << ", " << n << " decided by rule " << rule;
  out << ", " << r.lost << " lost\n";
  for (const std::string& e : r.lost_examples) out << "             lost: " << e << "\n";
  out << "\nphase                seconds      records      rate\n";
  for (const DrillPhase& p : r.phases) {
    std::snprintf(line, sizeof(line), "  %-17s %9.3f %12llu %10s\n", p.name.c_str(), p.seconds,
                  static_cast<unsigned long long>(p.records), Rate(p.records, p.seconds).c_str());
    out << line;
    if (p.name == "failback") {
      for (const StepReport& s : r.failback.steps) {
        std::snprintf(line, sizeof(line), "    %-15s %9.3f %12llu %10s\n", s.name.c_str(),
                      s.seconds, static_cast<unsigned long long>(s.records),
                      Rate(s.records, s.seconds).c_str());
        out << line;
      }
    }
  }
  std::snprintf(line, sizeof(line), "  %-17s %9.3f\n", "total", r.seconds);
  out << line;
  out << "\nwork folder  " << r.failback.work_dir << "\n";
  out << "verdict      " << (r.passed ? "PASS" : "FAIL") << "\n";
  for (const std::string& f : r.failures) out << "  failure: " << f << "\n";
  return out.str();
}

}  // namespace reconcile::failback
