// The store: opening, configuration, writes and reads. Encodings: lib/store/encoding.h.
#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>

#include <sys/statvfs.h>

#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "lib/store/digest.h"
#include "lib/store/encoding.h"
#include "lib/store/merge_operators.h"
#include "lib/store/store_impl.h"
#include "reconcile/codec.h"
#include "reconcile/materialize.h"

namespace reconcile {

using store::DecodeU32;
using store::DecodeU64;
using store::EncodeU64;

namespace {

rocksdb::Slice S(std::string_view v) { return rocksdb::Slice(v.data(), v.size()); }
std::string_view V(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

std::string_view SiteBytes(const SiteId& site) {
  return {reinterpret_cast<const char*>(site.bytes().data()), SiteId::kSize};
}

std::string UserMetaKey(std::string_view name) {
  std::string k(store::kMetaUserPrefix);
  k.append(name);
  return k;
}

Status ValidateMetaName(std::string_view name) {
  if (name.empty() || name.size() > store::kMaxMetaNameBytes) {
    return Status::InvalidInput("meta name must be 1 to 256 bytes (got " +
                                std::to_string(name.size()) + ")");
  }
  return Status::Ok();
}

// Joins max(hlc) per site of `state` into `marks`.
void NoteWatermarks(const RecordState& state, std::map<SiteId, Hlc>* marks) {
  for (const Stamp& s : state.MaxStampPerSite()) {
    Hlc& m = (*marks)[s.site];
    if (s.hlc > m) m = s.hlc;
  }
}

// True when a cell of `state` (value or cover) is at or below `horizon` (> 0).
bool BelowHorizon(const RecordState& state, Hlc horizon) {
  for (const Cell& c : state.cells()) {
    if (c.has_value && c.value_hlc <= horizon) return true;
    if (c.has_cover && c.cover_hlc <= horizon) return true;
    if (c.has_below_cover && c.below_cover_hlc <= horizon) return true;
  }
  return false;
}

// `state` without its parts at or below `horizon`.
RecordState WithoutCellsAtOrBelow(const RecordState& state, Hlc horizon) {
  RecordState kept = state;
  kept.DropAtOrBelow(horizon, RecordState::Parts::kAll);
  return kept;
}

// Bounds of the encoded keys of one kind (key grammar of lib/core/key.cc: devices and modules
// start with 0x01, meta records with 0x03). Only an optimization: Scan also checks each key.
struct KindBounds {
  std::string lower;
  std::string upper;  // empty: no upper bound
};

KindBounds BoundsFor(std::optional<KeyKind> kind) {
  if (!kind) return {};
  if (*kind == KeyKind::kMeta) return {std::string(1, '\x03'), std::string(1, '\x04')};
  return {std::string(1, '\x01'), std::string(1, '\x02')};
}

// RocksDB's info log (DIR/LOG), written with stdio; a write that fails is dropped. RocksDB's own
// file logger must not be used: on the write after a failed one (a full disk, a file size limit)
// it stops the process on an assertion (Debian's librocksdb keeps them), so a full disk crashed
// every command instead of failing it. Without a file (read-only opens) it drops every line.
class InfoLog final : public rocksdb::Logger {
 public:
  // Appends to `path`, first moving a LOG of more than 8 MiB to LOG.old; "" logs nothing.
  explicit InfoLog(const std::string& path) : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {
    if (path.empty()) return;
    std::error_code ec;
    if (std::filesystem::file_size(path, ec) > (8u << 20) && !ec) {
      std::filesystem::rename(path, path + ".old", ec);
    }
    file_ = std::fopen(path.c_str(), "a");
  }
  ~InfoLog() override {
    if (file_ != nullptr) std::fclose(file_);
  }
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (file_ == nullptr) return;
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
        1000000;
    std::tm t{};
    localtime_r(&seconds, &t);
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(file_, "%04d/%02d/%02d-%02d:%02d:%02d.%06lld ", t.tm_year + 1900, t.tm_mon + 1,
                 t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, static_cast<long long>(micros));
    std::vfprintf(file_, format, ap);
    std::fputc('\n', file_);
    std::fflush(file_);
    std::clearerr(file_);  // a failed write is dropped; the next one is tried again
  }

 private:
  std::mutex mu_;
  std::FILE* file_ = nullptr;
};

Status LockedError(const std::string& dir, const rocksdb::Status& s) {
  return Status::Conflict("store is locked: " + dir +
                          " is open in another Store (in this or another process) (" +
                          s.ToString() + ")");
}

// A failure to open, with what to do about a damaged file.
Status OpenError(const rocksdb::Status& s, const std::string& context) {
  Status opened = FromRocks(s, context);
  if (!opened.IsCorruption()) return opened;
  return Status::Corruption(opened.message() +
                            " (a file of the store is damaged: restore the store from a backup, "
                            "or build it again from its inputs)");
}

}  // namespace

bool IsLockHeld(const rocksdb::Status& s) {
  if (!s.IsIOError()) return false;
  const std::string text = s.ToString();
  return text.find("While lock file") != std::string::npos ||
         text.find("lock hold by current process") != std::string::npos;
}

bool OnReadOnlyFileSystem(const std::string& dir) {
  struct statvfs fs_info;
  return statvfs(dir.c_str(), &fs_info) == 0 && (fs_info.f_flag & ST_RDONLY) != 0;
}

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(context) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidInput(std::move(msg));
  if (s.IsNotSupported()) return Status::Unsupported(std::move(msg));
  return Status::IoError(std::move(msg));
}

