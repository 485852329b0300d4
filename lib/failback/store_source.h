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
// Thread safety: one consumer thread per source. The store must outlive the source.
#ifndef RECONCILE_LIB_FAILBACK_STORE_SOURCE_H_
#define RECONCILE_LIB_FAILBACK_STORE_SOURCE_H_

#include <memory>
#include <set>

#include "reconcile/iothub.h"
#include "reconcile/store.h"

namespace reconcile::failback {

std::unique_ptr<MergedSource> MakeStoreSource(const Store& store);

// A factory (for BuildFailbackPlan / BuildRetryPlan) of sources over `store`.
MergedSourceFactory StoreSourceFactory(const Store& store);

// A source of only `keys` (and, for module keys, their devices, which the plan needs to know the
// module's device exists), read with point lookups, in key order; keys the store does not hold
// are left out. For re-planning a few failed lines without streaming the whole store.
MergedSourceFactory KeysSourceFactory(const Store& store, std::set<Key> keys);

}  // namespace reconcile::failback

#endif  // RECONCILE_LIB_FAILBACK_STORE_SOURCE_H_
