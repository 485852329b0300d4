// mergetool backup STORE BACKUP_DIR [--list] [--verify]
#include <iostream>

#include "reconcile/store.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

struct BackupOptions {
  std::string store;
  std::string backup_dir;
  bool verify = false;
};

Exit RunBackup(const BackupOptions& o) {
  auto store = OpenExisting(o.store);
  if (!store.ok()) return Fail(store.status());
  auto info = (*store)->CreateBackup(o.backup_dir);
  if (!info.ok()) return Fail(info.status().WithContext(o.backup_dir));
  if (o.verify) {
    if (auto s = reconcile::Store::VerifyBackup(o.backup_dir, info->id); !s.ok()) {
      return Fail(s.WithContext(o.backup_dir));
    }
  }
  std::cout << info->id << "\n";
  std::cerr << "backup: id " << info->id << ", " << info->files << " files, " << info->size_bytes
            << " bytes" << (o.verify ? ", verified" : "") << "\n";
  return Exit::kOk;
}

}  // namespace

Run SetupBackup(CLI::App& sub) {
  auto o = std::make_shared<BackupOptions>();
  sub.add_option("STORE", o->store, "store directory")->required();
  sub.add_option("BACKUP_DIR", o->backup_dir, "backup directory (created if missing)")->required();
  sub.add_flag("--verify", o->verify, "verify the new backup's files after writing it");
  return [o] { return RunBackup(*o); };
}

}  // namespace mergetool
