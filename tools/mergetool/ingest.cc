// mergetool ingest STORE --format export|twin|events|meta [--site NAME] [--base FILE]
//                  [--observed-at ISO8601] [--rejects FILE] [--hub-site HUB=SITE]...
//                  [--max-offset DURATION] [--quarantine FILE] FILE...
#include <cctype>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "reconcile/clock.h"
#include "reconcile/iothub.h"
#include "reconcile/line_reader.h"
#include "reconcile/store.h"
#include "reconcile/store_writer.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/progress.h"
#include "tools/mergetool/rejects.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

struct IngestOptions {
  std::string store;
  std::string format;
  std::string site;
  std::string base;
  std::string scratch;
  std::string observed_at;
  std::string rejects;
  std::vector<std::string> hub_sites;
  std::vector<std::string> files;
  size_t batch = 1000;
  std::string max_offset = "5m";
  std::string quarantine;
};

// "5m", "90s", "1h30m", "250ms", "0" -> milliseconds; nullopt when it does not parse.
std::optional<uint64_t> ParseDuration(const std::string& text) {
  if (text == "0") return 0;
  uint64_t total = 0;
  size_t i = 0;
  if (text.empty()) return std::nullopt;
  while (i < text.size()) {
    size_t digits = i;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
      ++digits;
    }
    if (digits == i || digits - i > 12) return std::nullopt;
    const uint64_t n = std::stoull(text.substr(i, digits - i));
    size_t unit_end = digits;
    while (unit_end < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_end]))) {
      ++unit_end;
    }
    const std::string unit = text.substr(digits, unit_end - digits);
    uint64_t scale = 0;
    if (unit == "ms") scale = 1;
    if (unit == "s") scale = 1000;
    if (unit == "m") scale = 60'000;
    if (unit == "h") scale = 3'600'000;
    if (unit == "d") scale = 86'400'000;
    if (scale == 0) return std::nullopt;
    total += n * scale;
    i = unit_end;
  }
  return total;
}

// Next to the rejects file: its name with "rejects" turned into "quarantine"
// (STORE.rejects.txt -> STORE.quarantine.txt), else the rejects file's name + ".quarantine.txt".
std::string DefaultQuarantinePath(const std::string& rejects) {
  const size_t slash = rejects.find_last_of('/');
  const size_t at = rejects.rfind("rejects");
  if (at != std::string::npos && (slash == std::string::npos || at > slash)) {
    return rejects.substr(0, at) + "quarantine" + rejects.substr(at + 7);
  }
  return rejects + ".quarantine.txt";
}

// Collects deltas and writes them to the store in bulk runs of 64 MiB, each committed (as table
// files, or through the log when small) while the reader goes on (reconcile::StoreWriter). A batch
// also records the names of the sites it writes for,
// so reports can name them.
class BatchWriter {
 public:
  BatchWriter(reconcile::Store& store, size_t batch, Progress& progress)
      : writer_(store, batch, reconcile::StoreWriter::kBulkRunBytes), progress_(progress) {}

  reconcile::Status Add(const reconcile::Key& key, reconcile::RecordState delta) {
    reconcile::Status s = writer_.Add(key, std::move(delta));
    Report();
    return s;
  }

  void NameSite(const std::string& name) {
    const reconcile::SiteId id = reconcile::SiteId::FromName(name);
    if (named_.insert(id).second) writer_.AddMeta({SiteNameMetaKey(id), name});
  }

  // Writes what is held and waits for every batch.
  reconcile::Status Flush() {
    reconcile::Status s = writer_.Flush();
    Report();
    return s;
  }

  uint64_t below_horizon() const { return writer_.below_horizon(); }

 private:
  void Report() {
    if (writer_.written() > reported_) progress_.Add(writer_.written() - reported_);
    reported_ = writer_.written();
  }

  reconcile::StoreWriter writer_;
  Progress& progress_;
  std::set<reconcile::SiteId> named_;
  uint64_t reported_ = 0;
};

reconcile::Result<std::unique_ptr<reconcile::LineReader>> OpenInput(const std::string& file) {
  if (file == "-") return reconcile::LineReader::Open("/dev/stdin");
  return reconcile::LineReader::Open(file);
}