// ---------------------------------------------------------------------------------------------
// Open

Store::Impl::~Impl() {
  if (db_) {
    // Keep the digest for the next open (best effort: without it the next Digest recomputes).
    try {
      static_cast<void>(PersistDigestCache());
    } catch (...) {
    }
    for (rocksdb::ColumnFamilyHandle* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    handles_.clear();
    db_->Close().PermitUncheckedError();
    db_.reset();
  }
  if (read_lock_ != nullptr) {
    rocksdb::Env::Default()->UnlockFile(read_lock_).PermitUncheckedError();
  }
}

Result<std::unique_ptr<Store::Impl>> Store::Impl::Open(const std::string& dir,
                                                        const StoreOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool exists = fs::exists(fs::path(dir) / "CURRENT", ec);
  if (!exists && (!options.create_if_missing || options.read_only)) {
    return Status::NotFound(
        "no store in " + dir +
        (options.read_only ? " (opening read-only)" : " (create_if_missing is false)"));
  }
  if (exists && options.error_if_exists) {
    return Status::Conflict("a store already exists in " + dir);
  }
  if (!exists) {
    if (options.site_name.empty()) {
      return Status::InvalidInput("creating a store in " + dir + " needs a site name");
    }
    RECONCILE_RETURN_IF_ERROR(ValidateSiteName(options.site_name));
    if (!options.policy_table_json.empty()) {
      Result<PolicyTable> t = PolicyTable::Parse(options.policy_table_json);
      if (!t.ok()) return t.status().WithContext("policy table");
    }
  }

  if (!exists) {
    fs::create_directories(dir, ec);
    if (ec) return Status::IoError("creating " + dir + ": " + ec.message());
  }

  auto impl = std::unique_ptr<Impl>(new Impl());
  impl->dir_ = dir;
  impl->options_ = options;
  impl->buckets_.assign(kDigestBuckets, store::BucketSum{});
  impl->dirty_.assign(kDigestBuckets, 0);
  impl->all_dirty_ = true;

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = options.max_background_jobs;
  dbo.keep_log_file_num = 4;
  // Flushes of all families are atomic with respect to write batches, so a backup made with
  // flush_before_backup (or any set of flushed files) never holds half a batch.
  dbo.atomic_flush = true;
  // RocksDB's paranoid checks (its default, stated here because we rely on them): after a failed
  // write the database takes no more writes, and table file sizes are checked at open.
  dbo.paranoid_checks = true;
  // A log that is corrupt before its last record fails the open (kCorruption). The default,
  // point-in-time recovery, would open with everything up to the damage and silently drop every
  // acknowledged batch after it. A last record cut short (a crash inside a write) is dropped.
  dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Our info log (see InfoLog); a read-only open writes nothing into the directory.
  dbo.info_log = std::make_shared<InfoLog>(options.read_only ? "" : dir + "/LOG");

  impl->cache_ = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = impl->cache_;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Index and filter blocks live in the block cache, within block_cache_bytes, not beside every
  // open table file: otherwise they grow with the store (about 12 MiB a million records, measured
  // at 4M devices) and a large fleet's memory is not flat (DECISIONS P12). Partitioned, so that a
  // read loads one partition of a file's index, with each file's top level pinned.
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_top_level_index_and_filter = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.index_type = rocksdb::BlockBasedTableOptions::IndexType::kTwoLevelIndexSearch;
  table.partition_filters = true;

  auto family = [&](std::shared_ptr<rocksdb::MergeOperator> op) {
    rocksdb::ColumnFamilyOptions cfo;
    cfo.write_buffer_size = options.write_buffer_size;
    cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cfo.merge_operator = std::move(op);
    return cfo;
  };
  rocksdb::ColumnFamilyOptions records_cfo =
      family(std::make_shared<store::RecordJoinOperator>(options.prune_in_merge));
  records_cfo.max_successive_merges = options.max_successive_merges;
  auto max_op = std::make_shared<store::U64MaxOperator>();

  std::vector<rocksdb::ColumnFamilyDescriptor> descs = {
      {rocksdb::kDefaultColumnFamilyName, family(nullptr)},
      {store::kRecordsFamily, records_cfo},
      {store::kWatermarksFamily, family(max_op)},
      {store::kAcksFamily, family(max_op)},
      {store::kDigestIndexFamily, family(nullptr)},
      {store::kMetaFamily, family(std::make_shared<store::MetaOperator>())},
  };
  if (exists) {
    // RocksDB must open every family a database has; one this build does not know is opened
    // with default options (the format version check below decides whether we can use it).
    std::vector<std::string> names;
    rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(dbo, dir, &names);
    if (!ls.ok()) return OpenError(ls, "listing the column families of " + dir);
    for (const std::string& n : names) {
      bool known = std::any_of(descs.begin(), descs.end(),
                               [&](const rocksdb::ColumnFamilyDescriptor& d) { return d.name == n; });
      if (!known) descs.push_back({n, family(std::make_shared<store::RefuseMergeOperator>())});
    }
  }

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    // RocksDB's read-only mode takes no lock: take it here, so a store that a writer has open is
    // refused as in read-write mode. On a read-only file system no process can be writing it.
    rocksdb::Status ls = rocksdb::Env::Default()->LockFile(dir + "/LOCK", &impl->read_lock_);
    if (!ls.ok()) {
      impl->read_lock_ = nullptr;
      if (IsLockHeld(ls)) return LockedError(dir, ls);
      if (!OnReadOnlyFileSystem(dir)) return FromRocks(ls, "locking the store in " + dir);
    }
    s = rocksdb::DB::OpenForReadOnly(dbo, dir, descs, &impl->handles_, &raw);
  } else {
    s = rocksdb::DB::Open(dbo, dir, descs, &impl->handles_, &raw);
  }
  if (!s.ok()) {
    if (IsLockHeld(s)) return LockedError(dir, s);
    return OpenError(s, "opening the store in " + dir);
  }
  impl->db_.reset(raw);
  impl->records_ = impl->handles_[1];
  impl->watermarks_ = impl->handles_[2];
  impl->acks_ = impl->handles_[3];
  impl->index_ = impl->handles_[4];
  impl->meta_ = impl->handles_[5];

  RECONCILE_RETURN_IF_ERROR(impl->Initialize(!exists));
  // Table files of a bulk write that a crash cut short (never part of the store).
  if (!options.read_only) impl->RemoveBulkStaging();
  RECONCILE_RETURN_IF_ERROR(impl->LoadDigestCache());
  return impl;
}

