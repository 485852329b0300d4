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
#ifndef RECONCILE_LIB_FAILBACK_PROJECTION_H_
#define RECONCILE_LIB_FAILBACK_PROJECTION_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reconcile/key.h"
#include "reconcile/reject.h"
#include "reconcile/store.h"

namespace reconcile::failback {

// The projection of one record, or nullopt when the record is not projected (see above).
std::optional<std::string> ProjectRecord(const Key& key, const nlohmann::json& doc, bool no_keys);

struct Projection {
  uint64_t hi = 0;
  uint64_t lo = 0;
  uint64_t records = 0;
  // key (ToString) -> hash of its projection, kept only when asked for (diagnostics).
  std::map<std::string, uint64_t> per_key;

  void Add(const std::string& key, const std::string& projection, bool keep);
  // 32 hex digits and the count: "<hex>/<records>".
  std::string Hex() const;
};

// The projection of a store's merged state.
Result<Projection> ProjectStore(const Store& store, bool no_keys, bool keep_keys);

// The projection of a hub export (devices.txt). Lines that do not parse go to `rejects` and are
// counted in *rejected.
Result<Projection> ProjectExport(const std::string& path, bool no_keys, bool keep_keys,
                                 RejectSink* rejects, uint64_t* rejected);

// Keys whose projections differ (present on one side only, or different), at most `limit`.
std::vector<std::string> DiffProjections(const Projection& a, const Projection& b, size_t limit,
                                         uint64_t* total);

}  // namespace reconcile::failback

#endif  // RECONCILE_LIB_FAILBACK_PROJECTION_H_
