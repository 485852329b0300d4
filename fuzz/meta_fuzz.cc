// Fuzz target: application metadata lines through ReadMeta, the reader of
// `mergetool ingest --format meta`.
//
// Input: the content of a metadata file.
// Invariants:
//  - the read returns OK; each candidate line gives one record or one reject; every delta is
//    valid, survives the codec and materializes; rejects name a line and never quote an
//    authentication value; a rejected JSON line keeps no key after redaction;
//  - every record is a meta record of the read's site: a delete is exactly a cover of the root, a
//    replace writes the existence marker and a cover of the root with one stamp;
//  - the meta export of what was read reads back without reject, one record per line, and writes
//    the same bytes again.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"

namespace reconcile::fuzz {
namespace {

const std::string kSite = "weu-primary";

ReadOutput Read(std::unique_ptr<LineReader> in) {
  MetaReadOptions options;
  options.site = kSite;
  return RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
    return ReadMeta(*in, options, rejects, sink);
  });
}

void CheckRecords(const ReadOutput& out) {
  const SiteId site = SiteId::FromName(kSite);
  uint64_t deletes = 0;
  for (const auto& [key, delta] : out.deltas) {
    FUZZ_CHECK(key.kind() == KeyKind::kMeta, key.ToString() + ": not a meta record");
    FUZZ_CHECK(!delta.empty(), key.ToString() + ": an empty delta");
    const Cell& root = delta.cells().front();
    FUZZ_CHECK(root.path.empty() && root.has_cover, key.ToString() + ": no cover of the root");
    if (delta.cells().size() == 1 && !root.has_value) {
      ++deletes;
    } else {
      FUZZ_CHECK(root.IsObjectMarker() && root.value_hlc == root.cover_hlc,
                 key.ToString() + ": a replace without its existence marker");
    }
    for (const Cell& c : delta.cells()) {
      FUZZ_CHECK(c.site == site, key.ToString() + ": a cell of another site");
    }
  }
  FUZZ_CHECK(deletes == out.stats.deletes, "deletes miscounted");
}

}  // namespace
}  // namespace reconcile::fuzz

RECONCILE_FUZZ_TARGET(input) {
  const std::string text(input);
  const MemFile file(text);

  // The read `mergetool ingest --format meta` does.
  ReadOutput read = Read(file.Open());
  CheckRead(read, file.path(), input.size(), /*exact=*/true);
  CheckRecords(read);

  // Meta export -> ReadMeta -> meta export: the same bytes.
  static const PolicyTable table = PolicyTable::Default();
  const MergeView view{&table, 0};
  Model model;
  JoinInto(&model, read.deltas);
  WriteStats ws;
  const std::string once = WriteModel(model, view, WriteMetaExport, &ws);
  FUZZ_CHECK(ws.written == model.size(), "meta records lost by the writer");
  ReadOutput again = Read(FromString("meta-export", once));
  FUZZ_CHECK(again.rejects.empty(), "the meta export does not read back: " +
                                        again.rejects[0].reject.ToString() + "\n" + once);
  FUZZ_CHECK(again.deltas.size() == ws.written, "meta export lines lost on re-read");
  Model back;
  JoinInto(&back, again.deltas);
  const std::string twice = WriteModel(back, view, WriteMetaExport);
  FUZZ_CHECK(twice == once, "meta export changed on re-read:\n" + once + "---\n" + twice);
}
