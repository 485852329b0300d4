// The crash layer's harness: runs the real mergetool binary as a child process, SIGKILLs it at a
// chosen moment (a delay, or as soon as a condition on the file system holds), and gives tests
// the folders, files and digests they compare.
//
// Nothing here opens RocksDB in the test process: stores are read through `mergetool digest` and
// `mergetool export`, so the test never forks while holding RocksDB's threads, and what is checked
// is what an operator would see.
//
// Thread safety: none; one test thread.
#ifndef RECONCILE_TESTS_CRASH_HARNESS_H_
#define RECONCILE_TESTS_CRASH_HARNESS_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace crash_test {

// The mergetool binary under test (the build passes $<TARGET_FILE:mergetool>).
const std::string& Mergetool();

// When to SIGKILL a child. The condition is polled every 100 µs from the child's start; once it
// holds (at once when it is empty), the child is killed `after` later.
struct KillAt {
  std::function<bool()> when;
  std::chrono::microseconds after{0};
};

struct RunOptions {
  std::optional<KillAt> kill;
  // RLIMIT_FSIZE for the child (with SIGXFSZ ignored, a write past it fails with EFBIG, as a
  // full disk fails with ENOSPC). Default: no limit.
  rlim_t file_size_limit = RLIM_INFINITY;
  // The child's standard input (default /dev/null).
  std::string stdin_path = "/dev/null";
};

struct Child {
  int exit_code = -1;   // when it exited by itself
  bool killed = false;  // SIGKILLed by the harness before it ended
  int signal = 0;       // any other signal that ended it
  double seconds = 0;   // wall time
  std::string out;
  std::string err;
  // "exit N" / "killed" / "signal N", and stderr: for assertion messages.
  std::string Describe() const;
};

// A mergetool child started by Start. Not copyable; movable. Destroying it kills a child that
// was never waited for.
class Running {
 public:
  Running() = default;
  Running(Running&& other) noexcept { *this = std::move(other); }
  Running& operator=(Running&& other) noexcept {
    std::swap(pid_, other.pid_);
    options_ = other.options_;
    out_path_ = other.out_path_;
    err_path_ = other.err_path_;
    start_ = other.start_;
    return *this;
  }
  ~Running();
  pid_t pid() const { return pid_; }
  // Waits for the child to end (killing it as the options say) and returns what it did.
  Child Wait();

 private:
  friend Running Start(const std::vector<std::string>& args, const RunOptions& options);
  pid_t pid_ = 0;
  RunOptions options_;
  std::string out_path_;
  std::string err_path_;
  std::chrono::steady_clock::time_point start_;
};

// Starts `mergetool args...` with stdout and stderr captured.
Running Start(const std::vector<std::string>& args, const RunOptions& options = {});

// Runs `mergetool args...` to its end (or its kill), capturing stdout and stderr.
Child RunMergetool(const std::vector<std::string>& args, const RunOptions& options = {});

// Runs it and returns stdout with the trailing newline removed; a failed assertion (with the
// command and its stderr) when it does not exit with `want`.
std::string MustRun(const std::vector<std::string>& args, int want = 0);

// What a store shows an operator: `mergetool digest` and the bytes of `mergetool export`.
struct Observed {
  std::string digest;
  std::string exported;
};
Observed Observe(const std::string& store);

// A fresh folder under the temp dir, removed at destruction (kept with RECONCILE_KEEP_TMP=1).
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "crash");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const;

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& text);
// Replaces `to` (removed first) with a recursive copy of `from`.
void CopyTree(const std::string& from, const std::string& to);
void RemoveTree(const std::string& path);
bool Exists(const std::string& path);
// Regular files under `dir` (relative names, sorted) with their contents.
std::map<std::string, std::string> FilesUnder(const std::string& dir);
// The names of the RocksDB write-ahead logs (*.log) in `dir`.
std::set<std::string> Wals(const std::string& dir);
// Bytes in the write-ahead logs of `dir` that are not named in `before` (written since).
uint64_t NewWalBytes(const std::string& dir, const std::set<std::string>& before);

// A number from the environment, or `fallback`.
uint64_t EnvNumber(const char* name, uint64_t fallback);
// The seed of this run: RECONCILE_CRASH_SEED, else a fresh one; printed with how to reproduce.
uint64_t Seed(const std::string& test);

// Counts of kill points, by label, for the summary a test prints.
class KillTally {
 public:
  void Landed(const std::string& label) { ++landed_[label]; }
  void Missed() { ++missed_; }
  uint64_t landed() const;
  std::string Summary(const std::string& command) const;

 private:
  std::map<std::string, uint64_t> landed_;
  uint64_t missed_ = 0;
};

// A kill with the name the tally counts it under.
struct LabeledKill {
  std::string label;
  KillAt at;
};

// Runs `mergetool args...` once per kill in `kills`, each run SIGKILLed as that kill says and each
// starting from what the run before it left (the chain stops when a run finishes before its kill:
// counted as missed), then once more to completion, and returns that last run. `rerun_args`, when
// not empty, replace `args` after the first run (e.g. with --resume). `after_kill`, when given,
// looks at what each kill left before the next run starts.
Child KillAndRerun(const std::vector<std::string>& args, const std::vector<LabeledKill>& kills,
                   KillTally& tally, const std::vector<std::string>& rerun_args = {},
                   const std::function<void()>& after_kill = nullptr);

}  // namespace crash_test

#endif  // RECONCILE_TESTS_CRASH_HARNESS_H_
