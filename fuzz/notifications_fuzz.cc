// Fuzz target: notifications routed from the hub (lifecycle and twin change messages) through
// ReadNotifications, the reader of `mergetool ingest --format events`.
//
// Input: the content of a notifications file.
// Invariants:
//  - the read returns OK; each candidate line gives one record or one reject; every delta is
//    valid, survives the codec and materializes; rejects name a line and never quote an
//    authentication value; a rejected JSON line keeps no key after redaction;
//  - a delete is exactly a cover of the root; a create writes the existence marker; every cell
//    carries the site the hubName maps to (or the --site override);
//  - the --site override accepts every line the hub mapping accepts, and where both accept the
//    same lines their deltas differ only in the site;
//  - notifications repeat harmlessly: the file read twice in a row gives its deltas twice, in the
//    same order, and its rejects twice.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"

namespace reconcile::fuzz {
namespace {

const std::string kOverride = "fuzz-site";

NotificationReadOptions HubOptions() {
  NotificationReadOptions options;
  options.hub_sites = {{"contoso-weu", "weu-primary"}, {"contoso-neu", "neu-secondary"}};
  return options;
}

ReadOutput Read(std::unique_ptr<LineReader> in, const NotificationReadOptions& options) {
  return RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
    return ReadNotifications(*in, options, rejects, sink);
  });
}

void CheckKinds(const ReadOutput& out, const std::set<SiteId>& sites) {
  uint64_t creates = 0, deletes = 0;
  for (const auto& [key, delta] : out.deltas) {
    FUZZ_CHECK(key.kind() != KeyKind::kMeta, "a notification became a meta record");
    if (delta.empty()) continue;  // an updateTwin with no section
    const Cell& first = delta.cells().front();
    if (delta.cells().size() == 1 && first.path.empty() && first.has_cover && !first.has_value) {
      ++deletes;
    } else if (first.path.empty() && first.IsObjectMarker()) {
      ++creates;
    }
    for (const Cell& c : delta.cells()) {
      FUZZ_CHECK(sites.contains(c.site), key.ToString() + ": a cell of a site no option names");
    }
  }
  FUZZ_CHECK(deletes == out.stats.deletes, "deletes counted " + std::to_string(out.stats.deletes) +
                                               ", seen " + std::to_string(deletes));
  FUZZ_CHECK(creates == out.stats.creates, "creates counted " + std::to_string(out.stats.creates) +
                                               ", seen " + std::to_string(creates));
}

RecordState WithSite(const RecordState& delta, const SiteId& site) {
  std::vector<Cell> cells = delta.cells();
  for (Cell& c : cells) c.site = site;
  return RecordState::FromCells(std::move(cells));
}

}  // namespace
}  // namespace reconcile::fuzz

RECONCILE_FUZZ_TARGET(input) {
  const std::string text(input);
  const MemFile file(text);

  // The read `mergetool ingest --format events --hub-site ...` does.
  const NotificationReadOptions hub = HubOptions();
  ReadOutput mapped = Read(file.Open(), hub);
  CheckRead(mapped, file.path(), input.size(), /*exact=*/true);
  CheckKinds(mapped, {SiteId::FromName("weu-primary"), SiteId::FromName("neu-secondary")});

  NotificationReadOptions site_override;
  site_override.site_override = kOverride;
  ReadOutput overridden = Read(FromString(file.path(), text), site_override);
  CheckRead(overridden, file.path(), input.size(), /*exact=*/true);
  const SiteId override_id = SiteId::FromName(kOverride);
  CheckKinds(overridden, {override_id});
  FUZZ_CHECK(overridden.rejects.size() <= mapped.rejects.size(),
             "the site override rejected a line the hub mapping accepted");
  if (overridden.rejects.size() == mapped.rejects.size()) {
    FUZZ_CHECK(overridden.deltas.size() == mapped.deltas.size(), "the same lines, other records");
    for (size_t i = 0; i < mapped.deltas.size(); ++i) {
      FUZZ_CHECK(
          overridden.deltas[i].first == mapped.deltas[i].first &&
              overridden.deltas[i].second == WithSite(mapped.deltas[i].second, override_id),
          "the site override changed more than the site of " + mapped.deltas[i].first.ToString());
    }
  }

  // The same file twice in a row (a BOM is only one at the start of a file).
  if (!text.empty() && !text.starts_with("\xEF\xBB\xBF")) {
    const std::string twice = text + (text.back() == '\n' ? "" : "\n") + text;
    ReadOutput doubled = Read(FromString(file.path(), twice), hub);
    const uint64_t lines = mapped.stats.lines.lines;
    FUZZ_CHECK(doubled.stats.lines.lines == 2 * lines, "a repeated file has other lines");
    FUZZ_CHECK(doubled.deltas.size() == 2 * mapped.deltas.size(), "repeats gave other records");
    for (size_t i = 0; i < doubled.deltas.size(); ++i) {
      FUZZ_CHECK(doubled.deltas[i] == mapped.deltas[i % mapped.deltas.size()],
                 "a repeated notification gave another delta");
    }
    FUZZ_CHECK(doubled.rejects.size() == 2 * mapped.rejects.size(), "repeats gave other rejects");
    for (size_t i = 0; i < doubled.rejects.size(); ++i) {
      const Reject& got = doubled.rejects[i].reject;
      const Reject& first = mapped.rejects[i % mapped.rejects.size()].reject;
      const uint64_t shift = i < mapped.rejects.size() ? 0 : lines;
      FUZZ_CHECK(got.line == first.line + shift && got.reason == first.reason &&
                     got.detail == first.detail,
                 "a repeated line was rejected differently: " + got.ToString());
    }
  }
}
