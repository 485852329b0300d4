// reconcile/failback.h — the failback orchestrator and the hubs it talks to.
//
// A failback merges what a secondary hub did during an outage back into the primary:
//   ingest-primary    the primary's current export (its own site)
//   ingest-secondary  the secondary's export, 3-way against the backup it was seeded from
//   ingest-events     twin reads and notifications, when given (per-leaf stamps)
//   plan              ETag-guarded import files against the primary's current export
//   apply             an import job on the primary, through a HubAdapter
//   retry             read importErrors.log, re-plan against a fresh export, apply (bounded)
//   verify            export the primary again; its state must equal the merged state on every
//                     field the plan writes (the "plan projection"), digest against digest (when
//                     they differ, what the primary changed since the last export read is merged
//                     first, 3-way, and the digests compared again; docs/FAILBACK.md)
// Every step is idempotent and checkpointed in the work store (meta "failback/step/<name>"),
// written in the same RocksDB batch as the step's last data, so a crash anywhere followed by a
// rerun with `resume` finishes the same way and with the same digest.
//
// Thread safety: RunFailback is not reentrant for one work directory (the store lock refuses a
// second run). HubAdapter implementations say their own.
#ifndef RECONCILE_FAILBACK_H_
#define RECONCILE_FAILBACK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "reconcile/stamp.h"
#include "reconcile/status.h"

namespace reconcile {

struct ImportOutcome {
  // False when the job runs outside this process and has not reported back yet (directory hub):
  // the orchestrator stops with kConflict "waiting for the import job" and a rerun with resume
  // picks up from there.
  bool completed = false;
  uint64_t lines = 0;   // lines submitted
  uint64_t failed = 0;  // lines in the errors log
};

// A hub the orchestrator exports from and imports into.
class HubAdapter {
 public:
  virtual ~HubAdapter() = default;
  // The hub's name (IoT Hub's hubName), e.g. "contoso-weu".
  virtual std::string name() const = 0;
  // True for the simulated hub (drills and tests only); reports say so.
  virtual bool simulated() const = 0;
  // Writes the hub's current registry export (devices.txt, ExportImportDevice lines, with the
  // hub's own eTag/twinETag/scopes) to `path`.
  virtual Status Export(const std::string& path) = 0;
  // Runs one import job over `files`, in order, and writes the hub's importErrors.log lines
  // ({"deviceId", "moduleId"?, "errorCode", "errorStatus"}) to `errors_path` (empty when none).
  // `job_id` is stable across retries of the same job (idempotency key).
  virtual Result<ImportOutcome> Import(const std::string& job_id,
                                       const std::vector<std::string>& files,
                                       const std::string& errors_path) = 0;
};

// A hub laid out as a folder, the way an operator mirrors the hub's blob containers:
//   <dir>/export/devices.txt              the hub's latest export (the operator puts it there)
//   <dir>/import/<job>/<files>             import files written by the orchestrator
//   <dir>/import/<job>/importErrors.log    the job's errors (the operator puts it back; its
//                                          presence means the job completed)
// REQUIRES: `dir` exists.
std::unique_ptr<HubAdapter> MakeDirectoryHub(const std::string& dir, const std::string& hub_name);

struct SimulatedHubOptions {
  // The hub's name. Default: "simulated-hub".
  std::string name = "simulated-hub";
  // Seeds the hub's generation ids (scopes) and ETags, so two hubs differ. Default: 1.
  uint64_t seed = 1;
  // Called at the start of every import job with the hub itself, before any line is applied:
  // the drill uses it to make a concurrent change on the primary. It runs before the job is
  // recorded as started, so it runs again if the process dies before that, and not again when a
  // started job is continued: hooks should be idempotent. Default: none.
  std::function<void(class SimulatedHub&)> before_import;
  // Record a notification (lifecycle and twin change events) for every change. Default: true.
  bool notifications = true;
  // The hub's clock for changes made by import jobs (operationTimestamp, $lastUpdated).
  // Default (empty): the system clock.
  std::function<Hlc()> clock;
};

// An in-process IoT hub for drills and tests ONLY: it keeps an identity registry and twins in a
// folder (a snapshot plus a journal flushed per change, so it survives a crash of the orchestrator;
// a job interrupted by a crash continues where it stopped when Import is called again with the
// same job id, and a finished job id is never run twice), gives every device and twin its own ETag,
// gives IoT Edge devices scopes with a hub-specific generation id, applies import files with
// IoT Hub's importMode rules and error codes (404001 not found, 409001 already exists, 412001
// ETag mismatch), and exports devices.txt as the hub does. It is not Azure IoT Hub: see
// docs/FAILBACK.md for what it models and what it does not.
// Thread safety: not synchronized; use one thread at a time. One SimulatedHub per folder at a
// time, in any process (a second Open gets kConflict "hub is locked").
class SimulatedHub : public HubAdapter {
 public:
  // Opens (or creates) the hub kept in `dir`.
  static Result<std::unique_ptr<SimulatedHub>> Open(const std::string& dir,
                                                    SimulatedHubOptions options = {});
  ~SimulatedHub() override;

