#include "tests/crash/fault_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace crash_test {

namespace fs = std::filesystem;

void FaultTest::SetUp() {
  fleet_ = PrepareFleet(dir_ / "fleet", EnvNumber("RECONCILE_FAULT_DEVICES", 400), 9);
  ASSERT_FALSE(HasFailure());
  pipeline_ = SecondaryPipeline(fleet_);
}

void FaultTest::Build(const std::string& store, size_t upto) {
  for (size_t k = 0; k < pipeline_.size() && k < upto; ++k) MustRun(pipeline_[k].args(store));
}

std::string FaultTest::DigestOfCopy(const std::string& store) {
  const std::string copy = dir_ / "digest-copy";
  CopyTree(store, copy);
  const std::string digest = MustRun({"digest", copy});
  RemoveTree(copy);
  return digest;
}

void FaultTest::ExpectClearError(const Child& c, const std::string& store, const std::string& cause,
                                 const std::string& what) {
  EXPECT_EQ(c.exit_code, 1) << what << ": " << c.Describe();
  EXPECT_TRUE(c.err.rfind("mergetool: error: ", 0) == 0 ||
              c.err.find("\nmergetool: error: ") != std::string::npos)
      << what << ": no \"mergetool: error: \" line: " << c.err;
  EXPECT_NE(c.err.find(store), std::string::npos)
      << what << ": the error does not name " << store << ": " << c.err;
  EXPECT_NE(c.err.find(cause), std::string::npos)
      << what << ": the error does not say '" << cause << "': " << c.err;
  std::cout << what << ": " << c.err;
}

void FlipBytes(const std::string& path, int64_t offset, size_t count) {
  std::string bytes = ReadFile(path);
  ASSERT_FALSE(bytes.empty()) << path;
  const int64_t size = static_cast<int64_t>(bytes.size());
  int64_t at = offset < 0 ? size + offset : offset;
  ASSERT_TRUE(at >= 0 && at + static_cast<int64_t>(count) <= size) << path << " has " << size;
  for (size_t i = 0; i < count; ++i) bytes[static_cast<size_t>(at) + i] ^= static_cast<char>(0xA5);
  WriteFile(path, bytes);
}

std::string LargestFile(const std::string& dir, const std::string& suffix) {
  std::string best;
  uintmax_t best_size = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() < suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    if (best.empty() || e.file_size() > best_size) {
      best = e.path().string();
      best_size = e.file_size();
    }
  }
  return best;
}

std::string FileStartingWith(const std::string& dir, const std::string& prefix) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) return e.path().string();
  }
  return "";
}

TmpfsMount::TmpfsMount(const std::string& dir, const std::string& size) : dir_(dir) {
  fs::create_directories(dir);
  const std::string data = "size=" + size + ",mode=0755";
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, data.c_str()) != 0) {
    error_ = std::string("mounting a tmpfs is not permitted here (mount: ") + std::strerror(errno) +
             "); run as root with CAP_SYS_ADMIN to test a full or read-only file system";
    return;
  }
  mounted_ = true;
}

TmpfsMount::~TmpfsMount() {
  if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
}

bool TmpfsMount::RemountReadOnly() {
  return mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) == 0;
}

bool TmpfsMount::RemountReadWrite(const std::string& size) {
  const std::string data = size.empty() ? "" : "size=" + size;
  return mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT, data.empty() ? nullptr : data.c_str()) ==
         0;
}

}  // namespace crash_test
