// The directory hub: the orchestrator hands import jobs to a folder and waits (kConflict) until an
// operator puts the job's importErrors.log and a fresh export back; `resume` continues. The
// "operator" here runs the jobs on a simulated hub.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "lib/failback/drill.h"
#include "reconcile/failback.h"
#include "tests/failback/drill_folders.h"
#include "tests/failback/test_util.h"

namespace reconcile {
namespace {

using failback_test::ReadAll;
using failback_test::TempDir;
using failback_test::WriteAll;
using nlohmann::json;
namespace fs = std::filesystem;

TEST(DirectoryHub, ExportCopiesAndImportWaitsForTheErrorsLog) {
  TempDir dir;
  auto hub = MakeDirectoryHub(dir.path(), "contoso");
  EXPECT_EQ(hub->name(), "contoso");
  EXPECT_FALSE(hub->simulated());
  EXPECT_TRUE(hub->Export(dir / "out.txt").IsNotFound());
  WriteAll(dir / "export/devices.txt", "{\"id\":\"a\"}\n");
  ASSERT_TRUE(hub->Export(dir / "out.txt").ok());
  EXPECT_EQ(ReadAll(dir / "out.txt"), "{\"id\":\"a\"}\n");

  WriteAll(dir / "plan/devices-00001.txt",
           "{\"id\":\"a\",\"importMode\":\"create\"}\n{\"id\":\"b\"}\n");
  auto r = hub->Import("job-1", {dir / "plan/devices-00001.txt"}, dir / "errors.log");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->completed);
  EXPECT_EQ(r->lines, 2u);
  EXPECT_TRUE(fs::exists(dir / "import/job-1/devices-00001.txt"));
  json job = json::parse(ReadAll(dir / "import/job-1/job.json"));
  EXPECT_EQ(job["files"], json::array({"devices-00001.txt"}));
  // The operator ran it: one line failed.
  WriteAll(dir / "import/job-1/importErrors.log",
           "{\"deviceId\":\"a\",\"errorCode\":409001,\"errorStatus\":\"exists\"}\n");
  r = hub->Import("job-1", {dir / "plan/devices-00001.txt"}, dir / "errors.log");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->completed);
  EXPECT_EQ(r->failed, 1u);
  EXPECT_EQ(ReadAll(dir / "errors.log"), ReadAll(dir / "import/job-1/importErrors.log"));
  EXPECT_TRUE(hub->Import("../x", {}, dir / "e").status().IsInvalidInput());
}

// The job the orchestrator is waiting for: a job folder without an importErrors.log.
std::string PendingJob(const std::string& hub_dir) {
  for (const auto& entry : fs::directory_iterator(fs::path(hub_dir) / "import")) {
    if (!fs::exists(entry.path() / "importErrors.log")) return entry.path().filename().string();
  }
  return "";
}

TEST(DirectoryHub, FailbackWaitsForJobsAndResumesToVerified) {
  TempDir dir;
  failback::DrillOptions d;
  d.devices = 60;
  d.seed = 3;
  d.work_dir = dir / "drill";
  d.prepare_only = true;
  ASSERT_TRUE(failback::RunDrill(d).ok());

  // The operator's side: the simulated hubs behind the folders.
  const std::string primary_dir = dir / "weu";
  const std::string secondary_dir = dir / "neu";
  ASSERT_NO_FATAL_FAILURE(failback_test::ExportDrillHubs(d, primary_dir, secondary_dir));
  auto primary = MakeDirectoryHub(primary_dir, "contoso-weu");
  auto secondary = MakeDirectoryHub(secondary_dir, "contoso-neu");
  FailbackOptions o = failback::DrillFailbackOptions(d.work_dir);
  o.primary = primary.get();
  o.secondary = secondary.get();

  auto first = RunFailback(o);
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(first.status().IsConflict());
  EXPECT_NE(first.status().message().find("waiting for the import job"), std::string::npos)
      << first.status().message();
  // Without resume, the unfinished run is refused.
  auto again = RunFailback(o);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.status().IsConflict());
  EXPECT_NE(again.status().message().find("resume"), std::string::npos);

  o.resume = true;
  bool saw_fresh_export_wait = false;
  Result<FailbackReport> report = Status::Conflict("not run");
  for (int round = 0; round < 8; ++round) {
    const std::string job = PendingJob(primary_dir);
    ASSERT_FALSE(job.empty());
    const fs::path job_dir = fs::path(primary_dir) / "import" / job;
    json manifest = json::parse(ReadAll((job_dir / "job.json").string()));
    std::vector<std::string> files;
    for (const json& f : manifest["files"])
      files.push_back((job_dir / f.get<std::string>()).string());
    {
      // The operator runs the job on the real (here: simulated) hub...
      auto p = SimulatedHub::Open(failback::DrillHubDir(d.work_dir, true),
                                  failback::DrillHubOptions(d.work_dir, d.seed, true));
      ASSERT_TRUE(p.ok());
      ASSERT_TRUE((*p)->Import(job, files, (job_dir / "importErrors.log").string()).ok());
      // ... and, the first time, forgets to put a fresh export back.
      if (round > 0 || saw_fresh_export_wait) {
        ASSERT_TRUE((*p)->Export(primary_dir + "/export/devices.txt").ok());
      }
    }
    report = RunFailback(o);
    if (!report.ok() && report.status().message().find("fresh export") != std::string::npos) {
      saw_fresh_export_wait = true;
      auto p = SimulatedHub::Open(failback::DrillHubDir(d.work_dir, true),
                                  failback::DrillHubOptions(d.work_dir, d.seed, true));
      ASSERT_TRUE(p.ok());
      ASSERT_TRUE((*p)->Export(primary_dir + "/export/devices.txt").ok());
      p->reset();
      report = RunFailback(o);
    }
    if (report.ok()) break;
    ASSERT_NE(report.status().message().find("waiting for the import job"), std::string::npos)
        << report.status().ToString();
  }
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(saw_fresh_export_wait);
  EXPECT_TRUE(report->verified) << report->merged_digest << " " << report->primary_digest;
  EXPECT_GE(report->retry_rounds, 1);
  bool apply_resumed = false;
  for (const StepReport& s : report->steps) apply_resumed |= s.name == "apply" && s.resumed;
  EXPECT_TRUE(apply_resumed);
  for (const std::string& n : report->notes) EXPECT_EQ(n.find("simulated hub"), std::string::npos);
}

}  // namespace
}  // namespace reconcile
