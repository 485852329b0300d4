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
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "lib/core/hash.h"
#include "lib/iothub/device_doc.h"
#include "lib/iothub/line_pipeline.h"
#include "lib/iothub/plan_internal.h"
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
    const bool spill = name.rfind(".spill-", 0) == 0;
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

bool IsEdge(const json& doc) {
  const json* caps = iothub::PresentMember(doc, "capabilities");
  const json* edge = caps ? iothub::PresentMember(*caps, "iotEdge") : nullptr;
  return edge != nullptr && edge->is_boolean() && edge->get<bool>();
}

// The parent device id named by the first parent scope, or "".
std::string ParentOf(const json& doc) {
  const json* parents = iothub::PresentMember(doc, "parentScopes");
  if (parents == nullptr || !parents->is_array() || parents->empty() ||
      !(*parents)[0].is_string()) {
    return "";
  }
  Result<std::string> id = ScopeDeviceId((*parents)[0].get<std::string>());
  return id.ok() ? *id : "";
}

json AuthWithoutKeys(const json& auth) {
  json out = auth;
  if (out.is_object()) out.erase("symmetricKey");
  return out;
}

// ---- Canonical text without copies ----------------------------------------------------------
// The plan hashes parts of documents and digests whole ones, always as CanonicalJson's bytes.
// These write the same bytes straight from the document, without building the parts as new JSON
// values first: plain ASCII strings and integers here, anything else (floats, strings with escapes
// or non-ASCII bytes) by nlohmann's own serializer, which is what CanonicalJson runs.

void AppendCanonical(const json& value, std::string* out);

// True when `text` is printable ASCII without '"' and '\\': written as it is, between quotes.
// Eight bytes at a time (bit tricks: a byte's high bit marks a byte below 0x20, equal to '"' or
// '\\', or of 0x80 and above).
bool IsPlainAscii(std::string_view text) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  auto special = [](uint64_t w) {  // no false negatives; a false positive is checked bytewise
    const uint64_t quote = w ^ (kOnes * '"');
    const uint64_t slash = w ^ (kOnes * '\\');
    return (((w - kOnes * 0x20) & ~w) | ((quote - kOnes) & ~quote) | ((slash - kOnes) & ~slash) |
            w) &
           kHigh;
  };
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    if (special(w) == 0) continue;
    for (size_t k = i; k < i + 8; ++k) {
      const unsigned char c = static_cast<unsigned char>(text[k]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
    }
  }
  for (; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
  }
  return true;
}

void AppendCanonicalString(const std::string& text, std::string* out) {
  if (!IsPlainAscii(text)) {
    out->append(CanonicalJson(json(text)));
    return;
  }
  out->push_back('"');
  out->append(text);
  out->push_back('"');
}

template <typename Int>
void AppendInteger(Int n, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
  out->append(buf, end);
}

void AppendCanonical(const json& value, std::string* out) {
  switch (value.type()) {
    case json::value_t::null:
      out->append("null");
      return;
    case json::value_t::boolean:
      out->append(value.get<bool>() ? "true" : "false");
      return;
    case json::value_t::number_integer:
      AppendInteger(value.get<json::number_integer_t>(), out);
      return;
    case json::value_t::number_unsigned:
      AppendInteger(value.get<json::number_unsigned_t>(), out);
      return;
    case json::value_t::string:
      AppendCanonicalString(value.get_ref<const std::string&>(), out);
      return;
    case json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const json& item : value) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonical(item, out);
      }
      out->push_back(']');
      return;
    }
    case json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& [name, member] : value.get_ref<const json::object_t&>()) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonicalString(name, out);
        out->push_back(':');
        AppendCanonical(member, out);
      }
      out->push_back('}');
      return;
    }
    default:  // floats, binary, discarded
      out->append(CanonicalJson(value));
      return;
  }
}

std::string Canonical(const json& value) {
  std::string out;
  AppendCanonical(value, &out);
  return out;
}

// A record document as canonical text, with where its big twin sections lie in it (empty when
// absent or null), so their hashes need no second serialization.
struct DocText {
  std::string text;
  std::string_view tags;
  std::string_view desired;
  std::string_view reported;
  // ScanDocText only: the identity members, null ones included (name, canonical value).
  std::vector<std::pair<std::string_view, std::string_view>> identity;
};

