// ChangedLines against a model of what it promises: each file's lines at their line numbers, CR
// dropped, with the JSON lines the other file holds made empty. A rapidcheck property over random
// files (blank and non-JSON lines, CRs, leading blanks, repeats, no final newline, lines far
// longer than the read buffer) read with buffers from 1 byte up; a 3-way read of the outputs
// whose rejects name the inputs' files and lines; and the errors a caller sees.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "lib/failback/changed_lines.h"
#include "lib/failback/files.h"
#include "reconcile/clock.h"
#include "reconcile/codec.h"
#include "reconcile/iothub.h"
#include "reconcile/line_reader.h"
#include "reconcile/reject.h"
#include "tests/failback/test_util.h"

namespace reconcile::failback {
namespace {

using failback_test::TempDir;

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string ReadRaw(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) throw std::runtime_error(text.status().ToString());
  return *text;
}

// The model: a file's lines (split at '\n', one CR dropped).
std::vector<std::string> LinesOf(const std::string& bytes) {
  std::vector<std::string> out;
  size_t from = 0;
  while (from < bytes.size()) {
    size_t nl = bytes.find('\n', from);
    if (nl == std::string::npos) nl = bytes.size();
    std::string line = bytes.substr(from, nl - from);
    from = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

bool IsJsonLine(const std::string& line) {
  const size_t first = line.find_first_not_of(" \t");
  return first != std::string::npos && line[first] == '{';
}

// `lines` with each JSON line that `other` holds made empty; counts of JSON lines kept and made
// empty.
std::string Blanked(const std::vector<std::string>& lines, const std::vector<std::string>& other,
                    ChangedLineCounts* counts) {
  std::set<std::string> json_in_other;
  for (const std::string& line : other) {
    if (IsJsonLine(line)) json_in_other.insert(line);
  }
  std::string out;
  *counts = {};
  for (const std::string& line : lines) {
    if (IsJsonLine(line)) {
      const bool held = json_in_other.count(line) > 0;
      ++(held ? counts->unchanged : counts->changed);
      if (held) {
        out += "\n";
        continue;
      }
    }
    out += line + "\n";
  }
  return out;
}

// A file made of pieces from a small pool (so the two files share lines and repeat them), each
// piece ended by "\n", "\r\n" or, for the last, maybe nothing.
rc::Gen<std::string> GenFile() {
  const std::vector<std::string> pool = {
      R"({"id":"d1","v":1})", R"({"id":"d1","v":2})", R"({"id":"d2"})", R"(  {"id":"d3"})",
      "\t{\"id\":\"d4\"}", R"({"id":"d5","a":"x\ry"})", "", "   ", "# not json", "[1,2]",
      "x{\"id\":\"d6\"}", "{", "{\"id\":\"long\",\"v\":\"" + std::string(3000, 'L') + "\"}",
      "{\"id\":\"long\",\"v\":\"" + std::string(3000, 'M') + "\"}"};
  return rc::gen::map(
      rc::gen::container<std::vector<std::pair<size_t, int>>>(
          rc::gen::pair(rc::gen::inRange<size_t>(0, pool.size()), rc::gen::inRange(0, 3))),
      [pool](const std::vector<std::pair<size_t, int>>& pieces) {
        std::string out;
        for (size_t i = 0; i < pieces.size(); ++i) {
          out += pool[pieces[i].first];
          const int end = pieces[i].second;
          if (end == 0 && i + 1 == pieces.size()) break;  // no final newline
          out += end == 1 ? "\r\n" : "\n";
        }
        return out;
      });
}

RC_GTEST_PROP(ChangedLinesProperty, WritesTheLinesTheOtherFileLacks, ()) {
  const std::string before_bytes = *GenFile();
  const std::string after_bytes = *rc::gen::oneOf(GenFile(), rc::gen::just(before_bytes));
  const size_t buffer = *rc::gen::elementOf(std::vector<size_t>{1, 2, 7, 64, 4096, 1 << 20});
  TempDir dir;
  WriteRaw(dir / "before.txt", before_bytes);
  WriteRaw(dir / "after.txt", after_bytes);
  ChangedLineCounts counts{12345, 678};
  const Status s = ChangedLines(dir / "before.txt", dir / "after.txt", dir / "out-before.txt",
                                dir / "out-after.txt", &counts, buffer);
  RC_ASSERT(s.ok());
  const std::vector<std::string> before = LinesOf(before_bytes);
  const std::vector<std::string> after = LinesOf(after_bytes);
  ChangedLineCounts before_counts, after_counts;
  RC_ASSERT(ReadRaw(dir / "out-before.txt") == Blanked(before, after, &before_counts));
  RC_ASSERT(ReadRaw(dir / "out-after.txt") == Blanked(after, before, &after_counts));
  RC_ASSERT(counts.changed == after_counts.changed);
  RC_ASSERT(counts.unchanged == after_counts.unchanged);
  RC_ASSERT(!Exists(dir / "out-before.txt.tmp"));
  RC_ASSERT(!Exists(dir / "out-after.txt.tmp"));
}

TEST(ChangedLines, ReplacesOldOutputsAndCountsTheChangedLines) {
  TempDir dir;
  WriteRaw(dir / "before.txt", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
  WriteRaw(dir / "after.txt",
           "{\"id\":\"a\"}\r\n# note\n{\"id\":\"b\",\"x\":1}\n{\"id\":\"d\"}");
  WriteRaw(dir / "ob.txt", "stale\n");
  WriteRaw(dir / "oa.txt", "stale\n");
  ChangedLineCounts counts;
  ASSERT_TRUE(
      ChangedLines(dir / "before.txt", dir / "after.txt", dir / "ob.txt", dir / "oa.txt", &counts)
          .ok());
  EXPECT_EQ(ReadRaw(dir / "ob.txt"), "\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
  EXPECT_EQ(ReadRaw(dir / "oa.txt"), "\n# note\n{\"id\":\"b\",\"x\":1}\n{\"id\":\"d\"}\n");
  EXPECT_EQ(counts.changed, 2u);
  EXPECT_EQ(counts.unchanged, 1u);
  // Identical files: every line made empty.
  ASSERT_TRUE(ChangedLines(dir / "before.txt", dir / "before.txt", dir / "ob.txt", dir / "oa.txt",
                           &counts)
                  .ok());
  EXPECT_EQ(ReadRaw(dir / "ob.txt"), "\n\n\n");
  EXPECT_EQ(ReadRaw(dir / "oa.txt"), "\n\n\n");
  EXPECT_EQ(counts.changed, 0u);
  EXPECT_EQ(counts.unchanged, 3u);
}

// What a 3-way read gives: its deltas (key and encoded state) and its rejects ("file:line:
// reason").
struct ReadResult {
  std::vector<std::pair<std::string, std::string>> deltas;
  std::vector<std::string> rejects;
  uint64_t unchanged = 0;
};

ReadResult Read3Way(const std::string& snapshot, const std::string& base,
                    LineReaderOptions snapshot_options = {}, LineReaderOptions base_options = {}) {
  Result<std::unique_ptr<LineReader>> snap = LineReader::Open(snapshot, snapshot_options);
  Result<std::unique_ptr<LineReader>> before = LineReader::Open(base, base_options);
  EXPECT_TRUE(snap.ok() && before.ok());
  if (!snap.ok() || !before.ok()) return {};
  ExportReadOptions options;
  options.site = "secondary";
  options.observed_at = MakeHlc(1800000000000, 0);
  ReadResult out;
  RejectCollector rejects;
  Result<ReadStats> stats =
      ReadExportWithBase(**snap, **before, options, &rejects, [&](const Key& key, RecordState d) {
        out.deltas.emplace_back(key.ToString(), EncodeRecord(d));
        return Status::Ok();
      });
  EXPECT_TRUE(stats.ok()) << stats.status().ToString();
  if (stats.ok()) out.unchanged = stats->unchanged;
  for (const Reject& r : rejects.rejects()) {
    out.rejects.push_back(r.file + ":" + std::to_string(r.line) + ":" +
                          std::string(RejectReasonName(r.reason)));
  }
  std::sort(out.rejects.begin(), out.rejects.end());
  return out;
}

// The 3-way read of the outputs gives the deltas of the 3-way read of the inputs, and its rejects
// name the inputs' files and lines (a bad line, a line with a NUL byte, an unchanged line and a
// changed one, a delete and a create).
TEST(ChangedLines, ReadThreeWayTheyGiveTheInputsDeltasAndRejects) {
  TempDir dir;
  auto device = [](const std::string& id, const std::string& rate) {
    return R"({"id":")" + id + R"(","eTag":"e","status":"enabled","authentication":{"type":"sas"},)" +
           R"("capabilities":{"iotEdge":false},"tags":{},"properties":{"desired":{"rate":)" + rate +
           "}}}";
  };
  WriteRaw(dir / "base.txt", device("a", "1") + "\n" + device("b", "1") + "\n" +
                                 device("gone", "1") + "\n" + device("c", "1") + "\n");
  WriteRaw(dir / "snap.txt", device("a", "1") + "\n" + R"({"id":"b","eTag":)" + "\n" +
                                 std::string("x\0y", 3) + "\n" + device("c", "2") + "\r\n" +
                                 device("new", "5") + "\n");
  ChangedLineCounts counts;
  ASSERT_TRUE(ChangedLines(dir / "base.txt", dir / "snap.txt", dir / "changed-base.txt",
                           dir / "changed-snap.txt", &counts)
                  .ok());
  EXPECT_EQ(counts.changed, 3u);  // b's bad line, c, new
  EXPECT_EQ(counts.unchanged, 1u);
  LineReaderOptions snap_options, base_options;
  snap_options.shown_as = dir / "snap.txt";
  base_options.shown_as = dir / "base.txt";
  const ReadResult whole = Read3Way(dir / "snap.txt", dir / "base.txt");
  const ReadResult changed =
      Read3Way(dir / "changed-snap.txt", dir / "changed-base.txt", snap_options, base_options);
  EXPECT_EQ(changed.deltas, whole.deltas);
  EXPECT_EQ(changed.rejects, whole.rejects);
  EXPECT_EQ(changed.unchanged + counts.unchanged, whole.unchanged);
  EXPECT_EQ(whole.rejects.size(), 2u);  // the bad line (2) and the NUL byte (3), of snap.txt
  for (const std::string& r : whole.rejects) {
    EXPECT_EQ(r.rfind(dir / "snap.txt:", 0), 0u) << r;
  }
}

TEST(ChangedLines, AMissingInputIsAnErrorNamingItAndWritesNothing) {
  TempDir dir;
  WriteRaw(dir / "after.txt", "{\"id\":\"a\"}\n");
  for (const auto& [before, after] : std::vector<std::pair<std::string, std::string>>{
           {dir / "missing.txt", dir / "after.txt"}, {dir / "after.txt", dir / "missing.txt"}}) {
    const Status s = ChangedLines(before, after, dir / "ob.txt", dir / "oa.txt", nullptr);
    EXPECT_EQ(s.code(), Code::kIoError);
    EXPECT_NE(s.ToString().find(dir / "missing.txt"), std::string::npos) << s.ToString();
    EXPECT_FALSE(Exists(dir / "ob.txt"));
    EXPECT_FALSE(Exists(dir / "oa.txt"));
  }
}

TEST(ChangedLines, AnUnwritableOutputIsAnErrorAndLeavesNoTemporaryFile) {
  TempDir dir;
  WriteRaw(dir / "before.txt", "{\"id\":\"a\"}\n");
  WriteRaw(dir / "after.txt", "{\"id\":\"b\"}\n");
  const Status s = ChangedLines(dir / "before.txt", dir / "after.txt", dir / "no/such/ob.txt",
                                dir / "oa.txt", nullptr);
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_NE(s.ToString().find("no/such/ob.txt"), std::string::npos) << s.ToString();
  EXPECT_FALSE(Exists(dir / "oa.txt"));
}

}  // namespace
}  // namespace reconcile::failback
