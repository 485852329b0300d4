// reconcile/iothub.h — Azure IoT Hub formats: readers that turn hub files into deltas, and
// writers that turn merged records back into hub files.
//
// Readers stream their input one line at a time (LineReader) and hand every record they read to a
// DeltaSink as (Key, RecordState delta) built with operations.h; a line they cannot use becomes a
// Reject (file, line, reason) and the read goes on. What each format means, field by field, and
// which fields become the record document, is written in docs/FORMATS.md; the choices in
// docs/DECISIONS.md.
//
// The record document of a device or module (what is merged; the same for every reader):
//   {"status", "statusReason", "authentication": {"type", "symmetricKey": {"primaryKey",
//    "secondaryKey"}, "x509Thumbprint": {"primaryThumbprint", "secondaryThumbprint"}},
//    "capabilities": {"iotEdge"}, "deviceScope", "parentScopes", "tags",
//    "properties": {"desired", "reported"}}
// capabilities, deviceScope and parentScopes only for devices. eTag, twinETag, importMode, version,
// $metadata and $version are hub bookkeeping: never part of the merged state.
//
// Validation follows IoT Hub's limits: device/module ids (key.h), twin key rules (path.h), depth of
// tags/desired/reported <= 10, tags <= 8 KB, desired and reported <= 32 KB each (canonical JSON
// bytes), string values in those sections <= 4 KB, integers in them within -2^52..2^52-1, no C0
// or C1 control characters in their keys, statusReason <= 128 characters, status
// enabled|disabled, authentication.type sas|selfSigned|certificateAuthority|none (enum values are
// accepted in any letter case and written lowerCamel). A line naming one member twice in one
// object is rejected (kInvalidJson): which of the two the hub meant is unknown.
//
// Thread safety: the functions are reentrant; the readers, sinks and sources passed to one call
// must not be used by another thread during it.
#ifndef RECONCILE_IOTHUB_H_
#define RECONCILE_IOTHUB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "reconcile/key.h"
#include "reconcile/line_reader.h"
#include "reconcile/policy.h"
#include "reconcile/record.h"
#include "reconcile/reject.h"
#include "reconcile/stamp.h"
#include "reconcile/status.h"

