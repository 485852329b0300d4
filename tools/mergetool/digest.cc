// mergetool digest STORE — one line: the hex digest of the merged state.
#include <iostream>

#include "reconcile/store.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

struct DigestOptions {
  std::string store;
  bool json = false;
};

Exit RunDigest(const DigestOptions& o) {
  auto store = OpenExisting(o.store);
  if (!store.ok()) return Fail(store.status());
  auto digest = (*store)->Digest();
  if (!digest.ok()) return Fail(digest.status().WithContext(o.store));
  if (o.json) {
    std::cout << "{\"digest\":\"" << digest->root.ToHex() << "\",\"records\":" << digest->records
              << "}\n";
  } else {
    std::cout << digest->root.ToHex() << "\n";
  }
  return Exit::kOk;
}

}  // namespace

Run SetupDigest(CLI::App& sub) {
  auto o = std::make_shared<DigestOptions>();
  sub.add_option("STORE", o->store, "store directory")->required();
  sub.add_flag("--json", o->json, "print {\"digest\": ..., \"records\": N}");
  return [o] { return RunDigest(*o); };
}

}  // namespace mergetool
