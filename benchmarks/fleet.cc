#include "benchmarks/fleet.h"

#include <cstdio>

namespace bench {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// `n` base64 characters from `v`, then "=" (the shape of a sas key or an eTag).
void AppendBase64ish(std::string* out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) {
    v = Mix(v + i);
    out->push_back(kAlphabet[v & 63]);
  }
  out->push_back('=');
}

std::string Base64ish(uint64_t v) {
  std::string out;
  AppendBase64ish(&out, v, 43);
  return out;
}

bool IsEdge(uint64_t i) { return i % 20 == 0; }
// A leaf child of the gateway before it (one leaf in five, from the first gateway on).
bool IsChild(uint64_t i) { return !IsEdge(i) && i % 5 == 1 && i >= 20; }
bool HasAgent(uint64_t i) { return i % 20 == 7; }

const char* kLastUpdated = "\"$metadata\":{\"$lastUpdated\":\"2026-11-01T00:00:00Z\"}";

void AppendScope(std::string* out, uint64_t gateway) {
  *out += "ms-azure-iot-edge://";
  *out += DeviceId(gateway);
  char gen[24];
  std::snprintf(gen, sizeof gen, "-%018llu",
                static_cast<unsigned long long>(Mix(gateway) % 1000000000000000000ULL));
  *out += gen;
}

void AppendNumber(std::string* out, uint64_t v) { *out += std::to_string(v); }

void AppendAuthentication(std::string* out, uint64_t key_seed) {
  *out += "\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"";
  AppendBase64ish(out, key_seed, 43);
  *out += "\",\"secondaryKey\":\"";
  AppendBase64ish(out, key_seed + 1, 43);
  *out += "\"},\"type\":\"sas\"}";
}

// The salt that makes a site's eTags, keys and values differ from the other site's.
uint64_t SideSalt(Side side) {
  return side == Side::kPrimary ? 11 : side == Side::kSecondary ? 23 : 0;
}

void AppendDevice(std::string* out, uint64_t i, const std::string& id, Side side, Change change,
                  bool both, uint64_t seed) {
  const uint64_t r = Mix(i * 31 + seed);
  const uint64_t salt = SideSalt(side);
  // The primary's eTags stay those of the backup unless it changed the record; the secondary is
  // another hub with eTags of its own.
  const uint64_t etag_seed =
      side == Side::kSecondary ? r + 101 : (change == Change::kNone ? r : r + salt);
  *out += "{\"id\":\"";
  *out += id;
  *out += "\",\"eTag\":\"";
  AppendBase64ish(out, etag_seed, 11);
  *out += "\",\"status\":\"";
  const bool disabled = r % 50 == 0 || change == Change::kDisable;
  *out += disabled ? "disabled\"" : "enabled\"";
  if (change == Change::kDisable) *out += ",\"statusReason\":\"maintenance\"";
  *out += ',';
  AppendAuthentication(out, change == Change::kRekey ? r * 7 + salt : r);
  *out += ",\"twinETag\":\"AAAAAAAAA";
  AppendBase64ish(out, etag_seed + 3, 1);
  *out += "\",\"tags\":{\"site\":\"plant-";
  AppendNumber(out, r % 40);
  *out += "\",\"owner\":\"";
  *out += change == Change::kTags ? (side == Side::kPrimary ? "site-p" : "site-s") : "ops";
  *out += "\",\"model\":\"pump-x";
  AppendNumber(out, r % 7);
  *out += "\"},\"properties\":{\"desired\":{\"rate\":";
  // Both sides write the same path (desired.rate) with different values: a conflict.
  uint64_t rate = r % 100;
  if (change == Change::kDesired || both) rate = 100 + salt + (r >> 8) % 50;
  AppendNumber(out, rate);
  *out += ",\"mode\":\"";
  *out += (r % 3 == 0) != (change == Change::kDesired) ? "eco" : "normal";
  *out += "\",\"firmware\":{\"version\":\"1.4.";
  AppendNumber(out, r % 9);
  *out += "\"},";
  *out += kLastUpdated;
  *out += ",\"$version\":";
  AppendNumber(out, 3 + (change == Change::kDesired ? 1 : 0));
  *out += "},\"reported\":{\"rate\":";
  AppendNumber(out, r % 100);
  *out += ",\"temperature\":";
  const uint64_t temp = change == Change::kReported ? 300 + salt : 200 + r % 100;
  AppendNumber(out, temp / 10);
  *out += '.';
  AppendNumber(out, temp % 10);
  *out += ",\"uptime\":";
  AppendNumber(out, (r % 1000000) + (change == Change::kReported ? 3600 : 0));
  *out += ',';
  *out += kLastUpdated;
  *out += ",\"$version\":";
  AppendNumber(out, 7 + (change == Change::kReported ? 1 : 0));
  *out += "}},\"capabilities\":{\"iotEdge\":";
  *out += IsEdge(i) ? "true" : "false";
  *out += "},\"deviceScope\":\"";
  if (IsEdge(i)) AppendScope(out, i);
  if (IsChild(i)) AppendScope(out, i / 20 * 20);
  *out += "\",\"parentScopes\":[";
  if (IsChild(i)) {
    *out += '"';
    AppendScope(out, i / 20 * 20);
    *out += '"';
  }
  *out += "]}\n";
}

