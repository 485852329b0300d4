// reconcile-example: two sites' histories merged in two orders, with repeats, to the same bytes.
//
// A small, self-contained story of a failback: a primary and a secondary site share a backup, the
// secondary takes over during an outage, both sides change devices, and the histories are joined
// in two different orders (one with every operation delivered twice). The program prints the
// merged records (secrets redacted), the conflicts since the fork point, and whether both orders
// gave the same bytes. Exit 0 when they did, 1 when they did not.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "reconcile/codec.h"
#include "reconcile/conflict.h"
#include "reconcile/key.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"

using reconcile::Key;
using reconcile::RecordState;
using reconcile::Stamp;

namespace {

struct Op {
  std::string site;
  Key key;
  RecordState delta;
  std::string what;
};

Stamp At(const char* iso, const std::string& site) {
  return {*reconcile::ParseIso8601(iso), reconcile::SiteId::FromName(site)};
}

nlohmann::json Doc(const char* text) { return nlohmann::json::parse(text); }

Key Device(const char* id) { return *Key::Device(id); }

std::vector<Op> History() {
  const std::string p = "weu-primary", s = "neu-secondary";
  std::vector<Op> ops;
  auto add = [&](const std::string& site, Key key, reconcile::Result<RecordState> delta,
                 std::string what) {
    ops.push_back({site, std::move(key), std::move(delta.value()), std::move(what)});
  };
  // Before the outage (in the backup both sites share).
  for (const char* id : {"pump-001", "pump-002", "valve-017"}) {
    std::string doc = std::string(R"({"status":"enabled","authentication":{"type":"sas",)") +
                      R"("symmetricKey":{"primaryKey":"cHJpbWFyeS0)" + id +
                      R"(","secondaryKey":"c2Vjb25kYXJ5)" + id +
                      R"("}},"tags":{"site":"plant-7"},"properties":{"desired":{"rate":10}}})";
    add(p, Device(id), reconcile::CreateDelta(Doc(doc.c_str()), At("2026-11-01T08:00:00Z", p)),
        std::string("create ") + id);
  }
  // The outage: the secondary takes over.
  add(s, Device("pump-001"),
      reconcile::PatchDelta(Doc(R"({"status":"disabled","statusReason":"leak suspected"})"),
                            At("2026-11-20T10:15:00.1234567Z", s)),
      "secondary disables pump-001");
  add(s, Device("pump-002"),
      reconcile::PatchDelta(
          Doc(R"({"authentication":{"symmetricKey":{"primaryKey":"bmV3LWtleS0wMDI="}}})"),
          At("2026-11-20T10:20:00Z", s)),
      "secondary re-keys pump-002");
  add(s, Device("pump-002"),
      reconcile::PatchDelta(Doc(R"({"properties":{"desired":{"rate":12}}})"),
                            At("2026-11-20T11:00:00Z", s)),
      "secondary sets pump-002 rate 12");
  add(s, Device("valve-017"), reconcile::DeleteDelta(At("2026-11-20T12:00:00Z", s)),
      "secondary deletes valve-017");
  add(s, Device("sensor-900"),
      reconcile::CreateDelta(Doc(R"({"status":"enabled","tags":{"site":"plant-9"}})"),
                             At("2026-11-20T12:30:00Z", s)),
      "secondary creates sensor-900");
  // The primary's un-replicated changes, and what it did when it came back.
  add(p, Device("pump-001"),
      reconcile::PatchDelta(Doc(R"({"status":"enabled","tags":{"owner":"ops"}})"),
                            At("2026-11-20T10:16:00Z", p)),
      "primary enables pump-001 (concurrently)");
  add(p, Device("pump-002"),
      reconcile::PatchDelta(Doc(R"({"properties":{"desired":{"rate":11}}})"),
                            At("2026-11-20T10:59:59.9999999Z", p)),
      "primary sets pump-002 rate 11");
  add(p, Device("valve-017"),
      reconcile::PatchDelta(Doc(R"({"tags":{"inspected":true}})"), At("2026-11-20T12:05:00Z", p)),
      "primary tags valve-017 (after the secondary deleted it)");
  return ops;
}

std::map<Key, RecordState> Replay(const std::vector<Op>& ops) {
  std::map<Key, RecordState> state;
  for (const Op& op : ops) {
    // Round-trip through the codec, as the store would.
    state[op.key].Join(*reconcile::DecodeRecord(reconcile::EncodeRecord(op.delta)));
  }
  return state;
}

std::string Render(const std::map<Key, RecordState>& state, const reconcile::MergeView& view) {
  std::string out;
  for (const auto& [key, record] : state) {
    auto doc = reconcile::MaterializeJson(key.kind(), record, view);
    if (!doc.ok()) return "error: " + doc.status().ToString();
    if (!doc->has_value()) continue;
    nlohmann::json shown = reconcile::RedactDocument(**doc);
    out += key.ToString() + " " + reconcile::CanonicalJson(shown) + "\n";
  }
  return out;
}

}  // namespace

int main() {
  std::vector<Op> history = History();
  reconcile::PolicyTable policies = reconcile::PolicyTable::Default();
  reconcile::MergeView view{&policies, *reconcile::ParseIso8601("2026-11-20T00:00:00Z")};

  // Order 1: as written. Order 2: reversed, every operation twice, shuffled.
  std::vector<Op> order2 = history;
  order2.insert(order2.end(), history.begin(), history.end());
  std::mt19937 rng(20261126);
  std::shuffle(order2.begin(), order2.end(), rng);

  std::cout << "History (" << history.size() << " operations at 2 sites; order 2 delivers "
            << order2.size() << ", shuffled, each twice):\n";
  for (const Op& op : history) std::cout << "  " << op.what << "\n";

  const std::string first = Render(Replay(history), view);
  const std::string second = Render(Replay(order2), view);
  std::cout << "\nMerged state (order 1):\n" << first;

  std::cout << "\nConflicts since the fork point " << reconcile::FormatIso8601(view.fork_point)
            << ":\n";
  for (const auto& [key, record] : Replay(history)) {
    auto conflicts = reconcile::FindConflicts(key.kind(), record, view);
    if (!conflicts.ok()) {
      std::cerr << "reconcile-example: error: " << conflicts.status().ToString() << "\n";
      return 1;
    }
    for (const auto& c : *conflicts) {
      std::cout << "  " << key.ToString() << " " << (c.path.is_root() ? "(record)" : c.path.ToString())
                << " rule=" << c.rule << " winner="
                << (c.winner.is_cover ? "<removed>" : reconcile::RedactForReport(c.winner.path, c.winner.value))
                << " losers=";
      for (size_t i = 0; i < c.losers.size(); ++i) {
        const auto& l = c.losers[i];
        std::cout << (i ? "," : "");
        if (l.path != c.path) std::cout << l.path.ToString() << "=";
        std::cout << (l.is_cover ? "<removed>" : reconcile::RedactForReport(l.path, l.value));
      }
      std::cout << "\n";
    }
  }
  const bool same = first == second;
  std::cout << "\nOrder 1 and order 2 give " << (same ? "the same bytes" : "DIFFERENT bytes")
            << " (" << first.size() << " bytes)\n";
  return same ? 0 : 1;
}