Status Store::Impl::Initialize(bool fresh) {
  rocksdb::ReadOptions ro;
  std::string version;
  rocksdb::Status s = db_->Get(ro, meta_, S(store::kMetaFormatVersion), &version);
  if (s.IsNotFound()) {
    // A new store (or one whose creation crashed before its first batch): write its identity.
    // A database with data but no format version is someone else's: never take it over.
    if (!fresh) {
      for (rocksdb::ColumnFamilyHandle* h : handles_) {
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, h));
        it->SeekToFirst();
        if (it->Valid() || !it->status().ok()) {
          return Status::InvalidInput(dir_ + " holds a RocksDB database that is not a reconcile store");
        }
      }
    }
    if (options_.read_only) {
      return Status::InvalidInput("the store in " + dir_ +
                                  " was never finished (no format version); it cannot be opened "
                                  "read-only");
    }
    if (options_.site_name.empty()) {
      return Status::InvalidInput("the store in " + dir_ +
                                  " has no recorded site; opening it needs a site name");
    }
    if (!fresh) RECONCILE_RETURN_IF_ERROR(ValidateSiteName(options_.site_name));
    PolicyTable table = PolicyTable::Default();
    if (!options_.policy_table_json.empty()) {
      Result<PolicyTable> t = PolicyTable::Parse(options_.policy_table_json);
      if (!t.ok()) return t.status().WithContext("policy table");
      table = std::move(t).value();
    }
    SiteId id = SiteId::FromName(options_.site_name);
    rocksdb::WriteBatch batch;
    std::string v;
    store::PutU32(&v, kStoreFormatVersion);
    batch.Put(meta_, S(store::kMetaFormatVersion), v);
    batch.Put(meta_, S(store::kMetaSiteName), options_.site_name);
    batch.Put(meta_, S(store::kMetaSiteId), S(SiteBytes(id)));
    batch.Put(meta_, S(store::kMetaPolicyTable), table.ToJson());
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RECONCILE_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "initializing " + dir_));
    version = v;
  } else if (!s.ok()) {
    return FromRocks(s, "reading the format version of " + dir_);
  }
  std::optional<uint32_t> ver = DecodeU32(version);
  if (!ver) return Status::Corruption("the format version of the store in " + dir_ + " is not 4 bytes");
  if (*ver != kStoreFormatVersion) {
    return Status::Unsupported("the store in " + dir_ + " has format version " +
                               std::to_string(*ver) + "; this build reads only version " +
                               std::to_string(kStoreFormatVersion));
  }

  std::string name, id_bytes, policy_json;
  RECONCILE_RETURN_IF_ERROR(
      FromRocks(db_->Get(ro, meta_, S(store::kMetaSiteName), &name), "reading the site name"));
  RECONCILE_RETURN_IF_ERROR(
      FromRocks(db_->Get(ro, meta_, S(store::kMetaSiteId), &id_bytes), "reading the site id"));
  if (id_bytes.size() != SiteId::kSize) return Status::Corruption("the stored site id is not 16 bytes");
  if (!options_.site_name.empty() && options_.site_name != name) {
    return Status::Conflict("the store in " + dir_ + " belongs to site '" + name +
                            "', not '" + options_.site_name + "'");
  }
  site_name_ = name;
  site_id_ = SiteId::FromBytes(reinterpret_cast<const uint8_t*>(id_bytes.data()));

  RECONCILE_RETURN_IF_ERROR(FromRocks(db_->Get(ro, meta_, S(store::kMetaPolicyTable), &policy_json),
                                      "reading the policy table"));
  Result<PolicyTable> table = PolicyTable::Parse(policy_json);
  if (!table.ok()) {
    return Status::Corruption("the stored policy table does not parse: " + table.status().ToString());
  }
  policies_ = std::make_shared<const PolicyTable>(std::move(table).value());
  return RefreshReplicatedMeta();
}

