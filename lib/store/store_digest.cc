// Store digests (definition in reconcile/digest.h) and Diff.
//
// The kDigestBuckets bucket sums are cached in memory with a dirty mark per bucket (set by every
// write, under writers_mu_ shared) and in meta ("reconcile/digest_cache", grammar in encoding.h)
// against the database's sequence number. Digest() holds writers_mu_ exclusively only to take a
// snapshot and the dirty marks (writers hold it shared from their write to their mark, so the marks
// describe exactly the writes before the snapshot), then computes from the snapshot while writers
// go on: a clean cache answers at once; a few dirty buckets are recomputed from the digest_index
// (their keys) with point reads; many dirty buckets (or a cache that did not match the sequence
// number at open) in one ordered scan of the records. The cache is persisted when the store
// closes (and by Digest when no write came in meanwhile).
#include <algorithm>

#include <rocksdb/write_batch.h>

#include "lib/store/digest.h"
#include "lib/store/encoding.h"
#include "lib/store/store_impl.h"
#include "reconcile/codec.h"

namespace reconcile {
namespace {

rocksdb::Slice S(std::string_view v) { return rocksdb::Slice(v.data(), v.size()); }
std::string_view V(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// Above this many dirty buckets a full scan is cheaper than per-bucket point reads.
constexpr size_t kFullScanDirtyBuckets = kDigestBuckets / 16;

std::string EncodeDigestCache(uint64_t sequence, const std::vector<store::BucketSum>& buckets) {
  std::string out;
  out.reserve(16 + buckets.size() * 24);
  store::PutU32(&out, kDigestVersion);
  store::PutU64(&out, sequence);
  store::PutU32(&out, static_cast<uint32_t>(buckets.size()));
  for (const store::BucketSum& b : buckets) {
    store::PutU64(&out, b.sum.hi);
    store::PutU64(&out, b.sum.lo);
    store::PutU64(&out, b.records);
  }
  return out;
}

// False when the bytes are not a cache of this digest version and bucket count.
bool DecodeDigestCache(std::string_view bytes, uint64_t* sequence,
                       std::vector<store::BucketSum>* buckets) {
  size_t pos = 0;
  uint32_t version = 0, count = 0;
  if (!store::ReadU32(bytes, &pos, &version) || version != kDigestVersion) return false;
  if (!store::ReadU64(bytes, &pos, sequence)) return false;
  if (!store::ReadU32(bytes, &pos, &count) || count != kDigestBuckets) return false;
  std::vector<store::BucketSum> out(count);
  for (store::BucketSum& b : out) {
    if (!store::ReadU64(bytes, &pos, &b.sum.hi) || !store::ReadU64(bytes, &pos, &b.sum.lo) ||
        !store::ReadU64(bytes, &pos, &b.records)) {
      return false;
    }
  }
  if (pos != bytes.size()) return false;
  *buckets = std::move(out);
  return true;
}

}  // namespace

void Store::Impl::MarkDirty(const std::vector<uint32_t>& buckets) {
  if (buckets.empty()) return;
  std::lock_guard<std::mutex> lock(digest_mu_);
  for (uint32_t b : buckets) dirty_[b] = 1;
}

void Store::Impl::MarkAllDirty() {
  std::lock_guard<std::mutex> lock(digest_mu_);
  all_dirty_ = true;
}

Status Store::Impl::LoadDigestCache() {
  std::string bytes;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, S(store::kMetaDigestCache), &bytes);
  std::lock_guard<std::mutex> lock(digest_mu_);
  all_dirty_ = true;
  if (s.IsNotFound()) return Status::Ok();
  RECONCILE_RETURN_IF_ERROR(FromRocks(s, "reading the digest cache"));
  uint64_t sequence = 0;
  std::vector<store::BucketSum> buckets;
  // A cache that does not decode (another digest version) is simply recomputed.
  if (DecodeDigestCache(bytes, &sequence, &buckets) && sequence == db_->GetLatestSequenceNumber()) {
    persisted_cache_ = std::move(bytes);
    buckets_ = std::move(buckets);
    std::fill(dirty_.begin(), dirty_.end(), 0);
    all_dirty_ = false;
  }
  return Status::Ok();
}

Result<StoreDigest> Store::Impl::Digest() {
  std::lock_guard<std::mutex> computing(digest_compute_mu_);  // one computation at a time
  std::vector<uint8_t> dirty(kDigestBuckets, 0);
  bool all = false;
  std::vector<store::BucketSum> fresh;
  const rocksdb::Snapshot* snap = nullptr;
  {
    // Writers hold writers_mu_ shared from their write to their dirty mark, so with it held
    // exclusively the marks describe exactly the writes before the snapshot.
    std::unique_lock<std::shared_mutex> writers(writers_mu_);
    std::lock_guard<std::mutex> lock(digest_mu_);
    all = all_dirty_;
    const bool any = std::find(dirty_.begin(), dirty_.end(), uint8_t{1}) != dirty_.end();
    if (!all && !any) return store::MakeStoreDigest(buckets_);
    dirty.swap(dirty_);
    all_dirty_ = false;
    fresh = buckets_;
    snap = db_->GetSnapshot();
  }
  {
    rocksdb::ManagedSnapshot snapshot(db_.get(), snap);
    Status computed = ComputeBuckets(snap, all, dirty, &fresh);
    std::lock_guard<std::mutex> lock(digest_mu_);
    if (!computed.ok()) {
      // Leave the buckets to the next attempt.
      if (all) all_dirty_ = true;
      for (size_t b = 0; b < kDigestBuckets; ++b) dirty_[b] |= dirty[b];
      return computed;
    }
    // Every bucket of `fresh` describes the snapshot; buckets written since are marked in dirty_.
    buckets_ = fresh;
  }
  // Best effort: a cache that is not stored is recomputed after the next open.
  static_cast<void>(PersistDigestCache());
  return store::MakeStoreDigest(fresh);
}

Status Store::Impl::ComputeBuckets(const rocksdb::Snapshot* snap, bool all,
                                   const std::vector<uint8_t>& dirty,
                                   std::vector<store::BucketSum>* buckets) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  auto add = [&](std::string_view key, std::string_view value) -> Status {
    Result<Key> k = Key::Decode(key);
    if (!k.ok()) return k.status().WithContext("digest");
    Result<RecordState> state = DecodeRecord(value);
    if (!state.ok()) return state.status().WithContext("digest: decoding " + k->ToString());
    Result<std::optional<std::string>> json = Materialize(k->kind(), *state);
    if (!json.ok()) return json.status().WithContext("digest: materializing " + k->ToString());
    if (json->has_value()) {
      (*buckets)[store::DigestBucketOf(key)].Add(store::RecordHash(key, **json));
    }
    return Status::Ok();
  };
  const size_t count = static_cast<size_t>(std::count(dirty.begin(), dirty.end(), uint8_t{1}));
  if (all || count > kFullScanDirtyBuckets) {
    // One ordered scan of every record.
    buckets->assign(kDigestBuckets, store::BucketSum{});
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, records_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      RECONCILE_RETURN_IF_ERROR(add(V(it->key()), V(it->value())));
    }
    return FromRocks(it->status(), "digest: scanning records");
  }
  // The keys of each dirty bucket from the digest index, with a point read each.
  for (uint32_t b = 0; b < kDigestBuckets; ++b) {
    if (!dirty[b]) continue;
    (*buckets)[b] = store::BucketSum{};
    std::string prefix = store::DigestBucketPrefix(b);
    std::string upper = store::DigestBucketPrefix(b + 1);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions iro = ro;
    iro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(iro, index_));
    std::string value;
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      std::string_view key = V(it->key()).substr(2);
      rocksdb::Status s = db_->Get(ro, records_, S(key), &value);
      if (s.IsNotFound()) continue;
      RECONCILE_RETURN_IF_ERROR(FromRocks(s, "digest: reading a record"));
      RECONCILE_RETURN_IF_ERROR(add(key, value));
    }
    RECONCILE_RETURN_IF_ERROR(FromRocks(it->status(), "digest: scanning the index"));
  }
  return Status::Ok();
}

