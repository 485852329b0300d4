// mergetool failback --primary DIR --secondary DIR --work DIR [--resume] [--base FILE]
//                    [--fork-point ISO] [--force] [--no-keys] [--max-lines N] [--json] ...
// The orchestrated failback between two directory hubs (folders mirroring the hubs' blob
// containers; see docs/FAILBACK.md): ingest both exports (3-way against --base), notifications
// and twins, plan, hand the import job to the primary's folder, read its importErrors.log, retry,
// verify. Every step is checkpointed in the work folder: when the import job has not come back
// yet the command stops (exit 1, "waiting for the import job") and `--resume` continues.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "reconcile/failback.h"
#include "tools/mergetool/failback_commands.h"

namespace mergetool {
namespace {

struct FailbackCliOptions {
  std::string primary;
  std::string secondary;
  std::string work;
  std::string primary_name;
  std::string secondary_name;
  std::string primary_site = "primary";
  std::string secondary_site = "secondary";
  std::string base;
  std::string fork_point;
  std::string primary_observed_at;
  std::string secondary_observed_at;
  std::vector<std::string> notifications;
  std::vector<std::string> twins;
  std::vector<std::string> primary_twins;
  bool resume = false;
  bool force = false;
  bool no_keys = false;
  uint64_t max_lines = 0;
  int max_retries = 3;
  bool json = false;
};

// The hub's name: given, or the folder's name.
std::string HubName(const std::string& given, const std::string& dir) {
  if (!given.empty()) return given;
  std::string name = std::filesystem::path(dir).lexically_normal().filename().string();
  if (name.empty())
    name = std::filesystem::path(dir).lexically_normal().parent_path().filename().string();
  return name.empty() ? dir : name;
}

Exit RunFailbackCommand(const FailbackCliOptions& o) {
  for (const std::string* dir : {&o.primary, &o.secondary}) {
    if (!std::filesystem::is_directory(*dir)) {
      PrintError(*dir + ": not a directory (a hub folder holds export/devices.txt)");
      return Exit::kUsage;
    }
  }
  auto primary = reconcile::MakeDirectoryHub(o.primary, HubName(o.primary_name, o.primary));
  auto secondary = reconcile::MakeDirectoryHub(o.secondary, HubName(o.secondary_name, o.secondary));
  if (primary->name() == secondary->name()) {
    PrintError("both hubs are named '" + primary->name() +
               "'; name them with --primary-name and "
               "--secondary-name");
    return Exit::kUsage;
  }
  reconcile::FailbackOptions f;
  f.work_dir = o.work;
  f.primary = primary.get();
  f.secondary = secondary.get();
  f.primary_site = o.primary_site;
  f.secondary_site = o.secondary_site;
  f.base_export = o.base;
  f.force = o.force;
  f.no_keys = o.no_keys;
  f.max_lines_per_file = o.max_lines;
  f.max_retries = o.max_retries;
  f.resume = o.resume;
  f.notification_files = o.notifications;
  for (const std::string& file : o.primary_twins) f.twin_files.emplace_back(o.primary_site, file);
  for (const std::string& file : o.twins) f.twin_files.emplace_back(o.secondary_site, file);
  struct Time {
    const std::string* text;
    reconcile::Hlc* out;
    const char* flag;
  };
  for (const Time& t :
       {Time{&o.fork_point, &f.fork_point, "--fork-point"},
        Time{&o.primary_observed_at, &f.primary_observed_at, "--primary-observed-at"},
        Time{&o.secondary_observed_at, &f.secondary_observed_at, "--secondary-observed-at"}}) {
    if (t.text->empty()) continue;
    auto hlc = reconcile::ParseIso8601(*t.text);
    if (!hlc.ok()) {
      PrintError(std::string(t.flag) + ": " + hlc.status().message());
      return Exit::kUsage;
    }
    *t.out = *hlc;
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  f.on_step = [tty](const std::string& step, bool done) {
    if (tty) std::cerr << "failback: " << step << (done ? " done" : " ...") << "\n";
  };
  auto report = reconcile::RunFailback(f);
  if (!report.ok()) return Fail(report.status());
  std::cout << reconcile::FormatFailbackReport(*report, o.json);
  std::cout.flush();
  if (!report->verified) {
    PrintError("the primary does not match the merged state (" +
               std::to_string(report->differing_records) + " records differ); see the report");
    return Exit::kFailure;
  }
  if (report->rejected_lines > 0) return Exit::kRejected;
  return Exit::kOk;
}

}  // namespace

Run SetupFailback(CLI::App& sub) {
  auto o = std::make_shared<FailbackCliOptions>();
  sub.add_option("--primary", o->primary, "the primary hub's folder (export/, import/)")
      ->required();
  sub.add_option("--secondary", o->secondary, "the secondary hub's folder (export/)")->required();
  sub.add_option("--work", o->work, "work folder: store, plans, checkpoints")->required();
  sub.add_flag("--resume", o->resume,
               "continue the run in the work folder (after a crash, or once "
               "the import job's importErrors.log is back)");
  sub.add_option("--base", o->base, "the backup export the secondary was seeded from (3-way)");
  sub.add_option("--fork-point", o->fork_point, "when the sites were last in sync (ISO-8601)")
      ->check(Iso8601Time());
  sub.add_option("--primary-observed-at", o->primary_observed_at,
                 "stamp of the primary's export writes (ISO-8601; e.g. when it went down)")
      ->check(Iso8601Time());
  sub.add_option("--secondary-observed-at", o->secondary_observed_at,
                 "stamp of the secondary's export writes (ISO-8601)")
      ->check(Iso8601Time());
  sub.add_option("--primary-name", o->primary_name,
                 "the primary hub's name (default: folder name)");
  sub.add_option("--secondary-name", o->secondary_name,
                 "the secondary hub's name (default: folder name)");
  sub.add_option("--primary-site", o->primary_site, "site name of the primary (default primary)");
  sub.add_option("--secondary-site", o->secondary_site,
                 "site name of the secondary (default secondary)");
  sub.add_option("--notifications", o->notifications, "notification files (JSON Lines)");
  sub.add_option("--twins", o->twins, "twin read files of the secondary (JSON Lines)");
  sub.add_option("--primary-twins", o->primary_twins, "twin read files of the primary (JSON Lines)");
  sub.add_flag("--force", o->force, "unconditional import modes instead of ETag-guarded ones");
  sub.add_flag("--no-keys", o->no_keys, "never write symmetric keys (the hub makes them)");
  sub.add_option("--max-lines", o->max_lines, "at most N lines per import file (0: one file)");
  sub.add_option("--max-retries", o->max_retries,
                 "retry rounds after the first import (default 3)");
  sub.add_flag("--json", o->json, "print the report as one JSON object");
  return [o] { return RunFailbackCommand(*o); };
}

}  // namespace mergetool