Status Store::Impl::RefreshReplicatedMeta() {
  rocksdb::ReadOptions ro;
  for (auto [key, target] : {std::pair{store::kMetaForkPoint, &fork_point_},
                             std::pair{store::kMetaGcHorizon, &horizon_}}) {
    std::string v;
    rocksdb::Status s = db_->Get(ro, meta_, S(key), &v);
    if (s.IsNotFound()) {
      target->store(0);
      continue;
    }
    RECONCILE_RETURN_IF_ERROR(FromRocks(s, "reading " + std::string(key)));
    std::optional<uint64_t> hlc = DecodeU64(v);
    if (!hlc) return Status::Corruption(std::string(key) + " is not 8 bytes");
    target->store(*hlc);
  }
  return Status::Ok();
}

std::shared_ptr<const PolicyTable> Store::Impl::policies() const {
  std::lock_guard<std::mutex> lock(view_mu_);
  return policies_;
}

Status Store::Impl::Writable() const {
  if (!options_.read_only) return Status::Ok();
  return Status::Unsupported("cannot write: the store in " + dir_ + " is open read-only" +
                             (OnReadOnlyFileSystem(dir_) ? " (on a read-only file system)" : ""));
}

Status Store::Impl::SetPolicyTable(const PolicyTable& table) {
  RECONCILE_RETURN_IF_ERROR(Writable());
  std::unique_lock<std::shared_mutex> lock(writers_mu_);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  RECONCILE_RETURN_IF_ERROR(FromRocks(db_->Put(wo, meta_, S(store::kMetaPolicyTable), table.ToJson()),
                                      "storing the policy table"));
  {
    std::lock_guard<std::mutex> view(view_mu_);
    policies_ = std::make_shared<const PolicyTable>(table);
  }
  MarkAllDirty();
  return Status::Ok();
}

Status Store::Impl::SetForkPoint(Hlc hlc) {
  RECONCILE_RETURN_IF_ERROR(Writable());
  std::unique_lock<std::shared_mutex> lock(writers_mu_);
  if (hlc <= fork_point_.load()) return Status::Ok();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  RECONCILE_RETURN_IF_ERROR(FromRocks(db_->Merge(wo, meta_, S(store::kMetaForkPoint), EncodeU64(hlc)),
                                      "storing the fork point"));
  RECONCILE_RETURN_IF_ERROR(RefreshReplicatedMeta());
  MarkAllDirty();
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Writes

Status Store::Impl::Hold(std::span<const Delta> deltas, std::span<const MetaPut> meta,
                         store::HeldWrites* held, std::vector<size_t>* rejected) const {
  for (const MetaPut& m : meta) RECONCILE_RETURN_IF_ERROR(ValidateMetaName(m.name));
  if (!held->started) {
    held->horizon = horizon_.load();
    held->started = true;
  }
  const Hlc horizon = held->horizon;
  for (size_t i = 0; i < deltas.size(); ++i) {
    const Delta& d = deltas[i];
    ++held->deltas;
    if (d.state.empty()) continue;
    if (horizon > 0 && BelowHorizon(d.state, horizon)) {
      ++held->below_horizon;
      if (rejected != nullptr) rejected->push_back(i);
      continue;
    }
    store::HeldWrites::Operand o;
    o.at = held->bytes.size();
    d.key.EncodeTo(&held->bytes);
    o.key_size = static_cast<uint32_t>(held->bytes.size() - o.at);
    EncodeRecordTo(d.state, &held->bytes);
    o.state_size = static_cast<uint32_t>(held->bytes.size() - o.at - o.key_size);
    held->operands.push_back(o);
    held->touched.push_back(store::DigestBucketOf(held->KeyOf(o)));
    NoteWatermarks(d.state, &held->watermarks);
  }
  for (const MetaPut& m : meta) held->meta[UserMetaKey(m.name)] = m.value;
  return Status::Ok();
}

Status Store::Impl::WriteHeld(const store::HeldWrites& held, bool sync) {
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < held.operands.size(); ++i) {
    const store::HeldWrites::Operand& o = held.operands[i];
    batch.Merge(records_, S(held.KeyOf(o)), S(held.StateOf(o)));
    batch.Put(index_, store::DigestIndexKey(held.touched[i], held.KeyOf(o)), rocksdb::Slice());
  }
  for (const auto& [site, hlc] : held.watermarks) {
    batch.Merge(watermarks_, S(SiteBytes(site)), EncodeU64(hlc));
  }
  if (held.below_horizon > 0) {
    batch.Merge(meta_, S(store::kMetaRejected), EncodeU64(held.below_horizon));
  }
  for (const auto& [key, value] : held.meta) batch.Put(meta_, key, value);
  if (batch.Count() == 0) return Status::Ok();
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(db_->Write(wo, &batch), "applying a batch to the store in " + dir_);
}

