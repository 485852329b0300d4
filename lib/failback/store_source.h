// Internal: a MergedSource that streams a Store's records in key order (device, then its modules,
// then meta), each materialized with the store's policy table and fork point, deleted records
// included (doc nullopt) so the plan can delete them.
//
// Store::Scan is a visitor, the plan builder pulls; the source runs the scan on a helper thread
// and hands records over through a bounded queue, so memory stays bounded by the queue (a few
// thousand records), not the store. Destroying the source early stops the scan.
//
// The source made by MakeStoreSource is also an EdgeScanFilter (the plan's first pass asks it to
// skip, before materializing, every record that cannot be an IoT Edge gateway) and a
// CanonicalTextSource (the main pass reads records as canonical text); see plan_internal.h.
//
// A StoreObserver rides along the first scan of a factory's sources (the plan's first pass), so a
// caller that needs every record's state once (the failback's conflicts) needs no scan of its own.
//
// Thread safety: one consumer thread per source. The store must outlive the source.
#ifndef RECONCILE_LIB_FAILBACK_STORE_SOURCE_H_
#define RECONCILE_LIB_FAILBACK_STORE_SOURCE_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/iothub.h"
#include "reconcile/store.h"

namespace reconcile::failback {

std::unique_ptr<MergedSource> MakeStoreSource(const Store& store);

// A factory (for BuildFailbackPlan / BuildRetryPlan) of sources over `store`.
MergedSourceFactory StoreSourceFactory(const Store& store);

// Rides along the first scan of a factory's sources, on the scanning thread: runs `before`, then
// sees every record of the store once (or every one it wants), deleted ones included, in key
// order.
struct StoreObserver {
  // Called before the scan starts (e.g. Store::Compact) when set; an error is the source's error.
  std::function<Status()> before;
  // Called for each record when set; an error ends the scan and is the source's error.
  std::function<Status(const Key& key, const RecordState& state)> record;
  // When set, `record` is called only for the records this returns true for, judged from their
  // encoded state (reconcile/codec.h) before it is decoded: the others need no decoding for it.
  // An error ends the scan and is the source's error.
  std::function<Result<bool>(const Key& key, std::string_view encoded)> wants;
  // Set when the scan reached the end of the store, so every record has been seen (or judged by
  // `wants`).
  bool finished = false;
};

// What a source needs to leave untouched records unread (iothub::UntouchedSource, DECISIONS
// P27): a record is untouched when the backup's site alone wrote it (from the backup's line of
// its key), the primary's export holds that line byte for byte (its key is not in `changed`), and
// it has no deviceScope or parentScopes cell.
struct UntouchedRecords {
  SiteId base_site;
  // Encoded keys (Key::EncodeTo) of every line of the primary's export that the backup's export
  // does not hold byte for byte, and of every backup line the primary's export does not hold;
  // sorted (the scan meets them in that order).
  std::vector<std::string> changed;
};

// StoreSourceFactory whose first source, whatever it yields, shows every record of the store to
// `*observer` as it scans (the plan's first pass then reads modules and meta too, and skips them
// after the observer saw them). Later sources do not. `observer` must outlive the sources. With
// `untouched`, the sources leave untouched records unread in text mode.
MergedSourceFactory StoreSourceFactory(const Store& store, StoreObserver* observer,
                                       std::shared_ptr<const UntouchedRecords> untouched = nullptr);

// A source of only `keys` (and, for module keys, their devices, which the plan needs to know the
// module's device exists), read with point lookups, in key order; keys the store does not hold
// are left out. For re-planning a few failed lines without streaming the whole store.
MergedSourceFactory KeysSourceFactory(const Store& store, std::set<Key> keys);

}  // namespace reconcile::failback

#endif  // RECONCILE_LIB_FAILBACK_STORE_SOURCE_H_