void WriteDocText(const json& doc, DocText* out) {
  out->text.clear();
  out->tags = out->desired = out->reported = {};
  out->identity.clear();
  if (!doc.is_object()) {
    AppendCanonical(doc, &out->text);
    return;
  }
  // Offsets first: the text may move while it grows.
  std::pair<size_t, size_t> tags{0, 0}, desired{0, 0}, reported{0, 0};
  std::string& t = out->text;
  t.push_back('{');
  bool first = true;
  for (const auto& [name, member] : doc.get_ref<const json::object_t&>()) {
    if (!first) t.push_back(',');
    first = false;
    AppendCanonicalString(name, &t);
    t.push_back(':');
    const size_t at = t.size();
    if (name == "properties" && member.is_object()) {
      t.push_back('{');
      bool inner_first = true;
      for (const auto& [inner, section] : member.get_ref<const json::object_t&>()) {
        if (!inner_first) t.push_back(',');
        inner_first = false;
        AppendCanonicalString(inner, &t);
        t.push_back(':');
        const size_t from = t.size();
        AppendCanonical(section, &t);
        if (section.is_null()) continue;
        if (inner == "desired") desired = {from, t.size()};
        if (inner == "reported") reported = {from, t.size()};
      }
      t.push_back('}');
      continue;
    }
    AppendCanonical(member, &t);
    if (name == "tags" && !member.is_null()) tags = {at, t.size()};
  }
  t.push_back('}');
  auto view = [&](std::pair<size_t, size_t> span) {
    return std::string_view(t).substr(span.first, span.second - span.first);
  };
  out->tags = view(tags);
  out->desired = view(desired);
  out->reported = view(reported);
}

// ---- Reading canonical text -----------------------------------------------------------------
// A record that comes as canonical text (CanonicalTextSource) is not parsed whole to be compared:
// its members are found in the text (canonical: no whitespace, keys as plain as they can be).

constexpr size_t kBad = std::string_view::npos;

// The end of the JSON value starting at text[i], or kBad.
size_t SkipValue(std::string_view text, size_t i) {
  if (i >= text.size()) return kBad;
  const char c = text[i];
  if (c == '"') {
    for (++i; i < text.size(); ++i) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '"') {
        return i + 1;
      }
    }
    return kBad;
  }
  if (c == '{' || c == '[') {
    int depth = 0;
    while (i < text.size()) {
      const char d = text[i];
      if (d == '"') {
        i = SkipValue(text, i);
        if (i == kBad) return kBad;
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if ((d == '}' || d == ']') && --depth == 0) {
        return i + 1;
      }
      ++i;
    }
    return kBad;
  }
  while (i < text.size() && text[i] != ',' && text[i] != '}' && text[i] != ']') ++i;
  return i;
}

// Calls fn(raw name, value text) for each member of the object `text`; false when malformed.
template <typename Fn>
bool ForEachMember(std::string_view text, Fn&& fn) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return false;
  size_t i = 1;
  if (text[i] == '}') return i + 1 == text.size();
  while (true) {
    if (i >= text.size() || text[i] != '"') return false;
    const size_t name_end = SkipValue(text, i);
    if (name_end == kBad || name_end >= text.size() || text[name_end] != ':') return false;
    const std::string_view name = text.substr(i + 1, name_end - i - 2);
    const size_t from = name_end + 1;
    const size_t to = SkipValue(text, from);
    if (to == kBad || to >= text.size() || to == from) return false;
    fn(name, text.substr(from, to - from));
    if (text[to] == '}') return to + 1 == text.size();
    if (text[to] != ',') return false;
    i = to + 1;
  }
}

