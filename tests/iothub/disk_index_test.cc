// DiskIndex is a sorted map of its first values, whatever the budget: a rapidcheck model test over
// random entries (keys with shared prefixes, repeats, empty keys and values, values of up to 10 KiB
// that span blocks) built with budgets from "every entry spills" to "nothing spills", checked by
// Find (present and absent keys, ordinals), by a cursor's whole walk and by the duplicates reported;
// and the scratch files are gone once the index is.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "lib/iothub/disk_index.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile::iothub {
namespace {

using reconcile::testing::TempDir;

struct Built {
  std::unique_ptr<DiskIndex> index;
  std::vector<std::string> duplicates;  // "key=kept>dropped"
  uint64_t runs = 0;
};

Built Build(const std::string& dir, size_t budget,
            const std::vector<std::pair<std::string, std::string>>& entries) {
  Built out;
  DiskIndexBuilder builder(dir, "t", budget);
  for (const auto& [k, v] : entries) {
    Status s = builder.Add(k, v);
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }
  out.runs = builder.runs_written();
  Result<std::unique_ptr<DiskIndex>> index =
      builder.Finish([&](std::string_view k, std::string_view kept, std::string_view dropped) {
        out.duplicates.push_back(std::string(k) + "=" + std::string(kept) + ">" +
                                 std::string(dropped));
        return Status::Ok();
      });
  if (!index.ok()) throw std::runtime_error(index.status().ToString());
  out.index = std::move(*index);
  return out;
}

rc::Gen<std::string> GenKey() {
  // Few distinct keys, shared prefixes: repeats and near misses are common.
  return rc::gen::map(rc::gen::container<std::string>(rc::gen::elementOf(std::string("abz\x01\xff"))),
                      [](std::string s) { return s.substr(0, 12); });
}

rc::Gen<std::string> GenValue() {
  return rc::gen::oneOf(rc::gen::container<std::string>(rc::gen::inRange<char>('0', '9' + 1)),
                        rc::gen::map(rc::gen::inRange<size_t>(0, 10000),
                                     [](size_t n) { return std::string(n, 'v'); }));
}

RC_GTEST_PROP(DiskIndexProperty, IsTheSortedMapOfFirstValues, ()) {
  const auto entries = *rc::gen::container<std::vector<std::pair<std::string, std::string>>>(
      rc::gen::pair(GenKey(), GenValue()));
  const size_t budget = *rc::gen::elementOf(std::vector<size_t>{1, 64, 4096, 100000, 1 << 30});
  std::map<std::string, std::string> model;
  std::vector<std::string> duplicates;
  for (const auto& [k, v] : entries) {
    auto [it, inserted] = model.try_emplace(k, v);
    if (!inserted) duplicates.push_back(k + "=" + it->second + ">" + v);
  }
  // The model's duplicates in key order, each key's in the order added.
  std::stable_sort(duplicates.begin(), duplicates.end(), [](const auto& a, const auto& b) {
    return a.substr(0, a.find('=')) < b.substr(0, b.find('='));
  });
  TempDir dir;
  Built built = Build(dir.path(), budget, entries);
  RC_ASSERT(built.index->size() == model.size());
  RC_ASSERT(built.duplicates == duplicates);
  if (budget == 1 && !entries.empty()) RC_ASSERT(built.index->on_disk());
  if (budget == (1 << 30)) RC_ASSERT(!built.index->on_disk());

  // A walk gives the model in order, ordinals counting from 0.
  DiskIndex::Cursor cursor(*built.index);
  uint64_t n = 0;
  for (const auto& [k, v] : model) {
    Result<bool> got = cursor.Next();
    RC_ASSERT(got.ok());
    RC_ASSERT(*got);
    RC_ASSERT(cursor.key() == k);
    RC_ASSERT(cursor.value() == v);
    RC_ASSERT(cursor.ordinal() == n++);
  }
  Result<bool> end = cursor.Next();
  RC_ASSERT(end.ok());
  RC_ASSERT(!*end);

  // Find: every key of the model at its ordinal, and keys around them absent.
  n = 0;
  std::string value;
  uint64_t ordinal = 0;
  for (const auto& [k, v] : model) {
    Result<bool> got = built.index->Find(k, &value, &ordinal);
    RC_ASSERT(got.ok());
    RC_ASSERT(*got);
    RC_ASSERT(value == v);
    RC_ASSERT(ordinal == n++);
    for (const std::string& near : {k + "a", k + std::string(1, '\0'), k.substr(0, k.size() / 2)}) {
      Result<bool> other = built.index->Find(near, &value);
      RC_ASSERT(other.ok());
      RC_ASSERT(*other == (model.count(near) > 0));
    }
  }
}

TEST(DiskIndex, SpillsAndRemovesItsFiles) {
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> entries;
  for (int i = 0; i < 20000; ++i) {
    entries.emplace_back("device-" + std::to_string((i * 7919) % 20000), std::string(40, 'x'));
  }
  {
    Built built = Build(dir.path(), 64 << 10, entries);
    EXPECT_GT(built.runs, 10u);
    EXPECT_TRUE(built.index->on_disk());
    EXPECT_EQ(built.index->size(), 20000u);
    EXPECT_TRUE(built.duplicates.empty());
    // The runs are gone once merged; the index file stays while the index lives.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                            std::filesystem::directory_iterator()),
              1);
    // Finds from several threads at once.
    std::vector<std::thread> threads;
    std::atomic<int> found{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::string v;
        for (int i = t; i < 20000; i += 4) {
          Result<bool> got = built.index->Find("device-" + std::to_string(i), &v);
          if (got.ok() && *got && v == std::string(40, 'x')) ++found;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(found.load(), 20000);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// A killed process's files go; a live one's (this process's, a running child's) and other files
// stay.
TEST(DiskIndex, RemoveStaleTakesOnlyTheFilesOfProcessesThatAreGone) {
  TempDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  const pid_t gone = ::fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  auto touch = [&](const std::string& name) { std::ofstream(dir.File(name)) << "x"; };
  const std::string me = std::to_string(::getpid());
  touch("t-" + me + "-0.run");
  touch("t-" + std::to_string(child) + "-3.index");
  touch("t-" + std::to_string(gone) + "-1.run");
  touch("t-" + std::to_string(gone) + "-2.index");
  touch("other-" + std::to_string(gone) + "-1.run");
  touch("t-notapid-1.run");
  DiskIndexBuilder::RemoveStale(dir.path(), "t");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  std::vector<std::string> left;
  for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
    left.push_back(f.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  std::vector<std::string> want = {"other-" + std::to_string(gone) + "-1.run",
                                   "t-" + me + "-0.run", "t-" + std::to_string(child) + "-3.index",
                                   "t-notapid-1.run"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(left, want);
}

TEST(DiskIndex, ADuplicateCallbackErrorEndsFinish) {
  TempDir dir;
  for (size_t budget : {size_t{1}, size_t{1} << 20}) {
    DiskIndexBuilder builder(dir.path(), "t", budget);
    ASSERT_TRUE(builder.Add("k", "1").ok());
    ASSERT_TRUE(builder.Add("k", "2").ok());
    auto index = builder.Finish([](std::string_view, std::string_view, std::string_view) {
      return Status::InvalidInput("no repeats");
    });
    ASSERT_FALSE(index.ok());
    EXPECT_EQ(index.status().code(), Code::kInvalidInput) << budget;
  }
}

TEST(DiskIndex, AnUnwritableDirectoryIsAnIoErrorNamingIt) {
  DiskIndexBuilder builder("/proc/reconcile-no-such-dir", "t", 1);
  Status s = builder.Add("k", "v");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_NE(s.message().find("/proc/reconcile-no-such-dir"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace reconcile::iothub
