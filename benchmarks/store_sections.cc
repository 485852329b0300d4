// The store-level sections: the fleet's files, the two ingest baselines, ingest, the 3-way
// ingests, merge, compaction and plan (sections.h).
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "benchmarks/fleet.h"
#include "benchmarks/sections.h"
#include "lib/failback/store_source.h"
#include "reconcile/iothub.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/line_reader.h"
#include "reconcile/reject.h"
#include "reconcile/stamp.h"
#include "reconcile/store.h"
#include "reconcile/store_writer.h"

namespace bench {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <typename T>
T Check(reconcile::Result<T> r, const std::string& what) {
  if (!r.ok()) throw std::runtime_error(what + ": " + r.status().ToString());
  return std::move(r).value();
}

void Check(const reconcile::Status& s, const std::string& what) {
  if (!s.ok()) throw std::runtime_error(what + ": " + s.ToString());
}

// The sites and times of the benchmark's writes: the backup at T0 (also the fork point), the
// primary's export an hour later, the secondary's two hours later.
reconcile::Hlc T0() { return reconcile::ParseIso8601("2026-11-01T00:00:00Z").value(); }
reconcile::Hlc T1() { return T0() + reconcile::MakeHlc(3600 * 1000, 0); }
reconcile::Hlc T2() { return T0() + reconcile::MakeHlc(7200 * 1000, 0); }

double Rate(uint64_t n, double seconds) { return seconds > 0 ? n / seconds : 0; }

json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error(path + ": not JSON (run the generate section)");
  return j;
}

}  // namespace