// Fills out->tags/desired/reported/identity from out->text; false when it is not an object.
bool ScanDocText(DocText* out) {
  out->tags = out->desired = out->reported = {};
  out->identity.clear();
  const std::string_view text = out->text;
  bool inner_ok = true;
  const bool ok = ForEachMember(text, [&](std::string_view name, std::string_view value) {
    if (name == "tags") {
      if (value != "null") out->tags = value;
    } else if (name == "properties") {
      if (value.front() != '{') return;
      inner_ok = ForEachMember(value,
                               [&](std::string_view inner, std::string_view section) {
                                 if (section == "null") return;
                                 if (inner == "desired") out->desired = section;
                                 if (inner == "reported") out->reported = section;
                               }) &&
                 inner_ok;
    } else if (name == "authentication" || name == "capabilities" || name == "deviceScope" ||
               name == "parentScopes" || name == "status" || name == "statusReason") {
      out->identity.emplace_back(name, value);
    }
  });
  return ok && inner_ok;
}

// Canonical text into a document, for the common case: objects, arrays, plain ASCII strings,
// literals and integers of up to 18 digits, the same values nlohmann's parser gives (non-negative
// integers unsigned). False (and *out unspecified) for anything else: the caller asks nlohmann.
bool ParseSimple(std::string_view text, size_t* i, json* out) {
  if (*i >= text.size()) return false;
  const char c = text[*i];
  if (c == '{' || c == '[') {
    const bool object = c == '{';
    const char close = object ? '}' : ']';
    *out = object ? json::object() : json::array();
    ++*i;
    if (*i < text.size() && text[*i] == close) {
      ++*i;
      return true;
    }
    while (true) {
      if (object) {
        json name;
        if (*i >= text.size() || text[*i] != '"' || !ParseSimple(text, i, &name)) return false;
        if (*i >= text.size() || text[*i] != ':') return false;
        ++*i;
        auto& members = out->get_ref<json::object_t&>();
        auto it =
            members.emplace_hint(members.end(), std::move(name.get_ref<std::string&>()), json());
        if (!ParseSimple(text, i, &it->second)) return false;
      } else {
        json item;
        if (!ParseSimple(text, i, &item)) return false;
        out->get_ref<json::array_t&>().push_back(std::move(item));
      }
      if (*i >= text.size()) return false;
      if (text[*i] == close) {
        ++*i;
        return true;
      }
      if (text[*i] != ',') return false;
      ++*i;
    }
  }
  if (c == '"') {
    const size_t from = *i + 1;
    size_t k = from;
    while (k < text.size() && text[k] != '"') {
      const unsigned char b = static_cast<unsigned char>(text[k]);
      if (b < 0x20 || b >= 0x80 || b == '\\') return false;
      ++k;
    }
    if (k >= text.size()) return false;
    *out = std::string(text.substr(from, k - from));
    *i = k + 1;
    return true;
  }
  for (std::string_view literal : {"true", "false", "null"}) {
    if (text.substr(*i, literal.size()) == literal) {
      *out = literal == "null" ? json() : json(literal == "true");
      *i += literal.size();
      return true;
    }
  }
  const bool negative = c == '-';
  size_t k = *i + (negative ? 1 : 0);
  const size_t first = k;
  while (k < text.size() && text[k] >= '0' && text[k] <= '9') ++k;
  const size_t digits = k - first;
  if (digits == 0 || digits > 18 || (digits > 1 && text[first] == '0')) return false;
  if (k < text.size() && (text[k] == '.' || text[k] == 'e' || text[k] == 'E')) return false;
  uint64_t n = 0;
  for (size_t d = first; d < k; ++d) n = n * 10 + static_cast<uint64_t>(text[d] - '0');
  if (negative) {
    *out = -static_cast<json::number_integer_t>(n);
  } else {
    *out = static_cast<json::number_unsigned_t>(n);
  }
  *i = k;
  return true;
}

// Canonical text into a document; discarded when it is not JSON.
json ParseCanonicalText(std::string_view text) {
  json out;
  size_t i = 0;
  if (ParseSimple(text, &i, &out) && i == text.size()) return out;
  return json::parse(text, nullptr, false);
}

// The identity members of a scanned record as a document (enough for RewriteScopes, IsEdge and
// IdentityMembers); false when one does not parse.
bool IdentityDoc(const DocText& text, json* out) {
  *out = json::object();
  for (const auto& [name, value] : text.identity) {
    json v = ParseCanonicalText(value);
    if (v.is_discarded()) return false;
    (*out)[std::string(name)] = std::move(v);
  }
  return true;
}