void AppendModule(std::string* out, const std::string& id, const char* module, uint64_t i,
                  Side side) {
  const uint64_t m = Mix(i * 131 + module[1]);
  *out += "{\"id\":\"";
  *out += id;
  *out += "\",\"moduleId\":\"";
  *out += module;
  *out += "\",\"eTag\":\"";
  AppendBase64ish(out, side == Side::kSecondary ? m + 5 : m, 7);
  *out += "\",\"status\":\"enabled\",";
  AppendAuthentication(out, m);
  *out += ",\"twinETag\":\"AAAAAAAAA";
  AppendBase64ish(out, m + 3, 1);
  *out += "\",\"tags\":{},\"properties\":{\"desired\":{\"interval\":";
  AppendNumber(out, 10 + m % 50);
  *out += ',';
  *out += kLastUpdated;
  *out += ",\"$version\":1},\"reported\":{";
  *out += kLastUpdated;
  *out += ",\"$version\":1}}}\n";
}

// Appends device `i` (named `id`) and its modules; counts them.
void AppendRecord(std::string* out, uint64_t i, const std::string& id, Side side, Change change,
                  bool both, uint64_t seed, ExportCounts* counts) {
  AppendDevice(out, i, id, side, change, both, seed);
  ++counts->devices;
  if (IsEdge(i)) {
    ++counts->edge_devices;
    for (const char* m : {"$edgeAgent", "$edgeHub", "telemetry"}) {
      AppendModule(out, id, m, i, side);
      ++counts->modules;
    }
  }
  if (IsChild(i)) ++counts->edge_children;
  if (HasAgent(i)) {
    AppendModule(out, id, "agent", i, side);
    ++counts->modules;
  }
}

}  // namespace

std::string DeviceId(uint64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "dev-%08llu", static_cast<unsigned long long>(index));
  return buf;
}

const char* ChangeName(Change change) {
  switch (change) {
    case Change::kNone:
      return "none";
    case Change::kDesired:
      return "desired";
    case Change::kTags:
      return "tags";
    case Change::kReported:
      return "reported";
    case Change::kDisable:
      return "disable";
    case Change::kRekey:
      return "rekey";
    case Change::kDelete:
      return "delete";
  }
  return "?";
}

bool ChangedOnBoth(uint64_t index, uint64_t seed) {
  return Mix(index * 0x51ed27ULL + seed * 977) % 1000 < 10;
}

Change ChangeOf(uint64_t index, Side side, uint64_t seed) {
  if (side == Side::kBase) return Change::kNone;
  const uint64_t band = Mix(index * 0x51ed27ULL + seed * 977) % 1000;
  const bool both = band < 10;
  // 1% both, 9% primary only, 9% secondary only: 10% changed on each side.
  const bool mine = both || (side == Side::kPrimary ? band < 100 : band >= 100 && band < 190);
  if (!mine) return Change::kNone;
  if (both) return Change::kDesired;  // the same path on both sides
  const uint64_t k = Mix(index * 7919 + SideSalt(side) + seed) % 100;
  if (k < 35) return Change::kDesired;
  if (k < 55) return Change::kTags;
  if (k < 75) return Change::kReported;
  if (k < 87) return Change::kDisable;
  if (k < 97) return Change::kRekey;
  return Change::kDelete;
}

ExportCounts WriteExport(std::ostream& out, uint64_t devices, Side side, uint64_t seed) {
  ExportCounts counts;
  std::string buf;
  buf.reserve(1 << 20);
  auto drain = [&](bool force) {
    if (force || buf.size() > (1u << 20) - 8192) {
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      counts.bytes += buf.size();
      buf.clear();
    }
  };
  for (uint64_t i = 0; i < devices; ++i) {
    const Change change = ChangeOf(i, side, seed);
    if (change != Change::kNone) ++counts.changed;
    if (change == Change::kDelete) {
      ++counts.deleted;
      continue;
    }
    AppendRecord(&buf, i, DeviceId(i), side, change, side != Side::kBase && ChangedOnBoth(i, seed),
                 seed, &counts);
    drain(false);
  }
  // New devices: 0.5% per side, named apart so the two sides never create the same id.
  if (side != Side::kBase) {
    const char* prefix = side == Side::kPrimary ? "new-p-" : "new-s-";
    for (uint64_t k = 0; k < devices / 200; ++k) {
      char id[40];
      std::snprintf(id, sizeof id, "%s%08llu", prefix, static_cast<unsigned long long>(k));
      // Index past the fleet so the document differs from every existing one; k * 20 + 3 keeps
      // it a plain leaf (no gateway, no child, no module).
      AppendRecord(&buf, devices + k * 20 + 3 + SideSalt(side) * 1000003, id, side, Change::kNone,
                   false, seed, &counts);
      ++counts.created;
      drain(false);
    }
  }
  drain(true);
  counts.lines = counts.devices + counts.modules;
  return counts;
}