namespace reconcile {

// Receives each delta a reader produced. A non-OK status stops the read; the reader returns it.
using DeltaSink = std::function<Status(const Key& key, RecordState delta)>;

// The clock guard of a read (DESIGN §2). A line whose stamps from outside ($lastUpdated,
// statusUpdateTime, operationTimestamp, enqueued time, updatedAt) lie more than max_offset_ms ahead
// of the ingesting site's clock is quarantined: not applied, handed to `quarantine` as a Reject
// with reason kClockSkew whose detail names the writing site and the skew, and counted in
// ReadStats::quarantined. An observed_at (export, twin) that far ahead fails the read
// (kInvalidInput) before anything is applied. Without the guard a site whose clock runs ahead
// would win every conflict until real time caught up with its stamps.
struct ClockGuard {
  // How far ahead of the clock a stamp may be, in milliseconds. 0 (default): no guard.
  uint64_t max_offset_ms = 0;
  // The ingesting site's clock in milliseconds since the epoch. Default (empty): the system clock.
  std::function<uint64_t()> now_ms;
  // The ingesting site's name, for the report. Default empty: "this site".
  std::string ingesting_site;
  // Where quarantined lines go. Default null: to the read's reject sink.
  RejectSink* quarantine = nullptr;
};

// What a read saw. Line counts come from the LineReader.
struct ReadStats {
  LineStats lines;
  uint64_t quarantined = 0;   // lines the clock guard held back (not applied, not in `rejected`)
  uint64_t deletes_held = 0;  // 3-way: deletes not written because a snapshot line was unreadable
  uint64_t rejected = 0;   // rejects of this read (reader's own and the line reader's)
  uint64_t records = 0;    // lines turned into a delta
  uint64_t creates = 0;    // deltas that create or replace a whole record
  uint64_t patches = 0;    // deltas that change part of a record
  uint64_t deletes = 0;    // deltas that delete a record
  uint64_t unchanged = 0;  // 3-way: records equal to the base (no delta)
};

// ---- Bulk export (devices.txt, ExportImportDevice lines) -----------------------------------

struct ExportReadOptions {
  // The site the export was taken at. REQUIRED (ValidateSiteName).
  std::string site;
  // When the export was taken: every write of this read carries (observed_at, site). REQUIRED.
  Hlc observed_at = 0;
  // The export was made with keys excluded: symmetric keys are unknown (neither written nor
  // removed), the rest of `authentication` is read as usual. Default false.
  bool keys_excluded = false;
  // Default: no guard.
  ClockGuard clock_guard = {};
  // ReadExportWithBase: the most bytes of the base's index held in memory (about 80 bytes a
  // record); past it the index is sorted into files in scratch_dir (removed when the read ends),
  // so that memory stays flat however large the fleet. Default 48 MiB.
  size_t index_memory_bytes = size_t{48} << 20;
  // Where those files go. Default (empty): the system's temp directory.
  std::string scratch_dir = {};
};

// Reads a bulk export without a base: each record becomes one delta at observed_at that writes
// the record's existence and every field of the record document (a field absent from the line is
// removed), i.e. a replace of the fields the export knows. `authentication: null` means unknown:
// authentication is then neither written nor removed.
// Returns the statistics, or the first I/O or sink error.
Result<ReadStats> ReadExport(LineReader& snapshot, const ExportReadOptions& options,
                             RejectSink* rejects, const DeltaSink& sink);

// Reads a bulk export against `base` (the export the snapshot's site was seeded from): only fields
// that differ from the base become writes (set or remove, per field) of the site at observed_at;
// records missing from the snapshot but in the base become deletes (none when a snapshot line was
// rejected before its key was known: it may be the missing record's line, so every delete is held
// back and counted in deletes_held, as they are when the snapshot holds no readable record at all:
// an empty, binary or wrong file would otherwise delete the whole fleet; a rejected line whose key
// is known keeps its record, unchanged); records not in the base
// become whole-record writes as in ReadExport; records equal to the base give nothing.
// Memory: the base is read once into an index of (key, 128-bit hash of its record document, byte
// offset) per record — about 100 bytes plus the key per record, independent of document sizes —
// and a base line is read again (ReadLineAt) only when its record changed. The snapshot streams;
// the keys of records new in the snapshot join the index (to catch duplicates), so memory is
// O(base records + new records). Duplicate keys in the base or in the snapshot are rejected
// (kDuplicateRecord; the first readable line wins: a rejected line of a key before it does not
// count, so the read applies the line ReadExport applies). Deletes are emitted last, in key order.
Result<ReadStats> ReadExportWithBase(LineReader& snapshot, LineReader& base,
                                     const ExportReadOptions& options, RejectSink* rejects,
                                     const DeltaSink& sink);

// ---- Twin documents (GET twin / query output) ----------------------------------------------

// Which stamp a twin read gives `tags`, which carry no $metadata.
enum class TwinTagsStamp {
  kObservedAt,      // the read's observed_at (like an export field)
  kMaxLastUpdated,  // the greatest $lastUpdated in the twin (falls back to observed_at)
  kSkip,            // do not read tags from twins
};

struct TwinReadOptions {
  // The site the twins were read at. REQUIRED.
  std::string site;
  // When the twins were read. REQUIRED (tags and fallbacks use it).
  Hlc observed_at = 0;
  // Default kObservedAt (docs/DECISIONS.md explains why).
  TwinTagsStamp tags_stamp = TwinTagsStamp::kObservedAt;
  // Default: no guard.
  ClockGuard clock_guard = {};
};

// Reads twins, one JSON object a line. Each leaf of properties.desired/reported becomes a value
// stamped with its own $metadata.$lastUpdated (the nearest ancestor's when it has none; the
// section's, then observed_at, when the twin has no $metadata), nested objects get markers
// stamped the same way. Tags are written as one set of the `tags` section (see tags_stamp).
// A twin with a valid statusUpdateTime also sets `status` at that time. A twin read is a patch:
// it never writes the record's existence and never removes anything (absence in a twin says
// nothing about when a property was removed).
Result<ReadStats> ReadTwins(LineReader& twins, const TwinReadOptions& options, RejectSink* rejects,
                            const DeltaSink& sink);

// ---- Notifications routed from the hub -------------------------------------------------------

struct NotificationReadOptions {
  // hubName (as the hub writes it, e.g. "contoso-weu.azure-devices.net" or "contoso-weu") -> site
  // name. A hubName is looked up as is, then with everything from the first '.' removed.
  std::map<std::string, std::string> hub_sites;
  // When not empty, every notification is attributed to this site (the --site option).
  std::string site_override;
  // Default: no guard.
  ClockGuard clock_guard = {};
};

// Reads notifications, one message a line: {"properties": {...}, "systemProperties": {...},
// "body": ...} or {"application": {...}, "annotations": {...}, "payload": ...}; the body may be
// an object or a string holding the JSON text. opType:
//   createDeviceIdentity, createModuleIdentity -> create (replace) with the body's twin fields;
//   deleteDeviceIdentity, deleteModuleIdentity -> delete;
//   updateTwin  -> patch of the sections present (desired/reported leaves with their own
//                  $metadata stamps where present, nulls remove);
//   replaceTwin -> set of the tags and desired sections present in the body.
// Stamp: operationTimestamp, else iothub-enqueuedtime (ISO-8601 or epoch milliseconds).
// iothub-message-schema, when present, must go with the opType (create/delete: a
// ...LifecycleNotification; updateTwin/replaceTwin: twinChangeNotification), else kInvalidEnum.
// Duplicates give identical deltas, so they are harmless.
Result<ReadStats> ReadNotifications(LineReader& messages, const NotificationReadOptions& options,
                                    RejectSink* rejects, const DeltaSink& sink);

// ---- Application metadata ----------------------------------------------------------------------

struct MetaReadOptions {
  // The site the metadata was written at. REQUIRED.
  std::string site;
  // Default: no guard.
  ClockGuard clock_guard = {};
};

// Reads {"namespace", "key", "updatedAt", "doc": {...}} lines (optional "deleted": true): a replace
// of the document (PathRules::kMeta) at updatedAt, or a delete.
Result<ReadStats> ReadMeta(LineReader& lines, const MetaReadOptions& options, RejectSink* rejects,
                           const DeltaSink& sink);

// ---- Merged records: what writers and the plan builder consume ------------------------------

// One record of the merged state. `doc` is the materialized record, nullopt when the record does
// not exist (deleted). `updated_at` is the greatest hlc in the record's state, 0 if unknown.
struct MergedRecord {
  Key key;
  std::optional<nlohmann::json> doc;
  Hlc updated_at = 0;
};

// A stream of merged records in key order (Key's operator<=>: a device directly before its
// modules). The store implements it over its iterator; MakeMergedSource below over a std::map.
class MergedSource {
 public:
  virtual ~MergedSource() = default;
  // Fills *out with the next record and returns true, or returns false at the end.
  // Errors (kCorruption, kIoError) end the stream.
  virtual Result<bool> Next(MergedRecord* out) = 0;
};

// Opens a fresh stream from the first record; the plan builder reads the merged state twice.
using MergedSourceFactory = std::function<Result<std::unique_ptr<MergedSource>>()>;

// A source over an in-memory map of states, materialized with `view` (which, with its policy
// table, must outlive the source). The map must outlive the source.
std::unique_ptr<MergedSource> MakeMergedSource(const std::map<Key, RecordState>& states,
                                               const MergeView& view);
// A source over records already materialized. REQUIRES: sorted by key, no duplicate keys.
std::unique_ptr<MergedSource> MakeMergedSource(std::vector<MergedRecord> records);

// ---- Writers ---------------------------------------------------------------------------------

struct WriteStats {
  uint64_t written = 0;         // lines written
  uint64_t absent = 0;          // deleted records (not written, except meta tombstones)
  uint64_t orphan_modules = 0;  // modules whose device does not exist (not written)
};

// The canonical export: one ExportImportDevice line per existing device, each directly followed
// by its modules, in key order, keys sorted, no whitespace: identical state gives identical bytes.
// Fields: id, moduleId (modules), and the record document's fields as stored (properties with
// desired and reported). No eTag, twinETag or importMode. Modules of a device that does not exist
// are not written (counted as orphans). Meta records are ignored.
Result<WriteStats> WriteCanonicalExport(MergedSource& source, std::ostream& out);

// Twin-format export: {"deviceId", "moduleId"?, "status"?, "tags", "properties": {"desired",
// "reported"}, "capabilities"?, "deviceScope"?, "parentScopes"?} per existing device/module, same
// order and canonical form; no $metadata (the merged state has per-cell stamps, not a hub's
// metadata).
Result<WriteStats> WriteTwinExport(MergedSource& source, std::ostream& out);

// Meta export: {"namespace", "key", "doc", "updatedAt"?} per existing meta record, and
// {"namespace", "key", "deleted": true, "updatedAt"?} per deleted one, which ReadMeta reads back.
// updatedAt is written when the source knows it (MergedRecord::updated_at != 0).
Result<WriteStats> WriteMetaExport(MergedSource& source, std::ostream& out);

// One canonical export line (without line ending) for a device or module record document.
// REQUIRES: key is a device or module key; doc is an object.
std::string CanonicalExportLine(const Key& key, const nlohmann::json& doc);

}  // namespace reconcile

#endif  // RECONCILE_IOTHUB_H_
