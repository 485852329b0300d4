// Bulk writes: BulkRun, and the table files a large held batch is written as.
//
// A logged batch costs RocksDB a write-ahead-log append and a memtable insert per key (a skiplist
// search among everything the memtable holds), then a flush that writes the same keys again as a
// table: for an export of a million devices that is most of what the store's side of an ingest
// costs. A held batch of many megabytes is instead sorted here and written straight into table
// files (rocksdb::SstFileWriter), one per column family it writes, which IngestExternalFiles adds
// to the database in one atomic step: no log, no memtable, no flush. The files hold the very
// entries the logged batch would (the records, the digest index, the watermark and count
// operands, meta puts), so what the store holds afterwards is the same.
//
// Records go in as merge operands, joined with what the store holds by a compaction. But where
// the store holds no key in the range of a batch's records (a fresh store, an export in key
// order), they go in as values, each what a read of its operands would give: RocksDB puts such
// a file in the bottom level at sequence number 0, final, and no compaction touches it again
// (DECISIONS P17). No other writer may reach the range meanwhile, so the check is made again,
// with every other writer waiting, just before the ingestion.
//
// Each commit's files are made in a folder of its own under the store's "bulk" folder and moved
// (hard-linked) into the database by the ingestion; a commit cut short by a crash leaves only
// that folder, which the commit or the next open removes. Files that RocksDB gives a fresh
// sequence number are newer than every write before them, which the joins do not mind (they are
// order-free).
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <utility>

#include <rocksdb/sst_file_writer.h>

#include "lib/store/encoding.h"
#include "lib/store/store_impl.h"
#include "reconcile/codec.h"

namespace reconcile {

namespace {

rocksdb::Slice S(std::string_view v) { return rocksdb::Slice(v.data(), v.size()); }

std::string StagingDir(const std::string& store_dir) { return store_dir + "/bulk"; }

// One table file of one column family, written in key order.
class TableFile {
 public:
  TableFile(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, std::string path)
      : writer_(rocksdb::EnvOptions(), db.GetOptions(cf), cf), path_(std::move(path)) {}

  Status Open() { return FromRocks(writer_.Open(path_), "bulk write: creating " + path_); }
  Status Merge(std::string_view key, std::string_view value) {
    return FromRocks(writer_.Merge(S(key), S(value)), "bulk write: writing " + path_);
  }
  Status Put(std::string_view key, std::string_view value) {
    return FromRocks(writer_.Put(S(key), S(value)), "bulk write: writing " + path_);
  }
  Status Finish() { return FromRocks(writer_.Finish(), "bulk write: finishing " + path_); }
  const std::string& path() const { return path_; }

 private:
  rocksdb::SstFileWriter writer_;
  std::string path_;
};

}  // namespace

void Store::Impl::RemoveBulkStaging() const {
  std::error_code ec;
  std::filesystem::remove_all(StagingDir(dir_), ec);
}

Status Store::Impl::HorizonUnchanged(const store::HeldWrites& held) const {
  if (held.started && horizon_.load() != held.horizon) {
    return Status::Conflict("bulk write: the store's GC horizon rose while " +
                            std::to_string(held.deltas) +
                            " deltas were held; nothing of them was written (add them again)");
  }
  return Status::Ok();
}

Result<bool> Store::Impl::RecordsFreeIn(std::string_view first, std::string_view last) const {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, records_));
  it->Seek(S(first));
  if (it->Valid()) return it->key().compare(S(last)) > 0;
  // A key whose operands do not join also stops the iterator: then the range is not free.
  if (!it->status().ok()) return false;
  return true;
}

