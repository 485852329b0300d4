// Reading encoded states in place (lib/core/encoded_cells.h) and the conflict hint built on it
// (lib/core/conflict_hint.h), against DecodeRecord and FindConflicts as models: the visit sees
// exactly the decoded cells, in order, and stops when asked; the hint is false only when there is
// no conflict, and is exactly "two sites wrote after the fork point"; garbage gives the decoder's
// errors, never a crash.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "lib/core/conflict_hint.h"
#include "lib/core/encoded_cells.h"
#include "reconcile/codec.h"
#include "reconcile/conflict.h"
#include "tests/core/generators.h"

namespace {

using reconcile::Code;
using reconcile::DecodeRecord;
using reconcile::EncodeRecord;
using reconcile::Hlc;
using reconcile::MergeView;
using reconcile::PolicyTable;
using reconcile::RecordState;
using reconcile::SiteId;
using reconcile::internal::EncodedCell;
using reconcile::internal::EncodedSiteCount;
using reconcile::internal::MayHoldConflicts;
using reconcile::internal::VisitEncodedCells;
using namespace reconcile_test;

RC_GTEST_PROP(EncodedCells, VisitSeesTheDecodedCellsInOrderAndStopsWhenAsked, ()) {
  const Universe u = *GenUniverse();
  const RecordState s = *GenState(u);
  const std::string bytes = EncodeRecord(s);
  RC_LOG() << "s=" << Describe(s) << "\n";
  std::vector<SiteId> sites;
  for (const reconcile::Cell& c : s.cells()) sites.push_back(c.site);
  std::sort(sites.begin(), sites.end());
  sites.erase(std::unique(sites.begin(), sites.end()), sites.end());
  const auto count = EncodedSiteCount(bytes);
  RC_ASSERT(count.ok());
  RC_ASSERT(*count == sites.size());

  const size_t stop_after = *rc::gen::inRange<size_t>(1, s.cells().size() + 2);
  size_t seen = 0;
  const reconcile::Status read = VisitEncodedCells(bytes, [&](const EncodedCell& e) {
    RC_ASSERT(seen < s.cells().size());
    const reconcile::Cell& c = s.cells()[seen];
    RC_ASSERT(e.path == c.path.str());
    RC_ASSERT(e.site < sites.size());
    RC_ASSERT(sites[e.site] == c.site);
    RC_ASSERT(e.has_value == c.has_value);
    if (c.has_value) {
      RC_ASSERT(e.value == c.value.str());
      RC_ASSERT(e.value_hlc == c.value_hlc);
    }
    RC_ASSERT(e.has_cover == c.has_cover);
    if (c.has_cover) RC_ASSERT(e.cover_hlc == c.cover_hlc);
    ++seen;
    return seen < stop_after;
  });
  RC_ASSERT(read.ok());
  RC_ASSERT(seen == std::min(stop_after, s.cells().size()));
}

// Two sites wrote after `fork`: the model of the hint.
bool TwoSitesWroteAfter(const RecordState& s, Hlc fork) {
  std::set<SiteId> wrote;
  for (const reconcile::Cell& c : s.cells()) {
    if ((c.has_value && c.value_hlc > fork) || (c.has_cover && c.cover_hlc > fork)) {
      wrote.insert(c.site);
    }
  }
  return wrote.size() >= 2;
}

RC_GTEST_PROP(ConflictHint, IsFalseOnlyForRecordsWithoutConflicts, ()) {
  const Universe u = *GenUniverse();
  const RecordState s = JoinAll(DeltasOf(*GenFocusedHistory(u, 14), u));
  const PolicyTable table = Chance(50) ? PolicyTable() : *GenPolicyTable(u);
  const Hlc fork = *GenForkPoint();
  const MergeView view{&table, fork};
  RC_LOG() << Describe(u) << " fork=" << fork << "\nstate: " << Describe(s) << "\n";
  const auto hint = MayHoldConflicts(EncodeRecord(s), fork);
  RC_ASSERT(hint.ok());
  RC_ASSERT(*hint == TwoSitesWroteAfter(s, fork));
  auto conflicts = reconcile::FindConflicts(u.kind, s, view);
  RC_ASSERT(conflicts.ok());
  RC_TAG(conflicts->empty() ? "no conflict" : "conflicts");
  if (!*hint) RC_ASSERT(conflicts->empty());
}

RC_GTEST_PROP(EncodedCells, GarbageGivesTheDecodersErrors, ()) {
  std::string bytes;
  const int n = Pick(0, 64);
  for (int i = 0; i < n; ++i) {
    bytes.push_back(static_cast<char>(Chance(60) ? Pick(0, 4) : Pick(0, 255)));
  }
  if (!bytes.empty() && Chance(70)) bytes[0] = static_cast<char>(reconcile::kRecordCodecVersion);
  const auto decoded = DecodeRecord(bytes);
  const reconcile::Status read = VisitEncodedCells(bytes, [](const EncodedCell&) { return true; });
  // A whole visit reads what the decoder reads: the same verdict, the same error.
  RC_ASSERT(read.ok() == decoded.ok());
  if (!read.ok()) RC_ASSERT(read.ToString() == decoded.status().ToString());
  const auto hint = MayHoldConflicts(bytes, *GenForkPoint());
  if (!hint.ok()) {
    RC_ASSERT(hint.status().code() == Code::kCorruption ||
              hint.status().code() == Code::kUnsupported);
  }
}

}  // namespace
