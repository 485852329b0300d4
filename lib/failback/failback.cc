// The failback orchestrator: checkpointed steps from the hubs' exports to a verified primary.
//
// Work folder layout:
//   store/                      the work store (RocksDB), owned by site "failback"
//   exports/primary.txt         the primary's export the plan is built against
//   exports/secondary.txt       the secondary's export
//   rejects/<step>.txt          rejected input lines of each ingest (keys redacted)
//   conflicts.jsonl             one line per conflict: key, path, rule, winner and loser sites
//   plan/                       the first plan (import files, manifest.json, plan-report.jsonl)
//   apply/importErrors.log      the first import job's errors
//   retry-<r>/primary.txt       the fresh export of retry round r
//   retry-<r>/plan/             its retry plan;  retry-<r>/importErrors.log  its errors
//   verify/primary.txt          the primary's export after the last job (and, when it differs
//                               from the merged state: verify/before.txt, verify/changed.txt)
//
// Checkpoints (meta of the work store; values are canonical JSON):
//   failback/run                  the run's parameters, fixed when it starts (observed-at times,
//                                 fork point, hub names, run id), so a resumed run stamps the same
//   failback/step/<step>          the step is done; its report values
//   failback/retry/<r>/at         the observed-at time of round r's fresh export
//   failback/retry/<r>/ingested   round r's fresh export is in the store
//   failback/retry/<r>            round r is done (its files, errors log and counts)
//   failback/verify/at            the observed-at time of the verify export's catch-up read
//   failback/verify/ingested      the catch-up read is in the store (records read)
// A step's checkpoint is written after all of the step's deltas are (batches are written in
// order, each atomic), so a crash leaves either the step done with all of its data, or the step
// to run again: every step
// is idempotent (joins are, plans are pure functions of their inputs, and an import job is keyed
// by a job id derived from the run id, which the hub adapters use to never run a job twice).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <unordered_set>

#include "lib/core/conflict_hint.h"
#include "lib/core/hash.h"
#include "lib/core/run_beside.h"
#include "lib/failback/changed_lines.h"
#include "lib/failback/files.h"
#include "lib/failback/projection.h"
#include "lib/failback/store_source.h"
#include "lib/iothub/device_doc.h"
#include "reconcile/conflict.h"
#include "reconcile/failback.h"
#include "reconcile/iothub.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/operations.h"
#include "reconcile/store.h"
#include "reconcile/store_writer.h"

namespace reconcile {

using nlohmann::json;

namespace {

namespace fs = std::filesystem;

constexpr char kRunMeta[] = "failback/run";
constexpr char kWorkSite[] = "failback";
constexpr size_t kBatchDeltas = 2048;
constexpr int64_t kNotFoundCode = 404001;
constexpr int64_t kPreconditionFailedCode = 412001;

const char* const kSteps[] = {
    "ingest-primary", "ingest-secondary", "ingest-events", "plan", "apply", "retry", "verify"};

std::string StepMeta(const std::string& step) { return "failback/step/" + step; }
std::string RoundMeta(int round, const std::string& what) {
  return "failback/retry/" + std::to_string(round) + (what.empty() ? "" : "/" + what);
}

Hlc SystemNow() {
  return MakeHlc(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()),
                 0);
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The site-name meta entry mergetool uses to name sites in its reports.
MetaPut SiteNamePut(const std::string& name) {
  return MetaPut{"site-name/" + SiteId::FromName(name).ToString(), name};
}

// Whether two files hold the same bytes: their sizes, then their bytes up to the first
// difference (a fresh export that changed differs in size or early on, mostly; reading both
// whole costs less than hashing them).
Result<bool> SameBytes(const std::string& a, const std::string& b) {
  std::error_code ec;
  const uintmax_t size_a = fs::file_size(a, ec);
  if (ec) return Status::IoError("cannot open '" + a + "': " + ec.message());
  const uintmax_t size_b = fs::file_size(b, ec);
  if (ec) return Status::IoError("cannot open '" + b + "': " + ec.message());
  if (size_a != size_b) return false;
  std::ifstream in_a(a, std::ios::binary);
  std::ifstream in_b(b, std::ios::binary);
  if (!in_a) return Status::IoError("cannot open '" + a + "'");
  if (!in_b) return Status::IoError("cannot open '" + b + "'");
  std::string buf_a(1 << 20, '\0');
  std::string buf_b(1 << 20, '\0');
  while (true) {
    in_a.read(buf_a.data(), static_cast<std::streamsize>(buf_a.size()));
    in_b.read(buf_b.data(), static_cast<std::streamsize>(buf_b.size()));
    const std::streamsize got = in_a.gcount();
    if (got != in_b.gcount()) return false;
    if (got == 0) break;
    if (std::memcmp(buf_a.data(), buf_b.data(), static_cast<size_t>(got)) != 0) return false;
  }
  if (in_a.bad()) return Status::IoError("cannot read '" + a + "'");
  if (in_b.bad()) return Status::IoError("cannot read '" + b + "'");
  return true;
}

// Deltas from a reader, written in bulk runs on a thread of their own while the reader goes on
// (StoreWriter). Finish writes the rest and waits, so the counts are whole when the step's
// checkpoint is written after them.
class Ingest {
 public:
  explicit Ingest(Store& store) : writer_(store, kBatchDeltas, StoreWriter::kBulkRunBytes) {}

  DeltaSink Sink() {
    return [this](const Key& key, RecordState delta) -> Status {
      ++deltas_;
      return writer_.Add(key, std::move(delta));
    };
  }

  Status Finish() { return writer_.Flush(); }
  // Writes the rest with `meta` in the last batch, and waits.
  Status Flush(std::vector<MetaPut> meta) { return writer_.Flush(std::move(meta)); }

  uint64_t deltas() const { return deltas_; }
  uint64_t below_horizon() const { return writer_.below_horizon(); }

 private:
  StoreWriter writer_;
  uint64_t deltas_ = 0;
};

struct RunInfo {
  std::string run_id;
  std::string primary_hub;
  std::string secondary_hub;
  Hlc started = 0;
  Hlc primary_observed_at = 0;
  Hlc secondary_observed_at = 0;
  Hlc base_observed_at = 0;
  Hlc fork_point = 0;