json KeptFleet(const BenchConfig& c) {
  std::ifstream in(WorkPath(c, "fleet.json"));
  if (!in) return nullptr;
  json j = json::parse(in, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

namespace {

std::unique_ptr<reconcile::Store> OpenStore(const BenchConfig& c, const std::string& name,
                                            const std::string& site) {
  reconcile::StoreOptions o;
  o.site_name = site;
  return Check(reconcile::Store::Open(WorkPath(c, name), o), "opening store " + name);
}

// Deltas from a reader, handed over in batches of c.batch records and written in bulk runs while
// the reader fills the next (reconcile::StoreWriter, as mergetool ingest does).
class Batches {
 public:
  Batches(reconcile::Store& store, size_t size)
      : writer_(store, size, reconcile::StoreWriter::kBulkRunBytes) {}
  reconcile::DeltaSink Sink() {
    return [this](const reconcile::Key& key, reconcile::RecordState delta) -> reconcile::Status {
      return writer_.Add(key, std::move(delta));
    };
  }
  reconcile::Status Flush() { return writer_.Flush(); }
  uint64_t rejected() const { return writer_.below_horizon(); }

 private:
  reconcile::StoreWriter writer_;
};

std::unique_ptr<reconcile::FileRejectSink> Rejects(const BenchConfig& c, const std::string& name) {
  return Check(reconcile::FileRejectSink::Open(WorkPath(c, "rejects-" + name + ".txt")),
               "rejects file");
}

json ReadStatsJson(const reconcile::ReadStats& s) {
  return {{"lines", s.lines.returned}, {"records", s.records}, {"creates", s.creates},
          {"patches", s.patches},      {"deletes", s.deletes}, {"unchanged", s.unchanged},
          {"rejected", s.rejected}};
}

// The key of an export line without parsing it as JSON: "id" and, when there, "moduleId".
std::string LineKey(std::string_view text) {
  auto field = [&](std::string_view name) -> std::string_view {
    size_t at = text.find(name);
    if (at == std::string_view::npos) return {};
    size_t begin = at + name.size();
    size_t end = text.find('"', begin);
    return end == std::string_view::npos ? std::string_view{} : text.substr(begin, end - begin);
  };
  std::string key(field("\"id\":\""));
  std::string_view module = field("\"moduleId\":\"");
  if (!module.empty()) {
    key.push_back('\0');
    key.append(module);
  }
  return key;
}

}  // namespace

std::string WorkPath(const BenchConfig& c, const std::string& rel) {
  return (fs::path(c.work_dir) / rel).string();
}

void Say(const BenchConfig& c, const std::string& text) {
  if (c.verbose) std::cerr << "failback_bench: " << text << std::endl;
}

json GenerateFleet(const BenchConfig& c) {
  json out = json::object();
  const auto t0 = Clock::now();
  for (auto [name, side] : {std::pair{"base", Side::kBase}, std::pair{"primary", Side::kPrimary},
                            std::pair{"secondary", Side::kSecondary}}) {
    std::ofstream file(WorkPath(c, std::string(name) + ".txt"), std::ios::binary);
    ExportCounts n = WriteExport(file, c.devices, side, c.seed);
    file.close();
    if (!file) throw std::runtime_error(std::string("writing ") + name + ".txt failed");
    out[name] = {{"devices", n.devices},
                 {"modules", n.modules},
                 {"edgeDevices", n.edge_devices},
                 {"edgeChildren", n.edge_children},
                 {"changed", n.changed},
                 {"deleted", n.deleted},
                 {"created", n.created},
                 {"lines", n.lines},
                 {"bytes", n.bytes},
                 {"bytesPerLine", n.lines ? static_cast<double>(n.bytes) / n.lines : 0.0}};
  }
  out["seconds"] = Since(t0);
  std::ofstream(WorkPath(c, "fleet.json")) << out.dump(2) << "\n";
  return out;
}

// The parser the export reader uses first (simdjson's DOM parser, lib/iothub/export_line), and
// beside it the nlohmann DOM parse the exact reader uses for the lines the fast one declines.
json ParseBaseline(const BenchConfig& c) {
  const std::string path = WorkPath(c, "base.txt");
  uint64_t lines = 0, bytes = 0, objects = 0;
  auto pass = [&](auto&& parse) {
    auto reader = Check(reconcile::LineReader::Open(path), path);
    reconcile::Line line;
    lines = bytes = objects = 0;
    const auto t0 = Clock::now();
    while (Check(reader->Next(&line, nullptr), "reading")) {
      ++lines;
      bytes += line.text.size();
      objects += parse(line.text);
    }
    const double seconds = Since(t0);
    if (objects != lines) throw std::runtime_error("parse: some lines are not JSON objects");
    return seconds;
  };
  simdjson::dom::parser parser;
  const double seconds = pass([&](std::string_view text) {
    simdjson::dom::element doc;
    return parser.parse(text.data(), text.size()).get(doc) == simdjson::SUCCESS && doc.is_object();
  });
  const double nlohmann_seconds = pass([](std::string_view text) {
    return nlohmann::json::parse(text.begin(), text.end(), nullptr, false).is_object();
  });
  return {{"records", lines},
          {"bytes", bytes},
          {"seconds", seconds},
          {"recordsPerSecond", Rate(lines, seconds)},
          {"parser", "simdjson dom::parser (as lib/iothub/export_line)"},
          {"nlohmannSeconds", nlohmann_seconds},
          {"nlohmannRecordsPerSecond", Rate(lines, nlohmann_seconds)}};
}

json RocksDbPutBaseline(const BenchConfig& c) {
  const std::string dir = WorkPath(c, "rocksdb-put");
  fs::remove_all(dir);
  const std::string path = WorkPath(c, "base.txt");
  const auto t0 = Clock::now();
  // The store's own database options (lib/store/store.cc), one column family, no merge operator.
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 4;
  options.write_buffer_size = 64u << 20;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(32u << 20);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) throw std::runtime_error("rocksdb open: " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  auto reader = Check(reconcile::LineReader::Open(path), path);
  reconcile::Line line;
  rocksdb::WriteBatch batch;
  size_t in_batch = 0;
  uint64_t records = 0, bytes = 0;
  const rocksdb::WriteOptions wo;  // WAL on, no sync: as Store::Apply
  while (Check(reader->Next(&line, nullptr), "reading")) {
    batch.Put(LineKey(line.text), rocksdb::Slice(line.text.data(), line.text.size()));
    ++records;
    bytes += line.text.size();
    if (++in_batch >= c.batch) {
      s = db->Write(wo, &batch);
      if (!s.ok()) throw std::runtime_error("rocksdb write: " + s.ToString());
      batch.Clear();
      in_batch = 0;
    }
  }
  if (in_batch > 0) {
    s = db->Write(wo, &batch);
    if (!s.ok()) throw std::runtime_error("rocksdb write: " + s.ToString());
  }
  s = db->Close();
  db.reset();
  const double seconds = Since(t0);
  fs::remove_all(dir);
  return {{"records", records},
          {"bytes", bytes},
          {"batch", c.batch},
          {"seconds", seconds},
          {"recordsPerSecond", Rate(records, seconds)},
          {"what", "LineReader + WriteBatch::Put(id[/moduleId], line) + DB::Write, open to close"}};
}

json IngestExport(const BenchConfig& c) {
  const std::string path = WorkPath(c, "base.txt");
  fs::remove_all(WorkPath(c, "store-primary"));
  const auto t0 = Clock::now();
  auto store = OpenStore(c, "store-primary", "primary");
  auto reader = Check(reconcile::LineReader::Open(path), path);
  auto rejects = Rejects(c, "ingest");
  Batches batches(*store, c.batch);
  reconcile::ExportReadOptions o;
  o.site = "backup";
  o.observed_at = T0();
  reconcile::ReadStats stats =
      Check(reconcile::ReadExport(*reader, o, rejects.get(), batches.Sink()), "ReadExport");
  Check(batches.Flush(), "apply");
  Check(rejects->Close(), "rejects");
  store.reset();
  const double seconds = Since(t0);
  return {
      {"records", stats.records},
      {"bytes", stats.lines.bytes},
      {"batch", c.batch},
      {"seconds", seconds},
      {"recordsPerSecond", Rate(stats.records, seconds)},
      {"read", ReadStatsJson(stats)},
      {"what", "Store::Open + ReadExport + StoreWriter (Store::Apply per batch), open to close"}};
}

json IngestThreeWay(const BenchConfig& c, bool primary) {
  const std::string site = primary ? "primary" : "secondary";
  const std::string dir = "store-" + site;
  json out = json::object();
  if (!primary) {
    // The secondary's store starts like the primary's: the backup, whole.
    fs::remove_all(WorkPath(c, dir));
    const auto t0 = Clock::now();
    auto store = OpenStore(c, dir, site);
    auto reader = Check(reconcile::LineReader::Open(WorkPath(c, "base.txt")), "base.txt");
    auto rejects = Rejects(c, "base-" + site);
    Batches batches(*store, c.batch);
    reconcile::ExportReadOptions o;
    o.site = "backup";
    o.observed_at = T0();
    auto stats = Check(reconcile::ReadExport(*reader, o, rejects.get(), batches.Sink()), "base");
    Check(batches.Flush(), "apply");
    Check(rejects->Close(), "rejects");
    out["base"] = {{"seconds", Since(t0)}, {"read", ReadStatsJson(stats)}};
  }
  const auto t0 = Clock::now();
  auto store = OpenStore(c, dir, site);
  Check(store->SetForkPoint(T0()), "fork point");
  auto snapshot = Check(reconcile::LineReader::Open(WorkPath(c, site + ".txt")), site);
  auto base = Check(reconcile::LineReader::Open(WorkPath(c, "base.txt")), "base.txt");
  auto rejects = Rejects(c, "3way-" + site);
  Batches batches(*store, c.batch);
  reconcile::ExportReadOptions o;
  o.site = site;
  o.observed_at = primary ? T1() : T2();
  o.scratch_dir = c.work_dir;
  auto stats = Check(
      reconcile::ReadExportWithBase(*snapshot, *base, o, rejects.get(), batches.Sink()), "3-way");
  Check(batches.Flush(), "apply");
  Check(rejects->Close(), "rejects");
  store.reset();
  const double seconds = Since(t0);
  out["seconds"] = seconds;
  out["lines"] = stats.lines.returned;
  out["linesPerSecond"] = Rate(stats.lines.returned, seconds);
  out["read"] = ReadStatsJson(stats);
  return out;
}

json MergeStores(const BenchConfig& c) {
  const json fleet = ReadJsonFile(WorkPath(c, "fleet.json"));
  auto a = OpenStore(c, "store-primary", "primary");
  auto b = OpenStore(c, "store-secondary", "secondary");
  // Every record of the secondary's store: the backup's lines (deleted ones stay as covers) and
  // its creates.
  const uint64_t records =
      fleet["base"]["lines"].get<uint64_t>() + fleet["secondary"]["created"].get<uint64_t>();
  const auto t0 = Clock::now();
  Check(a->MergeFrom(*b), "MergeFrom");
  const double seconds = Since(t0);
  const auto t1 = Clock::now();
  a.reset();
  b.reset();
  return {{"records", records},
          {"seconds", seconds},
          {"recordsPerSecond", Rate(records, seconds)},
          {"closeSeconds", Since(t1)},
          {"what", "primary.MergeFrom(secondary), stores of the base plus each site's changes"}};
}

json CompactMerged(const BenchConfig& c) {
  auto a = OpenStore(c, "store-primary", "primary");
  const auto t0 = Clock::now();
  Check(a->Compact(), "Compact");
  const double seconds = Since(t0);
  return {{"seconds", seconds}};
}

json PlanMerged(const BenchConfig& c) {
  const json fleet = ReadJsonFile(WorkPath(c, "fleet.json"));
  auto store = OpenStore(c, "store-primary", "primary");
  const std::string out_dir = WorkPath(c, "plan");
  fs::remove_all(out_dir);
  const std::string export_path = WorkPath(c, "primary.txt");
  const auto t0 = Clock::now();
  auto primary = Check(reconcile::LineReader::Open(export_path), export_path);
  reconcile::PlanOptions o;
  o.out_dir = out_dir;
  o.created_at = "2026-11-01T03:00:00Z";
  o.max_lines_per_file = 50000;
  auto rejects = Rejects(c, "plan");
  const reconcile::MergedSourceFactory merged = reconcile::failback::StoreSourceFactory(*store);
  reconcile::PlanSummary summary =
      Check(reconcile::BuildFailbackPlan(merged, *primary, o, rejects.get()), "BuildFailbackPlan");
  Check(rejects->Close(), "rejects");
  const double seconds = Since(t0);
  // The merged records streamed: the backup's, and both sites' creates.
  const uint64_t records = fleet["base"]["lines"].get<uint64_t>() +
                           fleet["primary"]["created"].get<uint64_t>() +
                           fleet["secondary"]["created"].get<uint64_t>();
  uint64_t lines = 0;
  for (const auto& [mode, n] : summary.counts) lines += n;
  return {{"records", records},
          {"primaryLines", fleet["primary"]["lines"]},
          {"seconds", seconds},
          {"recordsPerSecond", Rate(records, seconds)},
          {"importLines", lines},
          {"byMode", summary.counts},
          {"unchanged", summary.unchanged},
          {"reportedOnly", summary.reported_only},
          {"primaryOnly", summary.primary_only},
          {"files", summary.files.size()},
          {"what",
           "BuildFailbackPlan(store source, primary export) as mergetool plan, "
           "without the digest and SHA-256 of its manifest inputs"}};
}

}  // namespace bench
