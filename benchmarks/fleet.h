// A realistic synthetic fleet for benchmarks, deterministic for a given seed.
//
// Two shapes of the same fleet:
//   - record documents (nlohmann::json) for the micro benchmarks and the CRDT peer workload;
//   - IoT Hub bulk export lines (ExportImportDevice JSON, about 600 bytes a device: id, eTag,
//     status, sas keys, twinETag, tags, desired and reported sections with $metadata/$version,
//     capabilities, scopes), written as text without a JSON library so that generating millions
//     of lines costs little next to what is measured.
// Fleet: devices dev-00000000 ... ; every 20th is an IoT Edge gateway (modules $edgeAgent,
// $edgeHub, telemetry); one leaf in five is a child of the gateway before it (deviceScope and
// parentScopes); one in twenty has an `agent` module.
// Divergence after the backup (the base): each side changes 10% of the devices, 1% on both (the
// same path, different values); a change is a desired patch, a tag change, a reported update, a
// disable, a re-key or (3% of changes) a delete; each side also creates 0.5% new devices.
//
// Thread safety: pure functions; safe from any thread.
#ifndef RECONCILE_BENCHMARKS_FLEET_H_
#define RECONCILE_BENCHMARKS_FLEET_H_

#include <cstdint>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace bench {

// The record document of device `index` (status, authentication, tags, properties).
nlohmann::json DeviceDoc(uint64_t index, uint64_t seed = 1);

// A patch a site might make during an outage: a few tags and desired properties changed.
nlohmann::json OutagePatch(uint64_t index, uint64_t site_salt);

std::string DeviceId(uint64_t index);

// Which export a line belongs to: the backup both sites started from, or a site's export after
// the outage.
enum class Side { kBase, kPrimary, kSecondary };

// What a side did to a device after the backup.
enum class Change { kNone, kDesired, kTags, kReported, kDisable, kRekey, kDelete };

const char* ChangeName(Change change);

// The change `side` made to device `index` (kNone for the base and for ~90% of the devices).
Change ChangeOf(uint64_t index, Side side, uint64_t seed = 1);

// True when both sides changed device `index`.
bool ChangedOnBoth(uint64_t index, uint64_t seed = 1);

struct ExportCounts {
  uint64_t devices = 0;
  uint64_t modules = 0;
  uint64_t edge_devices = 0;
  uint64_t edge_children = 0;
  uint64_t changed = 0;  // devices this side changed (deletes included)
  uint64_t deleted = 0;
  uint64_t created = 0;  // devices this side created after the backup
  uint64_t lines = 0;    // devices + modules written
  uint64_t bytes = 0;    // bytes written, line endings included
};

// Writes the export of a fleet of `devices` devices as `side` sees it: every device followed by
// its modules, then the side's new devices. Returns what it wrote.
ExportCounts WriteExport(std::ostream& out, uint64_t devices, Side side, uint64_t seed = 1);

// The shared CRDT workload of the peer comparison, one JSON object a line:
//   {"id", "doc": <DeviceDoc>, "a": <patch or null>, "b": <patch or null>}
// a/b are the changes of the two sites after the fork (10% each, 1% both, same ChangeOf rule,
// deletes read as disables: a peer document has no delete of its own).
uint64_t WritePeerWorkload(std::ostream& out, uint64_t devices, uint64_t seed = 1);

}  // namespace bench

#endif  // RECONCILE_BENCHMARKS_FLEET_H_
