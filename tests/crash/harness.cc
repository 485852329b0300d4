#include "tests/crash/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace crash_test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string& Mergetool() {
  static const std::string path = RECONCILE_MERGETOOL;
  return path;
}

std::string Child::Describe() const {
  std::string what = killed        ? "killed"
                     : signal != 0 ? "signal " + std::to_string(signal)
                                   : "exit " + std::to_string(exit_code);
  return what + "; stderr: " + err;
}

namespace {

// A temp file for a child's output, removed when read.
std::string TempFile() {
  std::string pattern = (fs::temp_directory_path() / "reconcile-crash-out-XXXXXX").string();
  int fd = mkstemp(pattern.data());
  if (fd >= 0) close(fd);
  return pattern;
}

std::string TakeFile(const std::string& path) {
  std::string text = ReadFile(path);
  std::error_code ec;
  fs::remove(path, ec);
  return text;
}

}  // namespace

Running Start(const std::vector<std::string>& args, const RunOptions& options) {
  Running r;
  r.options_ = options;
  r.out_path_ = TempFile();
  r.err_path_ = TempFile();
  std::vector<std::string> argv_text = {Mergetool()};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);

  r.start_ = Clock::now();
  r.pid_ = fork();
  if (r.pid_ == 0) {
    // Only async-signal-safe calls until exec.
    int in = open(options.stdin_path.c_str(), O_RDONLY);
    int out = open(r.out_path_.c_str(), O_WRONLY | O_TRUNC);
    int err = open(r.err_path_.c_str(), O_WRONLY | O_TRUNC);
    if (in < 0 || out < 0 || err < 0) _exit(97);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    if (options.file_size_limit != RLIM_INFINITY) {
      struct rlimit limit = {options.file_size_limit, options.file_size_limit};
      setrlimit(RLIMIT_FSIZE, &limit);
      signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead
    }
    execv(argv[0], argv.data());
    _exit(96);
  }
  if (r.pid_ < 0) ADD_FAILURE() << "fork failed";
  return r;
}

Child Running::Wait() {
  Child child;
  if (pid_ <= 0) return child;
  int status = 0;
  std::optional<Clock::time_point> trigger;
  for (;;) {
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (options_.kill) {
      if (!trigger && (!options_.kill->when || options_.kill->when())) trigger = Clock::now();
      if (trigger && Clock::now() - *trigger >= options_.kill->after) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  pid_ = 0;
  child.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  if (WIFEXITED(status)) {
    child.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    child.killed = WTERMSIG(status) == SIGKILL;
    if (!child.killed) child.signal = WTERMSIG(status);
  }
  child.out = TakeFile(out_path_);
  child.err = TakeFile(err_path_);
  return child;
}

Running::~Running() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

Child RunMergetool(const std::vector<std::string>& args, const RunOptions& options) {
  return Start(args, options).Wait();
}

std::string MustRun(const std::vector<std::string>& args, int want) {
  Child c = RunMergetool(args);
  std::string command = "mergetool";
  for (const std::string& a : args) command += " " + a;
  EXPECT_EQ(c.exit_code, want) << command << ": " << c.Describe();
  std::string out = c.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

Observed Observe(const std::string& store) {
  Observed o;
  o.digest = MustRun({"digest", store});
  const std::string file = TempFile();
  MustRun({"export", store, "-o", file});
  o.exported = TakeFile(file);
  return o;
}

TempDir::TempDir(const std::string& tag) {
  std::string pattern = (fs::temp_directory_path() / ("reconcile-" + tag + "-XXXXXX")).string();
  char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr);
  path_ = pattern;
}

TempDir::~TempDir() {
  if (std::getenv("RECONCILE_KEEP_TMP") != nullptr) {
    std::cout << "kept " << path_ << "\n";
    return;
  }
  RemoveTree(path_);
}

std::string TempDir::operator/(const std::string& rel) const {
  return (fs::path(path_) / rel).string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

void CopyTree(const std::string& from, const std::string& to) {
  RemoveTree(to);
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  fs::copy(from, to, fs::copy_options::recursive, ec);
  EXPECT_FALSE(ec) << "copying " << from << " to " << to << ": " << ec.message();
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::map<std::string, std::string> FilesUnder(const std::string& dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) {
      files[fs::relative(it->path(), dir).string()] = ReadFile(it->path().string());
    }
  }
  return files;
}

std::set<std::string> Wals(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path().extension() == ".log") names.insert(it->path().filename().string());
  }
  return names;
}

uint64_t NewWalBytes(const std::string& dir, const std::set<std::string>& before) {
  uint64_t bytes = 0;
  for (const std::string& name : Wals(dir)) {
    if (before.count(name) != 0) continue;
    std::error_code ec;
    const uint64_t size = fs::file_size(fs::path(dir) / name, ec);
    if (!ec) bytes += size;
  }
  return bytes;
}

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

uint64_t Seed(const std::string& test) {
  const uint64_t seed = EnvNumber("RECONCILE_CRASH_SEED", std::random_device{}());
  std::cout << test << ": seed " << seed << " (reproduce with RECONCILE_CRASH_SEED=" << seed
            << ")\n";
  return seed;
}

uint64_t KillTally::landed() const {
  uint64_t n = 0;
  for (const auto& [label, count] : landed_) n += count;
  return n;
}

std::string KillTally::Summary(const std::string& command) const {
  std::ostringstream s;
  s << command << ": " << landed() << " kill points survived (";
  bool first = true;
  for (const auto& [label, count] : landed_) {
    s << (first ? "" : ", ") << label << " " << count;
    first = false;
  }
  s << "); " << missed_ << " kills came after the command had finished";
  return s.str();
}

Child KillAndRerun(const std::vector<std::string>& args, const std::vector<LabeledKill>& kills,
                   KillTally& tally, const std::vector<std::string>& rerun_args,
                   const std::function<void()>& after_kill) {
  bool first = true;
  auto next_args = [&]() -> const std::vector<std::string>& {
    const bool use_first = first || rerun_args.empty();
    first = false;
    return use_first ? args : rerun_args;
  };
  for (const LabeledKill& k : kills) {
    RunOptions options;
    options.kill = k.at;
    Child c = RunMergetool(next_args(), options);
    if (!c.killed) {
      tally.Missed();
      return c;  // it finished: the chain ends with a complete run
    }
    tally.Landed(k.label);
    if (after_kill) after_kill();
  }
  return RunMergetool(next_args());
}

}  // namespace crash_test