Exit RunIngest(const IngestOptions& o) {
  auto opened = OpenExisting(o.store);
  if (!opened.ok()) return Fail(opened.status());
  reconcile::Store& store = **opened;
  const std::string site = o.site.empty() ? store.site_name() : o.site;
  if (auto s = reconcile::ValidateSiteName(site); !s.ok()) return Fail(s.WithContext("--site"));
  reconcile::Hlc observed_at = 0;
  if (!o.observed_at.empty()) {
    auto hlc = reconcile::ParseIso8601(o.observed_at);
    if (!hlc.ok()) return Fail(hlc.status().WithContext("--observed-at"));
    observed_at = *hlc;
  } else {
    observed_at = reconcile::HlcClock().Now();
  }
  if (!o.base.empty() && o.format != "export") {
    PrintError("--base goes with --format export");
    return Exit::kUsage;
  }
  std::map<std::string, std::string> hub_sites;
  for (const std::string& pair : o.hub_sites) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size()) {
      PrintError("--hub-site takes HUB=SITE, got '" + pair + "'");
      return Exit::kUsage;
    }
    hub_sites[pair.substr(0, eq)] = pair.substr(eq + 1);
  }

  const std::optional<uint64_t> max_offset_ms = ParseDuration(o.max_offset);
  if (!max_offset_ms) {
    PrintError("--max-offset takes a duration such as 5m, 90s, 1h or 0, got '" + o.max_offset +
               "'");
    return Exit::kUsage;
  }

  CommandRejects rejects(o.rejects.empty() ? o.store + ".rejects.txt" : o.rejects);
  CommandRejects quarantine(
      o.quarantine.empty() ? DefaultQuarantinePath(rejects.path()) : o.quarantine, "quarantined");
  // The rejects and quarantine files are rewritten on their first line: one that is also an
  // input (a rejects file fed back) would be cut while it is read.
  for (const std::string& file : o.files) {
    for (const std::string* out : {&rejects.path(), &quarantine.path()}) {
      std::error_code ec;
      if (std::filesystem::equivalent(file, *out, ec)) {
        PrintError(file + " is also where this run writes its " +
                   (out == &rejects.path() ? "rejects (--rejects)" : "quarantine (--quarantine)") +
                   ": name another file");
        return Exit::kUsage;
      }
    }
  }
  reconcile::ClockGuard guard;
  guard.max_offset_ms = *max_offset_ms;
  guard.ingesting_site = store.site_name();
  guard.quarantine = &quarantine;
  Progress progress("ingest");
  BatchWriter writer(store, o.batch, progress);
  writer.NameSite(site);
  for (const auto& [hub, name] : hub_sites) writer.NameSite(name);
  reconcile::DeltaSink sink = [&](const reconcile::Key& key, reconcile::RecordState delta) {
    return writer.Add(key, std::move(delta));
  };
  uint64_t lines = 0;
  for (const std::string& file : o.files) {
    auto input = OpenInput(file);
    if (!input.ok()) return Fail(input.status().WithContext(file));
    reconcile::Result<reconcile::ReadStats> stats = reconcile::Status::Internal("no reader");
    if (o.format == "export") {
      reconcile::ExportReadOptions options;
      options.site = site;
      options.observed_at = observed_at;
      options.clock_guard = guard;
      if (o.base.empty()) {
        stats = reconcile::ReadExport(**input, options, &rejects, sink);
      } else {
        auto base = reconcile::LineReader::Open(o.base);
        if (!base.ok()) return Fail(base.status().WithContext(o.base));
        // The base's index outgrows memory on a large fleet: its files go beside the store,
        // whose disk has room for the fleet.
        std::error_code ec;
        const std::filesystem::path store_dir = std::filesystem::absolute(o.store, ec);
        options.scratch_dir = !o.scratch.empty() ? o.scratch
                              : ec               ? std::string(".")
                                                 : store_dir.parent_path().string();
        stats = reconcile::ReadExportWithBase(**input, **base, options, &rejects, sink);
      }
    } else if (o.format == "twin") {
      reconcile::TwinReadOptions options;
      options.site = site;
      options.observed_at = observed_at;
      options.clock_guard = guard;
      stats = reconcile::ReadTwins(**input, options, &rejects, sink);
    } else if (o.format == "events") {
      reconcile::NotificationReadOptions options;
      options.hub_sites = hub_sites;
      options.site_override = o.site;
      options.clock_guard = guard;
      stats = reconcile::ReadNotifications(**input, options, &rejects, sink);
    } else {
      reconcile::MetaReadOptions options;
      options.site = site;
      options.clock_guard = guard;
      stats = reconcile::ReadMeta(**input, options, &rejects, sink);
    }
    if (!stats.ok()) {
      // What was applied before the failure stays: every batch is atomic and joins are
      // idempotent, so running the same ingest again is safe.
      (void)rejects.Close();
      (void)quarantine.Close();
      return Fail(stats.status().WithContext(file));
    }
    lines += stats->lines.lines;
    if (stats->lines.returned == 0 && stats->lines.rejected == 0) {
      PrintWarning(file + ": no records (an empty file)");
    }
    if (stats->deletes_held > 0) {
      const std::string held =
          std::to_string(stats->deletes_held) + " records of the base are missing from " + file;
      if (stats->lines.returned == 0 && stats->lines.rejected == 0) {
        // Nothing readable at all: an empty or wrong snapshot, not a fleet deleted.
        (void)rejects.Close();
        (void)quarantine.Close();
        if (auto s = writer.Flush(); !s.ok()) return Fail(s.WithContext(o.store));
        PrintError(held + ", which holds no record: nothing was deleted");
        return Exit::kFailure;
      }
      PrintWarning(held +
                   "; their deletes were held back because a rejected line may be one of "
                   "them: fix the rejected lines and ingest the file again");
    }
  }
  if (auto s = writer.Flush(); !s.ok()) return Fail(s.WithContext(o.store));
  if (auto s = rejects.Close(); !s.ok()) return Fail(s.WithContext(rejects.path()));
  if (auto s = quarantine.Close(); !s.ok()) return Fail(s.WithContext(quarantine.path()));
  if (writer.below_horizon() > 0) {
    PrintWarning(std::to_string(writer.below_horizon()) +
                 " records were older than the store's GC horizon and were not applied");
  }
  progress.Finish(std::to_string(lines) + " lines, " + std::to_string(rejects.count()) +
                  " rejected, " + std::to_string(quarantine.count()) + " quarantined");
  return rejects.count() + quarantine.count() > 0 ? Exit::kRejected : Exit::kOk;
}

}  // namespace

