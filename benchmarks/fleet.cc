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

std::string Base64ish(uint64_t v) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (int i = 0; i < 43; ++i) {
    v = Mix(v + i);
    out.push_back(kAlphabet[v & 63]);
  }
  return out + "=";
}

}  // namespace

std::string DeviceId(uint64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "dev-%08llu", static_cast<unsigned long long>(index));
  return buf;
}

nlohmann::json DeviceDoc(uint64_t index, uint64_t seed) {
  const uint64_t r = Mix(index * 31 + seed);
  nlohmann::json doc;
  doc["status"] = (r % 50 == 0) ? "disabled" : "enabled";
  doc["authentication"] = {{"type", "sas"},
                           {"symmetricKey",
                            {{"primaryKey", Base64ish(r)}, {"secondaryKey", Base64ish(r + 1)}}}};
  doc["capabilities"] = {{"iotEdge", r % 20 == 0}};
  doc["tags"] = {{"site", "plant-" + std::to_string(r % 40)},
                 {"line", static_cast<int>(r % 12)},
                 {"owner", "ops"},
                 {"model", "pump-x" + std::to_string(r % 7)},
                 {"installed", "2024-03-1" + std::to_string(r % 10)}};
  doc["properties"]["desired"] = {{"rate", static_cast<int>(r % 100)},
                                  {"mode", r % 3 == 0 ? "eco" : "normal"},
                                  {"firmware", {{"version", "1.4." + std::to_string(r % 9)},
                                                {"channel", "stable"}}},
                                  {"alarms", {{"high", 90}, {"low", 10}}}};
  doc["properties"]["reported"] = {{"rate", static_cast<int>(r % 100)},
                                   {"temperature", 20.5 + static_cast<double>(r % 100) / 10},
                                   {"firmware", {{"version", "1.4." + std::to_string(r % 9)}}},
                                   {"uptime", static_cast<int64_t>(r % 1000000)},
                                   {"lastBoot", "2026-11-0" + std::to_string(1 + r % 9) +
                                                    "T08:00:00Z"}};
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

}  // namespace bench
