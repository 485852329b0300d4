// ChangedLines against a model of what it promises: the lines of each file the other does not
// hold, in order, repeats kept, CR dropped, non-JSON lines dropped. A rapidcheck property over
// random files (blank and non-JSON lines, CRs, leading blanks, repeats, no final newline, lines
// far longer than the read buffer) read with buffers from 1 byte up; and the errors a caller sees.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "lib/failback/changed_lines.h"
#include "lib/failback/files.h"
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

// The model: a file's lines as ChangedLines compares them (split at '\n', one CR dropped, only
// those whose first byte after spaces and tabs is '{').
std::vector<std::string> JsonLines(const std::string& bytes) {
  std::vector<std::string> out;
  size_t from = 0;
  while (from < bytes.size()) {
    size_t nl = bytes.find('\n', from);
    if (nl == std::string::npos) nl = bytes.size();
    std::string line = bytes.substr(from, nl - from);
    from = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '{') out.push_back(line);
  }
  return out;
}

std::string LinesNotIn(const std::vector<std::string>& lines, const std::vector<std::string>& other,
                       uint64_t* count) {
  const std::set<std::string> skip(other.begin(), other.end());
  std::string out;
  *count = 0;
  for (const std::string& line : lines) {
    if (skip.count(line) > 0) continue;
    out += line + "\n";
    ++*count;
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
  uint64_t changed = 12345;
  const Status s = ChangedLines(dir / "before.txt", dir / "after.txt", dir / "out-before.txt",
                                dir / "out-after.txt", &changed, buffer);
  RC_ASSERT(s.ok());
  const std::vector<std::string> before = JsonLines(before_bytes);
  const std::vector<std::string> after = JsonLines(after_bytes);
  uint64_t gone = 0, added = 0;
  RC_ASSERT(ReadRaw(dir / "out-before.txt") == LinesNotIn(before, after, &gone));
  RC_ASSERT(ReadRaw(dir / "out-after.txt") == LinesNotIn(after, before, &added));
  RC_ASSERT(changed == added);
  RC_ASSERT(!Exists(dir / "out-before.txt.tmp"));
  RC_ASSERT(!Exists(dir / "out-after.txt.tmp"));
}

TEST(ChangedLines, ReplacesOldOutputsAndCountsTheChangedLines) {
  TempDir dir;
  WriteRaw(dir / "before.txt", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
  WriteRaw(dir / "after.txt", "{\"id\":\"a\"}\r\n{\"id\":\"b\",\"x\":1}\n{\"id\":\"d\"}");
  WriteRaw(dir / "ob.txt", "stale\n");
  WriteRaw(dir / "oa.txt", "stale\n");
  uint64_t changed = 0;
  ASSERT_TRUE(
      ChangedLines(dir / "before.txt", dir / "after.txt", dir / "ob.txt", dir / "oa.txt", &changed)
          .ok());
  EXPECT_EQ(ReadRaw(dir / "ob.txt"), "{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
  EXPECT_EQ(ReadRaw(dir / "oa.txt"), "{\"id\":\"b\",\"x\":1}\n{\"id\":\"d\"}\n");
  EXPECT_EQ(changed, 2u);
  // Identical files: both outputs empty.
  ASSERT_TRUE(ChangedLines(dir / "before.txt", dir / "before.txt", dir / "ob.txt", dir / "oa.txt",
                           &changed)
                  .ok());
  EXPECT_EQ(ReadRaw(dir / "ob.txt"), "");
  EXPECT_EQ(ReadRaw(dir / "oa.txt"), "");
  EXPECT_EQ(changed, 0u);
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