Run SetupIngest(CLI::App& sub) {
  auto o = std::make_shared<IngestOptions>();
  sub.add_option("STORE", o->store, "store directory")->required();
  sub.add_option("--format", o->format, "input format")
      ->required()
      ->check(CLI::IsMember({"export", "twin", "events", "meta"}));
  sub.add_option("--site", o->site,
                 "the site that wrote the input (default: the store's own site; for events it "
                 "overrides the hubName mapping)");
  sub.add_option("--base", o->base,
                 "export: the backup this site was seeded from; only changes become writes");
  sub.add_option("--scratch", o->scratch,
                 "export with --base: where the base's index is sorted when it outgrows 48 MiB "
                 "of memory (files removed when done; default: the folder holding STORE)");
  sub.add_option("--observed-at", o->observed_at,
                 "export/twin: when the input was taken (ISO-8601; default now)")
      ->check(Iso8601Time());
  sub.add_option("--rejects", o->rejects, "rejected lines go here (default STORE.rejects.txt)");
  sub.add_option("--hub-site", o->hub_sites, "events: map a hubName to a site (HUB=SITE)");
  sub.add_option("--batch", o->batch,
                 "records handed to the writing thread at a time (default 1000); they are "
                 "committed in atomic runs of up to 64 MiB, as table files when large")
      ->check(CLI::Range(1, 1000000));
  sub.add_option("--max-offset", o->max_offset,
                 "clock guard: a line stamped more than this ahead of this site's clock is "
                 "quarantined, not applied (e.g. 90s, 5m, 1h; 0 turns the guard off; default 5m)");
  sub.add_option("--quarantine", o->quarantine,
                 "quarantined lines go here (default beside the rejects file: "
                 "STORE.quarantine.txt)");
  sub.add_option("FILE", o->files, "input files ('-' reads stdin)")->required();
  return [o] { return RunIngest(*o); };
}

}  // namespace mergetool
