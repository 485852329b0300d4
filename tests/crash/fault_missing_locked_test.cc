// A missing store and a locked store: mergetool says which store and why (exit 1), creates
// nothing, changes nothing, and works again once the store is there or its holder has finished.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "tests/crash/fault_fixture.h"

namespace crash_test {
namespace {

TEST_F(FaultTest, MissingStoreIsAClearErrorAndNothingIsCreated) {
  const std::string missing = dir_ / "no-such-store";
  ExpectClearError(RunMergetool({"digest", missing}), missing, "no store", "digest, missing");
  ExpectClearError(RunMergetool(pipeline_[5].args(missing)), missing, "no store",
                   "ingest, missing");
  EXPECT_FALSE(Exists(missing)) << "a failed ingest created the store folder";

  const std::string store = dir_ / "store";
  Build(store);
  const std::string digest = DigestOfCopy(store);
  ExpectClearError(RunMergetool({"merge", store, missing}), missing, "no store", "merge, missing");
  EXPECT_EQ(MustRun({"digest", store}), digest) << "a failed merge changed the store";

  // A folder without a store in it, and a file where the store should be.
  const std::string empty = dir_ / "empty";
  WriteFile(empty + "/unrelated.txt", "x");
  ExpectClearError(RunMergetool({"export", empty}), empty, "no store", "export, empty folder");
  const std::string file = dir_ / "a-file";
  WriteFile(file, "not a store");
  ExpectClearError(RunMergetool({"stats", file}), file, "no store", "stats, a file");
  EXPECT_EQ(ReadFile(file), "not a store");
}

// True while some process holds a POSIX lock on `path` (RocksDB locks its LOCK file so).
bool LockHeld(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  struct flock probe = {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  const bool held = fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
  close(fd);
  return held;
}

TEST_F(FaultTest, LockedStoreIsRefusedUntilItsHolderEnds) {
  const std::string store = dir_ / "store";
  const std::string reference = dir_ / "reference";
  Build(store, 3);
  Build(reference);  // the whole pipeline, uninterrupted
  const std::string before = DigestOfCopy(store);

  // The holder: an ingest of notifications from a FIFO. It opens the store, then waits for the
  // FIFO's writer, holding the store's lock all the while.
  const std::string fifo = dir_ / "events.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::vector<std::string> holder_args = pipeline_[3].args(store);
  // The notifications come through the FIFO, three times like the pipeline's.
  while (holder_args.back() == fleet_.events) holder_args.pop_back();
  holder_args.push_back(fifo);
  Running holder = Start(holder_args);
  for (int i = 0; i < 2000 && !LockHeld(store + "/LOCK"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(LockHeld(store + "/LOCK")) << "the holder never opened the store";

  ExpectClearError(RunMergetool({"digest", store}), store, "store is locked", "digest, locked");
  ExpectClearError(RunMergetool(pipeline_[5].args(store)), store, "store is locked",
                   "ingest, locked");
  const std::string other = dir_ / "other";
  Build(other, 2);
  const std::string other_digest = DigestOfCopy(other);
  ExpectClearError(RunMergetool({"merge", other, store}), store, "store is locked",
                   "merge from a locked store");
  EXPECT_EQ(DigestOfCopy(other), other_digest) << "a refused merge changed its target";

  // The holder gets its input and finishes; then the rest of the pipeline runs as usual.
  {
    const std::string events = ReadFile(fleet_.events);
    int fd = open(fifo.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 3; ++i) {
      size_t done = 0;
      while (done < events.size()) {
        ssize_t n = write(fd, events.data() + done, events.size() - done);
        ASSERT_GT(n, 0);
        done += static_cast<size_t>(n);
      }
    }
    close(fd);
  }
  const Child held = holder.Wait();
  ASSERT_EQ(held.exit_code, 0) << held.Describe();
  for (size_t k = 4; k < pipeline_.size(); ++k) MustRun(pipeline_[k].args(store));
  EXPECT_NE(MustRun({"digest", store}), before);
  EXPECT_EQ(MustRun({"digest", store}), MustRun({"digest", reference}))
      << "after the lock was released the store does not reach the uninterrupted state";
}

}  // namespace
}  // namespace crash_test