// The canonical text of the parts of a record document the plan compares, as CanonicalJson of:
//   identity:          {"authentication"? (no symmetricKey when no_keys), "capabilities":
//                       {"iotEdge"}, "deviceScope"?, "parentScopes"? (non-empty), "status"
//                       (default "enabled"), "statusReason"? (non-empty string)} (modules: only
//                       "authentication"?)
//   identity_no_auth:  the same without "authentication"
//   twin:              {"desired" (default {}), "tags" (default {})}
//   reported:          properties.reported (default {})
// Keys in that order are sorted, as CanonicalJson writes them.
std::string IdentityMembers(const json& doc, bool is_module) {
  std::string out;
  if (is_module) return out;
  out.append(IsEdge(doc) ? "\"capabilities\":{\"iotEdge\":true}"
                         : "\"capabilities\":{\"iotEdge\":false}");
  if (const json* s = iothub::PresentMember(doc, "deviceScope")) {
    out.append(",\"deviceScope\":");
    AppendCanonical(*s, &out);
  }
  if (const json* p = iothub::PresentMember(doc, "parentScopes"); p && !p->empty()) {
    out.append(",\"parentScopes\":");
    AppendCanonical(*p, &out);
  }
  out.append(",\"status\":");
  if (const json* status = iothub::PresentMember(doc, "status")) {
    AppendCanonical(*status, &out);
  } else {
    out.append("\"enabled\"");
  }
  if (const json* r = iothub::PresentMember(doc, "statusReason");
      r && r->is_string() && !r->get_ref<const std::string&>().empty()) {
    out.append(",\"statusReason\":");
    AppendCanonical(*r, &out);
  }
  return out;
}

Hash128 IdentityNoAuthHash(const std::string& members) {
  std::string text;
  text.reserve(members.size() + 2);
  text.push_back('{');
  text.append(members);
  text.push_back('}');
  return HashText(text);
}

// REQUIRES: `auth` is the document's non-null authentication.
Hash128 IdentityHash(const std::string& members, const json& auth, bool no_keys) {
  std::string text = "{\"authentication\":";
  if (no_keys && auth.is_object()) {
    text.push_back('{');
    bool first = true;
    for (const auto& [name, member] : auth.get_ref<const json::object_t&>()) {
      if (name == "symmetricKey") continue;
      if (!first) text.push_back(',');
      first = false;
      AppendCanonicalString(name, &text);
      text.push_back(':');
      AppendCanonical(member, &text);
    }
    text.push_back('}');
  } else {
    AppendCanonical(auth, &text);
  }
  if (!members.empty()) text.push_back(',');
  text.append(members);
  text.push_back('}');
  return HashText(text);
}

Hash128 TwinHash(std::string_view desired, std::string_view tags) {
  std::string text = "{\"desired\":";
  text.append(desired.empty() ? std::string_view("{}") : desired);
  text.append(",\"tags\":");
  text.append(tags.empty() ? std::string_view("{}") : tags);
  text.push_back('}');
  return HashText(text);
}

Hash128 ReportedHash(std::string_view reported) {
  return HashText(reported.empty() ? std::string_view("{}") : reported);
}

// The twin sections of a document (for a document not written out whole).
void WriteSections(const json& doc, DocText* out) {
  out->text.clear();
  std::pair<size_t, size_t> tags{0, 0}, desired{0, 0}, reported{0, 0};
  std::string& t = out->text;
  if (const json* v = iothub::PresentMember(doc, "tags")) {
    AppendCanonical(*v, &t);
    tags = {0, t.size()};
  }
  if (const json* props = iothub::PresentMember(doc, "properties")) {
    if (const json* v = iothub::PresentMember(*props, "desired")) {
      const size_t from = t.size();
      AppendCanonical(*v, &t);
      desired = {from, t.size()};
    }
    if (const json* v = iothub::PresentMember(*props, "reported")) {
      const size_t from = t.size();
      AppendCanonical(*v, &t);
      reported = {from, t.size()};
    }
  }
  auto view = [&](std::pair<size_t, size_t> span) {
    return std::string_view(t).substr(span.first, span.second - span.first);
  };
  out->tags = view(tags);
  out->desired = view(desired);
  out->reported = view(reported);
}