Result<ApplyResult> Store::Impl::Apply(std::span<const Delta> deltas,
                                       std::span<const MetaPut> meta,
                                       const ApplyOptions& apply_options) {
  for (const MetaPut& m : meta) RECONCILE_RETURN_IF_ERROR(ValidateMetaName(m.name));
  RECONCILE_RETURN_IF_ERROR(Writable());
  std::shared_lock<std::shared_mutex> lock(writers_mu_);
  store::HeldWrites held;
  ApplyResult result;
  RECONCILE_RETURN_IF_ERROR(Hold(deltas, meta, &held, &result.rejected));
  result.applied = deltas.size() - result.rejected.size();
  if (held.empty()) return result;
  RECONCILE_RETURN_IF_ERROR(WriteHeld(held, options_.sync || apply_options.sync));
  MarkDirty(held.touched);
  return result;
}

Status Store::Impl::MergeFrom(const Impl& other) {
  if (&other == this) return Status::InvalidInput("MergeFrom: a store cannot merge from itself");
  RECONCILE_RETURN_IF_ERROR(Writable());
  std::shared_lock<std::shared_mutex> lock(writers_mu_);
  const Hlc horizon = horizon_.load();
  rocksdb::ManagedSnapshot snapshot(other.db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ro.fill_cache = false;
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;

  rocksdb::WriteBatch batch;
  std::vector<uint32_t> touched;
  auto write = [&]() -> Status {
    if (batch.Count() == 0) return Status::Ok();
    RECONCILE_RETURN_IF_ERROR(
        FromRocks(db_->Write(wo, &batch), "MergeFrom: writing a batch to the store in " + dir_));
    MarkDirty(touched);
    batch.Clear();
    touched.clear();
    return Status::Ok();
  };

  std::unique_ptr<rocksdb::Iterator> it(other.db_->NewIterator(ro, other.records_));
  // This store's records beside the other's, in the same key order: a record whose state here is
  // already the other's, byte for byte, is skipped (joining a state with itself changes nothing,
  // and this store's state only grows), which after an outage is most of them. The index entry
  // of a record this store holds is already there.
  rocksdb::ReadOptions own_ro;
  own_ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> mine(db_->NewIterator(own_ro, records_));
  mine->SeekToFirst();
  std::string filtered;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view key = V(it->key());
    std::string_view value = V(it->value());
    if (horizon > 0) {
      Result<RecordState> state = DecodeRecord(value);
      if (!state.ok()) return state.status().WithContext("MergeFrom: a record of " + other.dir_);
      RecordState kept = WithoutCellsAtOrBelow(*state, horizon);
      if (kept.empty()) continue;
      filtered = EncodeRecord(kept);
      value = filtered;
    }
    while (mine->Valid() && V(mine->key()) < key) mine->Next();
    if (mine->Valid() && V(mine->key()) == key && V(mine->value()) == value) continue;
    batch.Merge(records_, S(key), S(value));
    uint32_t bucket = store::DigestBucketOf(key);
    batch.Put(index_, store::DigestIndexKey(bucket, key), rocksdb::Slice());
    touched.push_back(bucket);
    if (batch.GetDataSize() >= options_.batch_bytes) RECONCILE_RETURN_IF_ERROR(write());
  }
  RECONCILE_RETURN_IF_ERROR(FromRocks(it->status(), "MergeFrom: reading " + other.dir_));
  RECONCILE_RETURN_IF_ERROR(FromRocks(mine->status(), "MergeFrom: reading " + dir_));
  it.reset();
  mine.reset();

  // Watermarks and acks join by max (the records they describe are all written above).
  for (auto [from, to] : {std::pair{other.watermarks_, watermarks_}, std::pair{other.acks_, acks_}}) {
    std::unique_ptr<rocksdb::Iterator> sit(other.db_->NewIterator(ro, from));
    for (sit->SeekToFirst(); sit->Valid(); sit->Next()) batch.Merge(to, sit->key(), sit->value());
    RECONCILE_RETURN_IF_ERROR(FromRocks(sit->status(), "MergeFrom: reading sites of " + other.dir_));
  }
  for (std::string_view key : {store::kMetaForkPoint, store::kMetaGcHorizon}) {
    std::string v;
    rocksdb::Status s = other.db_->Get(ro, other.meta_, S(key), &v);
    if (s.IsNotFound()) continue;
    RECONCILE_RETURN_IF_ERROR(FromRocks(s, "MergeFrom: reading " + std::string(key)));
    if (!DecodeU64(v)) return Status::Corruption("MergeFrom: " + std::string(key) + " is not 8 bytes");
    batch.Merge(meta_, S(key), v);
  }
  RECONCILE_RETURN_IF_ERROR(write());
  Hlc fork_before = fork_point_.load();
  RECONCILE_RETURN_IF_ERROR(RefreshReplicatedMeta());
  if (fork_point_.load() != fork_before) MarkAllDirty();
  return Status::Ok();
}

