// Corrupt store files, flipped in a copy of a store: a data block and the footer of an SST file,
// the middle of the write-ahead log, the MANIFEST. Each must give a clear error (exit 1, naming
// the store and "Corruption"), never a crash and never a store that opens with part of its data
// silently gone; once the file is put back (or the store restored from a backup) the store opens
// with the digest it had. A log cut short inside its last record (what a crash in the middle of a
// write leaves) is not corruption: the store opens with the batches before it, and rerunning the
// command that was writing completes it.
#include <filesystem>

#include "tests/crash/fault_fixture.h"

namespace crash_test {
namespace {

namespace fs = std::filesystem;

class CorruptStore : public FaultTest {
 protected:
  // The whole pipeline, then a reopen so that everything is in SST files, and a backup.
  void BuildFlushed() {
    Build(store_);
    digest_ = MustRun({"digest", store_});
    MustRun({"backup", store_, backups_});
  }
  // Every read command fails clearly on the corrupt store. `digest` may instead answer from the
  // digest it keeps for an unchanged store (it then reads no record): with the right digest.
  void ExpectReadsFail(const std::string& cause, const std::string& what) {
    const Child digest = RunMergetool({"digest", store_});
    if (digest.exit_code == 0) {
      EXPECT_EQ(digest.out, digest_ + "\n") << what << ": digest from its cache";
    } else {
      ExpectClearError(digest, store_, cause, what + ", digest");
    }
    ExpectClearError(RunMergetool({"export", store_, "-o", dir_ / "export.jsonl"}), store_, cause,
                     what + ", export");
    const std::string target = dir_ / "target";
    Build(target, 2);
    const std::string target_digest = DigestOfCopy(target);
    ExpectClearError(RunMergetool({"merge", target, store_}), store_, cause, what + ", merge from");
    EXPECT_EQ(DigestOfCopy(target), target_digest) << what << ": a failed merge changed its target";
  }

  const std::string store_ = dir_ / "store";
  const std::string backups_ = dir_ / "backups";
  std::string digest_;
};

TEST_F(CorruptStore, SstDataBlock) {
  BuildFlushed();
  const std::string sst = LargestFile(store_, ".sst");
  ASSERT_FALSE(sst.empty());
  const std::string good = ReadFile(sst);
  FlipBytes(sst, static_cast<int64_t>(good.size() / 2), 64);
  ExpectReadsFail("Corruption", "a flipped SST data block");
  WriteFile(sst, good);
  EXPECT_EQ(MustRun({"digest", store_}), digest_) << "the store changed after the failed commands";
}

TEST_F(CorruptStore, SstFooterAndRestoreFromBackup) {
  BuildFlushed();
  const std::string sst = LargestFile(store_, ".sst");
  ASSERT_FALSE(sst.empty());
  FlipBytes(sst, -8, 8);  // the table's magic number
  ExpectReadsFail("Corruption", "a flipped SST footer");
  ExpectClearError(RunMergetool(pipeline_[5].args(store_)), store_, "Corruption",
                   "ingest into a store with a flipped SST footer");
  // The operator's way out: restore the last backup.
  RemoveTree(store_);
  MustRun({"restore", backups_, store_});
  EXPECT_EQ(MustRun({"digest", store_}), digest_);
}

TEST_F(CorruptStore, ManifestFlipped) {
  BuildFlushed();
  const std::string manifest = FileStartingWith(store_, "MANIFEST-");
  ASSERT_FALSE(manifest.empty());
  const std::string good = ReadFile(manifest);
  FlipBytes(manifest, static_cast<int64_t>(good.size() / 2), 16);
  ExpectReadsFail("Corruption", "a flipped MANIFEST");
  ExpectClearError(RunMergetool(pipeline_[5].args(store_)), store_, "Corruption",
                   "ingest into a store with a flipped MANIFEST");
  WriteFile(manifest, good);
  EXPECT_EQ(MustRun({"digest", store_}), digest_);
}

TEST_F(CorruptStore, WalFlippedInTheMiddleIsRefusedNotTruncated) {
  // The last ingest's batches (the backup's, 100 records each) are only in the log until the
  // store is opened again.
  Build(store_, 2);
  const std::string wal = LargestFile(store_, ".log");
  ASSERT_FALSE(wal.empty());
  const std::string good = ReadFile(wal);
  ASSERT_GT(good.size(), 100000u) << "expected the backup's batches in the log";
  const std::string want = DigestOfCopy(store_);
  FlipBytes(wal, static_cast<int64_t>(good.size() / 2), 16);
  // Opening must not drop the batches after the flipped bytes and go on as if nothing happened.
  ExpectClearError(RunMergetool({"digest", store_}), store_, "Corruption", "a flipped log");
  ExpectClearError(RunMergetool(pipeline_[5].args(store_)), store_, "Corruption",
                   "ingest into a store with a flipped log");
  ASSERT_TRUE(Exists(wal)) << "the failed open removed the log";
  WriteFile(wal, good);
  EXPECT_EQ(MustRun({"digest", store_}), want) << "acknowledged batches were lost";
}

TEST_F(CorruptStore, WalCutInsideItsLastRecordOpensAndTheRerunCompletes) {
  const std::string reference = dir_ / "reference";
  Build(reference, 2);
  const std::string want = DigestOfCopy(reference);
  Build(store_, 2);
  const std::string wal = LargestFile(store_, ".log");
  ASSERT_FALSE(wal.empty());
  const uintmax_t size = fs::file_size(wal);
  fs::resize_file(wal, size - 100);  // the last batch half written, as a crash inside a write
  const std::string after_cut = MustRun({"digest", store_});
  EXPECT_NE(after_cut, want) << "cutting the last batch short changed nothing";
  MustRun(pipeline_[1].args(store_));
  EXPECT_EQ(MustRun({"digest", store_}), want);
}

}  // namespace
}  // namespace crash_test