struct PrimaryEntry {
  uint64_t offset = 0;
  uint64_t line = 0;
  Hash128 identity;
  Hash128 identity_no_auth;
  Hash128 twin;
  Hash128 reported;
  bool edge = false;
  std::string parent;  // edge devices: the parent's device id
  bool planned = false;
};

}  // namespace

struct Planner::Impl {
  const PlanOptions& options;
  PlanWriter* writer;
  PlanSummary* summary;
  std::unordered_map<std::string, PrimaryEntry> primary;        // encoded key -> entry
  std::unordered_map<std::string, std::string> primary_scopes;  // device id -> its scope
  struct MergedEdge {
    std::string scope;
    std::string parent;
  };
  std::unordered_map<std::string, MergedEdge> merged_edges;  // device id -> edge info

  Impl(const PlanOptions& o, PlanWriter* w, PlanSummary* s) : options(o), writer(w), summary(s) {}

  bool Wanted(const Key& key) const {
    return options.only_keys.empty() || options.only_keys.count(key) > 0;
  }

  // Parses and hashes the primary's lines on every core; the digest, the index and the rejects
  // are written in line order (ForEachLineParallel).
  Status IndexPrimary(LineReader& reader, RejectSink* rejects, Sha256* digest) {
    uint64_t rejected = 0;
    struct Item {
      std::optional<Invalid> invalid;
      std::optional<Key> key;
      PrimaryEntry entry;
      std::optional<std::string> own_scope;  // a deviceScope naming the device itself
    };
    const size_t workers = ParseWorkers();
    std::vector<DocText> sections(workers);
    return ForEachLineParallel<Item>(
        reader, rejects, nullptr, &rejected, nullptr, workers,
        [&](size_t worker, const Line& line, Item* item) {
          ExportDevice dev;
          if ((item->invalid = ParseExportDevice(line.text, &dev))) return;
          const bool is_module = dev.key->kind() == KeyKind::kModule;
          PrimaryEntry& e = item->entry;
          e.offset = line.offset;
          e.line = line.number;
          const std::string members = IdentityMembers(dev.doc, is_module);
          e.identity_no_auth = IdentityNoAuthHash(members);
          const json* auth = iothub::PresentMember(dev.doc, "authentication");
          e.identity = auth ? IdentityHash(members, *auth, options.no_keys) : e.identity_no_auth;
          WriteSections(dev.doc, &sections[worker]);
          e.twin = TwinHash(sections[worker].desired, sections[worker].tags);
          e.reported = ReportedHash(sections[worker].reported);
          if (!is_module && IsEdge(dev.doc)) {
            e.edge = true;
            e.parent = ParentOf(dev.doc);
          }
          if (!is_module) {
            if (const json* s = iothub::PresentMember(dev.doc, "deviceScope")) {
              Result<std::string> owner = ScopeDeviceId(s->get<std::string>());
              if (owner.ok() && *owner == dev.key->device_id()) {
                item->own_scope = s->get<std::string>();
              }
            }
          }
          item->key = std::move(dev.key);
        },
        [&](const Line& line, Item& item, std::optional<Invalid>* invalid) -> Status {
          digest->Update(line.text);
          digest->Update("\n");
          if ((*invalid = std::move(item.invalid))) return Status::Ok();
          auto [it, inserted] = primary.try_emplace(item.key->Encode());
          if (!inserted) {
            *invalid = Invalid{RejectReason::kDuplicateRecord,
                               item.key->ToString() + " appears again (first at line " +
                                   std::to_string(it->second.line) + ")"};
            return Status::Ok();
          }
          it->second = std::move(item.entry);
          if (item.own_scope) primary_scopes[item.key->device_id()] = std::move(*item.own_scope);
          return Status::Ok();
        });
  }

