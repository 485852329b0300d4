// Runs the real mergetool binary (or any program) as a child process for the hardening tests:
// its exit code, everything it printed, and its peak resident memory.
//
// Thread safety: RunCli may be called from one thread at a time (it forks).
#ifndef RECONCILE_TESTS_HARDENING_CLI_RUNNER_H_
#define RECONCILE_TESTS_HARDENING_CLI_RUNNER_H_

#include <string>
#include <vector>

namespace reconcile::hardening {

struct CliResult {
  int exit_code = -1;   // the exit status, or 128 + signal when the child was killed
  std::string out;      // all of stdout
  std::string err;      // all of stderr
  long max_rss_kb = 0;  // the child's peak resident set (getrusage ru_maxrss)
  std::string command;  // the command line, for failure messages
};

// Runs argv[0] with argv (no shell), stdout and stderr captured through files in `scratch_dir`
// (a folder that exists), working directory `cwd` (empty: the test's own).
CliResult RunCli(const std::vector<std::string>& argv, const std::string& scratch_dir,
                 const std::string& cwd = "");

// A fresh folder under $TMPDIR (or /tmp), removed by the destructor unless the test failed and
// RECONCILE_KEEP_TMP is set.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);
// The file's lines without their LF (a trailing CR is kept), as the bytes they hold.
std::vector<std::string> SplitLines(const std::string& bytes);

}  // namespace reconcile::hardening

#endif  // RECONCILE_TESTS_HARDENING_CLI_RUNNER_H_
