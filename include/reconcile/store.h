// reconcile/store.h — a site's merged state: records, watermarks and meta in one RocksDB instance.
//
// DESIGN §3 "Storage". A Store is one directory holding one RocksDB database with the column
// families `records` (Key -> encoded RecordState), `watermarks` (site -> highest hlc applied from
// that site), `acks` (site -> hlc up to which the site acknowledged this store's state),
// `digest_index` (digest bucket + key, for Diff) and `meta` (format version, owning site, policy
// table, fork point, GC horizon, counters, and the caller's checkpoints). docs/FORMATS.md
// ("Store (RocksDB)") and lib/store/encoding.h give the byte grammar of every family.
//
// Writes never read: Apply turns each delta into a RocksDB Merge() operand and the lattice join
// runs inside RocksDB's merge operator (on read, flush and compaction), so applying the same
// deltas in any order, any number of times, gives the same state. A batch is atomic (one
// WriteBatch with the write-ahead log on): after a crash either all of it or none of it is there,
// and everything Apply acknowledged is there.
//
// Reads materialize: Get returns a record's canonical JSON computed with the store's policy table
// and fork point (both kept in meta, so every site that holds the same state shows the same bytes).
//
// Thread safety: a Store is internally synchronized. Every method may be called from many threads
// at once; Apply, MergeFrom and Acknowledge run concurrently with each other and with reads.
// CollectGarbage excludes writers for its whole pass (it rewrites records); Digest, SetPolicyTable
// and SetForkPoint exclude them only for a moment. A store directory can be open in one Store
// object at a time (in any process): a second Open fails with kConflict "store is locked". Not
// copyable; destroy to close (closing waits for nothing but RocksDB's own shutdown).
//
// Errors: every call returns a Status or Result; nothing throws. RocksDB failures map to kIoError
// (and kCorruption for corrupt bytes, which a read reports instead of crashing or dropping data).
// Checks: RocksDB's paranoid checks are on (a failed write stops all later writes of the open
// store; table file sizes are checked at open), every read verifies block checksums, and opening
// refuses a write-ahead log that is corrupt anywhere but in its last record (kCorruption) instead
// of recovering up to the damage and silently dropping acknowledged batches after it; a last
// record cut short, which is what a crash in the middle of a write leaves, is dropped.
#ifndef RECONCILE_STORE_H_
#define RECONCILE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/digest.h"
#include "reconcile/key.h"
#include "reconcile/policy.h"
#include "reconcile/record.h"
#include "reconcile/site.h"
#include "reconcile/stamp.h"
#include "reconcile/status.h"

namespace reconcile {

// The on-disk format version this build writes and reads. Opening a store with any other
// version gives kUnsupported.
constexpr uint32_t kStoreFormatVersion = 1;

struct StoreOptions {
  // Create the store when the directory holds none. Default: true. When false, opening a missing
  // store gives kNotFound.
  bool create_if_missing = true;

  // Fail with kConflict when a store already exists in the directory. Default: false.
  bool error_if_exists = false;

  // The name of the site that owns the store (ValidateSiteName). Required to create a store; it
  // is recorded in meta with its SiteId. When opening an existing store: empty accepts whatever
  // is recorded, a name that differs from the recorded one gives kConflict. Default: empty.
  std::string site_name;

  // The policy table (PolicyTable::Parse JSON) recorded when the store is created. Empty: the
  // PolicyTable::Default() table. Ignored when opening an existing store (use SetPolicyTable).
  // Default: empty.
  std::string policy_table_json;

  // Fsync the write-ahead log before Apply returns. The log is always written (a process crash
  // never loses an acknowledged batch); sync makes that hold for a machine crash too, at the cost
  // of one fsync per batch. Default: false.
  bool sync = false;

  // The merge operator also prunes (RecordState::Prune) what it joins. Pruning never changes what
  // a record materializes and keeps records small, but drops hidden values that the conflict
  // report would otherwise list as losers against a remove. Default: false (keep them until GC).
  bool prune_in_merge = false;

