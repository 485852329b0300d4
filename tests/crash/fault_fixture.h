// Shared pieces of the fault tests: a small store built from a prepared drill, byte flipping, and
// tmpfs mounts (skipped with a message where mounting is not permitted).
//
// Thread safety: none; one test thread.
#ifndef RECONCILE_TESTS_CRASH_FAULT_FIXTURE_H_
#define RECONCILE_TESTS_CRASH_FAULT_FIXTURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/crash/fleet.h"
#include "tests/crash/harness.h"

namespace crash_test {

// A folder with a fleet's inputs and the reference digests of the store the pipeline builds.
class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // The secondary pipeline up to (not including) command `upto` (all of it when npos).
  void Build(const std::string& store, size_t upto = static_cast<size_t>(-1));
  // The digest of `store` read from a copy (so the store itself is not reopened).
  std::string DigestOfCopy(const std::string& store);

  // Expects a failure that names the store and the cause: exit 1, a "mergetool: error: ..." line
  // on stderr (after any warnings), `store` and `cause` in it, and no crash.
  void ExpectClearError(const Child& c, const std::string& store, const std::string& cause,
                        const std::string& what);

  TempDir dir_{"crash-fault"};
  Fleet fleet_;
  std::vector<Command> pipeline_;
};

// XORs `count` bytes of `path` from `offset` (a negative offset counts from the end) with 0xA5.
void FlipBytes(const std::string& path, int64_t offset, size_t count);
// The largest file of `dir` whose name ends with `suffix` (e.g. ".sst", ".log"), or "" if none.
std::string LargestFile(const std::string& dir, const std::string& suffix);
// The file of `dir` whose name starts with `prefix` (e.g. "MANIFEST-"), or "".
std::string FileStartingWith(const std::string& dir, const std::string& prefix);

// A tmpfs mounted on a folder for the life of the object.
class TmpfsMount {
 public:
  // Mounts a tmpfs of `size` (mount's size= syntax, e.g. "1m") on `dir` (created).
  TmpfsMount(const std::string& dir, const std::string& size);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  // Empty when mounted; why not otherwise (the test skips with it).
  const std::string& error() const { return error_; }
  // Remounts read-only, or read-write with a new size ("" keeps it). False with errno on failure.
  bool RemountReadOnly();
  bool RemountReadWrite(const std::string& size);

 private:
  std::string dir_;
  std::string error_;
  bool mounted_ = false;
};

}  // namespace crash_test

#endif  // RECONCILE_TESTS_CRASH_FAULT_FIXTURE_H_
