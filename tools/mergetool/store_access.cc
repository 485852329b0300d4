#include "tools/mergetool/store_access.h"

namespace mergetool {

reconcile::Result<std::unique_ptr<reconcile::Store>> OpenExisting(const std::string& dir) {
  reconcile::StoreOptions options;
  options.create_if_missing = false;
  auto store = reconcile::Store::Open(dir, options);
  if (!store.ok()) return store.status().WithContext(dir);
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