  // RocksDB max_successive_merges of the records family: once a key has this many merge operands
  // in the memtable, the next write joins them into one value (RocksDB reads the key internally).
  // Bounds the operand pile-up of hot keys between flushes; 0 disables. Default: 64.
  size_t max_successive_merges = 64;

  // Memtable size of each column family, in bytes. Default: 64 MiB.
  size_t write_buffer_size = 64u << 20;

  // Size of the block cache shared by all column families, in bytes. Default: 32 MiB.
  size_t block_cache_bytes = 32u << 20;

  // Background flush and compaction threads. Default: 2.
  int max_background_jobs = 2;

  // MergeFrom and CollectGarbage write in batches of at most this many bytes of encoded
  // records, so their memory does not grow with the store. Default: 4 MiB.
  size_t batch_bytes = 4u << 20;

  // Open an existing store for reading only (e.g. on a read-only file system or mount): nothing
  // in the directory is written, not even the recovery of the write-ahead log, which is replayed
  // in memory. Reads work as usual; every write (Apply, MergeFrom, ...) fails with kUnsupported.
  // The store's lock is still taken, so a store another Store has open is refused as usual,
  // except on a read-only file system, where no process can be writing it. Requires an existing
  // store (create_if_missing is ignored). Default: false.
  bool read_only = false;
};

// One delta to join into the store: a small RecordState (operations.h) for one record.
struct Delta {
  Key key;
  RecordState state;
};

// A caller's value stored in meta in the same atomic batch as the deltas (e.g. "step 3 done" of
// the failback orchestrator, or a consumer offset). Names are 1 to 256 bytes.
struct MetaPut {
  std::string name;
  std::string value;
};

struct ApplyResult {
  // Deltas joined into the store (empty deltas count as applied: they change nothing).
  size_t applied = 0;
  // Indexes (into the deltas passed) of deltas rejected because a cell's hlc (value or cover)
  // is at or below the GC horizon: such a write could revive data that GC made unrecoverable.
  // They are not applied; the store counts them (StoreStats::rejected_below_horizon).
  std::vector<size_t> rejected;
};

struct ApplyOptions {
  // Fsync the log for this batch even if StoreOptions::sync is false. Default: false.
  bool sync = false;
};

// A site and the highest hlc of its writes applied to this store (a watermark) or acknowledged
// by it (an ack).
struct SiteHlc {
  SiteId site;
  Hlc hlc = 0;
  friend bool operator==(const SiteHlc&, const SiteHlc&) = default;
};

struct KindStats {
  uint64_t records = 0;        // entries in the records family (including deleted records)
  uint64_t existing = 0;       // records that materialize (exist)
  uint64_t cells = 0;          // cells over all records
  uint64_t covers = 0;         // cells that carry a cover
  uint64_t encoded_bytes = 0;  // bytes of the encoded states
  uint64_t key_bytes = 0;      // bytes of the encoded keys
};

struct StoreStats {
  KindStats devices;
  KindStats modules;
  KindStats meta_records;
  uint64_t sst_bytes = 0;                  // RocksDB total SST file size (all families)
  uint64_t memtable_bytes = 0;             // RocksDB memtable size (all families)
  uint64_t rejected_below_horizon = 0;     // deltas Apply rejected (over the store's life)
  Hlc gc_horizon = 0;
  Hlc fork_point = 0;
  std::vector<SiteHlc> watermarks;
  std::vector<SiteHlc> acks;
};

struct GcOptions {
  // Never collect covers newer than this hlc, even if every site acknowledged them.
  // Default: no limit.
  Hlc up_to = ~Hlc{0};
};

struct GcResult {
  Hlc horizon = 0;               // the horizon after this run (unchanged if nothing was stable)
  uint64_t records_rewritten = 0;  // records whose state changed
  uint64_t records_removed = 0;    // records that became empty (deleted records) and were removed
  uint64_t covers_dropped = 0;
  uint64_t values_dropped = 0;   // hidden values pruned
};

struct BackupInfo {
  uint32_t id = 0;
  int64_t timestamp = 0;      // seconds since the epoch
  uint64_t size_bytes = 0;
  uint32_t files = 0;
};

class Store;
class BulkRun;

// Below this many encoded bytes, a BulkRun commits through the log: a table file per column family
// is not worth it for a small batch.
inline constexpr size_t kBulkTableBytes = size_t{4} << 20;

// A pull-style, ordered walk over a store's records (Key::Encode order), from one consistent
// snapshot taken when the cursor is made. Made by Store::NewCursor.
//
// Thread safety: a cursor is used by one thread at a time; many cursors may walk one store at once,
// concurrently with writes (which they do not see). Not copyable.
// REQUIRES: the store outlives the cursor.
class RecordCursor {
 public:
  ~RecordCursor();
  RecordCursor(const RecordCursor&) = delete;
  RecordCursor& operator=(const RecordCursor&) = delete;

