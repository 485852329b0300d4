// A failback killed (SIGKILL, in a forked child) at each step — at the step's start, and at a
// random point inside it — and resumed ends with the same digests as a run never interrupted:
// the merged state's projection, the primary's, and the work store's whole digest.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "lib/failback/drill.h"
#include "reconcile/failback.h"
#include "reconcile/store.h"
#include "tests/failback/test_util.h"

namespace reconcile {
namespace {

using failback_test::InChild;
using failback_test::ReadAll;
using failback_test::TempDir;
using failback_test::WriteAll;
namespace fs = std::filesystem;

const char* const kSteps[] = {
    "ingest-primary", "ingest-secondary", "ingest-events", "plan", "apply", "retry", "verify"};
constexpr uint64_t kSeed = 11;

// Runs (or resumes) the failback of the prepared drill in `dir`; calls on_step as it goes.
// Returns the digests "merged primary store" or an error text.
std::string RunFailbackIn(const std::string& dir, bool resume,
                          const std::function<void(const std::string&, bool)>& on_step) {
  auto primary = SimulatedHub::Open(failback::DrillHubDir(dir, true),
                                    failback::DrillHubOptions(dir, kSeed, true));
  auto secondary = SimulatedHub::Open(failback::DrillHubDir(dir, false),
                                      failback::DrillHubOptions(dir, kSeed, false));
  if (!primary.ok() || !secondary.ok()) return "error: hubs";
  FailbackOptions o = failback::DrillFailbackOptions(dir);
  o.primary = primary->get();
  o.secondary = secondary->get();
  o.resume = resume;
  o.on_step = on_step;
  Hlc tick = ParseIso8601("2026-06-01T00:00:00Z").value();
  o.now = [&tick] { return tick += MakeHlc(1, 0); };
  auto report = RunFailback(o);
  if (!report.ok()) return "error: " + report.status().ToString();
  if (!report->verified) return "error: not verified";
  primary->reset();
  secondary->reset();
  StoreOptions so;
  so.create_if_missing = false;
  auto store = Store::Open(o.work_dir + "/store", so);
  if (!store.ok()) return "error: store";
  auto digest = (*store)->Digest();
  if (!digest.ok()) return "error: digest";
  return report->merged_digest + " " + report->primary_digest + " " + digest->root.ToHex();
}

// In a child: the digests, written to `out`.
int DigestsInChild(const std::string& dir, bool resume, const std::string& out) {
  return InChild([&] {
    WriteAll(out, RunFailbackIn(dir, resume, nullptr));
    return 0;
  });
}

class KillResume : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    prepared_ = new TempDir();
    failback::DrillOptions d;
    d.devices = 80;
    d.seed = kSeed;
    d.work_dir = *prepared_ / "drill";
    d.prepare_only = true;
    // In a child too: this process must never start RocksDB's background threads, or the
    // children forked later inherit a thread pool with no threads and wait forever for a flush.
    ASSERT_EQ(InChild([&] { return failback::RunDrill(d).ok() ? 0 : 1; }), 0);
    ASSERT_EQ(DigestsInChild(Copy("reference"), false, *prepared_ / "reference.txt"), 0);
    reference_ = ReadAll(*prepared_ / "reference.txt");
  }
  static void TearDownTestSuite() {
    delete prepared_;
    prepared_ = nullptr;
  }
  // A copy of the prepared drill (hubs, backup, events) to run a failback in.
  static std::string Copy(const std::string& name) {
    const std::string to = *prepared_ / name;
    fs::copy(*prepared_ / "drill", to, fs::copy_options::recursive);
    return to;
  }

  static TempDir* prepared_;
  static std::string reference_;
};

TempDir* KillResume::prepared_ = nullptr;
std::string KillResume::reference_;

TEST_F(KillResume, ReferenceRunIsVerified) {
  EXPECT_EQ(reference_.rfind("error", 0), std::string::npos) << reference_;
  EXPECT_EQ(std::count(reference_.begin(), reference_.end(), ' '), 2);
}

// The child kills itself when step k starts: the step has written nothing.
TEST_F(KillResume, KilledAtTheStartOfEachStep) {
  for (const char* step : kSteps) {
    const std::string dir = Copy(std::string("start-") + step);
    const int status = InChild([&] {
      RunFailbackIn(dir, false, [&](const std::string& name, bool done) {
        if (!done && name == step) raise(SIGKILL);
      });
      return 0;
    });
    EXPECT_EQ(status, 128 + SIGKILL) << step;
    const std::string out = *prepared_ / (std::string("start-") + step + ".txt");
    ASSERT_EQ(DigestsInChild(dir, true, out), 0) << step;
    EXPECT_EQ(ReadAll(out), reference_) << "killed at the start of " << step;
  }
}

// The parent kills the child a random moment after step k started (inside the step, or later).
TEST_F(KillResume, KilledInsideEachStep) {
  std::mt19937 rng(12345);
  std::printf("seed of the kill delays: 12345\n");
  int killed = 0;
  for (const char* step : kSteps) {
    const std::string dir = Copy(std::string("inside-") + step);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      RunFailbackIn(dir, false, [&](const std::string& name, bool done) {
        if (!done) {
          std::string line = name + "\n";
          (void)!write(fds[1], line.data(), line.size());
        }
      });
      _exit(0);
    }
    close(fds[1]);
    std::string seen;
    char buf[256];
    while (seen.find(std::string(step) + "\n") == std::string::npos) {
      ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      seen.append(buf, static_cast<size_t>(n));
    }
    usleep(std::uniform_int_distribution<int>(0, 6000)(rng));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    killed += WIFSIGNALED(status) ? 1 : 0;
    const std::string out = *prepared_ / (std::string("inside-") + step + ".txt");
    ASSERT_EQ(DigestsInChild(dir, true, out), 0) << step;
    EXPECT_EQ(ReadAll(out), reference_) << "killed inside " << step;
  }
  std::printf("children killed before they finished: %d of 7\n", killed);
  EXPECT_GT(killed, 0);
}

}  // namespace
}  // namespace reconcile
