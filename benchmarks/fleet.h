// A realistic synthetic fleet for benchmarks: device documents shaped like IoT Hub's
// ExportImportDevice records (keys, tags, desired and reported twin sections), about 600 bytes
// each, deterministic for a given seed.
#ifndef RECONCILE_BENCHMARKS_FLEET_H_
#define RECONCILE_BENCHMARKS_FLEET_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace bench {

// The record document of device `index` (status, authentication, tags, properties).
nlohmann::json DeviceDoc(uint64_t index, uint64_t seed = 1);

// A patch a site might make during an outage: a few tags and desired properties changed.
nlohmann::json OutagePatch(uint64_t index, uint64_t site_salt);

std::string DeviceId(uint64_t index);

}  // namespace bench

#endif  // RECONCILE_BENCHMARKS_FLEET_H_