nlohmann::json DeviceDoc(uint64_t index, uint64_t seed) {
  const uint64_t r = Mix(index * 31 + seed);
  nlohmann::json doc;
  doc["status"] = (r % 50 == 0) ? "disabled" : "enabled";
  doc["authentication"] = {
      {"type", "sas"},
      {"symmetricKey", {{"primaryKey", Base64ish(r)}, {"secondaryKey", Base64ish(r + 1)}}}};
  doc["capabilities"] = {{"iotEdge", r % 20 == 0}};
  doc["tags"] = {{"site", "plant-" + std::to_string(r % 40)},
                 {"line", static_cast<int>(r % 12)},
                 {"owner", "ops"},
                 {"model", "pump-x" + std::to_string(r % 7)},
                 {"installed", "2024-03-1" + std::to_string(r % 10)}};
  doc["properties"]["desired"] = {
      {"rate", static_cast<int>(r % 100)},
      {"mode", r % 3 == 0 ? "eco" : "normal"},
      {"firmware", {{"version", "1.4." + std::to_string(r % 9)}, {"channel", "stable"}}},
      {"alarms", {{"high", 90}, {"low", 10}}}};
  doc["properties"]["reported"] = {
      {"rate", static_cast<int>(r % 100)},
      {"temperature", 20.5 + static_cast<double>(r % 100) / 10},
      {"firmware", {{"version", "1.4." + std::to_string(r % 9)}}},
      {"uptime", static_cast<int64_t>(r % 1000000)},
      {"lastBoot", "2026-11-0" + std::to_string(1 + r % 9) + "T08:00:00Z"}};
  return doc;
}

nlohmann::json OutagePatch(uint64_t index, uint64_t site_salt) {
  const uint64_t r = Mix(index * 7 + site_salt);
  nlohmann::json patch;
  patch["tags"] = {{"owner", "site-" + std::to_string(site_salt)}};
  patch["properties"]["desired"] = {{"rate", static_cast<int>(r % 100)}};
  if (r % 5 == 0) patch["status"] = "disabled";
  return patch;
}

namespace {

// A side's change as a document patch (the peer workload).
nlohmann::json PatchOf(uint64_t index, Side side, Change change, bool both, uint64_t seed) {
  const uint64_t r = Mix(index * 31 + seed);
  const uint64_t salt = SideSalt(side);
  nlohmann::json patch = nlohmann::json::object();
  switch (change) {
    case Change::kNone:
      return nullptr;
    case Change::kDesired:
      patch["properties"]["desired"]["rate"] = static_cast<int>(100 + salt + (r >> 8) % 50);
      if (!both) patch["properties"]["desired"]["mode"] = r % 3 == 0 ? "normal" : "eco";
      break;
    case Change::kTags:
      patch["tags"]["owner"] = side == Side::kPrimary ? "site-p" : "site-s";
      break;
    case Change::kReported:
      patch["properties"]["reported"]["temperature"] = 30.0 + static_cast<double>(salt) / 10;
      patch["properties"]["reported"]["uptime"] = static_cast<int64_t>(r % 1000000 + 3600);
      break;
    case Change::kDisable:
    case Change::kDelete:
      patch["status"] = "disabled";
      patch["statusReason"] = "maintenance";
      break;
    case Change::kRekey:
      patch["authentication"]["symmetricKey"] = {{"primaryKey", Base64ish(r * 7 + salt)},
                                                 {"secondaryKey", Base64ish(r * 7 + salt + 1)}};
      break;
  }
  return patch;
}

}  // namespace

uint64_t WritePeerWorkload(std::ostream& out, uint64_t devices, uint64_t seed) {
  for (uint64_t i = 0; i < devices; ++i) {
    const bool both = ChangedOnBoth(i, seed);
    nlohmann::json line = {
        {"id", DeviceId(i)},
        {"doc", DeviceDoc(i, seed)},
        {"a", PatchOf(i, Side::kPrimary, ChangeOf(i, Side::kPrimary, seed), both, seed)},
        {"b", PatchOf(i, Side::kSecondary, ChangeOf(i, Side::kSecondary, seed), both, seed)}};
    out << line.dump() << '\n';
  }
  return devices;
}

}  // namespace bench
