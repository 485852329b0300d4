// Fuzz target: twin documents (GET twin / query output) through ReadTwins, the reader of
// `mergetool ingest --format twin`.
//
// Input: the content of a twins file.
// Invariants:
//  - the read returns OK; each candidate line gives at most one record, or one reject; every delta
//    is valid, survives the codec and materializes; rejects name a line and never quote an
//    authentication value; a rejected JSON line keeps no key after redaction;
//  - a twin read is a patch: no delta touches the record's root (existence), and the only covers
//    are the sets of `tags` and `status`; every stamp is the read's site;
//  - the tags options change only the tags: outside `tags` the deltas of kObservedAt,
//    kMaxLastUpdated and kSkip are the same (kSkip drops a delta that was only tags), with
//    kObservedAt the tags carry observed_at, and kSkip writes no tags at all.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"

namespace reconcile::fuzz {
namespace {

const Hlc kObservedAt = Time("2026-11-22T12:00:00Z");
const std::string kSite = "neu-secondary";

bool InTags(std::string_view path) {
  return path == "tags" || path.starts_with(std::string("tags") + kPathSeparator);
}

ReadOutput Read(std::unique_ptr<LineReader> in, TwinTagsStamp tags) {
  TwinReadOptions options;
  options.site = kSite;
  options.observed_at = kObservedAt;
  options.tags_stamp = tags;
  return RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
    return ReadTwins(*in, options, rejects, sink);
  });
}

// The delta without its tags cells.
RecordState WithoutTags(const RecordState& delta) {
  std::vector<Cell> kept;
  for (const Cell& c : delta.cells()) {
    if (!InTags(c.path)) kept.push_back(c);
  }
  return RecordState::FromCells(std::move(kept));
}

std::vector<std::pair<Key, RecordState>> WithoutTags(
    const std::vector<std::pair<Key, RecordState>>& deltas) {
  std::vector<std::pair<Key, RecordState>> out;
  for (const auto& [key, delta] : deltas) {
    RecordState rest = WithoutTags(delta);
    if (!rest.empty()) out.emplace_back(key, std::move(rest));
  }
  return out;
}

void CheckPatches(const ReadOutput& out) {
  const SiteId site = SiteId::FromName(kSite);
  FUZZ_CHECK(out.stats.patches == out.stats.records, "a twin read wrote a non-patch");
  for (const auto& [key, delta] : out.deltas) {
    FUZZ_CHECK(key.kind() != KeyKind::kMeta, "a twin became a meta record");
    for (const Cell& c : delta.cells()) {
      const std::string where =
          key.ToString() + " at '" + Path::FromJoined(c.path.str()).ToString() + "'";
      FUZZ_CHECK(!c.path.empty(), where + ": a twin read touched the record's root");
      FUZZ_CHECK(!c.has_cover || c.path == "tags" || c.path == "status",
                 where + ": a twin read removed something");
      FUZZ_CHECK(c.site == site, where + ": a cell of another site");
    }
  }
}

}  // namespace
}  // namespace reconcile::fuzz

RECONCILE_FUZZ_TARGET(input) {
  const std::string text(input);
  const MemFile file(text);

  // The read `mergetool ingest --format twin` does.
  ReadOutput observed = Read(file.Open(), TwinTagsStamp::kObservedAt);
  CheckRead(observed, file.path(), input.size(), /*exact=*/false);
  CheckPatches(observed);
  for (const auto& [key, delta] : observed.deltas) {
    for (const Cell& c : delta.cells()) {
      if (!InTags(c.path)) continue;
      FUZZ_CHECK((!c.has_value || c.value_hlc == kObservedAt) &&
                     (!c.has_cover || c.cover_hlc == kObservedAt),
                 key.ToString() + ": tags not stamped observed_at");
    }
  }

  ReadOutput latest = Read(FromString(file.path(), text), TwinTagsStamp::kMaxLastUpdated);
  CheckRead(latest, file.path(), input.size(), /*exact=*/false);
  CheckPatches(latest);
  FUZZ_CHECK(SameRejects(latest.rejects, observed.rejects),
             "the tags stamp option changed which lines are rejected");
  FUZZ_CHECK(WithoutTags(latest.deltas) == WithoutTags(observed.deltas),
             "the tags stamp option changed more than the tags");

  ReadOutput skip = Read(FromString(file.path(), text), TwinTagsStamp::kSkip);
  CheckRead(skip, file.path(), input.size(), /*exact=*/false);
  CheckPatches(skip);
  for (const auto& [key, delta] : skip.deltas) {
    for (const Cell& c : delta.cells()) {
      FUZZ_CHECK(!InTags(c.path), key.ToString() + ": kSkip wrote tags");
    }
  }
  // Skipping tags can only remove rejects (of bad tags), never add one; where no line was
  // rejected for its tags, the deltas outside tags are the same.
  FUZZ_CHECK(skip.rejects.size() <= observed.rejects.size(), "kSkip rejected more lines");
  if (skip.rejects.size() == observed.rejects.size()) {
    FUZZ_CHECK(skip.deltas == WithoutTags(observed.deltas), "kSkip changed more than the tags:\n" +
                                                                Describe(skip.deltas) + "---\n" +
                                                                Describe(observed.deltas));
  }
}
