// reconcile/iothub_plan.h — the failback plan: ETag-guarded import files for the primary hub, and
// the retry plan built from the hub's importErrors.log.
//
// BuildFailbackPlan compares every merged record (MergedSource, key order) with the primary hub's
// current bulk export and writes ExportImportDevice lines with an importMode:
//   record exists, not on the primary            -> create            (--force: createOrUpdate)
//   identity fields differ                       -> updateIfMatchETag (--force: createOrUpdate)
//   only tags or properties.desired differ       -> updateTwinIfMatchETag (--force: updateTwin)
//   record deleted, still on the primary         -> deleteIfMatchETag (--force: delete)
//   equal, or only reported properties differ    -> nothing
// The conditional modes carry the primary's own eTag / twinETag, so a record changed on the
// primary since its export fails its line (412001) instead of being overwritten.
// Identity fields: status, statusReason, authentication, capabilities, deviceScope, parentScopes
// (modules: authentication). Every line has id, status and authentication; enums are lowerCamel;
// no $metadata/$version; properties.reported is never written (records whose reported properties
// differ are listed in the report). Modules $edgeAgent and $edgeHub are skipped, and so are
// modules of records that do not exist. deviceScope/parentScopes are rewritten to the primary's
// scopes (see docs/FORMATS.md, "Scopes").
//
// Order: edge devices parents first (by nesting depth), then other devices, then modules; then
// deletes: modules, other devices, edge devices children first. Lines are split into files of at
// most max_lines_per_file lines named <prefix>-00001.txt, ...; a manifest.json (counts per
// importMode, file digests, input digests, creation time) and a plan-report.jsonl are written
// beside them. The output is a pure function of (merged state, primary export, options): the same
// inputs give the same bytes.
//
// Secrets: keys appear only inside the import files (and not even there with no_keys); the report,
// the manifest, rejects and errors never hold them.
//
// Memory: the primary export is indexed as (key, hashes, offset) per record plus the scopes of its
// edge devices, and re-read by offset only for records that change; the merged state is streamed
// twice (the first pass keeps only edge devices' scopes); plan lines are spilled to temporary files
// in out_dir while they are sorted into the order above.
//
// Thread safety: reentrant; the sources and readers passed in belong to the call.
#ifndef RECONCILE_IOTHUB_PLAN_H_
#define RECONCILE_IOTHUB_PLAN_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reconcile/iothub.h"
#include "reconcile/key.h"
#include "reconcile/line_reader.h"
#include "reconcile/reject.h"
#include "reconcile/status.h"

