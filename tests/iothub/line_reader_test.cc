// The streaming line reader and the reject sinks.
#include "reconcile/line_reader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "reconcile/reject.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile {
namespace {

using testing::ReadFile;
using testing::TempDir;

std::vector<std::pair<uint64_t, std::string>> ReadAll(LineReader& reader, RejectSink* rejects) {
  std::vector<std::pair<uint64_t, std::string>> out;
  Line line;
  while (true) {
    Result<bool> got = reader.Next(&line, rejects);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok() || !*got) break;
    out.emplace_back(line.number, std::string(line.text));
  }
  return out;
}

TEST(LineReader, CrlfBomBlankAndCommentLines) {
  auto reader = LineReader::FromString(
      "devices.txt",
      "\xEF\xBB\xBF# exported by hub x\r\n{\"id\":\"a\"}\r\n\r\n   \n{\"id\":\"b\"}");
  RejectCollector rejects;
  auto lines = ReadAll(*reader, &rejects);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], (std::pair<uint64_t, std::string>{2, "{\"id\":\"a\"}"}));
  EXPECT_EQ(lines[1], (std::pair<uint64_t, std::string>{5, "{\"id\":\"b\"}"}));  // no final LF
  EXPECT_EQ(reader->stats().lines, 5u);
  EXPECT_EQ(reader->stats().blank, 2u);
  EXPECT_EQ(reader->stats().skipped, 1u);
  EXPECT_EQ(reader->stats().returned, 2u);
  EXPECT_TRUE(rejects.rejects().empty());
}

TEST(LineReader, BomOnAJsonFirstLine) {
  auto reader = LineReader::FromString("x", "\xEF\xBB\xBF{\"id\":\"a\"}\n");
  auto lines = ReadAll(*reader, nullptr);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].second, "{\"id\":\"a\"}");
}

TEST(LineReader, LongLinesAreRejectedAndReadingGoesOn) {
  LineReaderOptions options;
  options.max_line_bytes = 16;
  options.buffer_bytes = 4;  // lines span many buffer refills
  std::string long_line = "{\"id\":\"" + std::string(40, 'x') + "\"}";
  auto reader =
      LineReader::FromString("big.txt", "{\"a\":1}\n" + long_line + "\r\n{\"b\":22}\n", options);
  RejectCollector rejects;
  auto lines = ReadAll(*reader, &rejects);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], (std::pair<uint64_t, std::string>{3, "{\"b\":22}"}));
  ASSERT_EQ(rejects.rejects().size(), 1u);
  EXPECT_EQ(rejects.rejects()[0].reason, RejectReason::kLineTooLong);
  EXPECT_EQ(rejects.rejects()[0].line, 2u);
  EXPECT_EQ(rejects.rejects()[0].file, "big.txt");
  EXPECT_NE(rejects.rejects()[0].detail.find("16 bytes"), std::string::npos);
}

TEST(LineReader, ExactlyTheLimitWithCrlfIsKept) {
  LineReaderOptions options;
  options.max_line_bytes = 8;
  auto reader = LineReader::FromString("x", "{\"a\":12}\r\n{\"a\":123}\r\n", options);
  RejectCollector rejects;
  auto lines = ReadAll(*reader, &rejects);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].second, "{\"a\":12}");
  EXPECT_EQ(rejects.Count(RejectReason::kLineTooLong), 1u);
}

TEST(LineReader, InvalidUtf8IsRejected) {
  auto reader = LineReader::FromString("u.txt", "{\"a\":\"\xC3\x28\"}\n{\"a\":\"\xC3\xA9\"}\n");
  RejectCollector rejects;
  auto lines = ReadAll(*reader, &rejects);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].first, 2u);
  ASSERT_EQ(rejects.rejects().size(), 1u);
  EXPECT_EQ(rejects.rejects()[0].reason, RejectReason::kInvalidUtf8);
  EXPECT_EQ(rejects.rejects()[0].line, 1u);
}

TEST(Utf8, RejectsOverlongsSurrogatesAndTruncation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  size_t at = 0;
  EXPECT_FALSE(IsValidUtf8("ab\xE2\x82", &at));  // truncated
  EXPECT_EQ(at, 2u);
}

TEST(LineReader, ReadLineAtRereadsByOffset) {
  TempDir dir;
  testing::WriteFile(dir.File("f.txt"), "\xEF\xBB\xBF{\"n\":1}\r\n# c\n{\"n\":2}\n");
  auto reader = LineReader::Open(dir.File("f.txt"));
  ASSERT_TRUE(reader.ok());
  Line line;
  std::vector<uint64_t> offsets;
  while (*(*reader)->Next(&line, nullptr)) offsets.push_back(line.offset);
  ASSERT_EQ(offsets.size(), 2u);
  std::string text;
  ASSERT_TRUE((*reader)->ReadLineAt(offsets[1], &text).ok());
  EXPECT_EQ(text, "{\"n\":2}");
  ASSERT_TRUE((*reader)->ReadLineAt(offsets[0], &text).ok());
  EXPECT_EQ(text, "{\"n\":1}");
  ASSERT_TRUE((*reader)->Rewind().ok());
  ASSERT_TRUE(*(*reader)->Next(&line, nullptr));
  EXPECT_EQ(line.number, 1u);
}

