// Shared helpers of the fuzz targets: an invariant check that aborts (so libFuzzer keeps the input
// as a crash artifact), an in-memory file the readers open by path as `mergetool ingest` opens its
// inputs, a reject sink that keeps raw lines, and the checks every reader's output must pass.
//
// Thread safety: none needed; libFuzzer calls a target from one thread.
#ifndef RECONCILE_FUZZ_FUZZ_UTIL_H_
#define RECONCILE_FUZZ_FUZZ_UTIL_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reconcile/codec.h"
#include "reconcile/iothub.h"
#include "reconcile/line_reader.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"
#include "reconcile/policy.h"
#include "reconcile/record.h"
#include "reconcile/reject.h"
#include "reconcile/stamp.h"

namespace reconcile::fuzz {

using nlohmann::json;

[[noreturn]] inline void Fail(const char* file, int line, const char* what,
                              const std::string& detail) {
  std::fprintf(stderr, "\n%s:%d: invariant failed: %s\n  %s\n", file, line, what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// Aborts with the condition's text and `detail` (a std::string expression) when `cond` is false.
#define FUZZ_CHECK(cond, detail)                                               \
  do {                                                                         \
    if (!(cond)) ::reconcile::fuzz::Fail(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)

// Defines a target's entry point: RECONCILE_FUZZ_TARGET(input) { ... } is the body libFuzzer
// runs on each input, given as `std::string_view input`, inside namespace reconcile::fuzz (so the
// library's names and this file's helpers need no qualification).
#define RECONCILE_FUZZ_TARGET(input)                                                         \
  namespace reconcile::fuzz {                                                                \
  void TestOne(std::string_view input);                                                      \
  }                                                                                          \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {                  \
    ::reconcile::fuzz::TestOne(std::string_view(reinterpret_cast<const char*>(data), size)); \
    return 0;                                                                                \
  }                                                                                          \
  void ::reconcile::fuzz::TestOne(std::string_view input)

// A timestamp the targets use as a read's observed-at time (and later ones for re-reads).
inline Hlc Time(std::string_view iso) {
  Result<Hlc> hlc = ParseIso8601(iso);
  FUZZ_CHECK(hlc.ok(), hlc.status().ToString());
  return *hlc;
}

// The line reader options of the reader targets: the default line limit, a 4 KiB buffer. Under
// ASan a 256 KiB buffer per reader (the default) costs more than parsing a small input; buffer
// boundaries are line_reader_fuzz's business.
inline LineReaderOptions ReaderOptions() {
  LineReaderOptions options;
  options.buffer_bytes = 4096;
  return options;
}

// Reads `content` from memory under `name`.
inline std::unique_ptr<LineReader> FromString(std::string name, std::string_view content) {
  return LineReader::FromString(std::move(name), std::string(content), ReaderOptions());
}

// The fuzz input as a file the readers open by name (LineReader::Open), without touching the
// disk: a memfd, reached through /proc/self/fd.
class MemFile {
 public:
  explicit MemFile(std::string_view content) {
    fd_ = memfd_create("fuzz-input", MFD_CLOEXEC);
    FUZZ_CHECK(fd_ >= 0, "memfd_create failed");
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = write(fd_, content.data() + done, content.size() - done);
      FUZZ_CHECK(n > 0, "write to memfd failed");
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  const std::string& path() const { return path_; }
  std::unique_ptr<LineReader> Open(LineReaderOptions options = ReaderOptions()) const {
    Result<std::unique_ptr<LineReader>> reader = LineReader::Open(path_, options);
    FUZZ_CHECK(reader.ok(), reader.status().ToString());
    return std::move(reader).value();
  }

 private:
  int fd_ = -1;
  std::string path_;
};

// A reject and the raw line the reader handed over with it.
struct KeptReject {
  Reject reject;
  std::string raw;
};

class KeepingRejects final : public RejectSink {
 public:
  Status Add(const Reject& reject, std::string_view raw_line) override {
    kept.push_back({reject, std::string(raw_line)});
    return Status::Ok();
  }
  std::vector<KeptReject> kept;
};

// What one reader call produced.
struct ReadOutput {
  ReadStats stats;
  std::vector<std::pair<Key, RecordState>> deltas;
  std::vector<KeptReject> rejects;
};

using ReaderCall = std::function<Result<ReadStats>(RejectSink*, const DeltaSink&)>;

// Runs a reader with a sink that keeps everything. Readers only fail on I/O or sink errors, and
// neither happens here: a failure is a bug.
inline ReadOutput RunReader(const ReaderCall& call) {
  ReadOutput out;
  KeepingRejects rejects;
  DeltaSink sink = [&](const Key& key, RecordState delta) {
    out.deltas.emplace_back(key, std::move(delta));
    return Status::Ok();
  };
  Result<ReadStats> stats = call(&rejects, sink);
  FUZZ_CHECK(stats.ok(), "reader failed: " + stats.status().ToString());
  out.stats = *stats;
  out.rejects = std::move(rejects.kept);
  return out;
}

inline const PolicyTable& LwwTable() {
  static const PolicyTable table;
  return table;
}

// A delta a reader produced: valid, the same after the codec, materializes, and its key
// round-trips through its encoding.
inline void CheckDelta(const Key& key, const RecordState& delta) {
  const std::string where = key.ToString();
  Status valid = delta.Validate();
  FUZZ_CHECK(valid.ok(), where + ": " + valid.ToString());
  Result<RecordState> decoded = DecodeRecord(EncodeRecord(delta));
  FUZZ_CHECK(decoded.ok() && *decoded == delta, "codec round trip differs for " + where);
  const MergeView view{&LwwTable(), 0};
  Result<std::optional<json>> doc = MaterializeJson(key.kind(), delta, view);
  FUZZ_CHECK(doc.ok(), where + ": " + doc.status().ToString());
  Result<Key> back = Key::Decode(key.Encode());
  FUZZ_CHECK(back.ok() && *back == key, "key encoding round trip differs for " + where);
}

// Strings inside `authentication` objects (keys, thumbprints), and every other string (object
// keys and values) of a parsed line.
inline void CollectStrings(const json& v, bool in_auth, std::vector<std::string>* secret,
                           std::vector<std::string>* plain) {
  if (v.is_object()) {
    for (const auto& [k, member] : v.items()) {
      if (!in_auth) plain->push_back(k);
      CollectStrings(member, in_auth || k == "authentication", secret, plain);
    }
  } else if (v.is_array()) {
    for (const json& e : v) CollectStrings(e, in_auth, secret, plain);
  } else if (v.is_string()) {
    (in_auth ? secret : plain)->push_back(v.get<std::string>());
  }
}

// Every string member named primaryKey or secondaryKey holds "redacted".
inline bool KeysRedacted(const json& v) {
  if (v.is_object()) {
    for (const auto& [k, member] : v.items()) {
      if ((k == "primaryKey" || k == "secondaryKey") && member.is_string() &&
          member.get<std::string>() != "redacted") {
        return false;
      }
      if (!KeysRedacted(member)) return false;
    }
  } else if (v.is_array()) {
    for (const json& e : v) {
      if (!KeysRedacted(e)) return false;
    }
  }
  return true;
}

// Rejects name the file and a line of it, have a known reason, never quote a value of an
// `authentication` object (unless the same text also appears elsewhere in the line), and a raw
// line that is JSON stays JSON after key redaction and holds no key any more.
// `files` maps each file a reader read to its number of lines.
inline void CheckRejects(const std::vector<KeptReject>& rejects,
                         const std::map<std::string, uint64_t>& files) {
  for (const KeptReject& k : rejects) {
    const Reject& r = k.reject;
    const std::string text = r.ToString();
    auto file = files.find(r.file);
    FUZZ_CHECK(file != files.end(), "a reject names an unknown file: " + text);
    const uint64_t lines = file->second;
    FUZZ_CHECK(r.line >= 1 && r.line <= lines, text + " (of " + std::to_string(lines) + " lines)");
    FUZZ_CHECK(RejectReasonName(r.reason) != "unknown", text);
    if (k.raw.empty()) continue;
    json parsed = json::parse(k.raw, nullptr, false);
    if (parsed.is_discarded()) continue;
    std::vector<std::string> secret, plain;
    CollectStrings(parsed, false, &secret, &plain);
    for (const std::string& s : secret) {
      if (s.size() < 12) continue;  // short strings are found in any text by chance
      bool elsewhere = r.file.find(s) != std::string::npos;
      for (const std::string& p : plain) elsewhere = elsewhere || p.find(s) != std::string::npos;
      FUZZ_CHECK(elsewhere || r.detail.find(s) == std::string::npos,
                 "reject detail quotes an authentication value: " + text);
    }
    json redacted = json::parse(RedactKeysInLine(k.raw), nullptr, false);
    FUZZ_CHECK(!redacted.is_discarded(), "redaction broke a JSON line: " + text);
    FUZZ_CHECK(KeysRedacted(redacted), "a key survived redaction: " + text);
  }
}

// Every line is counted once; every byte is consumed; the reader's reject count is what the sink
// got and its record count the deltas it got. `exact`: every returned line gave a delta or a reject
// (the twin reader may also skip a twin that writes nothing).
inline void CheckAccounting(const ReadOutput& out, uint64_t bytes, bool exact) {
  const ReadStats& s = out.stats;
  const LineStats& l = s.lines;
  FUZZ_CHECK(l.lines == l.blank + l.skipped + l.rejected + l.returned, "line counts do not add up");
  FUZZ_CHECK(l.bytes == bytes,
             "read " + std::to_string(l.bytes) + " of " + std::to_string(bytes) + " bytes");
  FUZZ_CHECK(s.rejected == out.rejects.size(), "rejected count differs from rejects sent");
  FUZZ_CHECK(s.records == out.deltas.size(), "records count differs from deltas sent");
  FUZZ_CHECK(s.creates + s.patches + s.deletes == s.records, "record kinds do not add up");
  FUZZ_CHECK(s.rejected >= l.rejected, "fewer rejects than the line reader's");
  FUZZ_CHECK(s.quarantined == 0, "lines quarantined without a clock guard");
  const uint64_t reader_rejects = s.rejected - l.rejected;
  if (exact) {
    FUZZ_CHECK(s.records + reader_rejects == l.returned,
               "a candidate line gave neither one record nor one reject");
  } else {
    FUZZ_CHECK(s.records + reader_rejects <= l.returned, "more records and rejects than lines");
  }
}

// The usual checks of one read of `bytes` bytes from a file named `file`.
inline void CheckRead(const ReadOutput& out, const std::string& file, uint64_t bytes, bool exact) {
  CheckAccounting(out, bytes, exact);
  for (const auto& [key, delta] : out.deltas) CheckDelta(key, delta);
  CheckRejects(out.rejects, {{file, out.stats.lines.lines}});
}

using Model = std::map<Key, RecordState>;

inline void JoinInto(Model* model, const std::vector<std::pair<Key, RecordState>>& deltas) {
  for (const auto& [key, delta] : deltas) (*model)[key].Join(delta);
}

// True when a key occurs twice among the deltas.
inline bool HasDuplicateKeys(const std::vector<std::pair<Key, RecordState>>& deltas) {
  std::set<Key> seen;
  for (const auto& [key, delta] : deltas) {
    if (!seen.insert(key).second) return true;
  }
  return false;
}

// Writes a model with a writer (WriteCanonicalExport, WriteTwinExport, WriteMetaExport).
using Writer = Result<WriteStats> (*)(MergedSource&, std::ostream&);
inline std::string WriteModel(const Model& model, const MergeView& view, Writer writer,
                              WriteStats* stats = nullptr) {
  std::unique_ptr<MergedSource> source = MakeMergedSource(model, view);
  std::ostringstream out;
  Result<WriteStats> written = writer(*source, out);
  FUZZ_CHECK(written.ok(), "writer failed: " + written.status().ToString());
  if (stats != nullptr) *stats = *written;
  return out.str();
}

// "<key>: <encoded delta size>" lines, to say which deltas differ when two reads disagree.
inline std::string Describe(const std::vector<std::pair<Key, RecordState>>& deltas) {
  std::string out;
  for (const auto& [key, delta] : deltas) {
    out += key.ToString() + " (" + std::to_string(delta.cells().size()) + " cells)\n";
  }
  return out;
}

inline bool SameRejects(const std::vector<KeptReject>& a, const std::vector<KeptReject>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].reject.ToString() != b[i].reject.ToString()) return false;
  }
  return true;
}

}  // namespace reconcile::fuzz

#endif  // RECONCILE_FUZZ_FUZZ_UTIL_H_
