// Backups with RocksDB's BackupEngine: create, list, verify, restore.
//
// A backup is taken after an atomic flush of every column family (DBOptions::atomic_flush), so it
// holds whole write batches only, and shares unchanged SST files with earlier backups in the same
// backup directory. Restoring replaces the store directory's database files.
#include <filesystem>

#include <rocksdb/env.h>
#include <rocksdb/utilities/backup_engine.h>

#include "lib/store/store_impl.h"

namespace reconcile {
namespace {

BackupInfo ToInfo(const rocksdb::BackupInfo& info) {
  BackupInfo out;
  out.id = info.backup_id;
  out.timestamp = info.timestamp;
  out.size_bytes = info.size;
  out.files = info.number_files;
  return out;
}

Result<std::unique_ptr<rocksdb::BackupEngineReadOnly>> OpenReadOnly(const std::string& backup_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(backup_dir, ec)) {
    return Status::NotFound("no backup directory " + backup_dir);
  }
  rocksdb::BackupEngineReadOnly* raw = nullptr;
  rocksdb::IOStatus s = rocksdb::BackupEngineReadOnly::Open(
      rocksdb::Env::Default(), rocksdb::BackupEngineOptions(backup_dir), &raw);
  if (!s.ok()) return FromRocks(s, "opening the backups in " + backup_dir);
  return std::unique_ptr<rocksdb::BackupEngineReadOnly>(raw);
}

}  // namespace

Result<BackupInfo> Store::Impl::CreateBackup(const std::string& backup_dir) const {
  rocksdb::BackupEngine* raw = nullptr;
  rocksdb::IOStatus s = rocksdb::BackupEngine::Open(rocksdb::Env::Default(),
                                                    rocksdb::BackupEngineOptions(backup_dir), &raw);
  if (!s.ok()) return FromRocks(s, "opening the backups in " + backup_dir);
  std::unique_ptr<rocksdb::BackupEngine> engine(raw);
  rocksdb::CreateBackupOptions options;
  options.flush_before_backup = true;
  rocksdb::BackupID id = 0;
  s = engine->CreateNewBackup(options, db_.get(), &id);
  if (!s.ok()) return FromRocks(s, "backing up " + dir_ + " into " + backup_dir);
  rocksdb::BackupInfo info;
  rocksdb::Status is = engine->GetBackupInfo(id, &info);
  if (!is.ok()) return FromRocks(is, "reading backup " + std::to_string(id));
  return ToInfo(info);
}

Result<std::vector<BackupInfo>> Store::ListBackups(const std::string& backup_dir) {
  return Guarded("Store::ListBackups", [&]() -> Result<std::vector<BackupInfo>> {
    Result<std::unique_ptr<rocksdb::BackupEngineReadOnly>> engine = OpenReadOnly(backup_dir);
    if (!engine.ok()) return engine.status();
    std::vector<rocksdb::BackupInfo> infos;
    (*engine)->GetBackupInfo(&infos);
    std::vector<BackupInfo> out;
    for (const rocksdb::BackupInfo& i : infos) out.push_back(ToInfo(i));
    return out;
  });
}

Status Store::VerifyBackup(const std::string& backup_dir, uint32_t id) {
  return Guarded("Store::VerifyBackup", [&]() -> Status {
    Result<std::unique_ptr<rocksdb::BackupEngineReadOnly>> engine = OpenReadOnly(backup_dir);
    if (!engine.ok()) return engine.status();
    rocksdb::IOStatus s = (*engine)->VerifyBackup(id, /*verify_with_checksum=*/true);
    if (s.IsNotFound()) return Status::NotFound("no backup " + std::to_string(id) + " in " + backup_dir);
    if (!s.ok()) return Status::Corruption("backup " + std::to_string(id) + " in " + backup_dir +
                                           " fails verification: " + s.ToString());
    return Status::Ok();
  });
}

Status Store::RestoreBackup(const std::string& backup_dir, uint32_t id,
                            const std::string& store_dir) {
  return Guarded("Store::RestoreBackup", [&]() -> Status {
    Result<std::unique_ptr<rocksdb::BackupEngineReadOnly>> engine = OpenReadOnly(backup_dir);
    if (!engine.ok()) return engine.status();
    // Hold the store's LOCK while restoring, so an open store is never overwritten.
    rocksdb::Env* env = rocksdb::Env::Default();
    std::error_code ec;
    std::filesystem::create_directories(store_dir, ec);
    if (ec) return Status::IoError("creating " + store_dir + ": " + ec.message());
    rocksdb::FileLock* lock = nullptr;
    rocksdb::Status ls = env->LockFile(store_dir + "/LOCK", &lock);
    if (!ls.ok()) {
      if (!IsLockHeld(ls)) return FromRocks(ls, "locking " + store_dir + " to restore into it");
      return Status::Conflict("store is locked: " + store_dir + " is open (" + ls.ToString() + ")");
    }
    rocksdb::IOStatus s =
        id == 0 ? (*engine)->RestoreDBFromLatestBackup(rocksdb::RestoreOptions(), store_dir, store_dir)
                : (*engine)->RestoreDBFromBackup(rocksdb::RestoreOptions(), id, store_dir, store_dir);
    env->UnlockFile(lock).PermitUncheckedError();
    if (!s.ok()) return FromRocks(s, "restoring backup " + std::to_string(id) + " into " + store_dir);
    return Status::Ok();
  });
}

}  // namespace reconcile
