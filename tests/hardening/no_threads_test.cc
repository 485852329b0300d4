// A machine out of threads: the library hands work to threads beside the caller (the readers'
// parse workers, the plan's and the store source's helpers, StoreWriter's writing thread and run
// commits). When the system refuses a new thread, the work runs on the caller's thread instead:
// the same result, no exception out of the library.
//
// Each test runs in a forked child that makes new threads impossible for real: it drops root (as
// which the limit would not apply) to the unprivileged user and sets RLIMIT_NPROC to 0, and
// checks that std::thread now throws before it reads anything.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "lib/core/run_beside.h"
#include "reconcile/codec.h"
#include "reconcile/iothub.h"
#include "reconcile/line_reader.h"
#include "reconcile/operations.h"
#include "reconcile/store.h"
#include "reconcile/store_writer.h"
#include "tests/failback/test_util.h"

namespace reconcile {
namespace {

using failback_test::InChild;
using failback_test::TempDir;
using failback_test::WriteAll;

constexpr uid_t kNobody = 65534;

// True when this process can make no new thread from here on.
bool RefuseNewThreads() {
  if (geteuid() == 0 && (setgid(kNobody) != 0 || setuid(kNobody) != 0)) return false;
  const rlimit none{0, 0};
  if (setrlimit(RLIMIT_NPROC, &none) != 0) return false;
  try {
    std::thread probe([] {});
    probe.join();
    return false;
  } catch (const std::system_error&) {
    return true;
  }
}

// Lets the unprivileged user write into `dir` (a test's own temporary folder).
void OpenToAll(const std::string& dir) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    chmod(entry.path().c_str(), 0777);
  }
  chmod(dir.c_str(), 0777);
}

// An export of `n` devices, each with tags and desired properties, as the hub writes its lines.
std::string Export(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    const std::string id = "dev-" + std::to_string(100000 + i);
    text += R"({"id":")" + id + R"(","eTag":"AAAAAAAAAAE=","status":"enabled",)" +
            R"("authentication":{"type":"sas","symmetricKey":{"primaryKey":null,)" +
            R"("secondaryKey":null}},"twinETag":"AAAAAAAAAAI=","tags":{"row":)" +
            std::to_string(i) + R"(},"properties":{"desired":{"rate":)" + std::to_string(i % 7) +
            R"(,"$metadata":{"$lastUpdated":"2026-11-01T00:00:00Z"},"$version":2}},)" +
            R"("capabilities":{"iotEdge":false}})" + "\n";
  }
  return text;
}

// Every delta of a read of `path`, as (key, encoded delta), in the order the sink got them.
Result<std::vector<std::pair<Key, std::string>>> ReadAllDeltas(const std::string& path) {
  Result<std::unique_ptr<LineReader>> reader = LineReader::Open(path);
  if (!reader.ok()) return reader.status();
  ExportReadOptions options;
  options.site = "primary";
  options.observed_at = MakeHlc(1'790'000'000'000, 0);
  std::vector<std::pair<Key, std::string>> out;
  Result<ReadStats> stats =
      ReadExport(**reader, options, nullptr, [&](const Key& key, RecordState delta) {
        out.emplace_back(key, EncodeRecord(delta));
        return Status::Ok();
      });
  if (!stats.ok()) return stats.status();
  return out;
}

TEST(NoThreads, RunBesideRunsTheWorkOnTheThreadThatWaits) {
  const int rc = InChild([]() -> int {
    const std::thread::id caller = std::this_thread::get_id();
    std::future<std::thread::id> beside = internal::RunBeside([] { return std::this_thread::get_id(); });
    if (beside.get() == caller) return 2;  // with threads, it runs on a thread of its own
    if (!RefuseNewThreads()) return 3;
    int runs = 0;
    std::future<std::thread::id> here = internal::RunBeside([&runs] {
      ++runs;
      return std::this_thread::get_id();
    });
    if (runs != 0) return 4;  // not before it is waited for
    if (here.get() != caller || runs != 1) return 5;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

// The export reader's parse workers: the same deltas, in the same order, without them.
TEST(NoThreads, AnExportReadsTheSameWithoutThreads) {
  TempDir dir;
  const std::string path = dir / "devices.txt";
  WriteAll(path, Export(5000));
  const int rc = InChild([&]() -> int {
    Result<std::vector<std::pair<Key, std::string>>> with = ReadAllDeltas(path);
    if (!with.ok() || with->size() != 5000) return 2;
    OpenToAll(dir.path());
    if (!RefuseNewThreads()) return 3;
    Result<std::vector<std::pair<Key, std::string>>> without = ReadAllDeltas(path);
    if (!without.ok()) return 4;
    return *without == *with ? 0 : 5;
  });
  EXPECT_EQ(rc, 0);
}

// StoreWriter's writing thread and its bulk runs' commits: every delta written, the store's
// digest the digest of the same deltas written with threads.
TEST(NoThreads, AStoreWriterWritesEveryRunWithoutThreads) {
  TempDir dir;
  WriteAll(dir / "devices.txt", Export(4000));
  const int rc = InChild([&]() -> int {
    Result<std::vector<std::pair<Key, std::string>>> deltas =
        ReadAllDeltas(dir / "devices.txt");
    if (!deltas.ok()) return 2;
    StoreOptions options;
    options.site_name = "work";
    auto write = [&](Store& store) -> Status {
      StoreWriter writer(store, 100, 64 << 10);  // runs of 64 KiB: many commits
      for (const auto& [key, bytes] : *deltas) {
        Result<RecordState> delta = DecodeRecord(bytes);
        if (!delta.ok()) return delta.status();
        RECONCILE_RETURN_IF_ERROR(writer.Add(key, std::move(*delta)));
      }
      RECONCILE_RETURN_IF_ERROR(writer.Flush());
      return writer.written() == deltas->size() ? Status::Ok() : Status::Internal("count");
    };
    Result<std::unique_ptr<Store>> with = Store::Open(dir / "with", options);
    if (!with.ok() || !write(**with).ok()) return 3;
    Result<StoreDigest> want = (*with)->Digest();
    if (!want.ok()) return 4;
    // Opened before the limit: RocksDB's own threads are running by then.
    Result<std::unique_ptr<Store>> without = Store::Open(dir / "without", options);
    if (!without.ok()) return 5;
    OpenToAll(dir.path());
    if (!RefuseNewThreads()) return 6;
    if (Status s = write(**without); !s.ok()) return 7;
    Result<StoreDigest> got = (*without)->Digest();
    if (!got.ok()) return 8;
    return got->root == want->root && got->records == want->records && got->records > 0 ? 0 : 9;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace reconcile