namespace reconcile {

// IoT Hub import modes. ImportModeName gives the hub's lowerCamel spelling.
enum class ImportMode {
  kCreate,
  kUpdate,
  kUpdateIfMatchETag,
  kCreateOrUpdate,
  kUpdateTwin,
  kUpdateTwinIfMatchETag,
  kDelete,
  kDeleteIfMatchETag,
};

std::string_view ImportModeName(ImportMode mode);
// Accepts any letter case ("UpdateIfMatchETag", "updateifmatchetag"); kInvalidInput otherwise.
Result<ImportMode> ParseImportMode(std::string_view name);

struct PlanOptions {
  // Directory for the import files, manifest and report. REQUIRED; created when missing. What an
  // earlier plan wrote there (<prefix>-NNNNN.txt, manifest.json, plan-report.jsonl, spill files)
  // is removed first, so a rerun never leaves a stale import file; other files are left alone.
  std::string out_dir;
  // Import files are <prefix>-00001.txt, <prefix>-00002.txt, ... Default "devices".
  std::string file_prefix = "devices";
  // Most lines per import file; 0 means one file. Default 0.
  uint64_t max_lines_per_file = 0;
  // Unconditional modes (createOrUpdate, updateTwin, delete) instead of the ETag-guarded ones.
  bool force = false;
  // Leave authentication.symmetricKey out of every line: the hub generates keys for creates.
  // Key changes are then not planned (listed in the report). Default false.
  bool no_keys = false;
  // Written into the manifest as is (ISO-8601 by convention). The caller passes it so that the
  // same inputs give the same bytes. REQUIRED.
  std::string created_at;
  // Digests the caller knows (e.g. {"store", <store digest>}), written into the manifest.
  std::vector<std::pair<std::string, std::string>> input_digests;
  // Plan only these keys (the retry plan's re-planning). Empty: every key. The merged source may
  // then yield only these keys: a module whose device record does not come by is taken to have
  // its device (with every key, such a module is an orphan and is not planned).
  std::set<Key> only_keys;
  // The most bytes of the primary export's index held in memory (about 120 bytes a record); past
  // it the index is sorted into files in out_dir (removed when the plan is done), so that memory
  // stays flat however large the fleet. Default 48 MiB.
  size_t index_memory_bytes = size_t{48} << 20;
};

struct PlanSummary {
  std::map<std::string, uint64_t> counts;  // importMode name -> lines
  uint64_t unchanged = 0;                  // records equal on both sides
  uint64_t untouched = 0;      // of those, known equal unread: as the backup wrote them (P27)
  uint64_t reported_only = 0;  // only reported properties differ (nothing written)
  uint64_t system_modules_skipped = 0;  // $edgeAgent / $edgeHub
  uint64_t orphan_modules = 0;          // modules of records that do not exist
  uint64_t primary_only = 0;            // on the primary, unknown to the merged state
  uint64_t needs_fresh_export = 0;      // retry: 412001 lines not re-planned (no fresh export)
  uint64_t not_retried = 0;             // retry: errors with no rule
  uint64_t report_lines = 0;
  std::vector<std::string> files;  // import files, in apply order (full paths)
  std::string manifest_path;
  std::string report_path;
};

// Builds the plan described above. `primary` is the primary hub's current export (it is read
// from the start and re-read by offset). Rejected primary lines go to `rejects`. The first pass
// over `merged` may run on a helper thread while `primary` is indexed on the caller's: the factory
// and the sources it makes must allow that (they are used by one thread at a time).
// Errors: kInvalidInput for bad options, kIoError for files, or an error of the merged source.
Result<PlanSummary> BuildFailbackPlan(const MergedSourceFactory& merged, LineReader& primary,
                                      const PlanOptions& options, RejectSink* rejects);

// One line of importErrors.log.
struct ImportError {
  std::string device_id;
  std::string module_id;  // empty for devices
  int64_t error_code = 0;
  std::string error_status;  // the hub's text; never written to reports (it may echo input)
};

// Reads importErrors.log ({"deviceId", "moduleId"?, "errorCode", "errorStatus"} lines; errorCode
// as a number or a string of digits). Bad lines go to `rejects`.
Result<std::vector<ImportError>> ReadImportErrors(LineReader& log, RejectSink* rejects);

struct RetryInputs {
  // The import files of the plan that was run, in the order they were applied. REQUIRED.
  std::vector<std::string> previous_files;
  // The merged state and a fresh export of the primary, to re-plan 412001 (ETag mismatch) and,
  // when both are given, 409001 lines. May be null: those lines are then reported as needing a
  // fresh export (412001) or switched to importMode update (409001).
  const MergedSourceFactory* merged = nullptr;
  LineReader* fresh_primary = nullptr;
};

// The next plan after a run that logged `errors`. Per failed line (matched by id and moduleId):
//   404001 (not found): update, updateIfMatchETag, updateTwin, updateTwinIfMatchETag -> create
//                       (eTag/twinETag dropped); delete, deleteIfMatchETag -> dropped (done);
//   409001 (already exists): create -> re-planned with the fresh export, else update;
//   412001 (ETag mismatch): re-planned against the fresh export (only_keys), else reported;
//   anything else: reported as not retried.
// Lines without an error succeeded and are not repeated. Lines keep the plan's order of groups
// (edge devices, devices, modules, deletes); within a group re-planned lines come first, then
// switched lines in their previous order. Writes files like BuildFailbackPlan.
Result<PlanSummary> BuildRetryPlan(const RetryInputs& inputs,
                                   const std::vector<ImportError>& errors,
                                   const PlanOptions& options, RejectSink* rejects);

// The device id named by an edge scope "ms-azure-iot-edge://<deviceId>-<generationId>" (the
// generation id is the digits after the last '-'); kInvalidInput when `scope` is not one.
Result<std::string> ScopeDeviceId(std::string_view scope);

// A scope for `device_id` derived deterministically (for a parent the primary does not have yet):
// "ms-azure-iot-edge://<deviceId>-<18 decimal digits of a stable hash of the id>".
std::string DerivedScope(std::string_view device_id);

// SHA-256 of a file's bytes as 64 lower-case hex digits (manifest digests). kIoError on failure.
Result<std::string> FileSha256(const std::string& path);

}  // namespace reconcile

#endif  // RECONCILE_IOTHUB_PLAN_H_