namespace {

// The held operands in key order (a stable sort: each key's operands stay in the order held).
std::vector<uint32_t> KeyOrder(const store::HeldWrites& held) {
  std::vector<uint32_t> order(held.operands.size());
  std::iota(order.begin(), order.end(), 0u);
  auto key_less = [&](uint32_t a, uint32_t b) {
    return held.KeyOf(held.operands[a]) < held.KeyOf(held.operands[b]);
  };
  // Exports often come in key order: then there is nothing to sort.
  if (!std::is_sorted(order.begin(), order.end(), key_less)) {
    std::stable_sort(order.begin(), order.end(), key_less);
  }
  return order;
}

// How a records file holds each key's state.
enum class RecordForm {
  kOperands,  // merge operands: joined with what the store holds
  kValues,    // values: only where the store holds no key of the file's range
};

// Writes the records file: one entry a key, the join of its held operands (a table holds a key
// once), which is what the merge operator would make of them. As values, each is what a read
// would give of that one operand: pruned when the store's merge operator prunes.
Status WriteRecords(const store::HeldWrites& held, const std::vector<uint32_t>& order,
                    RecordForm form, bool prune, TableFile* file) {
  RECONCILE_RETURN_IF_ERROR(file->Open());
  std::vector<std::string_view> parts;
  std::string joined;
  for (size_t i = 0; i < order.size();) {
    const std::string_view key = held.KeyOf(held.operands[order[i]]);
    size_t end = i + 1;
    while (end < order.size() && held.KeyOf(held.operands[order[end]]) == key) ++end;
    std::string_view state = held.StateOf(held.operands[order[i]]);
    if (end > i + 1) {
      parts.clear();
      for (size_t j = i; j < end; ++j) parts.push_back(held.StateOf(held.operands[order[j]]));
      RECONCILE_RETURN_IF_ERROR(JoinEncodedRecords(parts, &joined));
      state = joined;
    }
    if (form == RecordForm::kOperands) {
      RECONCILE_RETURN_IF_ERROR(file->Merge(key, state));
    } else {
      if (prune) {
        Result<RecordState> pruned = DecodeRecord(state);
        if (!pruned.ok()) return pruned.status();
        pruned->Prune();
        joined.clear();
        EncodeRecordTo(*pruned, &joined);
        state = joined;
      }
      RECONCILE_RETURN_IF_ERROR(file->Put(key, state));
    }
    i = end;
  }
  return file->Finish();
}

}  // namespace

