// The failback's plan leaves untouched records unread (DECISIONS P27): on drills, the plan the
// orchestrator makes is, line for line and note for note, the plan of the same store read whole.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/failback/drill.h"
#include "lib/failback/store_source.h"
#include "reconcile/failback.h"
#include "reconcile/iothub.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/store.h"
#include "tests/failback/drill_folders.h"
#include "tests/failback/test_util.h"

namespace reconcile {
namespace {

using failback_test::ReadAll;
using failback_test::TempDir;
using nlohmann::json;

// How many lines differ between two files, line by line (the lines themselves hold keys: they
// are not printed).
size_t DifferingLines(const std::string& a, const std::string& b) {
  const std::vector<std::string> x = failback_test::Lines(ReadAll(a));
  const std::vector<std::string> y = failback_test::Lines(ReadAll(b));
  size_t n = x.size() > y.size() ? x.size() - y.size() : y.size() - x.size();
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) n += x[i] != y[i] ? 1 : 0;
  return n;
}

// Runs a drill's failback over directory hubs up to its first import job (so the work store is
// as the plan read it), then plans the same store again with every record read; compares.
void ExpectTheSamePlanReadWhole(uint64_t devices, uint64_t seed, bool no_keys) {
  SCOPED_TRACE("devices " + std::to_string(devices) + " seed " + std::to_string(seed) +
               (no_keys ? " no_keys" : ""));
  TempDir dir;
  failback::DrillOptions d;
  d.devices = devices;
  d.seed = seed;
  d.work_dir = dir / "drill";
  d.prepare_only = true;
  ASSERT_TRUE(failback::RunDrill(d).ok());
  const std::string primary_dir = dir / "primary", secondary_dir = dir / "secondary";
  ASSERT_NO_FATAL_FAILURE(failback_test::ExportDrillHubs(d, primary_dir, secondary_dir));
  auto primary = MakeDirectoryHub(primary_dir, "primary");
  auto secondary = MakeDirectoryHub(secondary_dir, "secondary");
  FailbackOptions o = failback::DrillFailbackOptions(d.work_dir);
  o.primary = primary.get();
  o.secondary = secondary.get();
  o.no_keys = no_keys;
  auto waiting = RunFailback(o);
  ASSERT_FALSE(waiting.ok());
  ASSERT_NE(waiting.status().message().find("waiting for the import job"), std::string::npos)
      << waiting.status().ToString();

  const std::string skipped_dir = o.work_dir + "/plan";
  const json skipped = json::parse(ReadAll(skipped_dir + "/manifest.json"));
  // Most records were left unread, and the digest of the merged records is of their states.
  const uint64_t untouched = skipped["summary"]["untouched"].get<uint64_t>();
  EXPECT_GT(untouched, devices / 2);
  bool states = false;
  for (const json& input : skipped["inputs"]) states |= input["name"] == "merged-states";
  EXPECT_TRUE(states) << skipped["inputs"].dump();

  StoreOptions so;
  so.site_name = "failback";
  auto store = Store::Open(o.work_dir + "/store", so);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto primary_export = LineReader::Open(o.work_dir + "/exports/primary.txt");
  ASSERT_TRUE(primary_export.ok());
  PlanOptions po;
  po.out_dir = dir / "whole";
  po.no_keys = no_keys;
  po.created_at = skipped["createdAt"].get<std::string>();
  auto whole =
      BuildFailbackPlan(failback::StoreSourceFactory(**store), **primary_export, po, nullptr);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->untouched, 0u);
  const json read_whole = json::parse(ReadAll(whole->manifest_path));

  EXPECT_EQ(skipped["counts"], read_whole["counts"]);
  json summary = skipped["summary"];
  summary["untouched"] = 0;
  EXPECT_EQ(summary, read_whole["summary"]);
  ASSERT_EQ(skipped["files"].size(), read_whole["files"].size());
  for (size_t i = 0; i < skipped["files"].size(); ++i) {
    const std::string name = skipped["files"][i]["name"].get<std::string>();
    EXPECT_EQ(name, read_whole["files"][i]["name"].get<std::string>());
    EXPECT_EQ(DifferingLines(skipped_dir + "/" + name, po.out_dir + "/" + name), 0u) << name;
  }
  EXPECT_EQ(DifferingLines(skipped_dir + "/plan-report.jsonl", po.out_dir + "/plan-report.jsonl"),
            0u);
}

TEST(PlanUntouched, LeavesThePlanAsReadingEveryRecordMakesIt) {
  ExpectTheSamePlanReadWhole(400, 3, false);
  ExpectTheSamePlanReadWhole(400, 8, false);
  ExpectTheSamePlanReadWhole(300, 5, true);
}

}  // namespace
}  // namespace reconcile
