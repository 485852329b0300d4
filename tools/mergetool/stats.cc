// mergetool stats STORE [--json]
#include <iostream>

#include <nlohmann/json.hpp>

#include "reconcile/operations.h"
#include "reconcile/store.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

struct StatsOptions {
  std::string store;
  bool json = false;
};

nlohmann::json KindJson(const reconcile::KindStats& k) {
  return {{"records", k.records}, {"existing", k.existing}, {"cells", k.cells},
          {"covers", k.covers},   {"encodedBytes", k.encoded_bytes}, {"keyBytes", k.key_bytes}};
}

Exit RunStats(const StatsOptions& o) {
  auto store = OpenExisting(o.store);
  if (!store.ok()) return Fail(store.status());
  auto stats = (*store)->Stats();
  if (!stats.ok()) return Fail(stats.status().WithContext(o.store));
  const reconcile::StoreStats& s = *stats;
  nlohmann::json marks = nlohmann::json::array();
  for (const auto& w : s.watermarks) {
    marks.push_back({{"site", SiteName(**store, w.site)},
                     {"watermark", reconcile::FormatIso8601(w.hlc)}});
  }
  nlohmann::json out = {{"site", (*store)->site_name()},
                        {"devices", KindJson(s.devices)},
                        {"modules", KindJson(s.modules)},
                        {"meta", KindJson(s.meta_records)},
                        {"sstBytes", s.sst_bytes},
                        {"memtableBytes", s.memtable_bytes},
                        {"rejectedBelowHorizon", s.rejected_below_horizon},
                        {"gcHorizon", s.gc_horizon ? reconcile::FormatIso8601(s.gc_horizon) : ""},
                        {"forkPoint", s.fork_point ? reconcile::FormatIso8601(s.fork_point) : ""},
                        {"watermarks", marks}};
  if (o.json) {
    std::cout << reconcile::CanonicalJson(out) << "\n";
    return Exit::kOk;
  }
  std::cout << "site\t" << (*store)->site_name() << "\n";
  for (const char* kind : {"devices", "modules", "meta"}) {
    const auto& k = out[kind];
    std::cout << kind << "\t" << k["existing"] << " existing of " << k["records"] << " records, "
              << k["cells"] << " cells, " << k["covers"] << " covers, " << k["encodedBytes"]
              << " bytes\n";
  }
  std::cout << "sst bytes\t" << s.sst_bytes << "\n"
            << "fork point\t" << out["forkPoint"].get<std::string>() << "\n"
            << "gc horizon\t" << out["gcHorizon"].get<std::string>() << "\n"
            << "rejected below horizon\t" << s.rejected_below_horizon << "\n";
  for (const auto& m : marks) {
    std::cout << "watermark\t" << m["site"].get<std::string>() << "\t"
              << m["watermark"].get<std::string>() << "\n";
  }
  return Exit::kOk;
}

}  // namespace

Run SetupStats(CLI::App& sub) {
  auto o = std::make_shared<StatsOptions>();
  sub.add_option("STORE", o->store, "store directory")->required();
  sub.add_flag("--json", o->json, "print one JSON object");
  return [o] { return RunStats(*o); };
}

}  // namespace mergetool
