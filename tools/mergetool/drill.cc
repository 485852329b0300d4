// mergetool drill [--devices N] [--seed S] [--work DIR] [--json]
// The README's main job (default 100,000 devices; see docs/FAILBACK.md "Timing"): a
// simulated outage end to end on two SIMULATED hubs (drills and tests only) — a fleet, a backup, a
// seeded secondary, RPO-window and outage changes, duplicated and shuffled notifications, a
// failback with a concurrent change on the primary (412001 lines retried), then the checks:
// converged digests and no acknowledged write lost. Prints the report; exit 0 only when the verdict
// is PASS.
#include <stdlib.h>
#include <unistd.h>

#include <iostream>

#include "lib/failback/drill.h"
#include "tools/mergetool/failback_commands.h"

namespace mergetool {
namespace {

struct DrillCliOptions {
  uint64_t devices = 100000;
  uint64_t seed = 1;
  std::string work;
  bool json = false;
};

Exit RunDrillCommand(const DrillCliOptions& o) {
  reconcile::failback::DrillOptions d;
  d.devices = o.devices;
  d.seed = o.seed;
  d.work_dir = o.work;
  if (d.work_dir.empty()) {
    char pattern[] = "/tmp/reconcile-drill-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      return Fail(reconcile::Status::IoError("cannot create a work folder under /tmp"));
    }
    d.work_dir = pattern;
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  d.on_phase = [tty](const std::string& phase) {
    if (tty) std::cerr << "drill: " << phase << " ...\n";
  };
  auto report = reconcile::failback::RunDrill(d);
  if (!report.ok()) return Fail(report.status().WithContext("drill in " + d.work_dir));
  std::cout << reconcile::failback::FormatDrillReport(*report, o.json);
  std::cout.flush();
  std::cerr << "drill: " << (report->passed ? "PASS" : "FAIL") << ", " << report->devices
            << " devices, " << report->seconds << " s, work folder " << d.work_dir << "\n";
  return report->passed ? Exit::kOk : Exit::kFailure;
}

}  // namespace

Run SetupDrill(CLI::App& sub) {
  auto o = std::make_shared<DrillCliOptions>();
  sub.add_option("--devices", o->devices,
                 "devices in the simulated fleet (default 100000: under a minute on the idle "
                 "2-core reference machine)")
      ->check(CLI::Range(uint64_t{20}, uint64_t{10000000}));
  sub.add_option("--seed", o->seed,
                 "seed of the fleet, the changes and the delivery order (default 1)");
  sub.add_option("--work", o->work, "work folder (default: a new folder under /tmp)");
  sub.add_flag("--json", o->json, "print the report as one JSON object");
  return [o] { return RunDrillCommand(*o); };
}

}  // namespace mergetool