Result<BulkCommit> Store::Impl::CommitHeldAsTables(const store::HeldWrites& held) {
  // Each commit stages in a folder of its own, so that two runs may commit at once.
  const std::string staging = StagingDir(dir_) + "/" + std::to_string(++bulk_commits_);
  struct Unstaged {
    const std::string& dir;
    ~Unstaged() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      std::filesystem::remove(std::filesystem::path(dir).parent_path(), ec);  // if now empty
    }
  } unstaged{staging};
  std::error_code ec;
  // A commit ending beside this one may remove the parent folder between the two steps of
  // create_directories: once more then.
  for (int attempt = 0; attempt < 2; ++attempt) {
    ec.clear();
    if (std::filesystem::create_directories(staging, ec) || !ec) break;
  }
  if (ec) return Status::IoError("bulk write: creating " + staging + ": " + ec.message());

  BulkCommit out;
  out.applied = held.deltas - held.below_horizon;
  out.below_horizon = held.below_horizon;
  out.as_tables = true;
  std::vector<std::pair<std::unique_ptr<TableFile>, rocksdb::ColumnFamilyHandle*>> files;
  auto table = [&](rocksdb::ColumnFamilyHandle* cf, const char* name) -> TableFile& {
    files.emplace_back(std::make_unique<TableFile>(*db_, cf, staging + "/" + name), cf);
    return *files.back().first;
  };
  std::vector<uint32_t> order;
  size_t records_at = 0;  // the records file's place in `files` (when it has one)

  Status written = Guarded("bulk write", [&]() -> Status {
    // The files are written without the writers' lock (the costly part: other writes go on).
    if (!held.operands.empty()) {
      order = KeyOrder(held);
      const std::string_view first = held.KeyOf(held.operands[order.front()]);
      const std::string_view last = held.KeyOf(held.operands[order.back()]);
      Result<bool> free = RecordsFreeIn(first, last);
      if (!free.ok()) return free.status();
      out.as_values = *free;
      records_at = files.size();
      TableFile& records = table(records_, "records.sst");
      RECONCILE_RETURN_IF_ERROR(WriteRecords(
          held, order, out.as_values ? RecordForm::kValues : RecordForm::kOperands,
          options_.prune_in_merge, &records));

      std::vector<std::string> index;
      index.reserve(held.operands.size());
      for (size_t i = 0; i < held.operands.size(); ++i) {
        index.push_back(store::DigestIndexKey(held.touched[i], held.KeyOf(held.operands[i])));
      }
      std::sort(index.begin(), index.end());
      index.erase(std::unique(index.begin(), index.end()), index.end());
      TableFile& index_file = table(index_, "index.sst");
      RECONCILE_RETURN_IF_ERROR(index_file.Open());
      for (const std::string& k : index) RECONCILE_RETURN_IF_ERROR(index_file.Put(k, {}));
      RECONCILE_RETURN_IF_ERROR(index_file.Finish());
    }
    if (!held.watermarks.empty()) {
      // Site ids order as their bytes do (SiteId's order is bytewise).
      TableFile& marks = table(watermarks_, "watermarks.sst");
      RECONCILE_RETURN_IF_ERROR(marks.Open());
      for (const auto& [site, hlc] : held.watermarks) {
        const std::string_view id(reinterpret_cast<const char*>(site.bytes().data()),
                                  SiteId::kSize);
        RECONCILE_RETURN_IF_ERROR(marks.Merge(id, store::EncodeU64(hlc)));
      }
      RECONCILE_RETURN_IF_ERROR(marks.Finish());
    }
    if (!held.meta.empty() || held.below_horizon > 0) {
      std::map<std::string_view, std::pair<bool, std::string>> meta;  // key -> (merge?, value)
      for (const auto& [key, value] : held.meta) meta[key] = {false, value};
      if (held.below_horizon > 0) {
        meta[store::kMetaRejected] = {true, store::EncodeU64(held.below_horizon)};
      }
      TableFile& meta_file = table(meta_, "meta.sst");
      RECONCILE_RETURN_IF_ERROR(meta_file.Open());
      for (const auto& [key, entry] : meta) {
        RECONCILE_RETURN_IF_ERROR(entry.first ? meta_file.Merge(key, entry.second)
                                              : meta_file.Put(key, entry.second));
      }
      RECONCILE_RETURN_IF_ERROR(meta_file.Finish());
    }
    return Status::Ok();
  });
  RECONCILE_RETURN_IF_ERROR(written);
  if (files.empty()) return out;

  // Values may go in only while no write reaches their range: from the check to the ingestion,
  // every other writer waits. Operands join with anything, beside the other writers.
  std::shared_lock<std::shared_mutex> shared(writers_mu_, std::defer_lock);
  std::unique_lock<std::shared_mutex> exclusive(writers_mu_, std::defer_lock);
  if (out.as_values) {
    exclusive.lock();
  } else {
    shared.lock();
  }
  RECONCILE_RETURN_IF_ERROR(HorizonUnchanged(held));
  written = Guarded("bulk write", [&]() -> Status {
    if (out.as_values) {
      const std::string_view first = held.KeyOf(held.operands[order.front()]);
      const std::string_view last = held.KeyOf(held.operands[order.back()]);
      Result<bool> still_free = RecordsFreeIn(first, last);
      if (!still_free.ok()) return still_free.status();
      if (!*still_free) {
        // Another writer reached the range while the files were written: operands after all.
        out.as_values = false;
        std::unique_ptr<TableFile>& records = files[records_at].first;
        records = std::make_unique<TableFile>(*db_, records_, records->path());
        RECONCILE_RETURN_IF_ERROR(
            WriteRecords(held, order, RecordForm::kOperands, options_.prune_in_merge, records.get()));
      }
    }
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;
    ingest.failed_move_fall_back_to_copy = true;
    ingest.snapshot_consistency = true;
    ingest.allow_global_seqno = true;
    ingest.allow_blocking_flush = true;
    std::vector<rocksdb::IngestExternalFileArg> args;
    for (const auto& [file, cf] : files) {
      rocksdb::IngestExternalFileArg arg;
      arg.column_family = cf;
      arg.external_files = {file->path()};
      arg.options = ingest;
      args.push_back(std::move(arg));
    }
    // The store's digest cache is valid only while the database's sequence number is unchanged
    // (store_digest.cc), but RocksDB adds a file that overlaps nothing the database holds without
    // a sequence number of its own, leaving the database's as it was.
    std::optional<rocksdb::ManagedSnapshot> pin;
    if (out.as_values) {
      // Values are meant to go in so, at sequence number 0 in the bottom level: final, never
      // compacted again (a file with a number of its own is rewritten once, to clear it). So the
      // number moves first, by a synced count of bulk commits: if a crash comes after the
      // ingestion, the cache no longer matches at the next open.
      rocksdb::WriteOptions synced;
      synced.sync = true;
      RECONCILE_RETURN_IF_ERROR(
          FromRocks(db_->Merge(synced, meta_, S(store::kMetaBulkCommits), store::EncodeU64(1)),
                    "bulk write: counting the commit in " + dir_));
    } else {
      // Operands must be joined by a compaction anyway. With a snapshot held, snapshot_consistency
      // makes RocksDB give the files a fresh sequence number, so the commit advances the
      // database's, atomically.
      pin.emplace(db_.get());
    }
    return FromRocks(db_->IngestExternalFiles(args),
                     "bulk write: adding the table files to the store in " + dir_);
  });
  RECONCILE_RETURN_IF_ERROR(written);
  MarkDirty(held.touched);
  return out;
}

