// The end-to-end failback section (sections.h): the drill prepares two simulated hubs (fleet,
// backup, RPO-window changes on the primary, outage changes on the secondary, notifications);
// then RunFailback runs over *directory* hubs in timed children, stopping whenever it hands an
// import job to the primary, while untimed children play the hub: they run the job on the
// simulated primary and put its importErrors.log and a fresh export in the hub folder. So the
// figures are the failback's own (ingests, plan, retry, verify), not the simulated hub's, and
// its peak RSS is measured in a process that holds no hub.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "benchmarks/child.h"
#include "benchmarks/sections.h"
#include "lib/failback/drill.h"
#include "reconcile/failback.h"

namespace bench {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

std::string HubFolder(const BenchConfig& c, bool primary) {
  return WorkPath(c, primary ? "hubs/primary" : "hubs/secondary");
}

std::string DrillDir(const BenchConfig& c) { return WorkPath(c, "drill"); }

std::unique_ptr<reconcile::SimulatedHub> OpenSimulated(const BenchConfig& c, bool primary) {
  auto hub = reconcile::SimulatedHub::Open(
      reconcile::failback::DrillHubDir(DrillDir(c), primary),
      reconcile::failback::DrillHubOptions(DrillDir(c), c.seed, primary));
  if (!hub.ok()) throw std::runtime_error("opening the simulated hub: " + hub.status().ToString());
  return std::move(hub).value();
}

void ExportTo(reconcile::SimulatedHub& hub, const std::string& folder) {
  fs::create_directories(fs::path(folder) / "export");
  reconcile::Status s = hub.Export((fs::path(folder) / "export" / "devices.txt").string());
  if (!s.ok()) throw std::runtime_error("export: " + s.ToString());
}

json Prepare(const BenchConfig& c) {
  fs::remove_all(DrillDir(c));
  fs::remove_all(WorkPath(c, "hubs"));
  reconcile::failback::DrillOptions o;
  o.devices = c.devices;
  o.seed = c.seed;
  o.work_dir = DrillDir(c);
  o.prepare_only = true;
  auto report = reconcile::failback::RunDrill(o);
  if (!report.ok()) throw std::runtime_error("drill prepare: " + report.status().ToString());
  json phases = json::object();
  for (const auto& p : report->phases)
    phases[p.name] = {{"seconds", p.seconds}, {"records", p.records}};
  // The hubs' current exports, where the directory hubs look for them.
  const auto t0 = Clock::now();
  for (bool primary : {true, false}) {
    auto hub = OpenSimulated(c, primary);
    ExportTo(*hub, HubFolder(c, primary));
  }
  phases["export-hubs"] = {{"seconds", std::chrono::duration<double>(Clock::now() - t0).count()}};
  return {{"devices", report->devices},
          {"modules", report->modules},
          {"edgeDevices", report->edge_devices},
          {"identities", report->identities},
          {"primaryChanges", report->primary_changes},
          {"secondaryChanges", report->secondary_changes},
          {"bothSides", report->both_sides},
          {"events", report->events},
          {"delivered", report->delivered},
          {"phases", phases}};
}

// One timed run of the failback (a first run, or a resume).
json RunOnce(const BenchConfig& c, bool resume) {
  reconcile::FailbackOptions fo = reconcile::failback::DrillFailbackOptions(DrillDir(c));
  fo.work_dir = WorkPath(c, "failback-work");
  auto primary = reconcile::MakeDirectoryHub(
      HubFolder(c, true), reconcile::failback::DrillHubOptions(DrillDir(c), c.seed, true).name);
  auto secondary = reconcile::MakeDirectoryHub(
      HubFolder(c, false), reconcile::failback::DrillHubOptions(DrillDir(c), c.seed, false).name);
  fo.primary = primary.get();
  fo.secondary = secondary.get();
  fo.resume = resume;
  json steps = json::object();
  Clock::time_point started;
  fo.on_step = [&](const std::string& step, bool done) {
    if (!done) {
      started = Clock::now();
      return;
    }
    steps[step] = std::chrono::duration<double>(Clock::now() - started).count();
  };
  auto report = reconcile::RunFailback(fo);
  if (!report.ok()) {
    const std::string message = report.status().message();
    if (report.status().IsConflict() && message.find("waiting for") != std::string::npos) {
      return {{"waiting", true}, {"message", message}, {"steps", steps}};
    }
    throw std::runtime_error("RunFailback: " + report.status().ToString());
  }
  json j = json::parse(reconcile::FormatFailbackReport(*report, true));
  j["waiting"] = false;
  j["stepsThisRun"] = steps;
  return j;
}

// The hub's side of a pending import job: run it on the simulated primary, put its errors log
// and a fresh export in the primary's folder.
json RunPendingJobs(const BenchConfig& c) {
  const fs::path imports = fs::path(HubFolder(c, true)) / "import";
  auto hub = OpenSimulated(c, true);
  json jobs = json::array();
  for (const auto& entry : fs::directory_iterator(imports)) {
    const fs::path dir = entry.path();
    if (!fs::exists(dir / "job.json") || fs::exists(dir / "importErrors.log")) continue;
    std::ifstream in(dir / "job.json");
    json job = json::parse(in);
    std::vector<std::string> files;
    for (const auto& name : job["files"]) files.push_back((dir / name.get<std::string>()).string());
    const std::string errors = (dir / "importErrors.log.tmp").string();
    auto outcome = hub->Import(dir.filename().string(), files, errors);
    if (!outcome.ok()) throw std::runtime_error("import job: " + outcome.status().ToString());
    if (!fs::exists(errors)) std::ofstream(errors).close();
    fs::rename(errors, dir / "importErrors.log");
    jobs.push_back(
        {{"job", dir.filename().string()}, {"lines", outcome->lines}, {"failed", outcome->failed}});
  }
  ExportTo(*hub, HubFolder(c, true));
  return {{"jobs", jobs}};
}

}  // namespace

