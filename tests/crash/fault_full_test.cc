// A store on a full disk: writes that cannot land fail with a clear error (exit 1, naming the store
// and the cause), nothing is half applied (an ingest written as one batch leaves the store as it
// was), the store opens again once there is room, and rerunning the command completes it.
// Three ways to be full: RLIMIT_FSIZE in the child (portable: a write past it fails with EFBIG), a
// small tmpfs (ENOSPC while writing the log), and a tmpfs that fills up before the store is opened
// again (ENOSPC while the reopen flushes the log into a table file). The tmpfs cases need mount
// permission and are skipped with a message without it.
#include <filesystem>

#include "tests/crash/fault_fixture.h"

namespace crash_test {
namespace {

namespace fs = std::filesystem;

// The backup's ingest (the pipeline's second command) as one write batch: all of it or none.
std::vector<std::string> OneBatch(std::vector<std::string> args) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--batch") args[i + 1] = "1000000";
  }
  return args;
}

TEST_F(FaultTest, FileSizeLimitFailsTheWriteAndLeavesTheStoreAsItWas) {
  const std::string store = dir_ / "store";
  const std::string reference = dir_ / "reference";
  Build(store, 1);
  Build(reference, 2);
  const std::string before = DigestOfCopy(store);
  const std::string after = DigestOfCopy(reference);

  RunOptions limited;
  limited.file_size_limit = 64 << 10;  // the batch's log record is larger
  const Child c = RunMergetool(OneBatch(pipeline_[1].args(store)), limited);
  ExpectClearError(c, store, "File too large", "ingest past RLIMIT_FSIZE");
  EXPECT_EQ(MustRun({"digest", store}), before) << "the failed batch was half applied";
  MustRun(OneBatch(pipeline_[1].args(store)));
  EXPECT_EQ(MustRun({"digest", store}), after);

  // In many batches, the ones written before the limit stay and the rerun completes the rest.
  const std::string many = dir_ / "many";
  Build(many, 1);
  ExpectClearError(RunMergetool(pipeline_[1].args(many), limited), many, "File too large",
                   "ingest in batches past RLIMIT_FSIZE");
  MustRun({"digest", many});
  MustRun(pipeline_[1].args(many));
  EXPECT_EQ(MustRun({"digest", many}), after);
}

TEST_F(FaultTest, FullTmpfsFailsTheWriteAndTheStoreOpensOnceThereIsRoom) {
  const std::string mnt = dir_ / "full";
  TmpfsMount tmpfs(mnt, "512k");
  if (!tmpfs.error().empty()) GTEST_SKIP() << tmpfs.error();
  const std::string store = mnt + "/store";
  const std::string reference = dir_ / "reference";
  Build(store, 1);
  Build(reference, 2);
  const std::string before = DigestOfCopy(store);
  const std::string after = DigestOfCopy(reference);

  const Child c = RunMergetool(OneBatch(pipeline_[1].args(store)));
  ExpectClearError(c, store, "No space left on device", "ingest into a full tmpfs");
  ASSERT_TRUE(tmpfs.RemountReadWrite("64m")) << "growing the tmpfs";
  EXPECT_EQ(MustRun({"digest", store}), before) << "the failed batch was half applied";
  MustRun(OneBatch(pipeline_[1].args(store)));
  EXPECT_EQ(MustRun({"digest", store}), after);
}

TEST_F(FaultTest, TmpfsFullAtReopenFailsTheOpenAndLosesNothing) {
  // The folder's name holds "lock": an I/O error must not be mistaken for a locked store.
  const std::string mnt = dir_ / "blocks";
  TmpfsMount tmpfs(mnt, "16m");
  if (!tmpfs.error().empty()) GTEST_SKIP() << tmpfs.error();
  const std::string store = mnt + "/store";
  Build(store, 3);  // the last ingest's batches wait in the log for the next open to flush them
  const std::string want = DigestOfCopy(store);
  // Fill what is left.
  const std::string filler = mnt + "/filler";
  {
    std::string chunk(1 << 16, 'x');
    FILE* f = std::fopen(filler.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    while (std::fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size()) {
    }
    std::fclose(f);
  }
  const Child c = RunMergetool({"digest", store});
  ExpectClearError(c, store, "No space left on device", "reopening a store on a full tmpfs");
  EXPECT_EQ(c.err.find("locked"), std::string::npos)
      << "an I/O error reported as a lock: " << c.err;
  fs::remove(filler);
  EXPECT_EQ(MustRun({"digest", store}), want) << "acknowledged batches were lost";
}

}  // namespace
}  // namespace crash_test
