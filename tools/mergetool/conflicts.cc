// mergetool conflicts STORE [--json] — the conflicts since the fork point, secrets redacted.
#include <iostream>

#include "reconcile/conflict.h"
#include "reconcile/operations.h"
#include "reconcile/store.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

struct ConflictsOptions {
  std::string store;
  bool json = false;
};

nlohmann::json WriteJson(const reconcile::Store& store, const reconcile::ConflictWrite& w) {
  nlohmann::json out = {{"site", SiteName(store, w.stamp.site)},
                        {"stamp", reconcile::FormatIso8601(w.stamp.hlc)},
                        {"path", w.path.ToString()}};
  if (w.is_cover) {
    out["removed"] = true;
  } else {
    out["value"] = nlohmann::json::parse(reconcile::RedactForReport(w.path, w.value), nullptr,
                                         false);
  }
  return out;
}

std::string WriteText(const reconcile::Store& store, const reconcile::ConflictWrite& w,
                      const reconcile::Path& at) {
  std::string out = SiteName(store, w.stamp.site) + "@" + reconcile::FormatIso8601(w.stamp.hlc);
  out += ":";
  if (w.path != at) out += w.path.ToString() + "=";
  out += w.is_cover ? "<removed>" : reconcile::RedactForReport(w.path, w.value);
  return out;
}

Exit RunConflicts(const ConflictsOptions& o) {
  auto store = OpenExisting(o.store);
  if (!store.ok()) return Fail(store.status());
  const reconcile::Store& st = **store;
  reconcile::PolicyTable table = st.policy_table();
  reconcile::MergeView view{&table, st.fork_point()};
  uint64_t count = 0;
  reconcile::Status s = st.Scan(std::nullopt, [&](const reconcile::Key& key,
                                                  const reconcile::RecordState& state) {
    auto found = reconcile::FindConflicts(key.kind(), state, view);
    if (!found.ok()) return found.status().WithContext(key.ToString());
    for (const reconcile::Conflict& c : *found) {
      ++count;
      if (o.json) {
        nlohmann::json line = {{"key", key.ToString()},
                               {"path", c.path.ToString()},
                               {"rule", c.rule},
                               {"winner", WriteJson(st, c.winner)},
                               {"losers", nlohmann::json::array()}};
        for (const auto& l : c.losers) line["losers"].push_back(WriteJson(st, l));
        std::cout << reconcile::CanonicalJson(line) << "\n";
      } else {
        std::cout << key.ToString() << "\t" << (c.path.is_root() ? "(record)" : c.path.ToString())
                  << "\t" << c.rule << "\twinner " << WriteText(st, c.winner, c.path);
        for (const auto& l : c.losers) std::cout << "\tloser " << WriteText(st, l, c.path);
        std::cout << "\n";
      }
    }
    return reconcile::Status::Ok();
  });
  if (!s.ok()) return Fail(s.WithContext(o.store));
  std::cerr << "conflicts: " << count << " since the fork point "
            << (view.fork_point ? reconcile::FormatIso8601(view.fork_point) : "(none declared)")
            << "\n";
  return Exit::kOk;
}

}  // namespace

Run SetupConflicts(CLI::App& sub) {
  auto o = std::make_shared<ConflictsOptions>();
  sub.add_option("STORE", o->store, "store directory")->required();
  sub.add_flag("--json", o->json,
               "one JSON object a line: key, path, rule, winner, losers (secrets redacted)");
  return [o] { return RunConflicts(*o); };
}

}  // namespace mergetool