json RunFailbackSection(const BenchConfig& c) {
  json out = json::object();
  Say(c, "failback: preparing the drill's hubs (" + std::to_string(c.devices) + " devices)");
  ChildRun prep = Fork([&] { return Prepare(c); });
  if (!prep.ok) throw std::runtime_error("failback prepare: " + prep.error);
  out["prepare"] = prep.result;
  out["prepare"]["os"] = prep.Os();
  fs::remove_all(WorkPath(c, "failback-work"));

  json runs = json::array(), hub_jobs = json::array();
  double wall = 0, cpu = 0, max_rss_mib = 0;
  json final_report;
  for (int round = 0; round < 10; ++round) {
    Say(c, round == 0 ? "failback: running" : "failback: resuming");
    ChildRun run = Fork([&] { return RunOnce(c, round > 0); });
    if (!run.ok) throw std::runtime_error("failback run: " + run.error);
    wall += run.wall_seconds;
    cpu += run.user_seconds + run.system_seconds;
    max_rss_mib = std::max(max_rss_mib, run.max_rss_kib / 1024.0);
    json entry = {{"os", run.Os()},
                  {"waiting", run.result["waiting"]},
                  {"steps", run.result.contains("stepsThisRun") ? run.result["stepsThisRun"]
                                                                : run.result["steps"]}};
    runs.push_back(entry);
    if (!run.result["waiting"].get<bool>()) {
      final_report = run.result;
      break;
    }
    Say(c, "failback: the hub runs the import job (not timed)");
    ChildRun job = Fork([&] { return RunPendingJobs(c); });
    if (!job.ok) throw std::runtime_error("hub import job: " + job.error);
    json j = job.result;
    j["os"] = job.Os();
    hub_jobs.push_back(j);
  }
  if (final_report.is_null()) throw std::runtime_error("failback did not finish in 10 runs");
  out["runs"] = runs;
  out["hubJobs"] = hub_jobs;
  out["wallSeconds"] = wall;
  out["cpuSeconds"] = cpu;
  out["maxRssMiB"] = max_rss_mib;
  out["verified"] = final_report["verified"];
  out["planLinesByMode"] = final_report["planLinesByMode"];
  out["conflictsByRule"] = final_report["conflictsByRule"];
  out["retryRounds"] = final_report["retryRounds"];
  out["retriedLines"] = final_report["retriedLines"];
  out["rejectedLines"] = final_report["rejectedLines"];
  out["what"] =
      "RunFailback (DrillFailbackOptions) over directory hubs, timed runs only; the simulated "
      "primary runs the import jobs in untimed children";
  return out;
}

}  // namespace bench
