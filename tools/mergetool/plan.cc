// mergetool plan STORE --primary-export FILE -o DIR [--force] [--max-lines N] [--no-keys]
//                [--retry IMPORT_ERRORS_LOG [--previous-plan DIR]] [--rejects FILE]
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <regex>

#include "lib/failback/store_source.h"
#include "reconcile/clock.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/store.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/progress.h"
#include "tools/mergetool/rejects.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

namespace fs = std::filesystem;

struct PlanCommandOptions {
  std::string store;
  std::string primary_export;
  std::string out_dir;
  bool force = false;
  uint64_t max_lines = 0;
  bool no_keys = false;
  std::string retry_log;
  std::string previous_plan;
  std::string rejects;
  bool json = false;
};

// The import files of an earlier plan (<prefix>-NNNNN.txt), in the order they were applied.
std::vector<std::string> PlanFiles(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> files;
  const std::regex pattern(prefix + "-[0-9]+\\.txt");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (std::regex_match(entry.path().filename().string(), pattern)) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void PrintSummary(const reconcile::PlanSummary& s, bool json) {
  if (json) {
    nlohmann::json out = {{"counts", s.counts},
                          {"unchanged", s.unchanged},
                          {"reportedOnly", s.reported_only},
                          {"systemModulesSkipped", s.system_modules_skipped},
                          {"orphanModules", s.orphan_modules},
                          {"primaryOnly", s.primary_only},
                          {"needsFreshExport", s.needs_fresh_export},
                          {"notRetried", s.not_retried},
                          {"files", s.files},
                          {"manifest", s.manifest_path},
                          {"report", s.report_path}};
    std::cout << out.dump() << "\n";
    return;
  }
  for (const auto& [mode, n] : s.counts) std::cout << mode << "\t" << n << "\n";
  std::cout << "unchanged\t" << s.unchanged << "\n"
            << "reported only\t" << s.reported_only << "\n"
            << "system modules skipped\t" << s.system_modules_skipped << "\n"
            << "on the primary only\t" << s.primary_only << "\n";
  if (s.needs_fresh_export > 0) {
    std::cout << "needs a fresh primary export\t" << s.needs_fresh_export << "\n";
  }
  if (s.not_retried > 0) std::cout << "not retried\t" << s.not_retried << "\n";
  for (const std::string& f : s.files) std::cout << "file\t" << f << "\n";
  std::cout << "manifest\t" << s.manifest_path << "\n" << "report\t" << s.report_path << "\n";
}

Exit RunPlan(const PlanCommandOptions& o) {
  auto store = OpenExisting(o.store);
  if (!store.ok()) return Fail(store.status());
  auto primary = reconcile::LineReader::Open(o.primary_export);
  if (!primary.ok()) return Fail(primary.status().WithContext(o.primary_export));

  reconcile::PlanOptions options;
  options.out_dir = o.out_dir;
  options.force = o.force;
  options.no_keys = o.no_keys;
  options.max_lines_per_file = o.max_lines;
  options.created_at = reconcile::FormatIso8601(reconcile::HlcClock().Now());
  auto digest = (*store)->Digest();
  if (!digest.ok()) return Fail(digest.status().WithContext(o.store));
  options.input_digests.push_back({"merged-state", digest->root.ToHex()});
  auto export_sha = reconcile::FileSha256(o.primary_export);
  if (!export_sha.ok()) return Fail(export_sha.status());
  options.input_digests.push_back({"primary-export", *export_sha});

  std::error_code made;
  fs::create_directories(o.out_dir, made);
  if (made) return Fail(reconcile::Status::IoError(o.out_dir + ": " + made.message()));
  CommandRejects rejects(o.rejects.empty() ? o.out_dir + "/rejects.txt" : o.rejects);
  Progress progress("plan");
  const reconcile::MergedSourceFactory merged = reconcile::failback::StoreSourceFactory(**store);
  reconcile::Result<reconcile::PlanSummary> summary = reconcile::Status::Internal("no plan");
  if (o.retry_log.empty()) {
    summary = reconcile::BuildFailbackPlan(merged, **primary, options, &rejects);
  } else {
    auto log = reconcile::LineReader::Open(o.retry_log);
    if (!log.ok()) return Fail(log.status().WithContext(o.retry_log));
    auto errors = reconcile::ReadImportErrors(**log, &rejects);
    if (!errors.ok()) return Fail(errors.status().WithContext(o.retry_log));
    const std::string previous = o.previous_plan.empty()
                                     ? fs::path(o.retry_log).parent_path().string()
                                     : o.previous_plan;
    reconcile::RetryInputs inputs;
    inputs.previous_files = PlanFiles(previous.empty() ? "." : previous, options.file_prefix);
    if (inputs.previous_files.empty()) {
      PrintError("no import files (" + options.file_prefix + "-NNNNN.txt) in " + previous +
                 "; name the plan that was run with --previous-plan");
      return Exit::kUsage;
    }
    inputs.merged = &merged;
    inputs.fresh_primary = primary->get();
    summary = reconcile::BuildRetryPlan(inputs, *errors, options, &rejects);
  }
  if (!summary.ok()) return Fail(summary.status().WithContext("plan"));
  if (auto s = rejects.Close(); !s.ok()) return Fail(s);
  uint64_t lines = 0;
  for (const auto& [mode, n] : summary->counts) lines += n;
  progress.Add(lines);
  PrintSummary(*summary, o.json);
  progress.Finish("import lines in " + std::to_string(summary->files.size()) + " files, " +
                  std::to_string(rejects.count()) + " rejected primary lines");
  return rejects.count() > 0 ? Exit::kRejected : Exit::kOk;
}

}  // namespace

Run SetupPlan(CLI::App& sub) {
  auto o = std::make_shared<PlanCommandOptions>();
  sub.add_option("STORE", o->store, "the merged store")->required();
  sub.add_option("--primary-export", o->primary_export,
                 "the primary hub's current export (devices.txt); its eTags guard the plan")
      ->required();
  sub.add_option("-o,--output", o->out_dir, "directory for the import files, manifest and report")
      ->required();
  sub.add_flag("--force", o->force, "unconditional import modes (no ETag guards)");
  sub.add_option("--max-lines", o->max_lines, "most lines per import file (default: one file)");
  sub.add_flag("--no-keys", o->no_keys, "write no symmetric keys (the hub makes new ones)");
  sub.add_option("--retry", o->retry_log,
                 "the hub's importErrors.log of a plan that was run: plan the retry");
  sub.add_option("--previous-plan", o->previous_plan,
                 "with --retry: the directory of the plan that was run (default: the log's)");
  sub.add_option("--rejects", o->rejects, "rejected lines (default OUTPUT/rejects.txt)");
  sub.add_flag("--json", o->json, "print the summary as one JSON object");
  return [o] { return RunPlan(*o); };
}

}  // namespace mergetool