  std::string name() const override;
  bool simulated() const override { return true; }
  Status Export(const std::string& path) override;
  Result<ImportOutcome> Import(const std::string& job_id, const std::vector<std::string>& files,
                               const std::string& errors_path) override;

  // Direct registry operations, as the hub's service API would do them (each bumps ETags and
  // appends a notification when notifications are on). `doc` is an ExportImportDevice-shaped
  // object (status, authentication, tags, properties.desired, capabilities, ...).
  Status CreateDevice(const std::string& device_id, const std::string& module_id,
                      const std::string& doc_json, Hlc at);
  Status UpdateDevice(const std::string& device_id, const std::string& module_id,
                      const std::string& patch_json, Hlc at);
  Status DeleteDevice(const std::string& device_id, const std::string& module_id, Hlc at);
  // Notifications (device lifecycle and twin change events, as routed to an Event Hub) of
  // every change so far, one JSON message a line, written to `path`.
  Status WriteNotifications(const std::string& path) const;
  // Number of devices and modules.
  uint64_t size() const;
  // Turns notifications on or off from now on (e.g. off while a drill creates its fleet: a real
  // hub's Event Hubs route would have aged those events out long before an outage).
  void SetNotifications(bool on);
  // One identity as the hub holds it (tests and drills): {"status", "authentication", ...,
  // "tags", "properties": {"desired", "reported"}, "eTag", "twinETag"}. kNotFound when absent.
  Result<std::string> GetRecord(const std::string& device_id, const std::string& module_id) const;
  // Writes the registry snapshot now and empties the journal (also done after every import job
  // and when the hub is destroyed).
  Status Flush();
  // Fills an empty hub from an export (devices.txt), as a disaster-recovery secondary is seeded
  // from the primary's backup and its devices then reconnect: identities with their keys, tags,
  // desired AND reported properties (which an import job cannot set), this hub's own ETags and
  // scopes, no notifications. Returns the records restored; kConflict when the hub is not empty.
  Result<uint64_t> RestoreFromExport(const std::string& export_path, Hlc at);

  class Impl;

