// A prepared drill's simulated hubs exported into folders, for a failback over directory hubs.
#ifndef RECONCILE_TESTS_FAILBACK_DRILL_FOLDERS_H_
#define RECONCILE_TESTS_FAILBACK_DRILL_FOLDERS_H_

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "lib/failback/drill.h"
#include "reconcile/failback.h"

namespace reconcile::failback_test {

// Writes each hub's export to <folder>/export/devices.txt, where a directory hub looks for it.
inline void ExportDrillHubs(const failback::DrillOptions& d, const std::string& primary_dir,
                            const std::string& secondary_dir) {
  auto p = SimulatedHub::Open(failback::DrillHubDir(d.work_dir, true),
                              failback::DrillHubOptions(d.work_dir, d.seed, true));
  auto s = SimulatedHub::Open(failback::DrillHubDir(d.work_dir, false),
                              failback::DrillHubOptions(d.work_dir, d.seed, false));
  ASSERT_TRUE(p.ok() && s.ok());
  std::filesystem::create_directories(std::filesystem::path(primary_dir) / "export");
  std::filesystem::create_directories(std::filesystem::path(secondary_dir) / "export");
  ASSERT_TRUE((*p)->Export(primary_dir + "/export/devices.txt").ok());
  ASSERT_TRUE((*s)->Export(secondary_dir + "/export/devices.txt").ok());
}

}  // namespace reconcile::failback_test

#endif  // RECONCILE_TESTS_FAILBACK_DRILL_FOLDERS_H_
