// tests/core/cell_text_test.cc — CellText (reconcile/cell_text.h) against std::string as its model.
//
// rapidcheck runs random programs of assignments (from outside text and from a part of the text
// itself), appends, clears, copies, moves and self-assignments on a handful of texts, crossing the
// inline capacity both ways, and checks every text's bytes against the std::string it models after
// each step. It prints "Using configuration: seed=..."; reproduce with RC_PARAMS="seed=N".
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "reconcile/cell_text.h"
#include "reconcile/codec.h"
#include "reconcile/path.h"
#include "reconcile/record.h"
#include "reconcile/site.h"

namespace {

using reconcile::CellText;

// Text of 0 to 3 times the inline capacity, so steps cross it either way.
template <size_t kInline>
std::string GenText() {
  const size_t size = *rc::gen::inRange<size_t>(0, 3 * kInline + 1);
  std::string out;
  for (size_t i = 0; i < size; ++i) out.push_back(static_cast<char>(*rc::gen::arbitrary<char>()));
  return out;
}

template <size_t kInline>
void RunModel() {
  constexpr size_t kTexts = 4;
  std::vector<CellText<kInline>> texts(kTexts);
  std::vector<std::string> model(kTexts);
  const int steps = *rc::gen::inRange(1, 60);
  for (int step = 0; step < steps; ++step) {
    const size_t i = *rc::gen::inRange<size_t>(0, kTexts);
    const size_t j = *rc::gen::inRange<size_t>(0, kTexts);
    switch (*rc::gen::inRange(0, 10)) {
      case 0: {
        const std::string s = GenText<kInline>();
        texts[i] = s;
        model[i] = s;
        break;
      }
      case 1: {  // a part of its own bytes
        const size_t from = *rc::gen::inRange<size_t>(0, model[i].size() + 1);
        const size_t n = *rc::gen::inRange<size_t>(0, model[i].size() - from + 1);
        texts[i].assign(texts[i].view().substr(from, n));
        model[i] = model[i].substr(from, n);
        break;
      }
      case 2: {
        const std::string s = GenText<kInline>();
        texts[i].append(s);
        model[i] += s;
        break;
      }
      case 3: {  // its own bytes, appended (the source moves when it grows)
        texts[i].append(texts[i].view());
        model[i] += model[i];
        break;
      }
      case 4: {
        const char c = *rc::gen::arbitrary<char>();
        texts[i].push_back(c);
        model[i].push_back(c);
        break;
      }
      case 5:
        texts[i].clear();
        model[i].clear();
        break;
      case 6:  // copy-assignment, self included
        texts[i] = texts[j];
        model[i] = model[j];
        break;
      case 7: {  // move-assignment: the source is left empty
        if (i == j) break;
        texts[i] = std::move(texts[j]);
        model[i] = std::move(model[j]);
        model[j].clear();
        RC_ASSERT(texts[j].empty());
        break;
      }
      case 8: {  // copy and move construction
        CellText<kInline> copy(texts[j]);
        RC_ASSERT(copy.view() == model[j]);
        CellText<kInline> moved(std::move(copy));
        RC_ASSERT(copy.empty());
        texts[i] = std::move(moved);
        model[i] = model[j];
        break;
      }
      default: {
        const size_t n = *rc::gen::inRange<size_t>(0, 4 * kInline);
        texts[i].reserve(n);
        RC_ASSERT(texts[i].capacity() >= n);
        break;
      }
    }
    for (size_t k = 0; k < kTexts; ++k) {
      RC_ASSERT(texts[k].view() == model[k]);
      RC_ASSERT(texts[k].size() == model[k].size());
      RC_ASSERT(texts[k].str() == model[k]);
      RC_ASSERT(texts[k].capacity() >= texts[k].size());
      RC_ASSERT((texts[k] == model[k]));
      RC_ASSERT((texts[k] <=> model[j]) == (model[k] <=> model[j]));
    }
  }
}

RC_GTEST_PROP(CellText, BehavesAsAStringAtTheSmallestCapacity, ()) { RunModel<8>(); }
RC_GTEST_PROP(CellText, BehavesAsAStringAtAPathsCapacity, ()) { RunModel<40>(); }

TEST(CellText, HoldsUpToItsCapacityInside) {
  CellText<24> t(std::string(24, 'x'));
  EXPECT_EQ(t.capacity(), 24u);
  t.append("y");
  EXPECT_GT(t.capacity(), 24u);
  EXPECT_EQ(t.view(), std::string(24, 'x') + "y");
  // Clearing keeps what was allocated, as std::string does.
  const size_t capacity = t.capacity();
  t.clear();
  EXPECT_EQ(t.capacity(), capacity);
  EXPECT_TRUE(t.empty());
}

// Paths and values on either side of the inline capacities go through a join, the codec and a
// copy with their bytes intact.
TEST(CellText, TextInsideAndOnTheHeapSurvivesTheCodecAndTheJoin) {
  using reconcile::Path;
  using reconcile::RecordState;
  const reconcile::SiteId a = reconcile::SiteId::FromName("a");
  const reconcile::SiteId b = reconcile::SiteId::FromName("b");
  auto value_of = [&](size_t n, const reconcile::SiteId& site) {
    return "\"" + std::string(n, site == a ? 'a' : 'b') + "\"";
  };
  const std::vector<size_t> sizes = {1, 22, 23, 24, 38, 39, 40, 41, 200};
  RecordState left, right;
  for (size_t n : sizes) {
    const Path path = *Path::Parse("tags/" + std::string(n, 'k'));
    left.AddValue(path, {100 + n, a}, value_of(n, a));
    right.AddValue(path, {200 + n, b}, value_of(n, b));
  }
  const RecordState joined = RecordState::Joined(left, right);
  auto decoded = reconcile::DecodeRecord(reconcile::EncodeRecord(joined));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, joined);
  const RecordState copy = *decoded;
  ASSERT_EQ(copy.cells().size(), 2 * sizes.size());
  for (const reconcile::Cell& c : copy.cells()) {
    const size_t n = c.path.size() - 5;
    EXPECT_EQ(c.path.view(), "tags" + std::string(1, reconcile::kPathSeparator) + std::string(n, 'k'));
    EXPECT_EQ(c.value.view(), value_of(n, c.site));
  }
}

TEST(CellText, ACellOfATypicalRecordIsTwoCacheLines) {
  EXPECT_EQ(sizeof(reconcile::Cell), 128u);
}

}  // namespace
