// store_crash_child — the writer process of the crash test (and the lock holder of the lock test).
//
//   store_crash_child hold  DIR             open the store, print "ready", wait to be killed
//   store_crash_child write DIR FIRST KEYS  apply batches FIRST, FIRST+1, ... forever; batch i sets
//                                           path batches/b<i> = i on KEYS device records (see
//                                           BatchKeys) and meta "batch-<i>" in the same Apply, then
//                                           prints "<i>\n" (the acknowledgement) on stdout
//   store_crash_child bulk DIR FIRST KEYS   the same batches, each committed by a BulkRun as table
//                                           files (ingested at once) instead of Apply
// Exit codes: 2 usage, 3 open failed, 4 apply failed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "reconcile/operations.h"
#include "reconcile/store.h"
#include "tests/store/crash_batches.h"

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string mode = argv[1];
  reconcile::StoreOptions options;
  // hold: any existing store (the recorded site is accepted); write: the crash test's own store.
  const bool bulk = mode == "bulk";
  options.site_name = mode == "write" || bulk ? "crash-site" : "";
  options.write_buffer_size = 256 << 10;  // small memtables: flushes happen during the run
  auto opened = reconcile::Store::Open(argv[2], options);
  if (!opened.ok()) {
    std::fprintf(stderr, "store_crash_child: error: %s\n", opened.status().ToString().c_str());
    return 3;
  }
  std::unique_ptr<reconcile::Store> store = std::move(opened).value();
  if (mode == "hold") {
    if (write(STDOUT_FILENO, "ready\n", 6) != 6) return 4;
    for (;;) pause();
  }
  if ((mode != "write" && !bulk) || argc < 5) return 2;
  const uint64_t first = std::strtoull(argv[3], nullptr, 10);
  const int keys = std::atoi(argv[4]);
  for (uint64_t id = first;; ++id) {
    std::vector<reconcile::Delta> batch = reconcile_test::CrashBatch(id, keys);
    std::vector<reconcile::MetaPut> meta{{reconcile_test::CrashMetaName(id), "done"}};
    reconcile::Status written;
    if (bulk) {
      auto run = store->NewBulkRun(0);
      written = run->Add(batch, meta);
      if (written.ok()) written = run->Commit().status();
    } else {
      written = store->Apply(batch, meta).status();
    }
    if (!written.ok()) {
      std::fprintf(stderr, "store_crash_child: error: %s\n", written.ToString().c_str());
      return 4;
    }
    std::string line = std::to_string(id) + "\n";
    if (write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 4;
  }
}
