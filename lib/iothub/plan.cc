// The failback plan: merged records vs the primary's export -> ordered, ETag-guarded import files.
//
// Manifest (manifest.json, pretty-printed JSON with sorted keys):
//   {"formatVersion": 1, "createdAt": <as given>, "counts": {<importMode>: n, ...},
//    "files": [{"name", "lines", "sha256"}], "inputs": [{"name", "sha256"}],
//    "options": {"filePrefix", "force", "maxLinesPerFile", "noKeys"},
//    "report": "plan-report.jsonl", "summary": {...}}
// Report (plan-report.jsonl): one canonical JSON object a line, {"key", "note", ...}, in the order
// the planner met the records (key order); never a key or thumbprint value.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "lib/core/hash.h"
#include "lib/core/run_beside.h"
#include "lib/core/varint.h"
#include "lib/iothub/device_doc.h"
#include "lib/iothub/disk_index.h"
#include "lib/iothub/line_pipeline.h"
#include "lib/iothub/plan_internal.h"
#include "lib/iothub/plan_primary.h"
#include "lib/iothub/plan_text.h"
#include "reconcile/operations.h"

namespace reconcile {

using nlohmann::json;

std::string_view ImportModeName(ImportMode mode) {
  switch (mode) {
    case ImportMode::kCreate:
      return "create";
    case ImportMode::kUpdate:
      return "update";
    case ImportMode::kUpdateIfMatchETag:
      return "updateIfMatchETag";
    case ImportMode::kCreateOrUpdate:
      return "createOrUpdate";
    case ImportMode::kUpdateTwin:
      return "updateTwin";
    case ImportMode::kUpdateTwinIfMatchETag:
      return "updateTwinIfMatchETag";
    case ImportMode::kDelete:
      return "delete";
    case ImportMode::kDeleteIfMatchETag:
      return "deleteIfMatchETag";
  }
  return "create";
}

Result<ImportMode> ParseImportMode(std::string_view name) {
  static constexpr ImportMode kAll[] = {ImportMode::kCreate,
                                        ImportMode::kUpdate,
                                        ImportMode::kUpdateIfMatchETag,
                                        ImportMode::kCreateOrUpdate,
                                        ImportMode::kUpdateTwin,
                                        ImportMode::kUpdateTwinIfMatchETag,
                                        ImportMode::kDelete,
                                        ImportMode::kDeleteIfMatchETag};
  for (ImportMode mode : kAll) {
    std::string_view want = ImportModeName(mode);
    if (want.size() == name.size() &&
        std::equal(want.begin(), want.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return mode;
    }
  }
  return Status::InvalidInput("'" + std::string(name) + "' is not an import mode");
}

Result<std::string> ScopeDeviceId(std::string_view scope) {
  constexpr std::string_view kPrefix = iothub::kScopePrefix;
  if (scope.substr(0, kPrefix.size()) != kPrefix) {
    return Status::InvalidInput("an edge scope starts with '" + std::string(kPrefix) + "'");
  }
  std::string_view rest = scope.substr(kPrefix.size());
  size_t dash = rest.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == rest.size()) {
    return Status::InvalidInput("an edge scope ends in '<deviceId>-<generationId>'");
  }
  for (char c : rest.substr(dash + 1)) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      return Status::InvalidInput("the generation id of an edge scope is letters and digits");
    }
  }
  std::string id(rest.substr(0, dash));
  RECONCILE_RETURN_IF_ERROR(ValidateDeviceId(id));
  return id;
}

std::string DerivedScope(std::string_view device_id) {
  // 18 decimal digits (the hub's generation ids are 18 digits) of a stable hash of the id.
  uint64_t h = internal::Hash64(device_id, 0x5eed5c09e5ULL) % 1000000000000000000ULL;
  std::string digits = std::to_string(h);
  digits.insert(0, 18 - digits.size(), '0');
  std::string out(iothub::kScopePrefix);
  out += device_id;
  out += '-';
  out += digits;
  return out;
}

Result<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open '" + path + "'");
  iothub::Sha256 sha;
  std::string buf(1 << 16, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize got = in.gcount();
    if (got > 0) sha.Update(std::string_view(buf.data(), static_cast<size_t>(got)));
  }
  if (in.bad()) return Status::IoError("cannot read '" + path + "'");
  return sha.HexDigest();
}

