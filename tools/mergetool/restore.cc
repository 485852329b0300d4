// mergetool restore BACKUP_DIR STORE [--id N] [--list]
#include <iostream>

#include "reconcile/store.h"
#include "tools/mergetool/command.h"

namespace mergetool {
namespace {

struct RestoreOptions {
  std::string backup_dir;
  std::string store;
  uint32_t id = 0;
  bool list = false;
};

Exit RunRestore(const RestoreOptions& o) {
  auto backups = reconcile::Store::ListBackups(o.backup_dir);
  if (!backups.ok()) return Fail(backups.status().WithContext(o.backup_dir));
  if (o.list) {
    for (const auto& b : *backups) {
      std::cout << b.id << "\t" << b.timestamp << "\t" << b.size_bytes << "\t" << b.files << "\n";
    }
    return Exit::kOk;
  }
  if (backups->empty()) return Fail(reconcile::Status::NotFound(o.backup_dir + ": no backups"));
  uint32_t id = o.id != 0 ? o.id : backups->back().id;
  if (o.store.empty()) {
    PrintError("restore needs a STORE directory (or --list)");
    return Exit::kUsage;
  }
  if (auto s = reconcile::Store::RestoreBackup(o.backup_dir, id, o.store); !s.ok()) {
    return Fail(s.WithContext("restore " + o.backup_dir + " into " + o.store));
  }
  std::cerr << "restore: backup " << id << " into " << o.store << "\n";
  return Exit::kOk;
}

}  // namespace

Run SetupRestore(CLI::App& sub) {
  auto o = std::make_shared<RestoreOptions>();
  sub.add_option("BACKUP_DIR", o->backup_dir, "backup directory")->required();
  sub.add_option("STORE", o->store, "store directory to restore into");
  sub.add_option("--id", o->id, "backup id (default: the newest)");
  sub.add_flag("--list", o->list, "list the backups (id, time, bytes, files) instead");
  return [o] { return RunRestore(*o); };
}

}  // namespace mergetool
