// Properties of the readers on damaged input: whatever the bytes (fixture lines cut short, bytes
// flipped, arbitrary strings, CR/LF mixed), every reader returns OK, each candidate line becomes
// exactly one record or one reject, and what was read materializes without error.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <filesystem>
#include <sstream>

#include "reconcile/codec.h"
#include "reconcile/iothub.h"
#include "reconcile/iothub_plan.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile {
namespace {

using testing::Model;

const std::vector<std::string>& SeedLines() {
  static const std::vector<std::string> seeds = [] {
    std::vector<std::string> out;
    for (const char* name : {"base.txt", "secondary.txt", "twins.jsonl", "notifications.jsonl",
                             "meta.jsonl", "importErrors.log"}) {
      std::istringstream in(testing::ReadFile(testing::DataPath(name)));
      std::string line;
      while (std::getline(in, line)) {
        if (!line.empty()) out.push_back(line);
      }
    }
    return out;
  }();
  return seeds;
}

// A damaged file made of fixture lines.
std::string DamagedFile() {
  const auto& seeds = SeedLines();
  const int n = *rc::gen::inRange(1, 12);
  std::string text;
  for (int i = 0; i < n; ++i) {
    std::string line = *rc::gen::elementOf(seeds);
    switch (*rc::gen::inRange(0, 4)) {
      case 0:
        line.resize(*rc::gen::inRange<size_t>(0, line.size() + 1));
        break;
      case 1: {
        const int flips = *rc::gen::inRange(1, 4);
        for (int f = 0; f < flips && !line.empty(); ++f) {
          line[*rc::gen::inRange<size_t>(0, line.size())] =
              static_cast<char>(*rc::gen::inRange(0, 256));
        }
        break;
      }
      case 2:
        line = "{" + *rc::gen::arbitrary<std::string>();
        break;
      default:
        break;  // intact
    }
    text += line;
    text += *rc::gen::arbitrary<bool>() ? "\r\n" : "\n";
  }
  return text;
}

void CheckMaterializes(const Model& model) {
  static const PolicyTable table = PolicyTable::Default();
  const MergeView view{&table, 0};
  for (const auto& [key, state] : model.states) {
    RC_ASSERT(state.Validate().ok());
    RC_ASSERT(MaterializeJson(key.kind(), state, view).ok());
  }
}

// Each candidate line (returned by the line reader) gave one record or one reject.
void CheckAccounting(const ReadStats& stats) {
  RC_ASSERT(stats.lines.lines ==
            stats.lines.blank + stats.lines.skipped + stats.lines.rejected + stats.lines.returned);
  RC_ASSERT(stats.records + stats.rejected == stats.lines.returned + stats.lines.rejected);
}

RC_GTEST_PROP(ReaderProperty, ExportsNeverFailOnDamagedLines, ()) {
  const std::string text = DamagedFile();
  Model model;
  auto in = LineReader::FromString("damaged.txt", text);
  Result<ReadStats> stats = ReadExport(*in, {"s", 1000000, false}, nullptr, model.Sink());
  RC_ASSERT(stats.ok());
  CheckAccounting(*stats);
  CheckMaterializes(model);

  Model three;
  auto snap = LineReader::FromString("damaged.txt", text);
  auto base = LineReader::FromString("base.txt", DamagedFile());
  RC_ASSERT(ReadExportWithBase(*snap, *base, {"s", 2000000, false}, nullptr, three.Sink()).ok());
  CheckMaterializes(three);
}

// What a 3-way read writes, rejects and counts, as text: the deltas (key and encoding) in the
// order they came, the rejects in order, the counts.
std::string ThreeWayOutcome(const std::string& base_text, const std::string& snap_text,
                            size_t index_memory_bytes, const std::string& scratch_dir) {
  Model model;
  RejectCollector rejects;
  auto snap = LineReader::FromString("snap.txt", snap_text);
  auto base = LineReader::FromString("base.txt", base_text);
  ExportReadOptions options{"s", 2000000, false};
  options.index_memory_bytes = index_memory_bytes;
  options.scratch_dir = scratch_dir;
  Result<ReadStats> stats = ReadExportWithBase(*snap, *base, options, &rejects, model.Sink());
  RC_ASSERT(stats.ok());
  std::string out;
  for (const auto& [key, delta] : model.deltas) out += key.ToString() + " " + EncodeRecord(delta) + "\n";
  for (const Reject& r : rejects.rejects()) out += r.ToString() + "\n";
  const ReadStats& c = *stats;
  for (uint64_t n : {c.rejected, c.records, c.creates, c.patches, c.deletes, c.unchanged,
                     c.deletes_held}) {
    out += std::to_string(n) + " ";
  }
  return out;
}

// The base's index in memory or sorted into files (DiskIndex, a budget of one byte: a file per
// entry) gives the same read, whatever the lines: a snapshot made of the base's lines (some
// repeated, some damaged) and fixture lines, and a base with damaged lines of its own.
RC_GTEST_PROP(ReaderProperty, ThreeWayReadIsTheSameWithItsIndexOnDisk, ()) {
  const std::string base_text = DamagedFile() + DamagedFile();
  std::vector<std::string> base_lines;
  std::istringstream in(base_text);
  for (std::string line; std::getline(in, line);) base_lines.push_back(line);
  std::string snap_text = DamagedFile();
  if (!base_lines.empty()) {
    const int n = *rc::gen::inRange(0, 24);
    for (int i = 0; i < n; ++i) snap_text += *rc::gen::elementOf(base_lines) + "\n";
  }
  testing::TempDir dir;
  const std::string in_memory = ThreeWayOutcome(base_text, snap_text, size_t{1} << 30, "");
  const std::string on_disk = ThreeWayOutcome(base_text, snap_text, 1, dir.path());
  RC_ASSERT(in_memory == on_disk);
  RC_ASSERT(std::filesystem::is_empty(dir.path()));  // the index's files are gone
}

RC_GTEST_PROP(ReaderProperty, NotificationsNeverFailOnDamagedLines, ()) {
  NotificationReadOptions options;
  options.hub_sites["contoso-neu"] = "neu-secondary";
  Model model;
  auto in = LineReader::FromString("damaged.txt", DamagedFile());
  Result<ReadStats> stats = ReadNotifications(*in, options, nullptr, model.Sink());
  RC_ASSERT(stats.ok());
  CheckAccounting(*stats);
  CheckMaterializes(model);
}

RC_GTEST_PROP(ReaderProperty, TwinsMetaAndErrorsNeverFailOnDamagedLines, ()) {
  Model model;
  auto twins = LineReader::FromString("damaged.txt", DamagedFile());
  Result<ReadStats> t =
      ReadTwins(*twins, {"s", 1000000, TwinTagsStamp::kObservedAt}, nullptr, model.Sink());
  RC_ASSERT(t.ok());
  RC_ASSERT(t->records + t->rejected <= t->lines.returned + t->lines.rejected);
  auto meta = LineReader::FromString("damaged.txt", DamagedFile());
  Result<ReadStats> m = ReadMeta(*meta, {"s"}, nullptr, model.Sink());
  RC_ASSERT(m.ok());
  CheckAccounting(*m);
  CheckMaterializes(model);
  auto errors = LineReader::FromString("damaged.txt", DamagedFile());
  RC_ASSERT(ReadImportErrors(*errors, nullptr).ok());
}

}  // namespace
}  // namespace reconcile
