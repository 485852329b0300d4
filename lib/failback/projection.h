// Internal: the plan projection — the part of a device or module record that a failback plan
// writes to the primary hub — and its order-independent digest, used by the verify step.
//
// Projection of a record document (one canonical JSON object per record):
//   {"id", "moduleId"?, "status" (default "enabled"), "statusReason"? (non-empty only),
//    "authentication"? (type, x509Thumbprint, and symmetricKey unless no_keys),
//    "capabilities": {"iotEdge": bool} (devices), "deviceScope"?, "parentScopes"? (devices; each
//    scope replaced by the device id it names, so hub-specific generation ids do not count),
//    "tags" (default {}), "desired" (default {})}
// Not projected: properties.reported (the plan never writes it), eTag/twinETag, the system
// modules $edgeAgent and $edgeHub (the hub makes them), modules of devices that do not exist,
// metadata records.
//
// Digest: per record h = (Hash64(k + "\n" + p, seed 1), Hash64(k + "\n" + p, seed 2)) where k is
// the key's ToString() and p the projection; the digest is the lane-wise sum mod 2^64 of every h,
// printed as 32 hex digits, plus the record count. Order-independent, so a store (key order) and
// a hub export (any order) compare directly.
//
// Both sides are projected from canonical text, not from parsed documents: the store's records as
// Materialize writes them, the export's lines through the fast export reader's full write (the
// exact parse only for lines it declines); see projection_text.h.
//
// Thread safety: ProjectRecord and HashRecord are pure; a Projection is a value. ProjectStore and
// ProjectExport start threads of their own (the store source's scan, the export's parse workers)
// and may run at the same time.
#ifndef RECONCILE_LIB_FAILBACK_PROJECTION_H_
#define RECONCILE_LIB_FAILBACK_PROJECTION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "reconcile/key.h"
#include "reconcile/reject.h"
#include "reconcile/store.h"

namespace reconcile::failback {

// The projection of one record, or nullopt when the record is not projected (see above). The
// definition: ProjectStore and ProjectExport compute the same bytes from canonical text
// (projection_text.h) and come here only for what the text path declines.
std::optional<std::string> ProjectRecord(const Key& key, const nlohmann::json& doc, bool no_keys);

// The two hashes of one record: Hash64 of `text` = key + "\n" + projection, seeds 1 and 2.
struct RecordHash {
  uint64_t a = 0;
  uint64_t b = 0;
};
RecordHash HashRecord(std::string_view text);

struct Projection {
  uint64_t hi = 0;
  uint64_t lo = 0;
  uint64_t records = 0;
  // (key ToString, hash `a` of its projection), kept only when asked for (diagnostics). After
  // Finish: sorted by key, one entry per key (of a key added twice, the last one added).
  std::vector<std::pair<std::string, uint64_t>> per_key;

  void Add(const std::string& key, const std::string& projection, bool keep);
  // The same with the record's hashes computed by the caller (HashRecord).
  void Add(std::string key, const RecordHash& hash, bool keep);
  // Sorts per_key; ProjectStore and ProjectExport call it before they return.
  void Finish();
  // 32 hex digits and the count: "<hex>/<records>".
  std::string Hex() const;
};

// The projection of a store's merged state.
Result<Projection> ProjectStore(const Store& store, bool no_keys, bool keep_keys);

// The projection of a hub export (devices.txt). Lines that do not parse go to `rejects` and are
// counted in *rejected. The lines are parsed on `workers` threads (0: iothub::ParseWorkers()) and
// added in line order.
Result<Projection> ProjectExport(const std::string& path, bool no_keys, bool keep_keys,
                                 RejectSink* rejects, uint64_t* rejected, size_t workers = 0);

// Keys whose projections differ (present on one side only, or different), at most `limit`, in
// key order. REQUIRES: both Finish()ed.
std::vector<std::string> DiffProjections(const Projection& a, const Projection& b, size_t limit,
                                         uint64_t* total);

}  // namespace reconcile::failback

#endif  // RECONCILE_LIB_FAILBACK_PROJECTION_H_
