#include "tools/mergetool/store_access.h"

#include <sys/statvfs.h>

#include "tools/mergetool/command.h"

namespace mergetool {

namespace {

bool OnReadOnlyFileSystem(const std::string& dir) {
  struct statvfs fs_info;
  return statvfs(dir.c_str(), &fs_info) == 0 && (fs_info.f_flag & ST_RDONLY) != 0;
}

}  // namespace

reconcile::Result<std::unique_ptr<reconcile::Store>> OpenExisting(const std::string& dir) {
  reconcile::StoreOptions options;
  options.create_if_missing = false;
  // On a read-only file system the store can still be read (RocksDB would otherwise fail to open
  // it, since opening writes); a command that writes then fails with a clear error.
  options.read_only = OnReadOnlyFileSystem(dir);
  if (options.read_only) {
    PrintWarning(dir + " is on a read-only file system: the store is opened read-only");
  }
  auto store = reconcile::Store::Open(dir, options);
  if (!store.ok()) {
    if (store.status().IsNotFound() && store.status().message().rfind("no store in ", 0) == 0) {
      return reconcile::Status::NotFound("no store in " + dir + " (mergetool init creates one)");
    }
    // Name the store once: most of the store's own messages already do.
    if (store.status().message().find(dir) != std::string::npos) return store.status();
    return store.status().WithContext(dir);
  }
  return store;
}

std::string SiteNameMetaKey(const reconcile::SiteId& site) {
  return "site-name/" + site.ToString();
}

std::string SiteName(const reconcile::Store& store, const reconcile::SiteId& site) {
  if (site == store.site_id()) return store.site_name();
  auto name = store.GetMeta(SiteNameMetaKey(site));
  return name.ok() ? *name : site.ToString();
}

}  // namespace mergetool
