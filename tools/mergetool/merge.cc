// mergetool merge STORE OTHER_STORE — joins OTHER's state into STORE.
#include "reconcile/store.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/progress.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

struct MergeOptions {
  std::string store;
  std::string other;
};

Exit RunMerge(const MergeOptions& o) {
  auto store = OpenExisting(o.store);
  if (!store.ok()) return Fail(store.status());
  auto other = OpenExisting(o.other);
  if (!other.ok()) return Fail(other.status());
  Progress progress("merge");
  if (auto s = (*store)->MergeFrom(**other); !s.ok()) {
    return Fail(s.WithContext("merging " + o.other + " into " + o.store));
  }
  // The other store's own site gets a name in this one's reports.
  const reconcile::MetaPut name{SiteNameMetaKey((*other)->site_id()), (*other)->site_name()};
  if (auto applied = (*store)->Apply({}, std::span<const reconcile::MetaPut>(&name, 1));
      !applied.ok()) {
    return Fail(applied.status().WithContext(o.store));
  }
  auto stats = (*other)->Stats();
  if (stats.ok()) {
    progress.Add(stats->devices.records + stats->modules.records + stats->meta_records.records);
  }
  progress.Finish("from " + o.other);
  return Exit::kOk;
}

}  // namespace

Run SetupMerge(CLI::App& sub) {
  auto o = std::make_shared<MergeOptions>();
  sub.add_option("STORE", o->store, "the store to merge into")->required();
  sub.add_option("OTHER_STORE", o->other, "the store whose state is joined in (read only)")
      ->required();
  return [o] { return RunMerge(*o); };
}

}  // namespace mergetool