Status Store::Impl::Acknowledge(const SiteId& site, Hlc hlc) {
  if (site.is_nil()) return Status::InvalidInput("Acknowledge: the nil site id names no site");
  RECONCILE_RETURN_IF_ERROR(Writable());
  std::shared_lock<std::shared_mutex> lock(writers_mu_);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  return FromRocks(db_->Merge(wo, acks_, S(SiteBytes(site)), EncodeU64(hlc)), "storing an ack");
}

// ---------------------------------------------------------------------------------------------
// Reads

Result<std::optional<std::string>> Store::Impl::Materialize(KeyKind kind,
                                                            const RecordState& state) const {
  std::shared_ptr<const PolicyTable> table = policies();
  MergeView view;
  view.policies = table.get();
  view.fork_point = fork_point_.load();
  return reconcile::Materialize(kind, state, view);
}

Result<RecordState> Store::Impl::GetState(const Key& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), records_, key.Encode(), &value);
  if (s.IsNotFound()) return Status::NotFound("no record " + key.ToString());
  RECONCILE_RETURN_IF_ERROR(FromRocks(s, "reading " + key.ToString()));
  Result<RecordState> state = DecodeRecord(value);
  if (!state.ok()) return state.status().WithContext("decoding " + key.ToString());
  return state;
}

Result<std::optional<std::string>> Store::Impl::GetMaterialized(const Key& key) const {
  Result<RecordState> state = GetState(key);
  if (!state.ok()) {
    if (state.status().IsNotFound()) return std::optional<std::string>();
    return state.status();
  }
  Result<std::optional<std::string>> json = Materialize(key.kind(), *state);
  if (!json.ok()) return json.status().WithContext("materializing " + key.ToString());
  return json;
}

Result<std::string> Store::Impl::GetMeta(std::string_view name) const {
  RECONCILE_RETURN_IF_ERROR(ValidateMetaName(name));
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, UserMetaKey(name), &value);
  if (s.IsNotFound()) return Status::NotFound("no meta value '" + std::string(name) + "'");
  RECONCILE_RETURN_IF_ERROR(FromRocks(s, "reading meta"));
  return value;
}

Status Store::Impl::ScanEncoded(std::optional<KeyKind> kind,
                                const Store::EncodedVisitor& visit) const {
  KindBounds bounds = BoundsFor(kind);
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(bounds.upper);
  if (!bounds.upper.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, records_));
  for (it->Seek(bounds.lower); it->Valid(); it->Next()) {
    Result<Key> key = Key::Decode(V(it->key()));
    if (!key.ok()) return key.status().WithContext("scanning records");
    if (kind && key->kind() != *kind) continue;
    RECONCILE_RETURN_IF_ERROR(visit(*key, V(it->value())));
  }
  return FromRocks(it->status(), "scanning records");
}

Status Store::Impl::Scan(std::optional<KeyKind> kind, const StateVisitor& visit) const {
  return ScanEncoded(kind, [&](const Key& key, std::string_view encoded) -> Status {
    Result<RecordState> state = DecodeRecord(encoded);
    if (!state.ok()) return state.status().WithContext("decoding " + key.ToString());
    return visit(key, *state);
  });
}

std::vector<SiteHlc> Store::Impl::SiteTable(rocksdb::ColumnFamilyHandle* cf) const {
  std::vector<SiteHlc> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<uint64_t> hlc = DecodeU64(V(it->value()));
    if (it->key().size() != SiteId::kSize || !hlc) continue;  // never written by this code
    out.push_back({SiteId::FromBytes(reinterpret_cast<const uint8_t*>(it->key().data())), *hlc});
  }
  return out;
}

