// Internal: the machinery shared by the failback plan and the retry plan — the ordered, spilled
// writer of import lines, and the planner that compares merged records with the primary's export.
#ifndef RECONCILE_LIB_IOTHUB_PLAN_INTERNAL_H_
#define RECONCILE_LIB_IOTHUB_PLAN_INTERNAL_H_

#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lib/iothub/device_doc.h"
#include "lib/iothub/sha256.h"
#include "reconcile/iothub_plan.h"

namespace reconcile::iothub {

// Apply order of import lines: phase first, then depth (ascending, except kEdgeDelete:
// descending, children first), then the order lines were added.
enum Phase : int {
  kEdgeUpsert = 0,    // creates/updates of edge devices, parents first
  kDeviceUpsert = 1,  // other devices
  kModuleUpsert = 2,  // modules
  kModuleDelete = 3,
  kDeviceDelete = 4,
  kEdgeDelete = 5,  // edge devices, children first
};

// Depth given to lines that keep their previous order (retry): after every planned depth.
constexpr int kLateDepth = 1 << 20;

// Writes plan lines into spill files per (phase, depth), then into the numbered import files,
// the report and the manifest.
class PlanWriter {
 public:
  explicit PlanWriter(const PlanOptions& options);
  ~PlanWriter();

  // Checks the options, creates out_dir and the report file.
  Status Open();
  // One import line (canonical JSON, no line ending).
  Status Add(Phase phase, int depth, ImportMode mode, const std::string& line);
  // One report entry: {"key": key, "note": note, ...extra}.
  Status Report(const Key& key, std::string_view note, nlohmann::json extra = nullptr);
  // Writes the import files and the manifest; removes the spill files. `inputs` are digests
  // computed by the caller (name -> hex); the options' input_digests are added after them.
  Result<PlanSummary> Finish(PlanSummary summary,
                             const std::vector<std::pair<std::string, std::string>>& inputs);

 private:
  struct Spill {
    std::string path;
    std::ofstream out;
  };
  const PlanOptions& options_;
  std::map<std::pair<int, int>, std::unique_ptr<Spill>> spills_;
  std::map<std::string, uint64_t> counts_;
  std::ofstream report_;
  std::string report_path_;
  uint64_t report_lines_ = 0;
};

// A MergedSource may also be an EdgeScanFilter: the plan's first pass over the merged state keeps
// only edge devices, so such a source may leave out, before it materializes them, the records that
// pass ignores (modules, meta, deleted records, devices that cannot be edge devices). The first
// pass reads such a source on a helper thread, beside the index of the primary's export: it must
// not share state with the primary's reader or the rejects sink.
class EdgeScanFilter {
 public:
  virtual ~EdgeScanFilter() = default;
  // Called before the first Next(): yield at least every existing edge device, in key order.
  virtual void OnlyPossibleEdges() = 0;
};

// A MergedSource may also be a CanonicalTextSource: it can yield each record as canonical JSON
// text (CanonicalJson of the document Next would give), so the plan's main pass builds documents
// only for the records it writes.
class CanonicalTextSource {
 public:
  virtual ~CanonicalTextSource() = default;
  // Called before the first read: from then on records are read with NextText, not Next.
  virtual void YieldText() = 0;
  // Next, as text: *text is nullopt when the record does not exist.
  virtual Result<bool> NextText(Key* key, std::optional<std::string>* text) = 0;
};

// A CanonicalTextSource may also know, before it makes a record's text, that the primary's
// export holds the record exactly as it is merged: the record was written by the backup's site
// alone, from a line of the backup the primary's export holds byte for byte, and has no scopes
// (whose rewriting reads other records). The plan counts such a record unchanged without its text
// (DECISIONS P27). Its digest of the merged records is then the source's digest of the states it
// read, since it has no text of most records.
class UntouchedSource {
 public:
  virtual ~UntouchedSource() = default;
  // Whether this source leaves out the text of untouched records (fixed when it is made).
  virtual bool SkipsUntouched() const = 0;
  // After NextText gave a record with no text: true when the record is untouched (it exists),
  // false when it is deleted.
  virtual bool LastUntouched() const = 0;
  // The canonical text of an untouched record after all (nullopt: it does not exist), for a
  // record the plan finds no readable line of in the primary's export.
  virtual Result<std::optional<std::string>> TextOf(const Key& key) = 0;
  // After NextText returned false: the hex SHA-256 over `key TAB state LF` of every device and
  // module record read, state the record's encoded bytes (reconcile/codec.h).
  virtual std::string StateDigest() const = 0;
};

// Compares merged records with a primary export and adds the plan's lines to a PlanWriter.
class Planner {
 public:
  Planner(const PlanOptions& options, PlanWriter* writer, PlanSummary* summary);
  ~Planner();

  // Indexes `primary`, reads `merged` twice, adds lines. Digests of the inputs are appended to
  // *inputs as ("primary-lines", hex) and ("merged-records", hex), or ("merged-states", hex)
  // from an UntouchedSource that skips.
  Status Run(const MergedSourceFactory& merged, LineReader& primary, RejectSink* rejects,
             std::vector<std::pair<std::string, std::string>>* inputs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reconcile::iothub

#endif  // RECONCILE_LIB_IOTHUB_PLAN_INTERNAL_H_
