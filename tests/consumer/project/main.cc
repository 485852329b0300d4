// Joins two sites' writes through the installed public API and prints the merged status.
#include <iostream>

#include "reconcile/materialize.h"
#include "reconcile/operations.h"

int main() {
  using namespace reconcile;
  const SiteId a = SiteId::FromName("site-a"), b = SiteId::FromName("site-b");
  RecordState state = *CreateDelta(nlohmann::json{{"status", "enabled"}}, {1000, a});
  state.Join(*PatchDelta(nlohmann::json{{"status", "disabled"}}, {2000, b}));
  PolicyTable table = PolicyTable::Default();
  auto doc = MaterializeJson(KeyKind::kDevice, state, MergeView{&table, 0});
  if (!doc.ok() || !doc->has_value()) return 1;
  std::cout << "status=" << (**doc)["status"].get<std::string>() << "\n";
  return 0;
}