Result<StoreStats> Store::Impl::Stats() const {
  StoreStats stats;
  Status s = Scan(std::nullopt, [&](const Key& key, const RecordState& state) -> Status {
    KindStats& k = key.kind() == KeyKind::kDevice   ? stats.devices
                   : key.kind() == KeyKind::kModule ? stats.modules
                                                    : stats.meta_records;
    ++k.records;
    k.cells += state.cells().size();
    for (const Cell& c : state.cells()) k.covers += c.has_cover ? 1 : 0;
    k.encoded_bytes += EncodeRecord(state).size();
    k.key_bytes += key.Encode().size();
    Result<std::optional<std::string>> json = Materialize(key.kind(), state);
    if (!json.ok()) return json.status().WithContext("materializing " + key.ToString());
    if (json->has_value()) ++k.existing;
    return Status::Ok();
  });
  RECONCILE_RETURN_IF_ERROR(s);
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, "rocksdb.total-sst-files-size", &v)) stats.sst_bytes += v;
    if (db_->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) stats.memtable_bytes += v;
  }
  std::string v;
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), meta_, S(store::kMetaRejected), &v);
  if (rs.ok()) {
    std::optional<uint64_t> n = DecodeU64(v);
    if (!n) return Status::Corruption("the rejected counter is not 8 bytes");
    stats.rejected_below_horizon = *n;
  } else if (!rs.IsNotFound()) {
    return FromRocks(rs, "reading the rejected counter");
  }
  stats.gc_horizon = horizon_.load();
  stats.fork_point = fork_point_.load();
  stats.watermarks = SiteTable(watermarks_);
  stats.acks = SiteTable(acks_);
  return stats;
}

Status Store::Impl::Flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(db_->Flush(fo, handles_), "flushing");
}

Status Store::Impl::Compact() {
  rocksdb::CompactRangeOptions co;
  // The default would move a lone file down untouched (a trivial move) and skip the bottommost
  // level, leaving every merge operand in place for each later read to join again.
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    RECONCILE_RETURN_IF_ERROR(FromRocks(db_->CompactRange(co, h, nullptr, nullptr), "compacting"));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Store: the public face forwards to Impl, with no exception crossing it.

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, const StoreOptions& options) {
  return Guarded("Store::Open", [&]() -> Result<std::unique_ptr<Store>> {
    Result<std::unique_ptr<Impl>> impl = Impl::Open(dir, options);
    if (!impl.ok()) return impl.status();
    return std::unique_ptr<Store>(new Store(std::move(impl).value()));
  });
}

const std::string& Store::dir() const { return impl_->dir_; }
const std::string& Store::site_name() const { return impl_->site_name_; }
SiteId Store::site_id() const { return impl_->site_id_; }
PolicyTable Store::policy_table() const { return *impl_->policies(); }
Hlc Store::fork_point() const { return impl_->fork_point_.load(); }
Hlc Store::gc_horizon() const { return impl_->horizon_.load(); }

Status Store::SetPolicyTable(const PolicyTable& table) {
  return Guarded("Store::SetPolicyTable", [&] { return impl_->SetPolicyTable(table); });
}

Status Store::SetForkPoint(Hlc hlc) {
  return Guarded("Store::SetForkPoint", [&] { return impl_->SetForkPoint(hlc); });
}

Result<ApplyResult> Store::Apply(std::span<const Delta> deltas, std::span<const MetaPut> meta,
                                 const ApplyOptions& options) {
  return Guarded("Store::Apply", [&] { return impl_->Apply(deltas, meta, options); });
}

Status Store::MergeFrom(const Store& other) {
  return Guarded("Store::MergeFrom", [&] { return impl_->MergeFrom(*other.impl_); });
}

Status Store::Acknowledge(const SiteId& site, Hlc hlc) {
  return Guarded("Store::Acknowledge", [&] { return impl_->Acknowledge(site, hlc); });
}

Result<GcResult> Store::CollectGarbage(const GcOptions& options) {
  return Guarded("Store::CollectGarbage", [&] { return impl_->CollectGarbage(options); });
}

Result<std::string> Store::Get(const Key& key) const {
  return Guarded("Store::Get", [&]() -> Result<std::string> {
    Result<std::optional<std::string>> json = impl_->GetMaterialized(key);
    if (!json.ok()) return json.status();
    if (!json->has_value()) return Status::NotFound(key.ToString() + " does not exist");
    return std::move(**json);
  });
}

Result<RecordState> Store::GetState(const Key& key) const {
  return Guarded("Store::GetState", [&] { return impl_->GetState(key); });
}

Result<std::string> Store::GetMeta(std::string_view name) const {
  return Guarded("Store::GetMeta", [&] { return impl_->GetMeta(name); });
}

Status Store::Scan(std::optional<KeyKind> kind, const StateVisitor& visit) const {
  return Guarded("Store::Scan", [&] { return impl_->Scan(kind, visit); });
}

Status Store::ScanEncoded(std::optional<KeyKind> kind, const EncodedVisitor& visit) const {
  return Guarded("Store::ScanEncoded", [&] { return impl_->ScanEncoded(kind, visit); });
}

Status Store::ScanMaterialized(std::optional<KeyKind> kind, const JsonVisitor& visit) const {
  return Guarded("Store::ScanMaterialized", [&] {
    return impl_->Scan(kind, [&](const Key& key, const RecordState& state) -> Status {
      Result<std::optional<std::string>> json = impl_->Materialize(key.kind(), state);
      if (!json.ok()) return json.status().WithContext("materializing " + key.ToString());
      if (!json->has_value()) return Status::Ok();
      return visit(key, **json);
    });
  });
}