  Status LoadPrimary(LineReader& reader, const PrimaryEntry& e, ExportDevice* out) {
    std::string text;
    RECONCILE_RETURN_IF_ERROR(reader.ReadLineAt(e.offset, &text));
    if (ParseExportDevice(text, out)) {
      return Status::Corruption("primary line " + std::to_string(e.line) + " of '" + reader.name() +
                                "' no longer parses (did the file change?)");
    }
    return Status::Ok();
  }

  Status ScanEdges(const MergedSourceFactory& merged) {
    Result<std::unique_ptr<MergedSource>> src = merged();
    if (!src.ok()) return src.status();
    // This pass reads edge devices only: a source that can skip the rest early saves
    // materializing every record twice.
    if (auto* filter = dynamic_cast<EdgeScanFilter*>(src->get())) filter->OnlyPossibleEdges();
    MergedRecord rec{Key::Device("x").value(), std::nullopt, 0};
    while (true) {
      Result<bool> got = (*src)->Next(&rec);
      if (!got.ok()) return got.status();
      if (!*got) break;
      if (rec.key.kind() != KeyKind::kDevice || !rec.doc || !IsEdge(*rec.doc)) continue;
      MergedEdge edge;
      if (const json* s = iothub::PresentMember(*rec.doc, "deviceScope"); s && s->is_string()) {
        edge.scope = s->get<std::string>();
      }
      edge.parent = ParentOf(*rec.doc);
      merged_edges[rec.key.device_id()] = std::move(edge);
    }
    return Status::Ok();
  }

  // The scope the primary has, or will have, for device `id`.
  std::string PrimaryScopeFor(const std::string& id) const {
    if (auto it = primary_scopes.find(id); it != primary_scopes.end()) return it->second;
    if (auto it = merged_edges.find(id); it != merged_edges.end() && !it->second.scope.empty()) {
      Result<std::string> owner = ScopeDeviceId(it->second.scope);
      if (owner.ok() && *owner == id) return it->second.scope;
    }
    return DerivedScope(id);
  }

  std::string MapScope(const std::string& scope) const {
    Result<std::string> owner = ScopeDeviceId(scope);
    return owner.ok() ? PrimaryScopeFor(*owner) : scope;
  }

  void RewriteScopes(const Key& key, json& doc) const {
    // An edge device always gets its own scope, so it and its children agree on one value.
    if (IsEdge(doc) && !doc.contains("deviceScope")) {
      doc["deviceScope"] = PrimaryScopeFor(key.device_id());
    }
    if (auto it = doc.find("deviceScope"); it != doc.end() && it->is_string()) {
      *it = MapScope(it->get<std::string>());
    }
    if (auto it = doc.find("parentScopes"); it != doc.end() && it->is_array()) {
      for (json& s : *it) {
        if (s.is_string()) s = MapScope(s.get<std::string>());
      }
    }
  }

  // Nesting depth of an edge device (0: no edge parent), along `parent_of`; cycles are cut.
  template <typename ParentFn>
  static int DepthOf(const std::string& id, ParentFn&& parent_of) {
    int depth = 0;
    std::string cur = id;
    std::set<std::string> seen{cur};
    while (depth < 64) {
      std::string parent = parent_of(cur);
      if (parent.empty() || !seen.insert(parent).second) break;
      ++depth;
      cur = parent;
    }
    return depth;
  }

  int MergedDepth(const std::string& id) const {
    return DepthOf(id, [&](const std::string& d) -> std::string {
      auto it = merged_edges.find(d);
      return it == merged_edges.end() ? "" : it->second.parent;
    });
  }

