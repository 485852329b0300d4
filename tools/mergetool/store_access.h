// Opening stores from the command line, and naming sites in output.
#ifndef RECONCILE_TOOLS_MERGETOOL_STORE_ACCESS_H_
#define RECONCILE_TOOLS_MERGETOOL_STORE_ACCESS_H_

#include <memory>
#include <string>

#include "reconcile/store.h"

namespace mergetool {

// Opens an existing store; errors name the directory. A store on a read-only file system is
// opened read-only (with a warning on stderr): reads work, writes fail with kUnsupported.
reconcile::Result<std::unique_ptr<reconcile::Store>> OpenExisting(const std::string& dir);

// The meta entry that records a site's name under its id, so reports can name sites.
std::string SiteNameMetaKey(const reconcile::SiteId& site);

// The site's recorded name, or its UUID when the store does not know it.
std::string SiteName(const reconcile::Store& store, const reconcile::SiteId& site);

}  // namespace mergetool

#endif  // RECONCILE_TOOLS_MERGETOOL_STORE_ACCESS_H_