 private:
  explicit SimulatedHub(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct FailbackOptions {
  // Working folder: the work store, plans, exports and the step log. REQUIRED.
  std::string work_dir;
  // The hubs. REQUIRED; not owned.
  HubAdapter* primary = nullptr;
  HubAdapter* secondary = nullptr;
  // Site names for the two hubs' writes. Defaults: "primary", "secondary".
  std::string primary_site = "primary";
  std::string secondary_site = "secondary";
  // The backup export the secondary was seeded from (3-way ingest). Empty: the secondary's
  // export is ingested whole at secondary_observed_at (every field a write). Default: empty.
  std::string base_export;
  // When each export was taken (stamps of snapshot writes). 0: the time the step runs.
  Hlc primary_observed_at = 0;
  Hlc secondary_observed_at = 0;
  // The fork point (when the sites were last in sync: the backup's time). Default: 0 (none).
  Hlc fork_point = 0;
  // Twin reads (JSON Lines), each with the site whose hub they were read from: a twin read of
  // the primary is the primary's write. Default: none.
  std::vector<std::pair<std::string, std::string>> twin_files;  // (site, file)
  // Stamps from outside (twin reads, notifications, metadata) more than this far ahead of the
  // clock (`now`, or the system clock) are quarantined: written to the rejects file with the
  // site and the skew, not applied. 0: no guard. Default: 5 minutes.
  uint64_t max_offset_ms = 5 * 60 * 1000;
  // Notification files (JSON Lines); each event's site comes from its hubName. Default: none.
  std::vector<std::string> notification_files;
  // Notifications' hubName -> site name. Default: the hubs' names map to the two sites.
  std::map<std::string, std::string> hub_sites;
  // Plan options (see PlanOptions).
  bool force = false;
  bool no_keys = false;
  uint64_t max_lines_per_file = 0;
  // Retry rounds after the first import. Default: 3.
  int max_retries = 3;
  // With base_export: the site the backup is ingested as (whole, at base_observed_at), so that
  // the primary's and the secondary's exports are both read 3-way against it and only what each
  // changed since the backup becomes its write. Default: "backup".
  std::string base_site = "backup";
  // When the backup was taken. 0: fork_point, or, if that is 0 too, primary_observed_at - 1 ms.
  Hlc base_observed_at = 0;
  // Application metadata files (ReadMeta lines), each with the site that wrote it. Merged and
  // reported (conflicts) with the rest; the plan does not write metadata to the hub.
  std::vector<std::pair<std::string, std::string>> meta_files;  // (site, file)
  // The clock for observed-at times left 0 and for the fresh exports of retries and verify, in
  // hlc units. Default (empty): the system clock. Tests pass a fixed clock for repeatable runs.
  std::function<Hlc()> now;
  // Continue a run that stopped (crash or waiting for an import job). Without it, a work
  // folder holding a run, finished or not, is an error (kConflict). With it, a finished run
  // returns its report again (every step resumed). Default: false.
  bool resume = false;
  // Called when a step starts and ends (for progress output). Default: none.
  std::function<void(const std::string& step, bool done)> on_step;
};

struct StepReport {
  std::string name;
  double seconds = 0;        // this run's time in the step (0 when it was checkpointed before)
  bool resumed = false;      // done in an earlier run, skipped now
  uint64_t records = 0;      // records read, planned or applied
};

struct FailbackReport {
  std::vector<StepReport> steps;
  uint64_t rejected_lines = 0;
  std::map<std::string, uint64_t> conflicts_by_rule;
  std::map<std::string, uint64_t> plan_lines_by_mode;  // first plan
  int retry_rounds = 0;
  uint64_t retried_lines = 0;
  std::string merged_digest;     // plan projection of the merged state
  std::string primary_digest;    // plan projection of the primary after the import
  bool verified = false;         // the two digests are equal
  uint64_t differing_records = 0;          // records whose projections differ (when !verified)
  std::vector<std::string> differing_keys;  // the first few of them (key names, no values)
  std::string work_dir;          // where the plans, exports, errors logs and rejects are
  std::vector<std::string> notes;  // anything an operator must read (e.g. simulated hub used)
};

// Runs (or resumes) a failback. kConflict "waiting for the import job" when a directory hub's
// job has not reported back; verification failure is not an error: see report.verified.
Result<FailbackReport> RunFailback(const FailbackOptions& options);

// The report for people (a few aligned lines) or machines (one JSON object, one line). Neither
// holds a key: reports name keys of records, never their secrets.
std::string FormatFailbackReport(const FailbackReport& report, bool as_json);

}  // namespace reconcile

#endif  // RECONCILE_FAILBACK_H_