Result<std::optional<std::string>> Store::Materialize(KeyKind kind, const RecordState& state) const {
  return Guarded("Store::Materialize", [&] { return impl_->Materialize(kind, state); });
}

std::vector<SiteHlc> Store::Watermarks() const {
  try {
    return impl_->SiteTable(impl_->watermarks_);
  } catch (...) {
    return {};
  }
}

std::vector<SiteHlc> Store::Acks() const {
  try {
    return impl_->SiteTable(impl_->acks_);
  } catch (...) {
    return {};
  }
}

Result<StoreDigest> Store::Digest() const {
  return Guarded("Store::Digest", [&] { return impl_->Digest(); });
}

Status Store::Diff(const Store& a, const Store& b, const DiffVisitor& visit) {
  return Guarded("Store::Diff", [&] { return Impl::Diff(*a.impl_, *b.impl_, visit); });
}

Result<std::vector<KeyDiff>> Store::Diff(const Store& a, const Store& b) {
  return Guarded("Store::Diff", [&]() -> Result<std::vector<KeyDiff>> {
    std::vector<KeyDiff> out;
    RECONCILE_RETURN_IF_ERROR(Impl::Diff(*a.impl_, *b.impl_, [&](const KeyDiff& d) {
      out.push_back(d);
      return Status::Ok();
    }));
    std::sort(out.begin(), out.end(),
              [](const KeyDiff& x, const KeyDiff& y) { return x.key < y.key; });
    return out;
  });
}

Result<BackupInfo> Store::CreateBackup(const std::string& backup_dir) const {
  return Guarded("Store::CreateBackup", [&] { return impl_->CreateBackup(backup_dir); });
}

Result<StoreStats> Store::Stats() const {
  return Guarded("Store::Stats", [&] { return impl_->Stats(); });
}

Status Store::Flush() {
  return Guarded("Store::Flush", [&] { return impl_->Flush(); });
}

Status Store::Compact() {
  return Guarded("Store::Compact", [&] { return impl_->Compact(); });
}

}  // namespace reconcile

// ---------------------------------------------------------------------------------------------
// RecordCursor

namespace reconcile {

class RecordCursor::Impl {
 public:
  Impl(const Store::Impl& store, std::optional<KeyKind> kind) : store_(store), kind_(kind) {
    bounds_ = BoundsFor(kind);
    upper_ = rocksdb::Slice(bounds_.upper);
    rocksdb::ReadOptions ro;
    if (!bounds_.upper.empty()) ro.iterate_upper_bound = &upper_;
    it_.reset(store_.db_->NewIterator(ro, store_.records_));
    it_->Seek(bounds_.lower);
    Settle();
  }

  // Skips records of other kinds and decodes the current one; ends the walk on an error.
  void Settle() {
    valid_ = false;
    for (; it_->Valid(); it_->Next()) {
      Result<Key> key = Key::Decode(V(it_->key()));
      if (!key.ok()) {
        status_ = key.status().WithContext("cursor");
        return;
      }
      if (kind_ && key->kind() != *kind_) continue;
      Result<RecordState> state = DecodeRecord(V(it_->value()));
      if (!state.ok()) {
        status_ = state.status().WithContext("cursor: decoding " + key->ToString());
        return;
      }
      key_.emplace(std::move(key).value());
      state_ = std::move(state).value();
      valid_ = true;
      return;
    }
    status_ = FromRocks(it_->status(), "cursor");
  }

  const Store::Impl& store_;
  std::optional<KeyKind> kind_;
  KindBounds bounds_;
  rocksdb::Slice upper_;
  std::unique_ptr<rocksdb::Iterator> it_;
  bool valid_ = false;
  std::optional<Key> key_;
  RecordState state_;
  Status status_;
};

RecordCursor::RecordCursor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RecordCursor::~RecordCursor() = default;

bool RecordCursor::Valid() const { return impl_->valid_; }

void RecordCursor::Next() {
  assert(Valid());
  try {
    impl_->it_->Next();
    impl_->Settle();
  } catch (const std::exception& e) {
    impl_->valid_ = false;
    impl_->status_ = Status::Internal(std::string("cursor: ") + e.what());
  }
}

const Key& RecordCursor::key() const {
  assert(Valid());
  return *impl_->key_;
}

const RecordState& RecordCursor::state() const {
  assert(Valid());
  return impl_->state_;
}

Result<std::optional<std::string>> RecordCursor::Materialized() const {
  assert(Valid());
  return Guarded("RecordCursor::Materialized",
                 [&] { return impl_->store_.Materialize(impl_->key_->kind(), impl_->state_); });
}

Status RecordCursor::status() const { return impl_->status_; }

std::unique_ptr<RecordCursor> Store::NewCursor(std::optional<KeyKind> kind) const {
  return std::unique_ptr<RecordCursor>(
      new RecordCursor(std::make_unique<RecordCursor::Impl>(*impl_, kind)));
}

}  // namespace reconcile