Status Store::Impl::PersistDigestCache() {
  std::unique_lock<std::shared_mutex> writers(writers_mu_);
  std::lock_guard<std::mutex> lock(digest_mu_);
  if (all_dirty_ || std::find(dirty_.begin(), dirty_.end(), uint8_t{1}) != dirty_.end()) {
    return Status::Ok();  // the buckets do not describe the current state
  }
  // Claim the sequence number this very write receives: no other write of this store can run now
  // (writers_mu_ is exclusive, and no other process has the store open).
  const uint64_t claim = db_->GetLatestSequenceNumber() + 1;
  uint64_t cached = 0;
  std::vector<store::BucketSum> unused;
  if (!persisted_cache_.empty() && DecodeDigestCache(persisted_cache_, &cached, &unused) &&
      cached == claim - 1) {
    return Status::Ok();  // what is stored already describes this state
  }
  std::string bytes = EncodeDigestCache(claim, buckets_);
  rocksdb::WriteBatch batch;
  batch.Put(meta_, S(store::kMetaDigestCache), bytes);
  RECONCILE_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch),
                                      "storing the digest cache"));
  persisted_cache_ = std::move(bytes);
  return Status::Ok();
}

Status Store::Impl::Diff(Impl& a, Impl& b, const DiffVisitor& visit) {
  if (&a == &b) return Status::Ok();
  Result<StoreDigest> da = a.Digest();
  if (!da.ok()) return da.status().WithContext("diff: store a");
  Result<StoreDigest> db = b.Digest();
  if (!db.ok()) return db.status().WithContext("diff: store b");
  if (da->root == db->root) return Status::Ok();

  // Walk the trees top-down, descending only where the hashes differ.
  std::vector<std::vector<Hash128>> ta = store::DigestTree(da->buckets);
  std::vector<std::vector<Hash128>> tb = store::DigestTree(db->buckets);
  std::vector<uint32_t> differing;
  std::vector<std::pair<size_t, size_t>> stack{{ta.size() - 1, 0}};
  while (!stack.empty()) {
    auto [level, index] = stack.back();
    stack.pop_back();
    if (ta[level][index] == tb[level][index]) continue;
    if (level == 0) {
      differing.push_back(static_cast<uint32_t>(index));
      continue;
    }
    stack.push_back({level - 1, 2 * index + 1});
    stack.push_back({level - 1, 2 * index});
  }
  std::sort(differing.begin(), differing.end());

  // In each differing bucket, merge the two indexes' key lists and compare the records.
  for (uint32_t bucket : differing) {
    std::string prefix = store::DigestBucketPrefix(bucket);
    std::string upper = store::DigestBucketPrefix(bucket + 1);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> ia(a.db_->NewIterator(ro, a.index_));
    std::unique_ptr<rocksdb::Iterator> ib(b.db_->NewIterator(ro, b.index_));
    ia->Seek(prefix);
    ib->Seek(prefix);
    while (ia->Valid() || ib->Valid()) {
      std::string key;
      if (!ib->Valid() || (ia->Valid() && ia->key().compare(ib->key()) <= 0)) {
        key = ia->key().ToString();
      } else {
        key = ib->key().ToString();
      }
      if (ia->Valid() && V(ia->key()) == key) ia->Next();
      if (ib->Valid() && V(ib->key()) == key) ib->Next();
      Result<Key> k = Key::Decode(std::string_view(key).substr(2));
      if (!k.ok()) return k.status().WithContext("diff: the digest index");
      Result<std::optional<std::string>> ja = a.GetMaterialized(*k);
      if (!ja.ok()) return ja.status().WithContext("diff: store a");
      Result<std::optional<std::string>> jb = b.GetMaterialized(*k);
      if (!jb.ok()) return jb.status().WithContext("diff: store b");
      if (*ja == *jb) continue;
      DiffKind kind = !jb->has_value()   ? DiffKind::kOnlyInA
                      : !ja->has_value() ? DiffKind::kOnlyInB
                                         : DiffKind::kDifferent;
      RECONCILE_RETURN_IF_ERROR(visit(KeyDiff{std::move(k).value(), kind, std::move(*ja), std::move(*jb)}));
    }
    RECONCILE_RETURN_IF_ERROR(FromRocks(ia->status(), "diff: scanning a's index"));
    RECONCILE_RETURN_IF_ERROR(FromRocks(ib->status(), "diff: scanning b's index"));
  }
  return Status::Ok();
}

}  // namespace reconcile
