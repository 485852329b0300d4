#include "tests/crash/fleet.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "lib/failback/drill.h"
#include "reconcile/failback.h"
#include "reconcile/stamp.h"
#include "tests/crash/harness.h"

namespace crash_test {

namespace fs = std::filesystem;

Fleet PrepareFleet(const std::string& dir, uint64_t devices, uint64_t seed) {
  Fleet f;
  f.seed = seed;
  f.devices = devices;
  f.drill = (fs::path(dir) / "drill").string();
  reconcile::failback::DrillOptions d;
  d.devices = devices;
  d.seed = seed;
  d.work_dir = f.drill;
  d.prepare_only = true;
  auto drill = reconcile::failback::RunDrill(d);
  EXPECT_TRUE(drill.ok()) << drill.status().ToString();

  const reconcile::FailbackOptions fo = reconcile::failback::DrillFailbackOptions(f.drill);
  f.base = fo.base_export;
  f.events = fo.notification_files.at(0);
  f.primary_site = fo.primary_site;
  f.secondary_site = fo.secondary_site;
  for (const auto& [site, file] : fo.meta_files) {
    (site == fo.primary_site ? f.meta_primary : f.meta_secondary) = file;
  }
  f.fork_point = reconcile::FormatIso8601(fo.fork_point);
  f.primary_observed_at = reconcile::FormatIso8601(fo.primary_observed_at);
  f.secondary_observed_at = reconcile::FormatIso8601(fo.secondary_observed_at);

  f.primary_export = (fs::path(dir) / "primary.txt").string();
  f.secondary_export = (fs::path(dir) / "secondary.txt").string();
  for (bool primary : {true, false}) {
    reconcile::SimulatedHubOptions options =
        reconcile::failback::DrillHubOptions(f.drill, seed, primary);
    (primary ? f.primary_hub : f.secondary_hub) = options.name;
    auto hub =
        reconcile::SimulatedHub::Open(reconcile::failback::DrillHubDir(f.drill, primary), options);
    EXPECT_TRUE(hub.ok()) << hub.status().ToString();
    if (!hub.ok()) return f;
    auto exported = (*hub)->Export(primary ? f.primary_export : f.secondary_export);
    EXPECT_TRUE(exported.ok()) << exported.ToString();
  }

  // Twin reads: the secondary's devices as twin documents.
  const std::string twin_store = (fs::path(dir) / "twin-source").string();
  f.twins = (fs::path(dir) / "twins.jsonl").string();
  MustRun({"init", twin_store, "--site", f.secondary_site});
  MustRun({"ingest", twin_store, "--format", "export", "--observed-at", f.secondary_observed_at,
           f.secondary_export});
  MustRun({"export", twin_store, "--format", "twin", "-o", f.twins});
  RemoveTree(twin_store);
  return f;
}

std::vector<Command> SecondaryPipeline(const Fleet& f) {
  return {
      {"init",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"init", s, "--site", f.secondary_site, "--fork-point", f.fork_point};
       }},
      {"ingest-export",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"ingest",     s,         "--format", "export", "--site", "backup", "--observed-at",
                 f.fork_point, "--batch", "100",      f.base};
       }},
      {"ingest-export-3way",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"ingest",  s,      "--format",        "export",
                 "--base",  f.base, "--observed-at",   f.secondary_observed_at,
                 "--batch", "100",  f.secondary_export};
       }},
      {"ingest-events",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"ingest",     s,
                 "--format",   "events",
                 "--hub-site", f.primary_hub + "=" + f.primary_site,
                 "--hub-site", f.secondary_hub + "=" + f.secondary_site,
                 "--batch",    "50",
                 f.events,     f.events,
                 f.events};
       }},
      {"ingest-twin",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"ingest",  s,     "--format", "twin", "--observed-at", f.secondary_observed_at,
                 "--batch", "100", f.twins};
       }},
      {"ingest-meta",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"ingest", s, "--format", "meta", "--site", f.secondary_site, f.meta_secondary};
       }},
  };
}

std::vector<Command> PrimaryPipeline(const Fleet& f) {
  return {
      {"init",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"init", s, "--site", f.primary_site, "--fork-point", f.fork_point};
       }},
      {"ingest-export",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"ingest",     s,     "--format", "export", "--site", "backup", "--observed-at",
                 f.fork_point, f.base};
       }},
      {"ingest-export-3way",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"ingest",        s,      "--format",      "export",
                 "--base",        f.base, "--observed-at", f.primary_observed_at,
                 f.primary_export};
       }},
      {"ingest-meta",
       [f](const std::string& s) -> std::vector<std::string> {
         return {"ingest", s, "--format", "meta", "--site", f.primary_site, f.meta_primary};
       }},
  };
}

void RunPipeline(const std::vector<Command>& pipeline, const std::string& store) {
  for (const Command& c : pipeline) MustRun(c.args(store));
}

}  // namespace crash_test
