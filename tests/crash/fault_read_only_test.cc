// A store on a read-only file system (a tmpfs remounted read-only; skipped with a message where
// mounting is not permitted). mergetool opens it read-only: commands that only read (digest,
// export, stats, diff, conflicts, plan, and merge from it) work, commands that write fail with a
// clear error (exit 1, naming the store and the read-only file system) and change nothing; once
// the file system is writable again the store has the digest it had.
#include "tests/crash/fault_fixture.h"

namespace crash_test {
namespace {

TEST_F(FaultTest, ReadOnlyFileSystemReadsWorkWritesFailClearly) {
  const std::string mnt = dir_ / "ro";
  TmpfsMount tmpfs(mnt, "64m");
  if (!tmpfs.error().empty()) GTEST_SKIP() << tmpfs.error();
  const std::string store = mnt + "/store";
  Build(store);
  const std::string digest = DigestOfCopy(store);
  CopyTree(store, dir_ / "copy");
  const std::string exported = Observe(dir_ / "copy").exported;
  ASSERT_TRUE(tmpfs.RemountReadOnly()) << "remounting read-only";

  ExpectClearError(RunMergetool(pipeline_[5].args(store)), store, "read-only",
                   "ingest on a read-only file system");
  const Observed seen = Observe(store);
  EXPECT_EQ(seen.digest, digest);
  EXPECT_TRUE(seen.exported == exported) << "export differs from the writable store's";
  MustRun({"stats", store});
  MustRun({"conflicts", store});
  // Merging from it works; merging into it fails and leaves it as it was.
  const std::string other = dir_ / "other";
  Build(other, 2);
  MustRun({"merge", other, store});
  EXPECT_EQ(MustRun({"digest", other}), digest) << "the merge from a read-only store";
  ExpectClearError(RunMergetool({"merge", store, other}), store, "read-only",
                   "merge into a store on a read-only file system");
  MustRun({"plan", store, "--primary-export", fleet_.primary_export, "-o", dir_ / "plan"});

  ASSERT_TRUE(tmpfs.RemountReadWrite("")) << "remounting read-write";
  EXPECT_EQ(MustRun({"digest", store}), digest) << "a failed write changed the store";
  MustRun(pipeline_[5].args(store));
}

}  // namespace
}  // namespace crash_test