// Reopen gives a reader of its own: lines read again by offset on other threads, while the first
// reader goes on, file and string alike.
TEST(LineReader, ReopenedReadersRereadBesideTheFirst) {
  TempDir dir;
  std::string content;
  for (int i = 0; i < 2000; ++i) content += "{\"n\":" + std::to_string(i) + "}\n";
  testing::WriteFile(dir.File("f.txt"), content);
  auto file = LineReader::Open(dir.File("f.txt"));
  ASSERT_TRUE(file.ok());
  std::vector<std::unique_ptr<LineReader>> firsts;
  firsts.push_back(std::move(*file));
  firsts.push_back(LineReader::FromString("s", content));
  for (std::unique_ptr<LineReader>& first : firsts) {
    std::vector<uint64_t> offsets;
    Line line;
    while (*first->Next(&line, nullptr)) offsets.push_back(line.offset);
    ASSERT_EQ(offsets.size(), 2000u);
    ASSERT_TRUE(first->Rewind().ok());
    std::vector<std::unique_ptr<LineReader>> again;
    for (int t = 0; t < 2; ++t) again.push_back(first->Reopen());
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        std::string text;
        for (size_t i = t; i < offsets.size(); i += 2) {
          if (!again[t]->ReadLineAt(offsets[i], &text).ok() ||
              text != "{\"n\":" + std::to_string(i) + "}") {
            ++wrong;
          }
        }
      });
    }
    uint64_t n = 0;
    while (*first->Next(&line, nullptr)) ++n;
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0) << first->name();
    EXPECT_EQ(n, 2000u) << first->name();
    EXPECT_EQ(again[0]->name(), first->name());
  }
}

TEST(LineReader, MissingFileIsNotFound) {
  auto reader = LineReader::Open("/nonexistent/devices.txt");
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(reader.status().IsNotFound());
}

TEST(RejectFile, HeaderThenRawLineWithKeysRedacted) {
  TempDir dir;
  auto sink = FileRejectSink::Open(dir.File("rejects.txt"));
  ASSERT_TRUE(sink.ok());
  Reject r{"devices.txt", 7, RejectReason::kInvalidEnum, "'status' must be enabled or disabled"};
  ASSERT_TRUE(
      (*sink)
          ->Add(
              r,
              R"({"id":"d","status":"on","authentication":{"symmetricKey":{"primaryKey":"S3cr3t==","secondaryKey" : "Other\"Secret"}}})")
          .ok());
  Reject big{"devices.txt", 9, RejectReason::kLineTooLong, "line is longer than 16 bytes"};
  ASSERT_TRUE((*sink)->Add(big, "").ok());
  ASSERT_TRUE((*sink)->Close().ok());
  EXPECT_EQ((*sink)->count(), 2u);
  std::string text = ReadFile(dir.File("rejects.txt"));
  EXPECT_EQ(
      text,
      "# reject file=devices.txt line=7 reason=invalid-enum detail='status' must be enabled "
      "or disabled\n"
      R"({"id":"d","status":"on","authentication":{"symmetricKey":{"primaryKey":"redacted","secondaryKey" : "redacted"}}})"
      "\n"
      "# reject file=devices.txt line=9 reason=line-too-long detail=line is longer than 16 "
      "bytes raw=omitted\n");
  EXPECT_EQ(text.find("S3cr3t"), std::string::npos);
}

TEST(RejectFile, RedactionOfBrokenJson) {
  EXPECT_EQ(RedactKeysInLine(R"({"primaryKey":"abc)"), R"({"primaryKey":"redacted")");
  EXPECT_EQ(RedactKeysInLine(R"({"primaryKey":null})"), R"({"primaryKey":null})");
  EXPECT_EQ(RedactKeysInLine("no keys"), "no keys");
}

TEST(RejectReasons, NamesAreStableAndDistinct) {
  std::set<std::string_view> names;
  for (int i = 1; i <= 21; ++i) names.insert(RejectReasonName(static_cast<RejectReason>(i)));
  EXPECT_EQ(names.size(), 21u);
  EXPECT_EQ(RejectReasonName(RejectReason::kSectionTooLarge), "section-too-large");
}

}  // namespace
}  // namespace reconcile
