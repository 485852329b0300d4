// ForEachLineParallel does what the one-thread loop does, in the same order, however many workers
// parse: the same commits, the same rejects (the reader's own and the parse's, interleaved by
// line), the same counts; and it stops at the first failing commit without losing a worker.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "lib/iothub/line_pipeline.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile {
namespace {

struct Outcome {
  std::vector<std::string> commits;  // "<line number>:<item>"
  std::vector<std::string> rejects;  // Reject::ToString()
  uint64_t rejected = 0;
  Status status;
};

class ListRejects final : public RejectSink {
 public:
  explicit ListRejects(std::vector<std::string>* out) : out_(out) {}
  Status Add(const Reject& r, std::string_view) override {
    out_->push_back(r.ToString());
    return Status::Ok();
  }

 private:
  std::vector<std::string>* out_;
};

// The item of a line: its length and first word; lines with "bad" are rejected by the commit,
// the commit of line `fail_at` fails.
Outcome ReadAll(const std::string& text, size_t workers, uint64_t fail_at = 0) {
  Outcome out;
  LineReaderOptions options;
  options.max_line_bytes = 4096;
  auto reader = LineReader::FromString("input.jsonl", text, options);
  ListRejects rejects(&out.rejects);
  std::atomic<size_t> worked{0};
  struct Item {
    std::string summary;
    size_t worker = 0;
  };
  out.status = iothub::ForEachLineParallel<Item>(
      *reader, &rejects, nullptr, &out.rejected, nullptr, workers,
      [&](size_t worker, const Line& line, Item* item) {
        EXPECT_LT(worker, std::max<size_t>(workers, 1));
        item->summary = std::to_string(line.text.size()) + "/" +
                        std::string(line.text.substr(0, line.text.find(' ')));
        item->worker = worker;
        ++worked;
      },
      [&](const Line& line, Item& item, std::optional<iothub::Invalid>* invalid) -> Status {
        if (line.number == fail_at) return Status::IoError("stop here");
        if (line.text.find("bad") != std::string_view::npos) {
          *invalid = iothub::Invalid{RejectReason::kInvalidJson, "bad line"};
          return Status::Ok();
        }
        out.commits.push_back(std::to_string(line.number) + ":" + item.summary);
        return Status::Ok();
      });
  return out;
}

// Lines of JSON-ish text, some the reader rejects itself (invalid UTF-8, too long), some the
// commit rejects, some blank or skipped: enough of them for several chunks.
std::string Input(size_t lines, unsigned seed) {
  std::string text;
  std::mt19937 rng(seed);
  for (size_t i = 0; i < lines; ++i) {
    switch (rng() % 12) {
      case 0: text += "{bad line " + std::to_string(i) + "}\n"; break;
      case 1: text += "{\xff\xfe not utf8}\n"; break;
      case 2: text += "{" + std::string(5000, 'x') + "}\n"; break;
      case 3: text += "\n"; break;
      case 4: text += "not json\r\n"; break;
      default: text += "{line " + std::to_string(i) + std::string(rng() % 300, 'y') + "}\n";
    }
  }
  return text;
}

TEST(LinePipeline, EveryWorkerCountCommitsAndRejectsAsOneThreadDoes) {
  for (unsigned seed : {1u, 2u, 3u}) {
    const std::string text = Input(3000, seed);
    const Outcome one = ReadAll(text, 1);
    ASSERT_TRUE(one.status.ok()) << one.status.ToString();
    ASSERT_GT(one.commits.size(), 1000u);
    ASSERT_GT(one.rejects.size(), 200u);
    for (size_t workers : {2u, 3u, 8u}) {
      const Outcome many = ReadAll(text, workers);
      ASSERT_TRUE(many.status.ok()) << many.status.ToString();
      EXPECT_EQ(many.commits, one.commits) << workers << " workers";
      EXPECT_EQ(many.rejects, one.rejects) << workers << " workers";
      EXPECT_EQ(many.rejected, one.rejected) << workers << " workers";
    }
  }
}

TEST(LinePipeline, AFailingCommitStopsTheReadAtThatLine) {
  const std::string text = Input(3000, 7);
  for (uint64_t fail_at : {5u, 700u, 2999u}) {
    const Outcome one = ReadAll(text, 1, fail_at);
    for (size_t workers : {1u, 2u, 4u}) {
      const Outcome many = ReadAll(text, workers, fail_at);
      if (one.status.ok()) {
        EXPECT_TRUE(many.status.ok());  // the line was not a committed one
        continue;
      }
      EXPECT_EQ(many.status.code(), Code::kIoError);
      EXPECT_EQ(many.commits, one.commits) << workers << " workers, stop at " << fail_at;
    }
  }
}

TEST(LinePipeline, AnEmptyInputCommitsNothing) {
  for (size_t workers : {1u, 2u}) {
    const Outcome out = ReadAll("", workers);
    EXPECT_TRUE(out.status.ok());
    EXPECT_TRUE(out.commits.empty());
    EXPECT_TRUE(out.rejects.empty());
  }
}

}  // namespace
}  // namespace reconcile
