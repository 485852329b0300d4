// Bulk writes: BulkRun, and the table files a large held batch is written as.
//
// A logged batch costs RocksDB a write-ahead-log append and a memtable insert per key (a skiplist
// search among everything the memtable holds), then a flush that writes the same keys again as a
// table: for an export of a million devices that is most of what the store's side of an ingest
// costs. A held batch of many megabytes is instead sorted here and written straight into table
// files (rocksdb::SstFileWriter), one per column family it writes, which IngestExternalFiles adds
// to the database in one atomic step: no log, no memtable, no flush. The files hold the very
// entries the logged batch would (record operands as merge operands, the digest index, the
// watermark and count operands, meta puts), so what the store holds afterwards is the same.
//
// The files are made in the store's "bulk" folder and moved (hard-linked) into the database by
// the ingestion; a commit cut short by a crash leaves only that folder, which the next commit or
// open removes. RocksDB adds the files with a fresh sequence number, newer than every write before
// them, which the joins do not mind (they are order-free).
#include <algorithm>
#include <filesystem>
#include <numeric>
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

Status Store::Impl::WriteHeldAsTables(const store::HeldWrites& held) {
  const std::string staging = StagingDir(dir_);
  RemoveBulkStaging();
  std::error_code ec;
  std::filesystem::create_directories(staging, ec);
  if (ec) return Status::IoError("bulk write: creating " + staging + ": " + ec.message());

  rocksdb::IngestExternalFileOptions ingest;
  ingest.move_files = true;
  ingest.failed_move_fall_back_to_copy = true;
  ingest.snapshot_consistency = true;
  ingest.allow_global_seqno = true;
  ingest.allow_blocking_flush = true;
  std::vector<rocksdb::IngestExternalFileArg> args;
  auto add = [&](const TableFile& file, rocksdb::ColumnFamilyHandle* cf) {
    rocksdb::IngestExternalFileArg arg;
    arg.column_family = cf;
    arg.external_files = {file.path()};
    arg.options = ingest;
    args.push_back(std::move(arg));
  };

  Status written = Guarded("bulk write", [&]() -> Status {
    // Records: in key order; a key held more than once becomes the join of its operands (a table
    // holds a key once), which is what the merge operator would make of them.
    if (!held.operands.empty()) {
      std::vector<uint32_t> order(held.operands.size());
      std::iota(order.begin(), order.end(), 0u);
      auto key_less = [&](uint32_t a, uint32_t b) {
        return held.KeyOf(held.operands[a]) < held.KeyOf(held.operands[b]);
      };
      // Exports often come in key order: then there is nothing to sort.
      if (!std::is_sorted(order.begin(), order.end(), key_less)) {
        std::stable_sort(order.begin(), order.end(), key_less);
      }
      TableFile records(*db_, records_, staging + "/records.sst");
      RECONCILE_RETURN_IF_ERROR(records.Open());
      std::vector<std::string_view> parts;
      std::string joined;
      for (size_t i = 0; i < order.size();) {
        const std::string_view key = held.KeyOf(held.operands[order[i]]);
        size_t end = i + 1;
        while (end < order.size() && held.KeyOf(held.operands[order[end]]) == key) ++end;
        if (end == i + 1) {
          RECONCILE_RETURN_IF_ERROR(records.Merge(key, held.StateOf(held.operands[order[i]])));
        } else {
          parts.clear();
          for (size_t j = i; j < end; ++j) parts.push_back(held.StateOf(held.operands[order[j]]));
          RECONCILE_RETURN_IF_ERROR(JoinEncodedRecords(parts, &joined));
          RECONCILE_RETURN_IF_ERROR(records.Merge(key, joined));
        }
        i = end;
      }
      RECONCILE_RETURN_IF_ERROR(records.Finish());
      add(records, records_);

      std::vector<std::string> index;
      index.reserve(held.operands.size());
      for (size_t i = 0; i < held.operands.size(); ++i) {
        index.push_back(store::DigestIndexKey(held.touched[i], held.KeyOf(held.operands[i])));
      }
      std::sort(index.begin(), index.end());
      index.erase(std::unique(index.begin(), index.end()), index.end());
      TableFile index_file(*db_, index_, staging + "/index.sst");
      RECONCILE_RETURN_IF_ERROR(index_file.Open());
      for (const std::string& k : index) RECONCILE_RETURN_IF_ERROR(index_file.Put(k, {}));
      RECONCILE_RETURN_IF_ERROR(index_file.Finish());
      add(index_file, index_);
    }
    if (!held.watermarks.empty()) {
      // Site ids order as their bytes do (SiteId's order is bytewise).
      TableFile marks(*db_, watermarks_, staging + "/watermarks.sst");
      RECONCILE_RETURN_IF_ERROR(marks.Open());
      for (const auto& [site, hlc] : held.watermarks) {
        const std::string_view id(reinterpret_cast<const char*>(site.bytes().data()),
                                  SiteId::kSize);
        RECONCILE_RETURN_IF_ERROR(marks.Merge(id, store::EncodeU64(hlc)));
      }
      RECONCILE_RETURN_IF_ERROR(marks.Finish());
      add(marks, watermarks_);
    }
    if (!held.meta.empty() || held.below_horizon > 0) {
      std::map<std::string_view, std::pair<bool, std::string>> meta;  // key -> (merge?, value)
      for (const auto& [key, value] : held.meta) meta[key] = {false, value};
      if (held.below_horizon > 0) {
        meta[store::kMetaRejected] = {true, store::EncodeU64(held.below_horizon)};
      }
      TableFile meta_file(*db_, meta_, staging + "/meta.sst");
      RECONCILE_RETURN_IF_ERROR(meta_file.Open());
      for (const auto& [key, entry] : meta) {
        RECONCILE_RETURN_IF_ERROR(entry.first ? meta_file.Merge(key, entry.second)
                                              : meta_file.Put(key, entry.second));
      }
      RECONCILE_RETURN_IF_ERROR(meta_file.Finish());
      add(meta_file, meta_);
    }
    if (args.empty()) return Status::Ok();
    // A file that overlaps nothing the database holds would be added without a sequence number
    // of its own, leaving the database's unchanged; but the store's digest cache is valid only
    // while that number is (store_digest.cc). With a snapshot held, snapshot_consistency makes
    // RocksDB give the files a fresh sequence number, so every commit advances it, atomically.
    rocksdb::ManagedSnapshot pin(db_.get());
    return FromRocks(db_->IngestExternalFiles(args),
                     "bulk write: adding the table files to the store in " + dir_);
  });
  RemoveBulkStaging();
  return written;
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
  std::shared_lock<std::shared_mutex> lock(store_.writers_mu_);
  if (held.started && store_.horizon_.load() != held.horizon) {
    return Status::Conflict("bulk write: the store's GC horizon rose while " +
                            std::to_string(held.deltas) +
                            " deltas were held; nothing of them was written (add them again)");
  }
  BulkCommit out;
  out.applied = held.deltas - held.below_horizon;
  out.below_horizon = held.below_horizon;
  if (held.empty()) return out;
  out.as_tables = held.bytes.size() >= table_bytes_;
  if (out.as_tables) {
    RECONCILE_RETURN_IF_ERROR(store_.WriteHeldAsTables(held));
  } else {
    RECONCILE_RETURN_IF_ERROR(store_.WriteHeld(held, store_.options_.sync));
  }
  store_.MarkDirty(held.touched);
  return out;
}

}  // namespace reconcile