  // True while positioned at a record. False at the end, and after an error (see status()).
  bool Valid() const;
  // Moves to the next record (of the cursor's kind). REQUIRES: Valid().
  void Next();
  // The current record. REQUIRES: Valid().
  const Key& key() const;
  const RecordState& state() const;
  // The current record materialized by the store (nullopt when it does not exist).
  // REQUIRES: Valid().
  Result<std::optional<std::string>> Materialized() const;
  // OK at the end of a clean walk; the error (kCorruption, kIoError) that ended it otherwise.
  Status status() const;

  class Impl;

 private:
  friend class Store;
  explicit RecordCursor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Store {
 public:
  // Opens (or, per options, creates) the store in directory `dir`.
  // Errors: kConflict "store is locked" when another Store (this or another process) has it
  // open; kUnsupported for a store of another format version; kNotFound when it is missing and
  // create_if_missing is false; kInvalidInput for bad options (no site name to create, bad
  // policy table); kConflict for a site name that differs from the recorded one; kIoError and
  // kCorruption from RocksDB.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const StoreOptions& options);

  // Closes the store (flushing nothing that the log does not already hold).
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- identity and configuration ----

  const std::string& dir() const;
  const std::string& site_name() const;
  SiteId site_id() const;
  // A copy of the policy table every read materializes with.
  PolicyTable policy_table() const;
  // Replaces the policy table (recorded in meta). Every digest is recomputed on the next Digest.
  Status SetPolicyTable(const PolicyTable& table);
  // The fork point (replicated: it only grows; MergeFrom takes the greater of the two).
  Hlc fork_point() const;
  // Raises the fork point to `hlc` (no effect when it is not greater).
  Status SetForkPoint(Hlc hlc);
  // The GC horizon: writes with a cell at or below it are rejected. 0 before any GC.
  Hlc gc_horizon() const;

  // ---- writes ----

  // Joins every delta into the store and stores `meta` (caller names, see MetaPut), all in one
  // atomic batch: after a crash, all of it or none of it is there. The per-site watermarks grow
  // to the greatest stamp of each site in the accepted deltas, in the same batch. Reads nothing.
  // Deltas with a cell at or below the GC horizon are rejected (see ApplyResult) and the rest
  // applied. Errors: kInvalidInput for a bad meta name (nothing is written), kIoError.
  Result<ApplyResult> Apply(std::span<const Delta> deltas, std::span<const MetaPut> meta = {},
                            const ApplyOptions& options = {});

  // Joins every record, watermark, ack, fork point and GC horizon of `other` (another site's
  // store) into this one, streaming in batches of StoreOptions::batch_bytes. Cells of `other` at or
  // below this store's horizon are skipped: the horizon certifies that this store already holds
  // their effect. Each batch is atomic; if MergeFrom fails midway, the batches written stay
  // (joining is idempotent: run it again). REQUIRES: other is not this store.
  Status MergeFrom(const Store& other);

  // Records that `site` acknowledged this store's state up to `hlc`: the site holds every write
  // this store holds with hlc <= `hlc`, this store holds every write the site made up to `hlc`,
  // and the site's clock is past `hlc`. Acks only grow. They decide tombstone GC.
  Status Acknowledge(const SiteId& site, Hlc hlc);

  // Tombstone GC (DESIGN §2). The stable point is the least ack over the known sites: every site
  // with a watermark or an ack, except the owning site itself (a site with no ack holds it at 0).
  // When the stable point (capped by options.up_to) is above the horizon, the horizon rises to it
  // (recorded in meta, replicated by MergeFrom), then every record is pruned and its covers at or
  // below the horizon dropped; records left empty are removed. What every record materializes is
  // unchanged. Conflicts older than the horizon that involved a cover are no longer reported.
  // Correct only if the acks are honest: a site that acknowledged more than it holds (or that
  // later writes at or below its ack, or whose store is later restored from a backup older than
  // the horizon) can see data that a dropped cover deleted come back when it merges from this
  // store. The model-based test checks GC under exactly these rules.
  Result<GcResult> CollectGarbage(const GcOptions& options = {});

  // A bulk load's batch, held encoded in memory and written at once (BulkRun): Apply's atomic
  // batch, for inputs of many megabytes. A commit of at least `table_bytes` encoded bytes is
  // written as table files, a smaller one through the log.
  std::unique_ptr<BulkRun> NewBulkRun(size_t table_bytes = kBulkTableBytes);

  // ---- reads ----

  // The record's canonical JSON. kNotFound when the store holds nothing for the key or the
  // record does not exist (deleted, or only patched); kCorruption for corrupt stored bytes.
  Result<std::string> Get(const Key& key) const;

  // The record's raw state. kNotFound when the store holds nothing for the key.
  Result<RecordState> GetState(const Key& key) const;

  // A caller's meta value (MetaPut). kNotFound when absent.
  Result<std::string> GetMeta(std::string_view name) const;

  // Visits every record in key order (Key::Encode order), or only those of `kind`, from one
  // consistent snapshot. The visitor's non-OK status stops the scan and is returned.
  using StateVisitor = std::function<Status(const Key& key, const RecordState& state)>;
  Status Scan(std::optional<KeyKind> kind, const StateVisitor& visit) const;

  // The same, each record as its encoded state (codec.h: DecodeRecord reads it; the bytes live
  // until the visitor returns), for readers that decode on threads of their own.
  using EncodedVisitor = std::function<Status(const Key& key, std::string_view encoded)>;
  Status ScanEncoded(std::optional<KeyKind> kind, const EncodedVisitor& visit) const;

  // The same, for existing records only, with their materialized JSON.
  using JsonVisitor = std::function<Status(const Key& key, const std::string& json)>;
  Status ScanMaterialized(std::optional<KeyKind> kind, const JsonVisitor& visit) const;

  // A cursor over every record, or only those of `kind`, positioned at the first one.
  std::unique_ptr<RecordCursor> NewCursor(std::optional<KeyKind> kind = std::nullopt) const;

  // The materialized JSON of `state` as this store shows it (its policy table and fork point);
  // nullopt when the record does not exist.
  Result<std::optional<std::string>> Materialize(KeyKind kind, const RecordState& state) const;

  std::vector<SiteHlc> Watermarks() const;
  std::vector<SiteHlc> Acks() const;

  // ---- digests ----

  // The digest of the materialized state (digest.h), as of one snapshot. The bucket hashes are
  // cached in memory, with a mark on every bucket a write touched since, and in meta against
  // RocksDB's sequence number (stored at close): an unchanged store answers at once, also after a
  // reopen; a changed one recomputes only the marked buckets (all of them after a reopen that
  // follows unrecorded changes, or a change of the policy table or fork point).
  Result<StoreDigest> Digest() const;

  // Visits every key whose materialized record differs between a and b: bucket by bucket (the
  // digest buckets, in bucket order), in key order within a bucket. Compares the digest trees
  // top-down and reads only the buckets whose hashes differ (digest.h gives the false-negative
  // bound). For stores not being written meanwhile; under concurrent writes the answer lies
  // between the states before and after. The visitor's non-OK status stops the walk.
  using DiffVisitor = std::function<Status(const KeyDiff& diff)>;
  static Status Diff(const Store& a, const Store& b, const DiffVisitor& visit);
  // The same, collected and sorted by key.
  static Result<std::vector<KeyDiff>> Diff(const Store& a, const Store& b);

  // ---- backups (RocksDB BackupEngine) ----

  // Backs the store up into `backup_dir` (created if missing; backups share unchanged files).
  Result<BackupInfo> CreateBackup(const std::string& backup_dir) const;
  // The backups in `backup_dir`, oldest first.
  static Result<std::vector<BackupInfo>> ListBackups(const std::string& backup_dir);
  // Checks every file of backup `id` against its recorded size and checksum: kCorruption if not.
  static Status VerifyBackup(const std::string& backup_dir, uint32_t id);
  // Restores backup `id` (0: the latest) into `store_dir`, replacing the store there (its fork
  // point, horizon and acks go back too). A backup older than a peer's GC horizon must not then
  // merge from that peer (see CollectGarbage); re-seed it from the peer instead.
  // REQUIRES: no Store has store_dir open (else kConflict "store is locked").
  static Status RestoreBackup(const std::string& backup_dir, uint32_t id,
                              const std::string& store_dir);

  // ---- statistics ----

  // Counts per key kind, sizes, counters and site tables (one full scan).
  Result<StoreStats> Stats() const;

  // Flushes memtables to SST files (for tests, benchmarks and before copying files).
  Status Flush();
  // Compacts every column family (runs the merge operator over all stored operands).
  Status Compact();

  class Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What BulkRun::Commit wrote.
struct BulkCommit {
  size_t applied = 0;        // deltas joined into the store (as ApplyResult::applied)
  size_t below_horizon = 0;  // deltas not written: a cell at or below the GC horizon
  bool as_tables = false;    // written as table files (else as one logged batch)
  // The records went in as values, final (no compaction joins them again): the store held no key
  // in their range. Else as merge operands, joined with what the store holds.
  bool as_values = false;
};

namespace store {
struct HeldWrites;
}

// One atomic batch of a bulk load, held encoded in memory until Commit writes it: as table files
// ingested at once (RocksDB's SstFileWriter and IngestExternalFiles: no log, no memtable, no
// flush) when it holds at least the run's table_bytes (kBulkTableBytes unless the caller said),
// as one logged batch (Apply's way) when less. Either
// way the store ends up holding exactly what Apply of the same deltas and meta would give: the
// same joins, digest index entries, watermarks and counts; after a crash, all of the batch or
// none of it is there, and a committed batch is durable (ingested files are synced). A key held
// more than once is joined before it is written. Made by Store::NewBulkRun.
//
// Thread safety: one thread at a time; commits run concurrently with the store's other writes.
// REQUIRES: the store outlives the run.
class BulkRun {
 public:
  ~BulkRun();
  BulkRun(const BulkRun&) = delete;
  BulkRun& operator=(const BulkRun&) = delete;

  // Encodes `deltas` and holds them, with `meta` (a later value of a name wins). Deltas with a
  // cell at or below the store's GC horizon are not held: Commit counts them in below_horizon.
  // Errors: kInvalidInput for a bad meta name (nothing of this call is held), kUnsupported on a
  // read-only store.
  Status Add(std::span<const Delta> deltas, std::span<const MetaPut> meta = {});

  // Says that the run is filled to about `bytes` of encoded deltas before each Commit. Once it
  // holds a quarter of that, it makes room for all of it at once, and keeps the room from one
  // Commit to the next: it never grows by copying what it holds into a block twice the size (the
  // copy briefly holds both: the peak of a bulk load's memory). A small run takes no more room.
  void ExpectBytes(size_t bytes);

  // Encoded bytes and deltas (held or not) since the last Commit.
  size_t bytes() const;
  size_t deltas() const;

  // Writes what is held as one batch and empties the run (also when it fails). kConflict, with
  // nothing written, when the store's GC horizon rose after the run's first Add (a delta held
  // then may be below it now): add the same input again. kIoError from the file system.
  Result<BulkCommit> Commit();

 private:
  friend class Store;
  BulkRun(Store::Impl& store, size_t table_bytes);
  Store::Impl& store_;
  size_t table_bytes_;
  size_t expected_bytes_ = 0;
  std::unique_ptr<store::HeldWrites> held_;
};

}  // namespace reconcile

#endif  // RECONCILE_STORE_H_
