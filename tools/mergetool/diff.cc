// mergetool diff STORE OTHER_STORE [--json] — the records whose merged state differs.
#include <iostream>

#include "reconcile/conflict.h"
#include "reconcile/operations.h"
#include "reconcile/store.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

struct DiffOptions {
  std::string store;
  std::string other;
  bool json = false;
};

const char* KindWord(reconcile::DiffKind kind) {
  switch (kind) {
    case reconcile::DiffKind::kOnlyInA: return "only-in-a";
    case reconcile::DiffKind::kOnlyInB: return "only-in-b";
    case reconcile::DiffKind::kDifferent: return "different";
  }
  return "?";
}

// The record as shown in a report: secrets redacted.
nlohmann::json Shown(const std::optional<std::string>& json) {
  if (!json) return nullptr;
  nlohmann::json doc = nlohmann::json::parse(*json, nullptr, false);
  if (doc.is_discarded()) return "<not JSON>";
  return reconcile::RedactDocument(doc);
}

Exit RunDiff(const DiffOptions& o) {
  auto a = OpenExisting(o.store);
  if (!a.ok()) return Fail(a.status());
  auto b = OpenExisting(o.other);
  if (!b.ok()) return Fail(b.status());
  uint64_t count = 0;
  reconcile::Status s = reconcile::Store::Diff(**a, **b, [&](const reconcile::KeyDiff& d) {
    ++count;
    if (o.json) {
      nlohmann::json line = {{"key", d.key.ToString()},
                             {"diff", KindWord(d.kind)},
                             {"a", Shown(d.a_json)},
                             {"b", Shown(d.b_json)}};
      std::cout << reconcile::CanonicalJson(line) << "\n";
    } else {
      std::cout << KindWord(d.kind) << "\t" << d.key.ToString() << "\n";
    }
    return reconcile::Status::Ok();
  });
  if (!s.ok()) return Fail(s.WithContext("diff " + o.store + " " + o.other));
  std::cerr << "diff: " << count << " records differ\n";
  return Exit::kOk;
}

}  // namespace

Run SetupDiff(CLI::App& sub) {
  auto o = std::make_shared<DiffOptions>();
  sub.add_option("STORE", o->store, "store a")->required();
  sub.add_option("OTHER_STORE", o->other, "store b")->required();
  sub.add_flag("--json", o->json,
               "one JSON object a line: key, diff (only-in-a|only-in-b|different), a, b "
               "(the records, secrets redacted)");
  return [o] { return RunDiff(*o); };
}

}  // namespace mergetool
