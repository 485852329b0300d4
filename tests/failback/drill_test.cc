// The drill at a small size passes its own verdict, in-process and through the mergetool binary;
// no key material reaches stdout, stderr or a report.
#include <sys/wait.h>

#include <filesystem>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "lib/failback/drill.h"
#include "tests/failback/test_util.h"

namespace reconcile {
namespace {

using failback_test::Lines;
using failback_test::ReadAll;
using failback_test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

TEST(Drill, SmallDrillPassesItsVerdict) {
  TempDir dir;
  failback::DrillOptions o;
  o.devices = 300;
  o.seed = 7;
  o.work_dir = dir / "drill";
  auto r = failback::RunDrill(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->passed) << failback::FormatDrillReport(*r, false);
  EXPECT_TRUE(r->failback.verified);
  EXPECT_EQ(r->lost, 0u);
  EXPECT_GT(r->concurrent_changes, 0u);
  EXPECT_GT(r->failback.retried_lines, 0u);
  EXPECT_GT(r->duplicates, 0u);
  EXPECT_GT(r->both_sides, 0u);
  EXPECT_GT(r->edge_children, 0u);
  EXPECT_EQ(r->devices, 300u);
  EXPECT_GT(r->kept, r->acknowledged / 2);
  EXPECT_FALSE(r->failback.conflicts_by_rule.empty());
  // A drill folder is used once.
  EXPECT_TRUE(failback::RunDrill(o).status().IsConflict());
}

TEST(Drill, SameSeedSameResult) {
  TempDir dir;
  failback::DrillOptions o;
  o.devices = 100;
  o.seed = 21;
  o.work_dir = dir / "a";
  auto a = failback::RunDrill(o);
  o.work_dir = dir / "b";
  auto b = failback::RunDrill(o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->failback.merged_digest, b->failback.merged_digest);
  EXPECT_EQ(a->failback.plan_lines_by_mode, b->failback.plan_lines_by_mode);
  EXPECT_EQ(a->acknowledged, b->acknowledged);
}

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

CliRun RunCli(const TempDir& dir, const std::string& name, const std::vector<std::string>& args) {
  const std::string out = dir / (name + ".out");
  const std::string err = dir / (name + ".err");
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(out.c_str(), "w", stdout) || !freopen(err.c_str(), "w", stderr)) _exit(97);
    std::vector<char*> argv;
    std::string prog = FAILBACK_CLI_DRIVER;
    argv.push_back(prog.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(prog.c_str(), argv.data());
    _exit(96);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  return r;
}

// Every symmetric key value in the files of a folder tree's hub exports.
std::set<std::string> KeysIn(const std::string& root) {
  std::set<std::string> keys;
  const std::regex key(R"re("(primaryKey|secondaryKey)":"([^"]+)")re");
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().extension() != ".txt") continue;
    const std::string text = ReadAll(e.path().string());
    for (std::sregex_iterator it(text.begin(), text.end(), key), end; it != end; ++it) {
      keys.insert((*it)[2].str());
    }
  }
  return keys;
}

TEST(DrillCli, PassesAndKeepsKeysOutOfEveryOutputAndReport) {
  if (std::string(FAILBACK_CLI_DRIVER).empty()) GTEST_SKIP() << "mergetool is not built";
  TempDir dir;
  CliRun text =
      RunCli(dir, "text", {"drill", "--devices", "200", "--seed", "4", "--work", dir / "t"});
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("verdict      PASS"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("SIMULATED"), std::string::npos);
  CliRun js = RunCli(dir, "json",
                     {"drill", "--devices", "200", "--seed", "4", "--work", dir / "j", "--json"});
  EXPECT_EQ(js.exit_code, 0) << js.err;
  ASSERT_EQ(Lines(js.out).size(), 1u);
  json report = json::parse(js.out);
  EXPECT_EQ(report["verdict"], "pass");
  EXPECT_EQ(report["simulated"], true);
  EXPECT_EQ(report["failback"]["verified"], true);
  EXPECT_GT(report["notifications"]["duplicatesAbsorbed"].get<int>(), 0);
  EXPECT_GT(report["failback"]["retriedLines"].get<int>(), 0);

  // Keys exist (in the hubs' exports and the import files) ...
  const std::set<std::string> keys = KeysIn(dir / "t");
  ASSERT_GT(keys.size(), 100u);
  // ... and never in what the drill printed, nor in the reports it left.
  std::vector<std::pair<std::string, std::string>> outputs = {{"text stdout", text.out},
                                                              {"text stderr", text.err},
                                                              {"json stdout", js.out},
                                                              {"json stderr", js.err}};
  for (const char* report_file : {"failback/conflicts.jsonl", "failback/plan/plan-report.jsonl",
                                  "failback/plan/manifest.json"}) {
    outputs.emplace_back(report_file, ReadAll(dir / (std::string("t/") + report_file)));
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir / "t/failback/rejects")) {
    outputs.emplace_back(entry.path().string(), ReadAll(entry.path().string()));
  }
  for (const auto& [what, content] : outputs) {
    for (const std::string& k : keys) {
      ASSERT_EQ(content.find(k), std::string::npos) << "a key is in " << what;
    }
  }
}

TEST(DrillCli, UsageErrorsAndWaiting) {
  if (std::string(FAILBACK_CLI_DRIVER).empty()) GTEST_SKIP() << "mergetool is not built";
  TempDir dir;
  CliRun bad = RunCli(dir, "bad", {"drill", "--devices", "3"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("mergetool: error:"), std::string::npos);
  CliRun missing = RunCli(
      dir, "missing",
      {"failback", "--primary", dir / "nope", "--secondary", dir / "nope2", "--work", dir / "w"});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;

  // Two directory hubs: the command stops waiting for the import job (exit 1), and says so.
  failback::DrillOptions d;
  d.devices = 40;
  d.work_dir = dir / "drill";
  d.prepare_only = true;
  ASSERT_TRUE(failback::RunDrill(d).ok());
  fs::create_directories(dir / "weu/export");
  fs::create_directories(dir / "neu/export");
  fs::copy_file(dir / "drill/backup/devices.txt", dir / "weu/export/devices.txt");
  fs::copy_file(dir / "drill/backup/devices.txt", dir / "neu/export/devices.txt");
  // Same content on both sides: nothing to plan, verified at once.
  CliRun same = RunCli(dir, "same",
                       {"failback", "--primary", dir / "weu", "--secondary", dir / "neu", "--work",
                        dir / "w1", "--base", dir / "drill/backup/devices.txt"});
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_NE(same.out.find("VERIFIED"), std::string::npos) << same.out;
  // The secondary's real export: lines to import, so the command waits for the job.
  fs::remove(dir / "neu/export/devices.txt");
  {
    auto s = SimulatedHub::Open(failback::DrillHubDir(d.work_dir, false),
                                failback::DrillHubOptions(d.work_dir, d.seed, false));
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Export(dir / "neu/export/devices.txt").ok());
  }
  CliRun wait = RunCli(dir, "wait",
                       {"failback", "--primary", dir / "weu", "--secondary", dir / "neu", "--work",
                        dir / "w2", "--base", dir / "drill/backup/devices.txt", "--json"});
  EXPECT_EQ(wait.exit_code, 1);
  EXPECT_NE(wait.err.find("waiting for the import job"), std::string::npos) << wait.err;
  EXPECT_TRUE(wait.out.empty());
  CliRun again = RunCli(
      dir, "again",
      {"failback", "--primary", dir / "weu", "--secondary", dir / "neu", "--work", dir / "w2"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("resume"), std::string::npos) << again.err;
}

}  // namespace
}  // namespace reconcile
