// tests/store/crash_batches.h — the batches the crash test's child writes, shared by the child
// (which applies them) and the test (which checks them after every kill).
//
// Batch `id` sets path batches/b<id> to id on `keys` device records chosen from a pool of 40
// (devices "crash-<(id * 7 + j * 13) % 40>", j < keys: distinct for keys <= 40, as 13 is prime
// to 40), stamped
// (hlc 1000 + id, site "crash-site"), and stores meta "batch-<id>" in the same Apply.
//
// Thread safety: pure functions.
#ifndef RECONCILE_TESTS_STORE_CRASH_BATCHES_H_
#define RECONCILE_TESTS_STORE_CRASH_BATCHES_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "reconcile/operations.h"
#include "reconcile/store.h"

namespace reconcile_test {

inline std::vector<reconcile::Key> CrashBatchKeys(uint64_t id, int keys) {
  std::vector<reconcile::Key> out;
  for (int j = 0; j < keys; ++j) {
    out.push_back(*reconcile::Key::Device("crash-" + std::to_string((id * 7 + static_cast<uint64_t>(j) * 13) % 40)));
  }
  return out;
}

inline reconcile::Path CrashBatchPath(uint64_t id) {
  return *reconcile::Path::FromSegments({"batches", "b" + std::to_string(id)});
}

inline std::string CrashMetaName(uint64_t id) { return "batch-" + std::to_string(id); }

inline std::vector<reconcile::Delta> CrashBatch(uint64_t id, int keys) {
  static const reconcile::SiteId site = reconcile::SiteId::FromName("crash-site");
  std::vector<reconcile::Delta> out;
  for (const reconcile::Key& key : CrashBatchKeys(id, keys)) {
    auto delta = reconcile::SetDelta(CrashBatchPath(id), static_cast<int64_t>(id),
                                     reconcile::Stamp{1000 + id, site});
    out.push_back(reconcile::Delta{key, std::move(delta).value()});
  }
  return out;
}

}  // namespace reconcile_test

#endif  // RECONCILE_TESTS_STORE_CRASH_BATCHES_H_