  json ToJson() const {
    return {{"runId", run_id},
            {"primaryHub", primary_hub},
            {"secondaryHub", secondary_hub},
            {"started", started},
            {"primaryObservedAt", primary_observed_at},
            {"secondaryObservedAt", secondary_observed_at},
            {"baseObservedAt", base_observed_at},
            {"forkPoint", fork_point}};
  }
  static Result<RunInfo> FromJson(const std::string& text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Status::Corruption("failback/run is not JSON");
    RunInfo r;
    try {
      r.run_id = j.at("runId").get<std::string>();
      r.primary_hub = j.at("primaryHub").get<std::string>();
      r.secondary_hub = j.at("secondaryHub").get<std::string>();
      r.started = j.at("started").get<Hlc>();
      r.primary_observed_at = j.at("primaryObservedAt").get<Hlc>();
      r.secondary_observed_at = j.at("secondaryObservedAt").get<Hlc>();
      r.base_observed_at = j.at("baseObservedAt").get<Hlc>();
      r.fork_point = j.at("forkPoint").get<Hlc>();
    } catch (const json::exception& e) {
      return Status::Corruption(std::string("failback/run: ") + e.what());
    }
    return r;
  }
};

class Orchestrator {
 public:
  explicit Orchestrator(const FailbackOptions& options) : o_(options) {}

  Result<FailbackReport> Run();

 private:
  std::string WorkPath(const std::string& rel) const {
    return (fs::path(o_.work_dir) / rel).string();
  }
  Hlc Now() {
    Hlc now = o_.now ? o_.now() : SystemNow();
    last_now_ = std::max(now, last_now_ + 1);
    return last_now_;
  }

  Status Start();
  // Runs `body` unless the step is checkpointed; `body` returns the checkpoint value and must
  // write it itself (Checkpoint) in the batch of its last data.
  Status RunStep(const std::string& name, const std::function<Status(StepReport&)>& body);
  void Absorb(const std::string& step, const json& value);
  Status Checkpoint(const std::string& name, json value, std::vector<MetaPut> extra = {});
  Result<std::optional<std::string>> Meta(const std::string& name) const;

  Result<std::unique_ptr<FileRejectSink>> Rejects(const std::string& step) {
    RECONCILE_RETURN_IF_ERROR(failback::MakeDirs(WorkPath("rejects")));
    return FileRejectSink::Open(WorkPath("rejects/" + step + ".txt"));
  }

  // `after` read 3-way against `before` through their changed lines (ChangedLines, written to
  // `dir`/before.txt and `dir`/changed.txt: DECISIONS P23, P24): only records whose lines differ
  // are parsed; rejects name the inputs' files and lines; lines of `after` equal to one of
  // `before` are counted unchanged. For an export read against the one it came from.
  Result<ReadStats> ReadChanged(const std::string& before, const std::string& after,
                                const std::string& dir, const ExportReadOptions& ro,
                                RejectSink* rejects, const DeltaSink& sink);

  // For the plan: the keys whose lines differ between the backup's export and the primary's, as
  // the primary's ingest found them (exports/primary-vs-base), so the plan can leave the other
  // records unread (DECISIONS P27). Null without a backup (every record is then read).
  Result<std::shared_ptr<const failback::UntouchedRecords>> UntouchedRecords() const;

  Status IngestPrimary(StepReport& step);
  Status IngestSecondary(StepReport& step);
  Status IngestEvents(StepReport& step);
  Status Plan(StepReport& step);
  Status Apply(StepReport& step);
  Status Retry(StepReport& step);
  Status Verify(StepReport& step);

  Status ExportOnce(HubAdapter* hub, const std::string& path) {
    if (failback::Exists(path)) return Status::Ok();  // taken before a crash: the same snapshot
    RECONCILE_RETURN_IF_ERROR(failback::MakeDirs(fs::path(path).parent_path().string()));
    return hub->Export(path).WithContext("exporting hub '" + hub->name() + "'");
  }
  // A fresh export after a job that changed the hub must differ from the export before it; when
  // it does not, the operator has not put the new export in place yet.
  Status CheckFresh(const std::string& fresh, const std::string& before, bool job_changed) {
    if (!job_changed) return Status::Ok();
    Result<bool> same = SameBytes(fresh, before);
    if (!same.ok()) return same.status();
    if (!*same) return Status::Ok();
    std::error_code ec;
    fs::remove(fresh, ec);
    return Status::Conflict("waiting for a fresh export of hub '" + o_.primary->name() +
                            "' (its export is unchanged since the import job ran); put it in "
                            "place and rerun with resume");
  }
  Status Waiting(const std::string& job, HubAdapter* hub) {
    return Status::Conflict("waiting for the import job '" + job + "' on hub '" + hub->name() +
                            "': when the hub has run it, put its importErrors.log back and rerun "
                            "with resume");
  }