// ---------------------------------------------------------------------------------------------
// BulkRun

std::unique_ptr<BulkRun> Store::NewBulkRun(size_t table_bytes) {
  return std::unique_ptr<BulkRun>(new BulkRun(*impl_, table_bytes));
}

BulkRun::BulkRun(Store::Impl& store, size_t table_bytes)
    : store_(store), table_bytes_(table_bytes), held_(std::make_unique<store::HeldWrites>()) {}

BulkRun::~BulkRun() = default;

Status BulkRun::Add(std::span<const Delta> deltas, std::span<const MetaPut> meta) {
  RECONCILE_RETURN_IF_ERROR(store_.Writable());
  RECONCILE_RETURN_IF_ERROR(store_.Hold(deltas, meta, held_.get(), nullptr));
  store::HeldWrites& h = *held_;
  if (h.bytes.capacity() < expected_bytes_ && !h.bytes.empty() &&
      h.bytes.size() >= expected_bytes_ / 4) {
    // The operands take as much more room as the bytes (records of about the same size).
    const double more = static_cast<double>(expected_bytes_) / static_cast<double>(h.bytes.size());
    h.operands.reserve(static_cast<size_t>(static_cast<double>(h.operands.size()) * more) + 1);
    h.touched.reserve(h.operands.capacity());
    h.bytes.reserve(expected_bytes_);
  }
  return Status::Ok();
}

size_t BulkRun::bytes() const { return held_->bytes.size(); }
size_t BulkRun::deltas() const { return held_->deltas; }

void BulkRun::ExpectBytes(size_t bytes) { expected_bytes_ = bytes; }

Result<BulkCommit> BulkRun::Commit() {
  // The run is empty after the commit however it ends; it keeps its buffers for the next one.
  struct Emptied {
    store::HeldWrites& held;
    ~Emptied() { held.Reset(); }
  } emptied{*held_};
  const store::HeldWrites& held = *held_;
  RECONCILE_RETURN_IF_ERROR(store_.Writable());
  RECONCILE_RETURN_IF_ERROR(store_.HorizonUnchanged(held));
  if (held.empty()) {
    BulkCommit out;
    out.applied = held.deltas - held.below_horizon;
    out.below_horizon = held.below_horizon;
    return out;
  }
  if (held.bytes.size() >= table_bytes_) return store_.CommitHeldAsTables(held);
  std::shared_lock<std::shared_mutex> lock(store_.writers_mu_);
  RECONCILE_RETURN_IF_ERROR(store_.HorizonUnchanged(held));
  RECONCILE_RETURN_IF_ERROR(store_.WriteHeld(held, store_.options_.sync));
  store_.MarkDirty(held.touched);
  BulkCommit out;
  out.applied = held.deltas - held.below_horizon;
  out.below_horizon = held.below_horizon;
  return out;
}

}  // namespace reconcile
