// lib/store/store_impl.h — Store::Impl, shared by the store's .cc files (one per concern:
// store.cc open/read/write, store_digest.cc digests and diff, store_gc.cc tombstone GC,
// store_backup.cc backups).
//
// Locking: writers_mu_ is held shared by Apply, MergeFrom and Acknowledge (they run concurrently;
// RocksDB serializes the batches) from their write to their digest dirty marks, and exclusively by
// CollectGarbage (it rewrites records with Put, which must not race a Merge), by Digest while it
// takes its snapshot and marks, and by the setters of the policy table and fork point (they change
// what every record materializes). Readers take no lock. digest_mu_ guards the bucket cache and
// dirty marks; view_mu_ guards policies_; digest_compute_mu_ serializes Digest computations.
// Lock order: digest_compute_mu_, writers_mu_, then digest_mu_ or view_mu_.
#ifndef RECONCILE_LIB_STORE_STORE_IMPL_H_
#define RECONCILE_LIB_STORE_STORE_IMPL_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include "lib/store/digest.h"
#include "lib/store/held_writes.h"
#include "reconcile/store.h"

namespace reconcile {

// Maps a RocksDB status to ours, with `context` in front of the message.
Status FromRocks(const rocksdb::Status& s, std::string_view context);

// True when RocksDB could not take a store's LOCK because it is held (by another process, or by
// another Store in this one). Any other failure — a read-only or full file system, a missing
// file — is not a lock, whatever the directory is called.
bool IsLockHeld(const rocksdb::Status& s);

// True when `dir` is on a file system mounted read-only.
bool OnReadOnlyFileSystem(const std::string& dir);

// Runs `f`, turning any exception into kInternal so none crosses the public API.
template <typename F>
auto Guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Status::Internal(std::string(what) + ": " + e.what());
  } catch (...) {
    return Status::Internal(std::string(what) + ": unknown exception");
  }
}

class Store::Impl {
 public:
  ~Impl();

  // store.cc
  static Result<std::unique_ptr<Impl>> Open(const std::string& dir, const StoreOptions& options);
  Result<ApplyResult> Apply(std::span<const Delta> deltas, std::span<const MetaPut> meta,
                            const ApplyOptions& options);
  // Encodes `deltas` and `meta` into *held (what Apply writes), against the GC horizon *held
  // started with (the store's, at its first call); indexes of deltas below it go to *rejected.
  Status Hold(std::span<const Delta> deltas, std::span<const MetaPut> meta,
              store::HeldWrites* held, std::vector<size_t>* rejected) const;
  // Writes *held as one logged batch.
  Status WriteHeld(const store::HeldWrites& held, bool sync);

  // store_bulk.cc: writes *held as table files, one per column family it writes, ingested at
  // once (atomic across families), and marks the digest buckets it wrote. Takes writers_mu_
  // itself: shared, or exclusive while it ingests records as values.
  Result<BulkCommit> CommitHeldAsTables(const store::HeldWrites& held);
  // kConflict when the GC horizon rose since *held's first delta (which may be below it now).
  Status HorizonUnchanged(const store::HeldWrites& held) const;
  // True when the records family holds no key in [first, last] now (false also when the first
  // key at or after `first` cannot be read).
  Result<bool> RecordsFreeIn(std::string_view first, std::string_view last) const;
  // Removes what a commit cut short left in the staging folder.
  void RemoveBulkStaging() const;
  Status MergeFrom(const Impl& other);
  Status Acknowledge(const SiteId& site, Hlc hlc);
  Status SetPolicyTable(const PolicyTable& table);
  Status SetForkPoint(Hlc hlc);
  Result<std::optional<std::string>> GetMaterialized(const Key& key) const;
  Result<RecordState> GetState(const Key& key) const;
  Result<std::string> GetMeta(std::string_view name) const;
  Status Scan(std::optional<KeyKind> kind, const StateVisitor& visit) const;
  Status ScanEncoded(std::optional<KeyKind> kind, const Store::EncodedVisitor& visit) const;
  Result<std::optional<std::string>> Materialize(KeyKind kind, const RecordState& state) const;
  std::vector<SiteHlc> SiteTable(rocksdb::ColumnFamilyHandle* cf) const;
  Result<StoreStats> Stats() const;
  Status Flush();
  Status Compact();

  // store_digest.cc
  Result<StoreDigest> Digest();
  // Recomputes the buckets marked in `dirty` (all of them when `all`) as of `snap`.
  Status ComputeBuckets(const rocksdb::Snapshot* snap, bool all, const std::vector<uint8_t>& dirty,
                        std::vector<store::BucketSum>* buckets) const;
  // Stores the buckets in meta when they describe the current state (and are not stored yet).
  Status PersistDigestCache();
  static Status Diff(Impl& a, Impl& b, const DiffVisitor& visit);

  // store_gc.cc
  Result<GcResult> CollectGarbage(const GcOptions& options);

  // store_backup.cc
  Result<BackupInfo> CreateBackup(const std::string& backup_dir) const;

  // OK, or kUnsupported when the store is open read-only (StoreOptions::read_only).
  Status Writable() const;

  // Marks the digest buckets of written keys (or all) for recomputation.
  void MarkDirty(const std::vector<uint32_t>& buckets);
  void MarkAllDirty();

  std::shared_ptr<const PolicyTable> policies() const;

  std::string dir_;
  StoreOptions options_;
  std::string site_name_;
  SiteId site_id_;

  std::shared_ptr<rocksdb::Cache> cache_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // owned; destroyed before db_ closes
  rocksdb::ColumnFamilyHandle* records_ = nullptr;
  rocksdb::ColumnFamilyHandle* watermarks_ = nullptr;
  rocksdb::ColumnFamilyHandle* acks_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;

  mutable std::shared_mutex writers_mu_;
  std::atomic<uint64_t> bulk_commits_{0};  // names each table commit's staging folder

  mutable std::mutex view_mu_;
  std::shared_ptr<const PolicyTable> policies_;
  std::atomic<Hlc> fork_point_{0};
  std::atomic<Hlc> horizon_{0};

  std::mutex digest_compute_mu_;  // serializes Digest computations; taken before writers_mu_
  std::mutex digest_mu_;
  std::vector<store::BucketSum> buckets_;  // valid where !dirty_[i] and !all_dirty_
  std::vector<uint8_t> dirty_;
  bool all_dirty_ = true;
  std::string persisted_cache_;  // the digest_cache bytes last read or written (digest_mu_)
  rocksdb::FileLock* read_lock_ = nullptr;  // the LOCK taken by a read-only open (if any)

 private:
  Status Initialize(bool fresh);
  Status LoadDigestCache();
  // Re-reads the fork point and horizon from meta (after MergeFrom joined them).
  Status RefreshReplicatedMeta();
};

}  // namespace reconcile

#endif  // RECONCILE_LIB_STORE_STORE_IMPL_H_