  const FailbackOptions& o_;
  std::unique_ptr<Store> store_;
  RunInfo run_;
  FailbackReport report_;
  Hlc last_now_ = 0;
  // Carried from step to step (restored from checkpoints on resume).
  std::vector<std::string> plan_files_;
  uint64_t plan_lines_ = 0;
  std::string last_errors_;
  std::string last_export_;
  bool last_job_changed_ = false;
  uint64_t events_ = 0;
  uint64_t duplicate_events_ = 0;
};

Result<std::optional<std::string>> Orchestrator::Meta(const std::string& name) const {
  Result<std::string> v = store_->GetMeta(name);
  if (v.ok()) return std::optional<std::string>(std::move(*v));
  if (v.status().IsNotFound()) return std::optional<std::string>();
  return v.status();
}

Status Orchestrator::Checkpoint(const std::string& name, json value, std::vector<MetaPut> extra) {
  extra.push_back(MetaPut{name, CanonicalJson(value)});
  Result<ApplyResult> r = store_->Apply({}, extra);
  return r.status();
}

Status Orchestrator::Start() {
  if (o_.work_dir.empty()) return Status::InvalidInput("failback: work_dir is required");
  if (o_.primary == nullptr || o_.secondary == nullptr) {
    return Status::InvalidInput("failback: both hubs are required");
  }
  for (const std::string* site : {&o_.primary_site, &o_.secondary_site}) {
    RECONCILE_RETURN_IF_ERROR(ValidateSiteName(*site).WithContext("failback: site"));
  }
  if (o_.primary_site == o_.secondary_site) {
    return Status::InvalidInput("failback: the primary and secondary sites must differ");
  }
  if (!o_.base_export.empty()) {
    RECONCILE_RETURN_IF_ERROR(ValidateSiteName(o_.base_site).WithContext("failback: base site"));
    if (!failback::Exists(o_.base_export)) {
      return Status::NotFound("failback: no base export '" + o_.base_export + "'");
    }
  }
  RECONCILE_RETURN_IF_ERROR(failback::MakeDirs(o_.work_dir));
  StoreOptions so;
  so.site_name = kWorkSite;
  Result<std::unique_ptr<Store>> store = Store::Open(WorkPath("store"), so);
  if (!store.ok()) return store.status().WithContext("failback: work store");
  store_ = std::move(*store);
  report_.work_dir = o_.work_dir;

  Result<std::optional<std::string>> stored = Meta(kRunMeta);
  if (!stored.ok()) return stored.status();
  if (*stored) {
    Result<RunInfo> run = RunInfo::FromJson(**stored);
    if (!run.ok()) return run.status();
    run_ = *run;
    if (!o_.resume) {
      return Status::Conflict("the work folder '" + o_.work_dir + "' holds a failback run (" +
                              run_.run_id + ", started " + FormatIso8601(run_.started) +
                              "); rerun with resume to continue it, or use a new work folder");
    }
    if (run_.primary_hub != o_.primary->name() || run_.secondary_hub != o_.secondary->name()) {
      return Status::Conflict("the work folder's run is between hubs '" + run_.primary_hub +
                              "' and '" + run_.secondary_hub + "', not '" + o_.primary->name() +
                              "' and '" + o_.secondary->name() + "'");
    }
    last_now_ = run_.started;
    return Status::Ok();
  }
  run_.started = Now();
  run_.primary_hub = o_.primary->name();
  run_.secondary_hub = o_.secondary->name();
  run_.primary_observed_at = o_.primary_observed_at != 0 ? o_.primary_observed_at : run_.started;
  run_.secondary_observed_at =
      o_.secondary_observed_at != 0 ? o_.secondary_observed_at : run_.started;
  run_.fork_point = o_.fork_point;
  run_.base_observed_at = o_.base_observed_at != 0 ? o_.base_observed_at
                          : o_.fork_point != 0     ? o_.fork_point
                                                   : run_.primary_observed_at - MakeHlc(1, 0);
  run_.run_id = "fb" + std::to_string(run_.started);
  if (run_.fork_point != 0) RECONCILE_RETURN_IF_ERROR(store_->SetForkPoint(run_.fork_point));
  std::vector<MetaPut> meta = {MetaPut{kRunMeta, CanonicalJson(run_.ToJson())},
                               SiteNamePut(o_.primary_site), SiteNamePut(o_.secondary_site),
                               SiteNamePut(kWorkSite)};
  if (!o_.base_export.empty()) meta.push_back(SiteNamePut(o_.base_site));
  for (const auto& [site, file] : o_.meta_files) {
    RECONCILE_RETURN_IF_ERROR(ValidateSiteName(site).WithContext("failback: meta file site"));
    meta.push_back(SiteNamePut(site));
  }
  Result<ApplyResult> r = store_->Apply({}, meta);
  return r.status();
}

void Orchestrator::Absorb(const std::string& step, const json& v) {
  report_.rejected_lines += v.value("rejected", uint64_t{0});
  if (step == "ingest-events") {
    events_ = v.value("events", uint64_t{0});
    duplicate_events_ = v.value("duplicates", uint64_t{0});
  } else if (step == "plan") {
    report_.conflicts_by_rule = v.value("conflicts", std::map<std::string, uint64_t>{});
    report_.plan_lines_by_mode = v.value("counts", std::map<std::string, uint64_t>{});
    plan_files_ = v.value("files", std::vector<std::string>{});
    plan_lines_ = v.value("lines", uint64_t{0});
    last_export_ = WorkPath("exports/primary.txt");
  } else if (step == "apply") {
    last_errors_ = v.value("errors", std::string());
    last_job_changed_ = v.value("lines", uint64_t{0}) > v.value("failed", uint64_t{0});
  } else if (step == "retry") {
    report_.retry_rounds = v.value("rounds", 0);
    report_.retried_lines = v.value("retried", uint64_t{0});
    last_export_ = v.value("export", last_export_);
    last_job_changed_ = v.value("changed", last_job_changed_);
    for (const json& n : v.value("notes", json::array()))
      report_.notes.push_back(n.get<std::string>());
  } else if (step == "verify") {
    report_.merged_digest = v.value("merged", std::string());
    report_.primary_digest = v.value("primary", std::string());
    report_.verified = v.value("verified", false);
    report_.differing_records = v.value("differing", uint64_t{0});
    report_.differing_keys = v.value("keys", std::vector<std::string>{});
    if (const uint64_t n = v.value("caughtUp", uint64_t{0}); n > 0) {
      report_.notes.push_back(std::to_string(n) +
                              " records changed on the primary while the failback "
                              "ran were merged at verify (read 3-way against the last export)");
    }
  }
}

Status Orchestrator::RunStep(const std::string& name,
                             const std::function<Status(StepReport&)>& body) {
  StepReport step;
  step.name = name;
  Result<std::optional<std::string>> done = Meta(StepMeta(name));
  if (!done.ok()) return done.status();
  if (*done) {
    json v = json::parse(**done, nullptr, false);
    if (v.is_discarded()) return Status::Corruption("checkpoint of step " + name + " is not JSON");
    step.resumed = true;
    step.records = v.value("records", uint64_t{0});
    Absorb(name, v);
    report_.steps.push_back(step);
    return Status::Ok();
  }
  if (o_.on_step) o_.on_step(name, false);
  const auto t0 = std::chrono::steady_clock::now();
  Status s = body(step);
  step.seconds = SecondsSince(t0);
  if (!s.ok()) return s.WithContext("failback step " + name);
  Result<std::optional<std::string>> value = Meta(StepMeta(name));
  if (!value.ok()) return value.status();
  if (!*value) return Status::Internal("step " + name + " wrote no checkpoint");
  Absorb(name, json::parse(**value));
  report_.steps.push_back(step);
  if (o_.on_step) o_.on_step(name, true);
  return Status::Ok();
}

Result<ReadStats> Orchestrator::ReadChanged(const std::string& before, const std::string& after,
                                            const std::string& dir, const ExportReadOptions& ro,
                                            RejectSink* rejects, const DeltaSink& sink) {
  RECONCILE_RETURN_IF_ERROR(failback::MakeDirs(dir));
  const std::string changed_before = dir + "/before.txt";
  const std::string changed_after = dir + "/changed.txt";
  failback::ChangedLineCounts counts;
  RECONCILE_RETURN_IF_ERROR(
      failback::ChangedLines(before, after, changed_before, changed_after, &counts));
  LineReaderOptions before_options, after_options;
  before_options.shown_as = before;
  after_options.shown_as = after;
  Result<std::unique_ptr<LineReader>> base = LineReader::Open(changed_before, before_options);
  if (!base.ok()) return base.status();
  Result<std::unique_ptr<LineReader>> snapshot = LineReader::Open(changed_after, after_options);
  if (!snapshot.ok()) return snapshot.status();
  Result<ReadStats> r = ReadExportWithBase(**snapshot, **base, ro, rejects, sink);
  if (r.ok()) r->unchanged += counts.unchanged;
  return r;
}

Result<std::shared_ptr<const failback::UntouchedRecords>> Orchestrator::UntouchedRecords() const {
  using Records = failback::UntouchedRecords;
  if (o_.base_export.empty()) return std::shared_ptr<const Records>();
  auto out = std::make_shared<Records>();
  out->base_site = SiteId::FromName(o_.base_site);
  const std::string dir = WorkPath("exports/primary-vs-base");
  std::string id, module, encoded;
  for (const char* name : {"/before.txt", "/changed.txt"}) {
    std::ifstream in(dir + name, std::ios::binary);
    if (!in) return std::shared_ptr<const Records>();
    std::string line;
    while (std::getline(in, line)) {
      // A line whose key cannot be read is rejected by every reader, in either export: no
      // record comes of it, and the line that replaced it (or that it replaced) names its key.
      if (!failback::PeekIds(line, &id, &module)) {
        json doc = json::parse(line, nullptr, false);
        const json* d = doc.is_object() ? iothub::PresentMember(doc, "id") : nullptr;
        const json* m = doc.is_object() ? iothub::PresentMember(doc, "moduleId") : nullptr;
        if (d == nullptr || !d->is_string() || (m != nullptr && !m->is_string())) continue;
        id = d->get<std::string>();
        module = m == nullptr ? std::string() : m->get<std::string>();
      }
      Result<Key> key = module.empty() ? Key::Device(id) : Key::Module(id, module);
      if (!key.ok()) continue;
      encoded.clear();
      key->EncodeTo(&encoded);
      out->changed.push_back(encoded);
    }
    if (in.bad()) return Status::IoError("cannot read '" + dir + name + "'");
  }
  std::sort(out->changed.begin(), out->changed.end());
  out->changed.erase(std::unique(out->changed.begin(), out->changed.end()), out->changed.end());
  return std::shared_ptr<const Records>(std::move(out));
}

// ---- steps ------------------------------------------------------------------------------------

Status Orchestrator::IngestPrimary(StepReport& step) {
  const std::string path = WorkPath("exports/primary.txt");
  RECONCILE_RETURN_IF_ERROR(ExportOnce(o_.primary, path));
  Result<std::unique_ptr<FileRejectSink>> rejects = Rejects("ingest-primary");
  if (!rejects.ok()) return rejects.status();
  Ingest ingest(*store_);
  uint64_t rejected = 0;
  uint64_t records = 0;
  Result<std::unique_ptr<LineReader>> snapshot = LineReader::Open(path);
  if (!snapshot.ok()) return snapshot.status();
  ExportReadOptions ro;
  ro.site = o_.primary_site;
  ro.observed_at = run_.primary_observed_at;
  ro.scratch_dir = o_.work_dir;  // a 3-way read's index, past its memory budget
  if (!o_.base_export.empty()) {
    // The backup, whole, as its own site at its own time; then what the primary changed since.
    Result<std::unique_ptr<LineReader>> base = LineReader::Open(o_.base_export);
    if (!base.ok()) return base.status();
    ExportReadOptions bo;
    bo.site = o_.base_site;
    bo.observed_at = run_.base_observed_at;
    // The base's rejects are reported by the 3-way reads below (which index it too).
    RejectCollector base_rejects;
    Result<ReadStats> b = ReadExport(**base, bo, &base_rejects, ingest.Sink());
    if (!b.ok()) return b.status().WithContext(o_.base_export);
    records += b->records;
    // Only lines that differ from the backup's can hold a change: read those 3-way.
    Result<ReadStats> p = ReadChanged(o_.base_export, path, WorkPath("exports/primary-vs-base"), ro,
                                      rejects->get(), ingest.Sink());
    if (!p.ok()) return p.status().WithContext(path);
    rejected += p->rejected;
    records += p->records;
  } else {
    Result<ReadStats> p = ReadExport(**snapshot, ro, rejects->get(), ingest.Sink());
    if (!p.ok()) return p.status().WithContext(path);
    rejected += p->rejected;
    records += p->records;
  }
  RECONCILE_RETURN_IF_ERROR((*rejects)->Close());
  step.records = records;
  RECONCILE_RETURN_IF_ERROR(ingest.Finish());
  return Checkpoint(StepMeta("ingest-primary"), {{"records", records},
                                                 {"rejected", rejected},
                                                 {"deltas", ingest.deltas()},
                                                 {"belowHorizon", ingest.below_horizon()}});
}

Status Orchestrator::IngestSecondary(StepReport& step) {
  const std::string path = WorkPath("exports/secondary.txt");
  RECONCILE_RETURN_IF_ERROR(ExportOnce(o_.secondary, path));
  Result<std::unique_ptr<FileRejectSink>> rejects = Rejects("ingest-secondary");
  if (!rejects.ok()) return rejects.status();
  Ingest ingest(*store_);
  Result<std::unique_ptr<LineReader>> snapshot = LineReader::Open(path);
  if (!snapshot.ok()) return snapshot.status();
  ExportReadOptions ro;
  ro.site = o_.secondary_site;
  ro.observed_at = run_.secondary_observed_at;
  ro.scratch_dir = o_.work_dir;  // a 3-way read's index, past its memory budget
  Result<ReadStats> r = Status::Internal("unset");
  if (!o_.base_export.empty()) {
    // Read whole, not through ChangedLines: the secondary was seeded from the backup by an
    // import, so its own ETags make nearly every line differ from the backup's (DECISIONS P24).
    Result<std::unique_ptr<LineReader>> base = LineReader::Open(o_.base_export);
    if (!base.ok()) return base.status();
    // The base is read whole here, its rejects with it (the primary's ingest reported those of
    // its lines that differ from the primary's).
    r = ReadExportWithBase(**snapshot, **base, ro, rejects->get(), ingest.Sink());
  } else {
    r = ReadExport(**snapshot, ro, rejects->get(), ingest.Sink());
  }
  if (!r.ok()) return r.status().WithContext(path);
  RECONCILE_RETURN_IF_ERROR((*rejects)->Close());
  step.records = r->records;
  RECONCILE_RETURN_IF_ERROR(ingest.Finish());
  return Checkpoint(StepMeta("ingest-secondary"), {{"records", r->records},
                                                   {"rejected", r->rejected},
                                                   {"creates", r->creates},
                                                   {"patches", r->patches},
                                                   {"deletes", r->deletes},
                                                   {"unchanged", r->unchanged},
                                                   {"belowHorizon", ingest.below_horizon()}});
}

Status Orchestrator::IngestEvents(StepReport& step) {
  Result<std::unique_ptr<FileRejectSink>> rejects = Rejects("ingest-events");
  if (!rejects.ok()) return rejects.status();
  Ingest ingest(*store_);
  uint64_t records = 0, rejected = 0, events = 0, duplicates = 0, quarantined = 0;
  // Stamps from outside (twin leaves, notification times, metadata) more than max_offset ahead
  // of this machine's clock are held back, to the rejects file, with the site and the skew.
  ClockGuard guard;
  guard.max_offset_ms = o_.max_offset_ms;
  if (o_.now) guard.now_ms = [this] { return HlcMillis(o_.now()); };
  guard.ingesting_site = std::string(kWorkSite);
  for (const auto& [site, file] : o_.twin_files) {
    Result<std::unique_ptr<LineReader>> reader = LineReader::Open(file);
    if (!reader.ok()) return reader.status();
    TwinReadOptions to;
    to.site = site;
    to.observed_at =
        site == o_.primary_site ? run_.primary_observed_at : run_.secondary_observed_at;
    to.clock_guard = guard;
    Result<ReadStats> r = ReadTwins(**reader, to, rejects->get(), ingest.Sink());
    if (!r.ok()) return r.status().WithContext(file);
    records += r->records;
    rejected += r->rejected;
    quarantined += r->quarantined;
  }
  NotificationReadOptions no;
  no.clock_guard = guard;
  no.hub_sites = o_.hub_sites;
  if (no.hub_sites.empty()) {
    no.hub_sites[o_.primary->name()] = o_.primary_site;
    no.hub_sites[o_.secondary->name()] = o_.secondary_site;
  }
  std::unordered_set<uint64_t> seen;
  for (const std::string& file : o_.notification_files) {
    // Exact repeats are counted (duplicates absorbed); the join makes them harmless anyway.
    {
      Result<std::unique_ptr<LineReader>> counter = LineReader::Open(file);
      if (!counter.ok()) return counter.status();
      Line line;
      while (true) {
        Result<bool> got = (*counter)->Next(&line, nullptr);
        if (!got.ok()) return got.status();
        if (!*got) break;
        ++events;
        if (!seen.insert(internal::Hash64(line.text, 11)).second) ++duplicates;
      }
    }
    Result<std::unique_ptr<LineReader>> reader = LineReader::Open(file);
    if (!reader.ok()) return reader.status();
    Result<ReadStats> r = ReadNotifications(**reader, no, rejects->get(), ingest.Sink());
    if (!r.ok()) return r.status().WithContext(file);
    records += r->records;
    rejected += r->rejected;
    quarantined += r->quarantined;
  }
  for (const auto& [site, file] : o_.meta_files) {
    Result<std::unique_ptr<LineReader>> reader = LineReader::Open(file);
    if (!reader.ok()) return reader.status();
    MetaReadOptions mo;
    mo.site = site;
    mo.clock_guard = guard;
    Result<ReadStats> r = ReadMeta(**reader, mo, rejects->get(), ingest.Sink());
    if (!r.ok()) return r.status().WithContext(file);
    records += r->records;
    rejected += r->rejected;
    quarantined += r->quarantined;
  }
  RECONCILE_RETURN_IF_ERROR((*rejects)->Close());
  step.records = records;
  RECONCILE_RETURN_IF_ERROR(ingest.Finish());
  return Checkpoint(StepMeta("ingest-events"), {{"records", records},
                                                {"rejected", rejected + quarantined},
                                                {"quarantined", quarantined},
                                                {"events", events},
                                                {"duplicates", duplicates},
                                                {"belowHorizon", ingest.below_horizon()}});
}

Status Orchestrator::Plan(StepReport& step) {
  // The store is read as the ingests left it, operands and all (DECISIONS P19): a compaction
  // first would rewrite every record to save the reads the joins of the few changed ones.
  failback::StoreObserver first_pass;
  // Conflicts since the fork point, by rule; the list (no values) goes to conflicts.jsonl. They
  // are found as the plan's first pass reads the store: one scan of the store instead of two.
  std::map<std::string, uint64_t> by_rule;
  PolicyTable table = store_->policy_table();
  MergeView view;
  view.policies = &table;
  view.fork_point = store_->fork_point();
  std::map<SiteId, std::string> names;
  for (const std::string& s :
       {o_.primary_site, o_.secondary_site, o_.base_site, std::string(kWorkSite)}) {
    names[SiteId::FromName(s)] = s;
  }
  for (const auto& [site, file] : o_.meta_files) names[SiteId::FromName(site)] = site;
  auto site_name = [&](const SiteId& id) {
    auto it = names.find(id);
    return it == names.end() ? id.ToString() : it->second;
  };
  std::string text;
  // Most records were written by one site since the fork point, or none: they hold no conflict
  // and are not decoded for this (DECISIONS P22).
  first_pass.wants = [&](const Key&, std::string_view encoded) {
    return internal::MayHoldConflicts(encoded, view.fork_point);
  };
  first_pass.record = [&](const Key& key, const RecordState& state) -> Status {
    Result<std::vector<Conflict>> found = FindConflicts(key.kind(), state, view);
    if (!found.ok()) return found.status().WithContext(key.ToString());
    for (const Conflict& c : *found) {
      ++by_rule[c.rule];
      json losers = json::array();
      for (const ConflictWrite& w : c.losers) losers.push_back(site_name(w.stamp.site));
      text += CanonicalJson({{"key", key.ToString()},
                             {"path", c.path.ToString()},
                             {"rule", c.rule},
                             {"winner", site_name(c.winner.stamp.site)},
                             {"losers", losers}});
      text += '\n';
    }
    return Status::Ok();
  };

  const std::string out = WorkPath("plan");
  RECONCILE_RETURN_IF_ERROR(failback::RemoveAll(out));  // a plan of a crashed attempt
  Result<std::unique_ptr<LineReader>> primary = LineReader::Open(WorkPath("exports/primary.txt"));
  if (!primary.ok()) return primary.status();
  PlanOptions po;
  po.out_dir = out;
  po.max_lines_per_file = o_.max_lines_per_file;
  po.force = o_.force;
  po.no_keys = o_.no_keys;
  po.created_at = FormatIso8601(run_.started);
  po.input_digests = {{"run", run_.run_id}};
  Result<std::shared_ptr<const failback::UntouchedRecords>> untouched = UntouchedRecords();
  if (!untouched.ok()) return untouched.status();
  Result<PlanSummary> plan = BuildFailbackPlan(
      failback::StoreSourceFactory(*store_, &first_pass, *untouched), **primary, po, nullptr);
  if (!plan.ok()) return plan.status();
  if (!first_pass.finished) return Status::Internal("plan: the conflicts were not read whole");
  RECONCILE_RETURN_IF_ERROR(failback::WriteFileAtomic(WorkPath("conflicts.jsonl"), text));
  uint64_t lines = 0;
  for (const auto& [mode, n] : plan->counts) lines += n;
  step.records = lines;
  return Checkpoint(StepMeta("plan"), {{"records", lines},
                                       {"lines", lines},
                                       {"counts", plan->counts},
                                       {"files", plan->files},
                                       {"conflicts", by_rule},
                                       {"unchanged", plan->unchanged},
                                       {"reportedOnly", plan->reported_only},
                                       {"orphanModules", plan->orphan_modules},
                                       {"primaryOnly", plan->primary_only},
                                       {"manifest", plan->manifest_path}});
}

Status Orchestrator::Apply(StepReport& step) {
  const std::string errors = WorkPath("apply/importErrors.log");
  RECONCILE_RETURN_IF_ERROR(failback::MakeDirs(WorkPath("apply")));
  ImportOutcome outcome;
  outcome.completed = true;
  if (plan_lines_ > 0) {
    const std::string job = run_.run_id + "-apply";
    Result<ImportOutcome> r = o_.primary->Import(job, plan_files_, errors);
    if (!r.ok()) return r.status();
    if (!r->completed) return Waiting(job, o_.primary);
    outcome = *r;
  } else {
    RECONCILE_RETURN_IF_ERROR(failback::WriteFileAtomic(errors, ""));
  }
  step.records = outcome.lines;
  return Checkpoint(StepMeta("apply"), {{"records", outcome.lines},
                                        {"lines", outcome.lines},
                                        {"failed", outcome.failed},
                                        {"errors", errors}});
}

Status Orchestrator::Retry(StepReport& step) {
  std::vector<std::string> previous_files = plan_files_;
  std::string previous_errors = last_errors_;
  std::string previous_export = WorkPath("exports/primary.txt");
  bool job_changed = last_job_changed_;
  int rounds = 0;
  uint64_t retried = 0;
  uint64_t still_failed = 0;
  uint64_t rejected = 0;
  json notes = json::array();
  const Hlc latest = std::max({run_.started, run_.primary_observed_at, run_.secondary_observed_at});
  for (int round = 1; round <= o_.max_retries; ++round) {
    Result<std::optional<std::string>> done = Meta(RoundMeta(round, ""));
    if (!done.ok()) return done.status();
    if (*done) {
      json v = json::parse(**done);
      rounds = round;
      retried += v.value("lines", uint64_t{0});
      previous_files = v.value("files", std::vector<std::string>{});
      previous_errors = v.value("errors", std::string());
      previous_export = v.value("export", previous_export);
      job_changed = v.value("lines", uint64_t{0}) > v.value("failed", uint64_t{0});
      if (v.value("lines", uint64_t{0}) == 0) break;
      continue;
    }
    // What failed last time.
    Result<std::unique_ptr<LineReader>> log = LineReader::Open(previous_errors);
    if (!log.ok()) return log.status();
    RejectCollector bad_log;
    Result<std::vector<ImportError>> errors = ReadImportErrors(**log, &bad_log);
    if (!errors.ok()) return errors.status();
    still_failed = errors->size();
    if (errors->empty()) break;

    // A fresh export, read 3-way against the one before it: what changed on the primary since
    // (our own lines and anyone else's) becomes the primary's writes, so the re-plan keeps a
    // concurrent change instead of overwriting it.
    const std::string dir = WorkPath("retry-" + std::to_string(round));
    const std::string fresh = dir + "/primary.txt";
    RECONCILE_RETURN_IF_ERROR(ExportOnce(o_.primary, fresh));
    RECONCILE_RETURN_IF_ERROR(CheckFresh(fresh, previous_export, job_changed));
    Result<std::optional<std::string>> ingested = Meta(RoundMeta(round, "ingested"));
    if (!ingested.ok()) return ingested.status();
    if (*ingested) rejected += std::stoull(**ingested);
    if (!*ingested) {
      Result<std::optional<std::string>> at_text = Meta(RoundMeta(round, "at"));
      if (!at_text.ok()) return at_text.status();
      Hlc at = 0;
      if (*at_text) {
        at = std::stoull(**at_text);
      } else {
        at = std::max(Now(), latest + MakeHlc(static_cast<uint64_t>(round), 0));
        Result<ApplyResult> r =
            store_->Apply({}, std::vector<MetaPut>{{RoundMeta(round, "at"), std::to_string(at)}});
        if (!r.ok()) return r.status();
      }
      Result<std::unique_ptr<FileRejectSink>> rejects = Rejects("retry-" + std::to_string(round));
      if (!rejects.ok()) return rejects.status();
      ExportReadOptions ro;
      ro.site = o_.primary_site;
      ro.observed_at = at;
      ro.scratch_dir = o_.work_dir;  // a 3-way read's index, past its memory budget
      Ingest ingest(*store_);
      // Only lines that differ from the previous export can hold a change.
      Result<ReadStats> r =
          ReadChanged(previous_export, fresh, dir, ro, rejects->get(), ingest.Sink());
      if (!r.ok()) return r.status().WithContext(fresh);
      RECONCILE_RETURN_IF_ERROR((*rejects)->Close());
      RECONCILE_RETURN_IF_ERROR(
          ingest.Flush({MetaPut{RoundMeta(round, "ingested"), std::to_string(r->rejected)}}));
      rejected += r->rejected;
    }

    // Every failed line is re-planned against the fresh export: 404001 too (a record deleted on
    // the primary meanwhile is deleted in the merged state now, and must not be re-created).
    std::vector<ImportError> replan = *errors;
    for (ImportError& e : replan) {
      if (e.error_code == kNotFoundCode) e.error_code = kPreconditionFailedCode;
    }
    RECONCILE_RETURN_IF_ERROR(failback::RemoveAll(dir + "/plan"));
    // The re-plan reads only the failed records (point lookups in the store) and, of the fresh
    // export, their lines and the edge devices' (whose scopes children's lines refer to).
    std::set<Key> failed_keys;
    std::set<std::pair<std::string, std::string>> failed_ids;
    for (const ImportError& e : replan) {
      Result<Key> k =
          e.module_id.empty() ? Key::Device(e.device_id) : Key::Module(e.device_id, e.module_id);
      if (!k.ok()) continue;
      failed_keys.insert(*k);
      failed_ids.emplace(e.device_id, e.module_id);
    }
    {
      std::ifstream in(fresh, std::ios::binary);
      std::string line, text, id, module;
      while (std::getline(in, line)) {
        const bool keep = !failback::PeekIds(line, &id, &module) ||
                          failed_ids.count({id, module}) != 0 ||
                          failback::FindText(line, "\"iotEdge\":true") != std::string::npos;
        if (keep) text += line + "\n";
      }
      RECONCILE_RETURN_IF_ERROR(failback::WriteFileAtomic(dir + "/failed-lines.txt", text));
    }
    Result<std::unique_ptr<LineReader>> fresh_reader = LineReader::Open(dir + "/failed-lines.txt");
    if (!fresh_reader.ok()) return fresh_reader.status();
    MergedSourceFactory merged = failback::KeysSourceFactory(*store_, failed_keys);
    RetryInputs inputs;
    inputs.previous_files = previous_files;
    inputs.merged = &merged;
    inputs.fresh_primary = fresh_reader->get();
    PlanOptions po;
    po.out_dir = dir + "/plan";
    po.file_prefix = "retry";
    po.max_lines_per_file = o_.max_lines_per_file;
    po.force = o_.force;
    po.no_keys = o_.no_keys;
    po.created_at = FormatIso8601(run_.started);
    po.input_digests = {{"run", run_.run_id}, {"round", std::to_string(round)}};
    Result<PlanSummary> plan = BuildRetryPlan(inputs, replan, po, nullptr);
    if (!plan.ok()) return plan.status();
    uint64_t lines = 0;
    for (const auto& [mode, n] : plan->counts) lines += n;
    if (plan->not_retried > 0) {
      notes.push_back(std::to_string(plan->not_retried) + " failed lines of round " +
                      std::to_string(round) + " have no retry rule (see " + plan->report_path +
                      ")");
    }
    const std::string round_errors = dir + "/importErrors.log";
    ImportOutcome outcome;
    outcome.completed = true;
    if (lines > 0) {
      const std::string job = run_.run_id + "-retry-" + std::to_string(round);
      Result<ImportOutcome> r = o_.primary->Import(job, plan->files, round_errors);
      if (!r.ok()) return r.status();
      if (!r->completed) return Waiting(job, o_.primary);
      outcome = *r;
    } else {
      RECONCILE_RETURN_IF_ERROR(failback::WriteFileAtomic(round_errors, ""));
    }
    rounds = round;
    retried += outcome.lines;
    still_failed = outcome.failed;
    Result<ApplyResult> w = store_->Apply(
        {},
        std::vector<MetaPut>{{RoundMeta(round, ""), CanonicalJson({{"files", plan->files},
                                                                   {"errors", round_errors},
                                                                   {"export", fresh},
                                                                   {"lines", outcome.lines},
                                                                   {"failed", outcome.failed}})}});
    if (!w.ok()) return w.status();
    previous_files = plan->files;
    previous_errors = round_errors;
    previous_export = fresh;
    job_changed = outcome.lines > outcome.failed;
    if (lines == 0) break;
  }
  if (still_failed > 0 && rounds == o_.max_retries) {
    // Whether the last round's errors are all gone is only known by reading them again.
    Result<std::unique_ptr<LineReader>> log = LineReader::Open(previous_errors);
    if (log.ok()) {
      RejectCollector ignore;
      Result<std::vector<ImportError>> errors = ReadImportErrors(**log, &ignore);
      if (errors.ok() && !errors->empty()) {
        notes.push_back(std::to_string(errors->size()) + " lines still failed after " +
                        std::to_string(rounds) + " retry rounds (see " + previous_errors + ")");
      }
    }
  }
  step.records = retried;
  return Checkpoint(StepMeta("retry"), {{"records", retried},
                                        {"rejected", rejected},
                                        {"rounds", rounds},
                                        {"retried", retried},
                                        {"export", previous_export},
                                        {"changed", job_changed},
                                        {"notes", notes}});
}

Status Orchestrator::Verify(StepReport& step) {
  const std::string path = WorkPath("verify/primary.txt");
  RECONCILE_RETURN_IF_ERROR(ExportOnce(o_.primary, path));
  RECONCILE_RETURN_IF_ERROR(CheckFresh(path, last_export_, last_job_changed_));
  uint64_t rejected = 0;
  // The two projections are independent and each CPU-bound: the export's on a second thread.
  // Only their digests are kept: the per-key hashes that name differing records (a string a
  // record on each side) are read again only when the digests differ (DECISIONS P25).
  auto project_both = [&](bool keep_keys, Result<failback::Projection>* merged_out,
                          Result<failback::Projection>* primary_out) {
    rejected = 0;  // a second reading counts the same lines again
    std::future<Result<failback::Projection>> exported = internal::RunBeside(
        [&] { return failback::ProjectExport(path, o_.no_keys, keep_keys, nullptr, &rejected); });
    *merged_out = failback::ProjectStore(*store_, o_.no_keys, keep_keys);
    *primary_out = exported.get();
  };
  Result<failback::Projection> merged = Status::Internal("verify: not projected");
  Result<failback::Projection> primary = Status::Internal("verify: not projected");
  project_both(false, &merged, &primary);
  if (!primary.ok()) return primary.status();
  if (!merged.ok()) return merged.status();
  Result<std::optional<std::string>> ingested = Meta("failback/verify/ingested");
  if (!ingested.ok()) return ingested.status();
  uint64_t caught_up = *ingested ? std::stoull(**ingested) : 0;
  if (!*ingested && merged->Hex() != primary->Hex()) {
    // Changes made on the primary since the last export the orchestrator read (by someone
    // else, to records no retried line touched) are merged now, read 3-way against that export
    // like a retry's fresh export. Lines the hub did not apply stay different: an unchanged
    // field gives no write, so the merged value still differs from the primary's.
    Result<std::optional<std::string>> at_text = Meta("failback/verify/at");
    if (!at_text.ok()) return at_text.status();
    Hlc at = 0;
    if (*at_text) {
      at = std::stoull(**at_text);
    } else {
      const Hlc latest =
          std::max({run_.started, run_.primary_observed_at, run_.secondary_observed_at});
      at = std::max(Now(), latest + MakeHlc(static_cast<uint64_t>(o_.max_retries) + 1, 0));
      Result<ApplyResult> r =
          store_->Apply({}, std::vector<MetaPut>{{"failback/verify/at", std::to_string(at)}});
      if (!r.ok()) return r.status();
    }
    Result<std::unique_ptr<FileRejectSink>> rejects = Rejects("verify");
    if (!rejects.ok()) return rejects.status();
    ExportReadOptions ro;
    ro.site = o_.primary_site;
    ro.observed_at = at;
    ro.scratch_dir = o_.work_dir;  // a 3-way read's index, past its memory budget
    Ingest ingest(*store_);
    Result<ReadStats> r =
        ReadChanged(last_export_, path, WorkPath("verify"), ro, rejects->get(), ingest.Sink());
    if (!r.ok()) return r.status().WithContext(path);
    RECONCILE_RETURN_IF_ERROR((*rejects)->Close());
    caught_up = r->records;
    RECONCILE_RETURN_IF_ERROR(
        ingest.Flush({MetaPut{"failback/verify/ingested", std::to_string(caught_up)}}));
    merged = failback::ProjectStore(*store_, o_.no_keys, false);
    if (!merged.ok()) return merged.status();
  }
  const bool verified = merged->Hex() == primary->Hex();
  uint64_t differing = 0;
  std::vector<std::string> keys;
  if (!verified) {
    // The records that differ, named: both sides read again with their per-key hashes (the
    // export is the same file; the store is as the catch-up above left it).
    const std::string merged_hex = merged->Hex(), primary_hex = primary->Hex();
    project_both(true, &merged, &primary);
    if (!primary.ok()) return primary.status();
    if (!merged.ok()) return merged.status();
    if (merged->Hex() != merged_hex || primary->Hex() != primary_hex) {
      return Status::Internal(
          "verify: a second reading of the store or the export differs from the first");
    }
    keys = failback::DiffProjections(*merged, *primary, 20, &differing);
  }
  step.records = merged->records;
  return Checkpoint(StepMeta("verify"), {{"records", merged->records},
                                         {"merged", merged->Hex()},
                                         {"primary", primary->Hex()},
                                         {"verified", verified},
                                         {"differing", differing},
                                         {"keys", keys},
                                         {"caughtUp", caught_up},
                                         {"rejected", rejected}});
}

Result<FailbackReport> Orchestrator::Run() {
  RECONCILE_RETURN_IF_ERROR(Start());
  using Body = Status (Orchestrator::*)(StepReport&);
  const Body bodies[] = {&Orchestrator::IngestPrimary, &Orchestrator::IngestSecondary,
                         &Orchestrator::IngestEvents,  &Orchestrator::Plan,
                         &Orchestrator::Apply,         &Orchestrator::Retry,
                         &Orchestrator::Verify};
  for (size_t i = 0; i < std::size(kSteps); ++i) {
    RECONCILE_RETURN_IF_ERROR(
        RunStep(kSteps[i], [this, body = bodies[i]](StepReport& s) { return (this->*body)(s); }));
  }
  if (o_.primary->simulated() || o_.secondary->simulated()) {
    report_.notes.push_back(
        "a simulated hub was used: this run is a drill or a test, not a failback "
        "of a real IoT hub");
  }
  if (report_.rejected_lines > 0) {
    report_.notes.push_back(std::to_string(report_.rejected_lines) +
                            " input lines were rejected (see " + WorkPath("rejects") + ")");
  }
  if (events_ > 0) {
    report_.notes.push_back(std::to_string(events_) + " notifications read, " +
                            std::to_string(duplicate_events_) +
                            " of them exact duplicates (absorbed)");
  }
  if (!report_.verified) {
    report_.notes.push_back(std::to_string(report_.differing_records) +
                            " records differ between the merged state and the primary");
  }
  return report_;
}

}  // namespace

Result<FailbackReport> RunFailback(const FailbackOptions& options) {
  Orchestrator orchestrator(options);
  return orchestrator.Run();
}

std::string FormatFailbackReport(const FailbackReport& r, bool as_json) {
  if (as_json) {
    json steps = json::array();
    for (const StepReport& s : r.steps) {
      steps.push_back({{"name", s.name},
                       {"seconds", s.seconds},
                       {"resumed", s.resumed},
                       {"records", s.records}});
    }
    json j = {{"steps", steps},
              {"rejectedLines", r.rejected_lines},
              {"conflictsByRule", r.conflicts_by_rule},
              {"planLinesByMode", r.plan_lines_by_mode},
              {"retryRounds", r.retry_rounds},
              {"retriedLines", r.retried_lines},
              {"mergedDigest", r.merged_digest},
              {"primaryDigest", r.primary_digest},
              {"verified", r.verified},
              {"differingRecords", r.differing_records},
              {"differingKeys", r.differing_keys},
              {"workDir", r.work_dir},
              {"notes", r.notes}};
    return j.dump() + "\n";
  }
  std::ostringstream out;
  out << "failback " << (r.verified ? "VERIFIED" : "NOT VERIFIED") << "\n";
  out << "  steps:\n";
  for (const StepReport& s : r.steps) {
    char line[160];
    std::snprintf(line, sizeof(line), "    %-17s %10llu records  %8.3f s%s\n", s.name.c_str(),
                  static_cast<unsigned long long>(s.records), s.seconds,
                  s.resumed ? "  (done before, resumed)" : "");
    out << line;
  }
  out << "  conflicts by rule:";
  if (r.conflicts_by_rule.empty()) out << " none";
  for (const auto& [rule, n] : r.conflicts_by_rule) out << " " << rule << "=" << n;
  out << "\n  plan lines by importMode:";
  uint64_t total = 0;
  for (const auto& [mode, n] : r.plan_lines_by_mode) {
    if (n == 0) continue;
    out << " " << mode << "=" << n;
    total += n;
  }
  if (total == 0) out << " none";
  out << "\n  retries: " << r.retry_rounds << " rounds, " << r.retried_lines << " lines\n";
  out << "  rejected input lines: " << r.rejected_lines << "\n";
  out << "  merged digest:  " << r.merged_digest << "\n";
  out << "  primary digest: " << r.primary_digest << "\n";
  if (!r.verified) {
    out << "  differing records: " << r.differing_records << "\n";
    for (const std::string& k : r.differing_keys) out << "    " << k << "\n";
  }
  for (const std::string& n : r.notes) out << "  note: " << n << "\n";
  out << "  work folder: " << r.work_dir << "\n";
  return out.str();
}

}  // namespace reconcile