namespace iothub {
namespace fs = std::filesystem;

// ---- PlanWriter ------------------------------------------------------------------------------

PlanWriter::PlanWriter(const PlanOptions& options) : options_(options) {}

PlanWriter::~PlanWriter() {
  std::error_code ec;
  for (auto& [slot, spill] : spills_) {
    spill->out.close();
    fs::remove(spill->path, ec);
  }
}

Status PlanWriter::Open() {
  if (options_.out_dir.empty()) return Status::InvalidInput("plan: out_dir is required");
  if (options_.created_at.empty()) return Status::InvalidInput("plan: created_at is required");
  if (options_.file_prefix.empty() || options_.file_prefix.find('/') != std::string::npos) {
    return Status::InvalidInput("plan: file_prefix must be a plain file name");
  }
  std::error_code ec;
  fs::create_directories(options_.out_dir, ec);
  if (ec) return Status::IoError("cannot create '" + options_.out_dir + "': " + ec.message());
  // A plan written here before (a rerun) must not leave stale files beside the new ones: remove
  // what a plan writes, and nothing else.
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(options_.out_dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool numbered =
        name.size() == options_.file_prefix.size() + 10 &&
        name.compare(0, options_.file_prefix.size() + 1, options_.file_prefix + "-") == 0 &&
        name.compare(name.size() - 4, 4, ".txt") == 0 &&
        name.find_first_not_of("0123456789", options_.file_prefix.size() + 1) == name.size() - 4;
    const bool spill = name.rfind(".spill-", 0) == 0 || name.rfind(".index-", 0) == 0;
    if (numbered || spill || name == "manifest.json" || name == "manifest.json.tmp" ||
        name == "plan-report.jsonl") {
      stale.push_back(entry.path());
    }
  }
  if (ec) return Status::IoError("cannot list '" + options_.out_dir + "': " + ec.message());
  // The manifest goes first: a folder with a manifest is a finished plan, so a crash while the
  // rest is removed must not leave an old manifest over a half-removed plan.
  std::stable_partition(stale.begin(), stale.end(),
                        [](const fs::path& p) { return p.filename() == "manifest.json"; });
  for (const fs::path& path : stale) {
    if (!fs::remove(path, ec) || ec)
      return Status::IoError("cannot remove '" + path.string() + "'");
  }
  report_path_ = (fs::path(options_.out_dir) / "plan-report.jsonl").string();
  report_.open(report_path_, std::ios::binary | std::ios::trunc);
  if (!report_) return Status::IoError("cannot open '" + report_path_ + "'");
  return Status::Ok();
}

Status PlanWriter::Add(Phase phase, int depth, ImportMode mode, const std::string& line) {
  auto& spill = spills_[{static_cast<int>(phase), depth}];
  if (!spill) {
    spill = std::make_unique<Spill>();
    spill->path = (fs::path(options_.out_dir) /
                   (".spill-" + std::to_string(phase) + "-" + std::to_string(depth) + ".tmp"))
                      .string();
    spill->out.open(spill->path, std::ios::binary | std::ios::trunc);
    if (!spill->out) return Status::IoError("cannot open '" + spill->path + "'");
  }
  spill->out << line << '\n';
  if (!spill->out) return Status::IoError("cannot write '" + spill->path + "'");
  ++counts_[std::string(ImportModeName(mode))];
  return Status::Ok();
}

Status PlanWriter::Report(const Key& key, std::string_view note, json extra) {
  json entry = extra.is_object() ? std::move(extra) : json::object();
  entry["key"] = key.ToString();
  entry["note"] = note;
  report_ << CanonicalJson(entry) << '\n';
  if (!report_) return Status::IoError("cannot write '" + report_path_ + "'");
  ++report_lines_;
  return Status::Ok();
}

Result<PlanSummary> PlanWriter::Finish(
    PlanSummary summary, const std::vector<std::pair<std::string, std::string>>& inputs) {
  report_.close();
  if (!report_) return Status::IoError("cannot write '" + report_path_ + "'");

  // Apply order of the spills.
  std::vector<Spill*> order;
  for (auto& [slot, spill] : spills_) {
    if (slot.first != kEdgeDelete) order.push_back(spill.get());
  }
  for (auto it = spills_.rbegin(); it != spills_.rend(); ++it) {
    if (it->first.first == kEdgeDelete) order.push_back(it->second.get());
  }

  json files = json::array();
  std::ofstream out;
  std::string out_path;
  Sha256 sha;
  uint64_t in_file = 0;
  auto close_file = [&]() -> Status {
    if (!out.is_open()) return Status::Ok();
    out.close();
    if (!out) return Status::IoError("cannot write '" + out_path + "'");
    files.push_back(json{{"name", fs::path(out_path).filename().string()},
                         {"lines", in_file},
                         {"sha256", sha.HexDigest()}});
    summary.files.push_back(out_path);
    return Status::Ok();
  };
  auto open_file = [&]() -> Status {
    char name[32];
    std::snprintf(name, sizeof(name), "-%05zu.txt", summary.files.size() + 1);
    out_path = (fs::path(options_.out_dir) / (options_.file_prefix + name)).string();
    out.open(out_path, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError("cannot open '" + out_path + "'");
    sha = Sha256();
    in_file = 0;
    return Status::Ok();
  };

  for (Spill* spill : order) {
    spill->out.close();
    if (!spill->out) return Status::IoError("cannot write '" + spill->path + "'");
    std::ifstream in(spill->path, std::ios::binary);
    if (!in) return Status::IoError("cannot read '" + spill->path + "'");
    std::string line;
    while (std::getline(in, line)) {
      if (!out.is_open() ||
          (options_.max_lines_per_file != 0 && in_file == options_.max_lines_per_file)) {
        RECONCILE_RETURN_IF_ERROR(close_file());
        RECONCILE_RETURN_IF_ERROR(open_file());
      }
      line += '\n';
      out.write(line.data(), static_cast<std::streamsize>(line.size()));
      sha.Update(line);
      ++in_file;
    }
    if (in.bad()) return Status::IoError("cannot read '" + spill->path + "'");
  }
  RECONCILE_RETURN_IF_ERROR(close_file());
  if (summary.files.empty()) {  // an empty plan still has one (empty) file to point at
    RECONCILE_RETURN_IF_ERROR(open_file());
    RECONCILE_RETURN_IF_ERROR(close_file());
  }

  json counts = json::object();
  for (ImportMode mode :
       {ImportMode::kCreate, ImportMode::kUpdate, ImportMode::kUpdateIfMatchETag,
        ImportMode::kCreateOrUpdate, ImportMode::kUpdateTwin, ImportMode::kUpdateTwinIfMatchETag,
        ImportMode::kDelete, ImportMode::kDeleteIfMatchETag}) {
    const std::string name(ImportModeName(mode));
    auto it = counts_.find(name);
    const uint64_t n = it == counts_.end() ? 0 : it->second;
    counts[name] = n;
    summary.counts[name] = n;
  }
  json input_list = json::array();
  for (const auto& [name, digest] : inputs)
    input_list.push_back({{"name", name}, {"sha256", digest}});
  for (const auto& [name, digest] : options_.input_digests) {
    input_list.push_back({{"name", name}, {"digest", digest}});
  }
  summary.report_lines = report_lines_;
  json manifest = {
      {"formatVersion", 1},
      {"createdAt", options_.created_at},
      {"counts", counts},
      {"files", files},
      {"inputs", input_list},
      {"options",
       {{"filePrefix", options_.file_prefix},
        {"force", options_.force},
        {"maxLinesPerFile", options_.max_lines_per_file},
        {"noKeys", options_.no_keys}}},
      {"report", "plan-report.jsonl"},
      {"summary",
       {{"unchanged", summary.unchanged},
        {"untouched", summary.untouched},
        {"reportedOnly", summary.reported_only},
        {"systemModulesSkipped", summary.system_modules_skipped},
        {"orphanModules", summary.orphan_modules},
        {"primaryOnly", summary.primary_only},
        {"needsFreshExport", summary.needs_fresh_export},
        {"notRetried", summary.not_retried},
        {"reportLines", summary.report_lines}}},
  };
  // Written aside and renamed into place, last: a manifest is never half written, and its
  // presence means every file it lists is complete.
  summary.manifest_path = (fs::path(options_.out_dir) / "manifest.json").string();
  const std::string partial = summary.manifest_path + ".tmp";
  std::ofstream mf(partial, std::ios::binary | std::ios::trunc);
  mf << manifest.dump(2) << '\n';
  mf.close();
  if (!mf) return Status::IoError("cannot write '" + partial + "'");
  std::error_code renamed;
  fs::rename(partial, summary.manifest_path, renamed);
  if (renamed) {
    return Status::IoError("cannot rename '" + partial + "': " + renamed.message());
  }
  summary.report_path = report_path_;

  std::error_code ec;
  for (auto& [slot, spill] : spills_) fs::remove(spill->path, ec);
  spills_.clear();
  return summary;
}

// ---- Planner ---------------------------------------------------------------------------------

namespace {

json AuthWithoutKeys(const json& auth) {
  json out = auth;
  if (out.is_object()) out.erase("symmetricKey");
  return out;
}

// What the plan keeps of a line of the primary's export: the value of its key in the primary's
// index (a DiskIndex, so that the plan's memory does not grow with the fleet).
struct PrimaryEntry {
  struct Fixed {
    uint64_t offset = 0;
    uint64_t line = 0;
    Hash128 identity;
    Hash128 identity_no_auth;
    Hash128 twin;
    Hash128 reported;
    bool edge = false;
    bool has_own_scope = false;
  } fixed;
  std::string parent;     // edge devices: the parent's device id
  std::string own_scope;  // devices: a deviceScope naming the device itself (has_own_scope)

  // fixed's bytes, varint(parent size), parent, own_scope.
  void EncodeTo(std::string* out) const {
    out->append(reinterpret_cast<const char*>(&fixed), sizeof fixed);
    internal::PutVarint(out, parent.size());
    out->append(parent);
    out->append(own_scope);
  }
  bool DecodeFrom(std::string_view in) {
    if (in.size() < sizeof fixed) return false;
    std::memcpy(&fixed, in.data(), sizeof fixed);
    in.remove_prefix(sizeof fixed);
    uint64_t n = 0;
    std::string_view p;
    if (!internal::GetVarint(&in, &n) || !internal::GetBytes(&in, n, &p)) return false;
    parent.assign(p);
    own_scope.assign(in);
    return true;
  }
};
static_assert(std::is_trivially_copyable_v<PrimaryEntry::Fixed>);

Status BadEntry(std::string_view what) {
  return Status::Internal("plan: an entry of the " + std::string(what) + " index does not decode");
}

// Of the merged edge devices: their scope and parent, as the value of their id in an index.
struct MergedEdge {
  std::string scope;
  std::string parent;
  void EncodeTo(std::string* out) const {
    internal::PutVarint(out, scope.size());
    out->append(scope);
    out->append(parent);
  }
  bool DecodeFrom(std::string_view in) {
    uint64_t n = 0;
    std::string_view s;
    if (!internal::GetVarint(&in, &n) || !internal::GetBytes(&in, n, &s)) return false;
    scope.assign(s);
    parent.assign(in);
    return true;
  }
};

}  // namespace

struct Planner::Impl {
  const PlanOptions& options;
  PlanWriter* writer;
  PlanSummary* summary;
  std::unique_ptr<DiskIndex> primary;       // encoded key -> PrimaryEntry
  std::unique_ptr<DiskIndex> merged_edges;  // device id -> MergedEdge
  // PrimaryScopeFor, for the scope rewriting of plan_text.h.
  const PrimaryScopeFn primary_scope_for = [this](const std::string& id) {
    return PrimaryScopeFor(id);
  };

  Impl(const PlanOptions& o, PlanWriter* w, PlanSummary* s) : options(o), writer(w), summary(s) {}

  bool Wanted(const Key& key) const {
    return options.only_keys.empty() || options.only_keys.count(key) > 0;
  }

  // Parses and hashes the primary's lines on every core (simdjson first: PrimaryLineReader); the
  // digest, the index and the rejects are written in line order (ForEachLineParallel).
  Status IndexPrimary(LineReader& reader, RejectSink* rejects, Sha256* digest) {
    uint64_t rejected = 0;
    struct Item {
      std::optional<Invalid> invalid;
      PrimaryRecord record;
    };
    const size_t workers = ParseWorkers();
    std::vector<std::unique_ptr<PrimaryLineReader>> readers;
    for (size_t w = 0; w < workers; ++w) {
      readers.push_back(std::make_unique<PrimaryLineReader>(options.no_keys));
    }
    DiskIndexBuilder builder(options.out_dir, ".index-primary", options.index_memory_bytes);
    std::string encoded_key;
    std::string value;
    PrimaryEntry e;
    RECONCILE_RETURN_IF_ERROR(ForEachLineParallel<Item>(
        reader, rejects, nullptr, &rejected, nullptr, workers,
        [&](size_t worker, const Line& line, Item* item) {
          item->invalid = readers[worker]->Read(line.text, &item->record);
        },
        [&](const Line& line, Item& item, std::optional<Invalid>* invalid) -> Status {
          digest->Update(line.text);
          digest->Update("\n");
          if ((*invalid = std::move(item.invalid))) return Status::Ok();
          PrimaryRecord& r = item.record;
          e.fixed =
              PrimaryEntry::Fixed{line.offset, line.number, r.identity, r.identity_no_auth,
                                  r.twin,      r.reported,  r.edge,     r.own_scope.has_value()};
          e.parent = std::move(r.parent);
          e.own_scope = r.own_scope ? std::move(*r.own_scope) : std::string();
          encoded_key.clear();
          r.key->EncodeTo(&encoded_key);
          value.clear();
          e.EncodeTo(&value);
          return builder.Add(encoded_key, value);
        }));
    // A key seen again: the first line wins, the others are rejected (after the export's other
    // rejects: the index finds them when it is sorted).
    Result<std::unique_ptr<DiskIndex>> index = builder.Finish(
        [&](std::string_view encoded, std::string_view kept, std::string_view dropped) -> Status {
          PrimaryEntry first, repeat;
          if (!first.DecodeFrom(kept) || !repeat.DecodeFrom(dropped)) return BadEntry("primary");
          return RejectRepeatedKey(reader, encoded, first.fixed.line, repeat.fixed.line,
                                   repeat.fixed.offset, rejects, &rejected);
        });
    if (!index.ok()) return index.status();
    primary = std::move(*index);
    return Status::Ok();
  }

  // The primary's entry of `key`: false when the primary has none.
  Result<bool> FindPrimary(const Key& key, PrimaryEntry* out) const {
    thread_local std::string encoded, value;
    encoded.clear();
    key.EncodeTo(&encoded);
    Result<bool> got = primary->Find(encoded, &value);
    if (!got.ok() || !*got) return got;
    if (!out->DecodeFrom(value)) return BadEntry("primary");
    return true;
  }

  Result<bool> FindMergedEdge(const std::string& id, MergedEdge* out) const {
    thread_local std::string value;
    Result<bool> got = merged_edges->Find(id, &value);
    if (!got.ok() || !*got) return got;
    if (!out->DecodeFrom(value)) return BadEntry("merged edge");
    return true;
  }

  Status LoadPrimary(LineReader& reader, const PrimaryEntry& e, ExportDevice* out) {
    std::string text;
    RECONCILE_RETURN_IF_ERROR(reader.ReadLineAt(e.fixed.offset, &text));
    if (ParseExportDevice(text, out)) {
      return Status::Corruption("primary line " + std::to_string(e.fixed.line) + " of '" +
                                reader.name() + "' no longer parses (did the file change?)");
    }
    return Status::Ok();
  }

  Status ScanEdges(MergedSource& src) {
    // This pass reads edge devices only: a source that can skip the rest early saves
    // materializing every record twice.
    if (auto* filter = dynamic_cast<EdgeScanFilter*>(&src)) filter->OnlyPossibleEdges();
    MergedRecord rec{Key::Device("x").value(), std::nullopt, 0};
    // Edge devices are a few in a hundred: a smaller budget than the primary's.
    DiskIndexBuilder builder(options.out_dir, ".index-edges", options.index_memory_bytes / 8 + 1);
    std::string value;
    while (true) {
      Result<bool> got = src.Next(&rec);
      if (!got.ok()) return got.status();
      if (!*got) break;
      if (rec.key.kind() != KeyKind::kDevice || !rec.doc || !IsEdge(*rec.doc)) continue;
      MergedEdge edge;
      if (const json* s = iothub::PresentMember(*rec.doc, "deviceScope"); s && s->is_string()) {
        edge.scope = s->get<std::string>();
      }
      edge.parent = ParentOf(*rec.doc);
      value.clear();
      edge.EncodeTo(&value);
      RECONCILE_RETURN_IF_ERROR(builder.Add(rec.key.device_id(), value));
    }
    // A merged source yields each key once (the plan's second pass checks the order).
    Result<std::unique_ptr<DiskIndex>> index =
        builder.Finish([](std::string_view, std::string_view, std::string_view) {
          return Status::InvalidInput("plan: the merged records hold a device twice");
        });
    if (!index.ok()) return index.status();
    merged_edges = std::move(*index);
    return Status::Ok();
  }

  // The scope the primary has, or will have, for device `id`.
  Result<std::string> PrimaryScopeFor(const std::string& id) const {
    if (Result<Key> key = Key::Device(id); key.ok()) {
      PrimaryEntry entry;
      Result<bool> got = FindPrimary(*key, &entry);
      if (!got.ok()) return got.status();
      if (*got && entry.fixed.has_own_scope) return std::move(entry.own_scope);
    }
    MergedEdge edge;
    Result<bool> got = FindMergedEdge(id, &edge);
    if (!got.ok()) return got.status();
    if (*got && !edge.scope.empty()) {
      Result<std::string> owner = ScopeDeviceId(edge.scope);
      if (owner.ok() && *owner == id) return std::move(edge.scope);
    }
    return DerivedScope(id);
  }

  Status RewriteScopes(const Key& key, json& doc) const {
    return iothub::RewriteScopes(key.device_id(), primary_scope_for, doc);
  }

  // Nesting depth of an edge device (0: no edge parent), along `parent_of` (Result<std::string>,
  // "" for none); cycles are cut.
  template <typename ParentFn>
  static Result<int> DepthOf(const std::string& id, ParentFn&& parent_of) {
    int depth = 0;
    std::string cur = id;
    std::set<std::string> seen{cur};
    while (depth < 64) {
      Result<std::string> parent = parent_of(cur);
      if (!parent.ok()) return parent.status();
      if (parent->empty() || !seen.insert(*parent).second) break;
      ++depth;
      cur = std::move(*parent);
    }
    return depth;
  }

  Result<int> MergedDepth(const std::string& id) const {
    return DepthOf(id, [&](const std::string& d) -> Result<std::string> {
      MergedEdge edge;
      Result<bool> got = FindMergedEdge(d, &edge);
      if (!got.ok()) return got.status();
      return *got ? std::move(edge.parent) : std::string();
    });
  }

  Result<int> PrimaryDepth(const std::string& id) const {
    return DepthOf(id, [&](const std::string& d) -> Result<std::string> {
      Result<Key> k = Key::Device(d);
      if (!k.ok()) return std::string();
      PrimaryEntry entry;
      Result<bool> got = FindPrimary(*k, &entry);
      if (!got.ok()) return got.status();
      return *got ? std::move(entry.parent) : std::string();
    });
  }

  // An import line for a create or identity update from the merged document.
  json FullLine(const Key& key, const json& doc, ImportMode mode, const json* fallback_auth) const {
    json line = json::object();
    line["id"] = key.device_id();
    if (key.kind() == KeyKind::kModule) line["moduleId"] = key.module_id();
    line["importMode"] = ImportModeName(mode);
    const json* status = iothub::PresentMember(doc, "status");
    line["status"] = status ? *status : json("enabled");
    if (const json* r = iothub::PresentMember(doc, "statusReason")) line["statusReason"] = *r;
    if (const json* auth = iothub::PresentMember(doc, "authentication")) {
      line["authentication"] = *auth;
    } else if (fallback_auth != nullptr) {
      line["authentication"] = *fallback_auth;
    } else {
      line["authentication"] = {{"type", "sas"}};
    }
    if (key.kind() == KeyKind::kDevice) {
      for (const char* field : {"capabilities", "deviceScope", "parentScopes"}) {
        if (const json* v = iothub::PresentMember(doc, field)) line[field] = *v;
      }
    }
    const json* tags = iothub::PresentMember(doc, "tags");
    line["tags"] = tags ? *tags : json::object();
    const json* props = iothub::PresentMember(doc, "properties");
    const json* desired = props ? iothub::PresentMember(*props, "desired") : nullptr;
    line["properties"] = {{"desired", desired ? *desired : json::object()}};
    return line;
  }

  void StripKeys(json& line) const {
    if (!options.no_keys) return;
    if (auto it = line.find("authentication"); it != line.end() && it->is_object()) {
      it->erase("symmetricKey");
    }
  }

  Status Emit(Phase phase, int depth, ImportMode mode, json line) {
    StripKeys(line);
    return writer->Add(phase, depth, mode, Canonical(line));
  }

  Status PlanDelete(const Key& key, const PrimaryEntry& entry, LineReader& reader) {
    ExportDevice dev;
    RECONCILE_RETURN_IF_ERROR(LoadPrimary(reader, entry, &dev));
    const ImportMode mode = options.force ? ImportMode::kDelete : ImportMode::kDeleteIfMatchETag;
    json line = json::object();
    line["id"] = key.device_id();
    if (key.kind() == KeyKind::kModule) line["moduleId"] = key.module_id();
    line["importMode"] = ImportModeName(mode);
    if (!options.force) line["eTag"] = dev.etag;
    const json* status = iothub::PresentMember(dev.doc, "status");
    line["status"] = status ? *status : json("enabled");
    // A delete needs no secret: the type and thumbprints identify the authentication.
    const json* auth = iothub::PresentMember(dev.doc, "authentication");
    line["authentication"] = auth ? AuthWithoutKeys(*auth) : json{{"type", "sas"}};
    Phase phase = kDeviceDelete;
    int depth = 0;
    if (key.kind() == KeyKind::kModule) {
      phase = kModuleDelete;
    } else if (entry.fixed.edge) {
      phase = kEdgeDelete;
      Result<int> d = PrimaryDepth(key.device_id());
      if (!d.ok()) return d.status();
      depth = *d;
    }
    return Emit(phase, depth, mode, std::move(line));
  }

  Status ParseWhole(const Key& key, const DocText& text, json* doc) const {
    *doc = ParseCanonicalText(text.text);
    if (doc->is_discarded() || !doc->is_object()) {
      return Status::Corruption("merged record " + key.ToString() + " is not a JSON object");
    }
    return Status::Ok();
  }

  // A record whose identity and twin the primary holds as they are: counted, and reported when
  // only its reported properties differ (the plan never writes them).
  Status Unchanged(const Key& key, bool reported_changed) {
    if (reported_changed) {
      ++summary->reported_only;
      return writer->Report(key, "reportedNotWritten");
    }
    ++summary->unchanged;
    return Status::Ok();
  }

  // `text` is the document as it came (before its scopes are rewritten). Without `given` (a
  // CanonicalTextSource), the document is built from `text`: only its identity members when that
  // is enough to see the record unchanged, whole when a line is written.
  Status PlanUpsert(const Key& key, std::optional<json> given, const DocText& text,
                    PrimaryEntry* entry, LineReader& reader) {
    const bool is_module = key.kind() == KeyKind::kModule;
    std::optional<Hash128> twin, reported;
    // A record the primary holds as it is needs no document: its identity is hashed from the
    // text (DECISIONS P26). Most records of a failback are such.
    if (!given && entry != nullptr) {
      Result<std::optional<TextIdentity>> identity =
          IdentityOfText(text, is_module, options.no_keys, key.device_id(), primary_scope_for);
      if (!identity.ok()) return identity.status();
      if (*identity) {
        const Hash128& primary_identity =
            (*identity)->has_auth ? entry->fixed.identity : entry->fixed.identity_no_auth;
        twin = TwinHash(text.desired, text.tags);
        reported = ReportedHash(text.reported);
        if ((*identity)->hash == primary_identity && *twin == entry->fixed.twin) {
          return Unchanged(key, *reported != entry->fixed.reported);
        }
      }
    }
    json doc;
    bool whole = given.has_value();
    if (whole) {
      doc = std::move(*given);
    } else if (entry == nullptr || !IdentityDoc(text, &doc)) {
      RECONCILE_RETURN_IF_ERROR(ParseWhole(key, text, &doc));
      whole = true;
    }
    if (!is_module) RECONCILE_RETURN_IF_ERROR(RewriteScopes(key, doc));
    Phase phase = kDeviceUpsert;
    int depth = 0;
    if (is_module) {
      phase = kModuleUpsert;
    } else if (IsEdge(doc)) {
      phase = kEdgeUpsert;
      Result<int> d = MergedDepth(key.device_id());
      if (!d.ok()) return d.status();
      depth = *d;
    }
    // Not null and not empty (JSON's empty(): {} and [] are empty, scalars are not).
    const bool has_reported =
        !text.reported.empty() && text.reported != "{}" && text.reported != "[]";
    const json* own_auth = iothub::PresentMember(doc, "authentication");
    const bool has_auth = own_auth != nullptr;

    if (entry == nullptr) {
      const ImportMode mode = options.force ? ImportMode::kCreateOrUpdate : ImportMode::kCreate;
      if (has_reported) {
        ++summary->reported_only;
        RECONCILE_RETURN_IF_ERROR(writer->Report(key, "reportedNotWritten"));
      }
      const json* auth = iothub::PresentMember(doc, "authentication");
      const json* keys = auth ? iothub::PresentMember(*auth, "symmetricKey") : nullptr;
      const json* type = auth ? iothub::PresentMember(*auth, "type") : nullptr;
      if (!options.no_keys && (type == nullptr || *type == "sas") && keys == nullptr) {
        RECONCILE_RETURN_IF_ERROR(writer->Report(key, "noKeysKnown"));
      }
      return Emit(phase, depth, mode, FullLine(key, doc, mode, nullptr));
    }

    const std::string members = IdentityMembers(doc, is_module);
    const bool identity_changed =
        has_auth ? IdentityHash(members, *own_auth, options.no_keys) != entry->fixed.identity
                 : IdentityNoAuthHash(members) != entry->fixed.identity_no_auth;
    if (!twin) twin = TwinHash(text.desired, text.tags);
    if (!reported) reported = ReportedHash(text.reported);
    const bool twin_changed = *twin != entry->fixed.twin;
    const bool reported_changed = *reported != entry->fixed.reported;
    if (!identity_changed && !twin_changed) return Unchanged(key, reported_changed);
    if (!whole) {
      RECONCILE_RETURN_IF_ERROR(ParseWhole(key, text, &doc));
      if (!is_module) RECONCILE_RETURN_IF_ERROR(RewriteScopes(key, doc));
    }
    const json* tags = iothub::PresentMember(doc, "tags");
    const json* props = iothub::PresentMember(doc, "properties");
    const json* desired = props ? iothub::PresentMember(*props, "desired") : nullptr;
    ExportDevice current;
    RECONCILE_RETURN_IF_ERROR(LoadPrimary(reader, *entry, &current));
    const json* primary_auth = iothub::PresentMember(current.doc, "authentication");
    if (reported_changed) RECONCILE_RETURN_IF_ERROR(writer->Report(key, "reportedNotWritten"));
    if (options.no_keys && has_auth && primary_auth != nullptr) {
      const json* mine =
          iothub::PresentMember(*iothub::PresentMember(doc, "authentication"), "symmetricKey");
      const json* theirs = iothub::PresentMember(*primary_auth, "symmetricKey");
      if ((mine == nullptr) != (theirs == nullptr) || (mine && *mine != *theirs)) {
        RECONCILE_RETURN_IF_ERROR(writer->Report(key, "keysNotWritten"));
      }
    }
    if (identity_changed) {
      const ImportMode mode =
          options.force ? ImportMode::kCreateOrUpdate : ImportMode::kUpdateIfMatchETag;
      json line = FullLine(key, doc, mode, primary_auth);
      if (!options.force) line["eTag"] = current.etag;
      return Emit(phase, depth, mode, std::move(line));
    }
    const ImportMode mode =
        options.force ? ImportMode::kUpdateTwin : ImportMode::kUpdateTwinIfMatchETag;
    json line = json::object();
    line["id"] = key.device_id();
    if (is_module) line["moduleId"] = key.module_id();
    line["importMode"] = ImportModeName(mode);
    if (!options.force) line["twinETag"] = current.twin_etag;
    const json* status = iothub::PresentMember(doc, "status");
    line["status"] = status ? *status : json("enabled");
    const json* auth = iothub::PresentMember(doc, "authentication");
    line["authentication"] = auth ? *auth : primary_auth ? *primary_auth : json{{"type", "sas"}};
    line["tags"] = tags ? *tags : json::object();
    line["properties"] = {{"desired", desired ? *desired : json::object()}};
    return Emit(phase, depth, mode, std::move(line));
  }

  // Adds the digest of the merged records to *inputs.
  Status PlanAll(const MergedSourceFactory& merged, LineReader& reader,
                 std::vector<std::pair<std::string, std::string>>* inputs) {
    Result<std::unique_ptr<MergedSource>> src = merged();
    if (!src.ok()) return src.status();
    // Most records are unchanged: read as text, they need no document at all.
    auto* text_source = dynamic_cast<CanonicalTextSource*>(src->get());
    if (text_source != nullptr) text_source->YieldText();
    // Of those, most are untouched since the backup: they need no text either (P27).
    auto* untouched_source =
        text_source != nullptr ? dynamic_cast<UntouchedSource*>(src->get()) : nullptr;
    if (untouched_source != nullptr && !untouched_source->SkipsUntouched()) {
      untouched_source = nullptr;
    }
    Sha256 texts_digest;
    Sha256* digest = untouched_source != nullptr ? nullptr : &texts_digest;
    MergedRecord rec{Key::Device("x").value(), std::nullopt, 0};
    std::string device;
    bool device_exists = false;
    DocText text;
    std::optional<std::string> canonical;
    // The primary's index is read beside the merged records, both in key order (a merge join):
    // entries the merged records pass by are the primary's own.
    DiskIndex::Cursor cursor(*primary);
    Result<bool> at = cursor.Next();
    if (!at.ok()) return at.status();
    auto primary_only = [&]() -> Status {
      Result<Key> key = Key::Decode(cursor.key());
      if (key.ok() && Wanted(*key)) ++summary->primary_only;
      at = cursor.Next();
      return at.status();
    };
    std::string encoded, last;
    PrimaryEntry found;
    while (true) {
      Result<bool> got =
          text_source != nullptr ? text_source->NextText(&rec.key, &canonical) : (*src)->Next(&rec);
      if (!got.ok()) return got.status();
      if (!*got) break;
      const Key& key = rec.key;
      encoded.clear();
      key.EncodeTo(&encoded);
      if (!last.empty() && encoded <= last) {
        return Status::InvalidInput("plan: the merged records are not in key order (at " +
                                    key.ToString() + ")");
      }
      last = encoded;
      while (*at && cursor.key() < std::string_view(encoded)) {
        RECONCILE_RETURN_IF_ERROR(primary_only());
      }
      PrimaryEntry* entry = nullptr;
      if (*at && cursor.key() == std::string_view(encoded)) {
        if (!found.DecodeFrom(cursor.value())) return BadEntry("primary");
        entry = &found;
        at = cursor.Next();
        if (!at.ok()) return at.status();
      }
      if (key.kind() == KeyKind::kMeta) continue;
      bool exists = rec.doc.has_value();
      bool untouched = false;
      if (text_source != nullptr) {
        untouched = untouched_source != nullptr && !canonical && untouched_source->LastUntouched();
        if (untouched && entry == nullptr) {
          // No readable line of it in the primary's export after all: planned from its text.
          Result<std::optional<std::string>> text_of = untouched_source->TextOf(key);
          if (!text_of.ok()) return text_of.status();
          canonical = std::move(*text_of);
          untouched = false;
        }
        exists = untouched || canonical.has_value();
        if (canonical.has_value()) {
          text.text = std::move(*canonical);
          if (!ScanDocText(&text)) {
            return Status::Corruption("merged record " + key.ToString() + " is not a JSON object");
          }
        }
      } else if (exists) {
        WriteDocText(*rec.doc, &text);
      }
      if (digest != nullptr) {
        digest->Update(key.ToString());
        digest->Update("\t");
        digest->Update(exists ? std::string_view(text.text) : std::string_view("-"));
        digest->Update("\n");
      }
      if (key.kind() == KeyKind::kDevice) {
        device = key.device_id();
        device_exists = exists;
      }
      if (!Wanted(key)) continue;
      if (iothub::IsSystemModule(key)) {
        ++summary->system_modules_skipped;
        continue;
      }
      // A restricted plan (only_keys) may read from a source that yields only the keys asked
      // for: a module whose device record did not come by is then taken to have its device.
      const bool device_known = device == key.device_id();
      const bool assume_device = !device_known && !options.only_keys.empty();
      if (key.kind() == KeyKind::kModule && !assume_device && (!device_known || !device_exists)) {
        // The device's delete removes its modules; a module without its device cannot be made.
        if (exists) {
          ++summary->orphan_modules;
          RECONCILE_RETURN_IF_ERROR(writer->Report(key, "orphanModule"));
        }
        continue;
      }
      if (!exists) {
        if (entry != nullptr) RECONCILE_RETURN_IF_ERROR(PlanDelete(key, *entry, reader));
        continue;
      }
      if (untouched) {
        ++summary->untouched;
        RECONCILE_RETURN_IF_ERROR(Unchanged(key, false));
        continue;
      }
      RECONCILE_RETURN_IF_ERROR(PlanUpsert(key, std::move(rec.doc), text, entry, reader));
    }
    while (*at) RECONCILE_RETURN_IF_ERROR(primary_only());
    if (digest != nullptr) {
      inputs->emplace_back("merged-records", digest->HexDigest());
    } else {
      inputs->emplace_back("merged-states", untouched_source->StateDigest());
    }
    return Status::Ok();
  }
};

Planner::Planner(const PlanOptions& options, PlanWriter* writer, PlanSummary* summary)
    : impl_(std::make_unique<Impl>(options, writer, summary)) {}

Planner::~Planner() = default;

Status Planner::Run(const MergedSourceFactory& merged, LineReader& primary, RejectSink* rejects,
                    std::vector<std::pair<std::string, std::string>>* inputs) {
  if (!merged) return Status::InvalidInput("plan: no merged source");
  Sha256 primary_digest;
  // The first pass over the merged state (edge devices) and the primary's index read different
  // inputs into different members: a source that filters (the store's) is read beside the index,
  // on a helper thread. Other sources are read after it, on this thread.
  Result<std::unique_ptr<MergedSource>> first = merged();
  if (!first.ok()) return first.status();
  Status scanned;
  if (dynamic_cast<EdgeScanFilter*>(first->get()) != nullptr) {
    std::future<Status> edges = internal::RunBeside([&] { return impl_->ScanEdges(**first); });
    Status indexed = impl_->IndexPrimary(primary, rejects, &primary_digest);
    scanned = edges.get();
    RECONCILE_RETURN_IF_ERROR(indexed);
  } else {
    RECONCILE_RETURN_IF_ERROR(impl_->IndexPrimary(primary, rejects, &primary_digest));
    scanned = impl_->ScanEdges(**first);
  }
  first->reset();
  RECONCILE_RETURN_IF_ERROR(scanned);
  inputs->emplace_back("primary-lines", primary_digest.HexDigest());
  return impl_->PlanAll(merged, primary, inputs);
}

}  // namespace iothub

Result<PlanSummary> BuildFailbackPlan(const MergedSourceFactory& merged, LineReader& primary,
                                      const PlanOptions& options, RejectSink* rejects) {
  iothub::PlanWriter writer(options);
  RECONCILE_RETURN_IF_ERROR(writer.Open());
  PlanSummary summary;
  iothub::Planner planner(options, &writer, &summary);
  std::vector<std::pair<std::string, std::string>> inputs;
  RECONCILE_RETURN_IF_ERROR(planner.Run(merged, primary, rejects, &inputs));
  return writer.Finish(std::move(summary), inputs);
}

}  // namespace reconcile
