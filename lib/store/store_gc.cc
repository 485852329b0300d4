// Tombstone GC (DESIGN §2 "Tombstone GC").
//
// Why it cannot change what a record materializes: after Prune no value of a record is hidden by
// any cover (Prune drops exactly the hidden values, and that never changes Materialize), so
// dropping covers afterwards hides or reveals nothing that is there. What a dropped cover would
// still have done is hide a value arriving later with an older stamp; the horizon prevents that:
// every cover dropped has hlc <= horizon, and Apply rejects (MergeFrom skips) every cell with
// hlc <= horizon, so every cell that can still arrive is newer than every dropped cover.
//
// Why the horizon is safe to raise to the stable point: every known site acknowledged that it
// holds this store's writes up to it and that this store holds the site's writes up to it, and its
// clock is past it, so no known site can still send a write at or below it (one that arrives
// anyway is reported, not applied).
//
// The horizon is written (and replicated) before any record is rewritten, so a crash in the middle
// leaves a store whose remaining covers are merely redundant.
#include <algorithm>
#include <set>

#include <rocksdb/write_batch.h>

#include "lib/store/digest.h"
#include "lib/store/encoding.h"
#include "lib/store/store_impl.h"
#include "reconcile/codec.h"

namespace reconcile {
namespace {

rocksdb::Slice S(std::string_view v) { return rocksdb::Slice(v.data(), v.size()); }
std::string_view V(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

struct Counts {
  uint64_t values = 0;
  uint64_t covers = 0;
};

Counts CountCells(const RecordState& state) {
  Counts c;
  for (const Cell& cell : state.cells()) {
    c.values += cell.has_value ? 1 : 0;
    c.covers += cell.has_cover ? 1 : 0;
  }
  return c;
}

// Prune, then drop the covers at or below `horizon`.
RecordState Collect(const RecordState& state, Hlc horizon) {
  RecordState pruned = state;
  pruned.Prune();
  pruned.DropAtOrBelow(horizon, RecordState::Parts::kCovers);
  return pruned;
}

}  // namespace

Result<GcResult> Store::Impl::CollectGarbage(const GcOptions& options) {
  std::unique_lock<std::shared_mutex> lock(writers_mu_);
  GcResult result;

  // The stable point: the least ack over the known sites other than the owner; with no other
  // site known, the owner's own watermark (everything it has written so far).
  std::vector<SiteHlc> watermarks = SiteTable(watermarks_);
  std::vector<SiteHlc> acks = SiteTable(acks_);
  std::set<SiteId> known;
  for (const SiteHlc& w : watermarks) known.insert(w.site);
  for (const SiteHlc& a : acks) known.insert(a.site);
  known.erase(site_id_);
  Hlc stable = 0;
  if (known.empty()) {
    for (const SiteHlc& w : watermarks) {
      if (w.site == site_id_) stable = w.hlc;
    }
  } else {
    stable = ~Hlc{0};
    for (const SiteId& site : known) {
      auto it = std::find_if(acks.begin(), acks.end(), [&](const SiteHlc& a) { return a.site == site; });
      stable = std::min(stable, it == acks.end() ? Hlc{0} : it->hlc);
    }
  }
  stable = std::min(stable, options.up_to);

  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  if (stable > horizon_.load()) {
    RECONCILE_RETURN_IF_ERROR(FromRocks(
        db_->Merge(wo, meta_, S(store::kMetaGcHorizon), store::EncodeU64(stable)),
        "GC: storing the horizon"));
    horizon_.store(std::max(horizon_.load(), stable));
  }
  const Hlc horizon = horizon_.load();
  result.horizon = horizon;
  if (horizon == 0) return result;

  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ro.fill_cache = false;
  rocksdb::WriteBatch batch;
  std::vector<uint32_t> touched;
  auto write = [&]() -> Status {
    if (batch.Count() == 0) return Status::Ok();
    RECONCILE_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "GC: writing a batch"));
    MarkDirty(touched);
    batch.Clear();
    touched.clear();
    return Status::Ok();
  };
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, records_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view key = V(it->key());
    Result<RecordState> state = DecodeRecord(V(it->value()));
    if (!state.ok()) {
      Result<Key> k = Key::Decode(key);
      return state.status().WithContext("GC: decoding " + (k.ok() ? k->ToString() : "a record"));
    }
    RecordState collected = Collect(*state, horizon);
    if (collected == *state) continue;
    Counts before = CountCells(*state);
    Counts after = CountCells(collected);
    result.values_dropped += before.values - after.values;
    result.covers_dropped += before.covers - after.covers;
    uint32_t bucket = store::DigestBucketOf(key);
    touched.push_back(bucket);
    if (collected.empty()) {
      batch.Delete(records_, S(key));
      batch.Delete(index_, store::DigestIndexKey(bucket, key));
      ++result.records_removed;
    } else {
      batch.Put(records_, S(key), EncodeRecord(collected));
      ++result.records_rewritten;
    }
    if (batch.GetDataSize() >= options_.batch_bytes) RECONCILE_RETURN_IF_ERROR(write());
  }
  RECONCILE_RETURN_IF_ERROR(FromRocks(it->status(), "GC: scanning records"));
  RECONCILE_RETURN_IF_ERROR(write());
  return result;
}

}  // namespace reconcile
