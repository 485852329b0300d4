// Internal: the failback drill — a whole simulated outage, end to end, on two SimulatedHubs (drills
// and tests ONLY). `mergetool drill` is its command-line face; tests run it in-process.
//
//  1. fleet: devices (keys, tags, desired and reported properties), modules, IoT Edge gateways
//     (with $edgeAgent/$edgeHub made by the hub) and their children, on a simulated primary; the
//     primary's export is the backup; a simulated secondary is seeded from it by an import job;
//     application metadata records at both sites;
//  2. RPO window: primary changes after the backup (creates, deletes, twin patches, disables);
//  3. outage: the secondary takes creates (edge gateways and children too), twin patches,
//     disables, re-keys, deletes, reported-property updates; ~1% of devices get the same paths
//     changed on both sides;
//  4. notifications of both hubs, delivered duplicated and shuffled;
//  5. RunFailback, with a before_import hook that changes some planned devices on the primary
//     (so their ETag-guarded lines fail with 412001 and are retried);
//  6. checks: the merged state's plan projection equals the primary's (verified), and every
//     acknowledged write (secondary outage writes, primary RPO writes, the concurrent changes) is
//     on the primary at the end, unless a conflict rule decided against it (looked up in the
//     merged state's conflicts).
// The run is a pure function of (devices, seed): the drill's clock is simulated, so the same
// arguments give the same fleet, plan and digests.
//
// Secrets: the report never holds key material (it names keys of records, never their values).
//
// Thread safety: RunDrill is reentrant for distinct work folders.
#ifndef RECONCILE_LIB_FAILBACK_DRILL_H_
#define RECONCILE_LIB_FAILBACK_DRILL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "reconcile/failback.h"
#include "reconcile/status.h"

namespace reconcile::failback {

struct DrillOptions {
  // Devices in the fleet (edge gateways included). Default: 100000 (under a minute on the idle
  // 2-core reference machine; see DECISIONS F3). REQUIRES: >= 20.
  uint64_t devices = 100000;
  // Seeds the fleet, the changes, the delivery order and the hubs. Default: 1.
  uint64_t seed = 1;
  // Working folder (hubs, backup, events, the failback's work folder). REQUIRED; it must not
  // hold an earlier drill (kConflict).
  std::string work_dir;
  // Called when a phase starts (progress output). Default: none.
  std::function<void(const std::string& phase)> on_phase;
  // Stop after the notifications are delivered, with the hubs closed, so a caller can run the
  // failback itself (tests: kill and resume). Default: false.
  bool prepare_only = false;
};

struct DrillPhase {
  std::string name;
  double seconds = 0;
  uint64_t records = 0;  // identities, changes, events or lines the phase handled
};

struct DrillReport {
  // Fleet.
  uint64_t devices = 0;
  uint64_t edge_devices = 0;
  uint64_t edge_children = 0;  // devices with a parent gateway
  uint64_t modules = 0;        // including the hub's $edgeAgent/$edgeHub
  uint64_t meta_records = 0;
  uint64_t identities = 0;  // devices + modules on the primary at the backup
  // Changes.
  std::map<std::string, uint64_t> primary_changes;    // RPO window, by kind
  std::map<std::string, uint64_t> secondary_changes;  // outage, by kind
  uint64_t both_sides = 0;          // devices with the same path changed on both sides
  uint64_t concurrent_changes = 0;  // made on the primary by the before_import hook
  // Notifications.
  uint64_t events = 0;      // messages the hubs wrote
  uint64_t delivered = 0;   // messages delivered (with repeats)
  uint64_t duplicates = 0;  // repeats delivered, absorbed by the join
  // The failback.
  FailbackReport failback;
  // Acknowledged writes.
  uint64_t acknowledged = 0;  // writes checked
  uint64_t kept = 0;          // on the primary at the end
  uint64_t superseded = 0;    // replaced by a later write of the same site
  std::map<std::string, uint64_t>
      decided_by_rule;                     // not there: a conflict rule chose another write
  uint64_t lost = 0;                       // not there, and no rule explains it
  std::vector<std::string> lost_examples;  // "key path" of the first few (no values)
  // Time.
  std::vector<DrillPhase> phases;
  double seconds = 0;
  // The verdict: verified, nothing lost, and the injected 412001 lines were retried.
  bool passed = false;
  std::vector<std::string> failures;  // why not, when !passed
};

Result<DrillReport> RunDrill(const DrillOptions& options);

// For a failback of a prepared drill (prepare_only) run by the caller: the hubs' options, with
// the concurrent change as their before_import hook (primary only), and the failback's options
// (everything but the hubs and the clock). `work_dir` and `seed` are the drill's.
SimulatedHubOptions DrillHubOptions(const std::string& work_dir, uint64_t seed, bool primary);
std::string DrillHubDir(const std::string& work_dir, bool primary);
FailbackOptions DrillFailbackOptions(const std::string& work_dir);

// Human text (a report of a few dozen lines) or one JSON object on one line.
std::string FormatDrillReport(const DrillReport& report, bool as_json);

}  // namespace reconcile::failback

#endif  // RECONCILE_LIB_FAILBACK_DRILL_H_
