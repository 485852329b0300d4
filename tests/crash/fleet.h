// The inputs every kill test runs mergetool on: a prepared failback drill (two simulated hubs after
// an outage, the backup, the hubs' notifications and metadata; lib/failback/drill.h) and the
// exports, twin reads and command lines made from it.
//
// Thread safety: none; one test thread.
#ifndef RECONCILE_TESTS_CRASH_FLEET_H_
#define RECONCILE_TESTS_CRASH_FLEET_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace crash_test {

struct Fleet {
  std::string drill;             // the prepared drill folder (hubs, backup, events, meta)
  std::string base;              // the backup the secondary was seeded from (devices.txt)
  std::string primary_export;    // the primary hub's export after the outage
  std::string secondary_export;  // the secondary hub's export after the outage
  std::string events;            // the hubs' notifications, duplicated and shuffled
  std::string meta_primary;      // application metadata written at each site
  std::string meta_secondary;
  std::string twins;  // twin reads of the secondary's devices (mergetool export --format twin)
  std::string primary_site, secondary_site;  // site names of the drill's failback
  std::string primary_hub, secondary_hub;    // hub names (notifications' hubName)
  // ISO-8601 times of the drill: the backup (fork point), the primary's last change, the
  // secondary's export.
  std::string fork_point, primary_observed_at, secondary_observed_at;
  uint64_t seed = 0;
  uint64_t devices = 0;
};

// Runs a prepared drill of `devices` devices in `dir` and writes the inputs beside it.
// Test assertions fail when any part of it fails.
Fleet PrepareFleet(const std::string& dir, uint64_t devices, uint64_t seed);

// One mergetool command of a pipeline, given the store (or work folder) it runs on.
struct Command {
  std::string name;
  std::function<std::vector<std::string>(const std::string& store)> args;
};

// The secondary's store, built up the way an operator would: init, the backup whole (site
// backup), the secondary's export 3-way against it, the notifications (delivered three times: the
// join absorbs repeats), twin reads and metadata. The first command is `init`.
std::vector<Command> SecondaryPipeline(const Fleet& fleet);
// The primary's store: init, the backup, the primary's export 3-way, its metadata.
std::vector<Command> PrimaryPipeline(const Fleet& fleet);

// Runs every command of `pipeline` on `store`, uninterrupted (assertions fail on an error).
void RunPipeline(const std::vector<Command>& pipeline, const std::string& store);

}  // namespace crash_test

#endif  // RECONCILE_TESTS_CRASH_FLEET_H_
