// mergetool init STORE --site NAME [--policies FILE] [--fork-point ISO8601]
#include <fstream>
#include <iostream>
#include <sstream>

#include "reconcile/store.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

struct InitOptions {
  std::string store;
  std::string site;
  std::string policies_file;
  std::string fork_point;
};

Exit RunInit(const InitOptions& o) {
  if (auto s = reconcile::ValidateSiteName(o.site); !s.ok()) return Fail(s.WithContext("--site"));
  reconcile::StoreOptions options;
  options.site_name = o.site;
  if (!o.policies_file.empty()) {
    std::ifstream in(o.policies_file);
    if (!in) return Fail(reconcile::Status::IoError(o.policies_file + ": cannot read"));
    std::stringstream text;
    text << in.rdbuf();
    auto table = reconcile::PolicyTable::Parse(text.str());
    if (!table.ok()) return Fail(table.status().WithContext(o.policies_file));
    options.policy_table_json = text.str();
  }
  auto store = reconcile::Store::Open(o.store, options);
  if (!store.ok()) return Fail(store.status().WithContext(o.store));
  if (!o.fork_point.empty()) {
    auto hlc = reconcile::ParseIso8601(o.fork_point);
    if (!hlc.ok()) return Fail(hlc.status().WithContext("--fork-point"));
    if (auto s = (*store)->SetForkPoint(*hlc); !s.ok()) return Fail(s.WithContext(o.store));
  }
  std::cerr << "init: store " << o.store << " owned by site " << (*store)->site_name() << " ("
            << (*store)->site_id().ToString() << ")\n";
  return Exit::kOk;
}

}  // namespace

Run SetupInit(CLI::App& sub) {
  auto o = std::make_shared<InitOptions>();
  sub.add_option("STORE", o->store, "store directory (created if missing)")->required();
  sub.add_option("--site", o->site, "the name of the site that owns the store")->required();
  sub.add_option("--policies", o->policies_file, "policy table (JSON, see docs/FORMATS.md)");
  sub.add_option("--fork-point", o->fork_point,
                 "the last time (ISO-8601) the sites were in sync; conflicts are counted after it")
      ->check(Iso8601Time());
  return [o] { return RunInit(*o); };
}

}  // namespace mergetool