  int PrimaryDepth(const std::string& id) const {
    return DepthOf(id, [&](const std::string& d) -> std::string {
      Result<Key> k = Key::Device(d);
      if (!k.ok()) return "";
      auto it = primary.find(k->Encode());
      return it == primary.end() ? "" : it->second.parent;
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
    } else if (entry.edge) {
      phase = kEdgeDelete;
      depth = PrimaryDepth(key.device_id());
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

  // `text` is the document as it came (before its scopes are rewritten). Without `given` (a
  // CanonicalTextSource), the document is built from `text`: only its identity members when that
  // is enough to see the record unchanged, whole when a line is written.
  Status PlanUpsert(const Key& key, std::optional<json> given, const DocText& text,
                    PrimaryEntry* entry, LineReader& reader) {
    const bool is_module = key.kind() == KeyKind::kModule;
    json doc;
    bool whole = given.has_value();
    if (whole) {
      doc = std::move(*given);
    } else if (entry == nullptr || !IdentityDoc(text, &doc)) {
      RECONCILE_RETURN_IF_ERROR(ParseWhole(key, text, &doc));
      whole = true;
    }
    if (!is_module) RewriteScopes(key, doc);
    Phase phase = kDeviceUpsert;
    int depth = 0;
    if (is_module) {
      phase = kModuleUpsert;
    } else if (IsEdge(doc)) {
      phase = kEdgeUpsert;
      depth = MergedDepth(key.device_id());
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
        has_auth ? IdentityHash(members, *own_auth, options.no_keys) != entry->identity
                 : IdentityNoAuthHash(members) != entry->identity_no_auth;
    const bool twin_changed = TwinHash(text.desired, text.tags) != entry->twin;
    const bool reported_changed = ReportedHash(text.reported) != entry->reported;
    if (!identity_changed && !twin_changed) {
      if (reported_changed) {
        ++summary->reported_only;
        return writer->Report(key, "reportedNotWritten");
      }
      ++summary->unchanged;
      return Status::Ok();
    }
    if (!whole) {
      RECONCILE_RETURN_IF_ERROR(ParseWhole(key, text, &doc));
      if (!is_module) RewriteScopes(key, doc);
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

  Status PlanAll(const MergedSourceFactory& merged, LineReader& reader, Sha256* digest) {
    Result<std::unique_ptr<MergedSource>> src = merged();
    if (!src.ok()) return src.status();
    // Most records are unchanged: read as text, they need no document at all.
    auto* text_source = dynamic_cast<CanonicalTextSource*>(src->get());
    if (text_source != nullptr) text_source->YieldText();
    MergedRecord rec{Key::Device("x").value(), std::nullopt, 0};
    std::string device;
    bool device_exists = false;
    DocText text;
    std::optional<std::string> canonical;
    while (true) {
      Result<bool> got =
          text_source != nullptr ? text_source->NextText(&rec.key, &canonical) : (*src)->Next(&rec);
      if (!got.ok()) return got.status();
      if (!*got) break;
      const Key& key = rec.key;
      if (key.kind() == KeyKind::kMeta) continue;
      bool exists = rec.doc.has_value();
      if (text_source != nullptr) {
        exists = canonical.has_value();
        if (exists) {
          text.text = std::move(*canonical);
          if (!ScanDocText(&text)) {
            return Status::Corruption("merged record " + key.ToString() + " is not a JSON object");
          }
        }
      } else if (exists) {
        WriteDocText(*rec.doc, &text);
      }
      digest->Update(key.ToString());
      digest->Update("\t");
      digest->Update(exists ? std::string_view(text.text) : std::string_view("-"));
      digest->Update("\n");
      if (key.kind() == KeyKind::kDevice) {
        device = key.device_id();
        device_exists = exists;
      }
      auto pit = primary.find(key.Encode());
      PrimaryEntry* entry = pit == primary.end() ? nullptr : &pit->second;
      if (entry != nullptr) entry->planned = true;
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
      RECONCILE_RETURN_IF_ERROR(PlanUpsert(key, std::move(rec.doc), text, entry, reader));
    }
    for (const auto& [encoded, entry] : primary) {
      if (entry.planned) continue;
      Result<Key> key = Key::Decode(encoded);
      if (key.ok() && Wanted(*key)) ++summary->primary_only;
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
  RECONCILE_RETURN_IF_ERROR(impl_->IndexPrimary(primary, rejects, &primary_digest));
  RECONCILE_RETURN_IF_ERROR(impl_->ScanEdges(merged));
  Sha256 merged_digest;
  RECONCILE_RETURN_IF_ERROR(impl_->PlanAll(merged, primary, &merged_digest));
  inputs->emplace_back("primary-lines", primary_digest.HexDigest());
  inputs->emplace_back("merged-records", merged_digest.HexDigest());
  return Status::Ok();
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
