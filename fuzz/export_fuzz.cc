// Fuzz target: bulk export files (ExportImportDevice lines) through ReadExport and
// ReadExportWithBase, the readers of `mergetool ingest --format export [--base FILE]`.
//
// Input: the content of an export file. A line "#base" (a comment line to the readers) splits it:
// what follows is also read as the base of a 3-way read of what precedes.
// Invariants:
//  - every read returns OK; each candidate line gives one record or one reject; every delta is
//    valid, survives the codec, materializes, and carries (observed_at, site) in every stamp;
//    rejects name a line of their file and never quote an authentication value; a rejected JSON
//    line keeps no key after redaction;
//  - without duplicate keys, the 3-way read against an empty base gives exactly ReadExport's deltas
//    and rejects, and the 3-way read of a snapshot against itself gives no delta;
//  - the 3-way read never deletes a record the snapshot holds, and (lww, no duplicates) the base
//    joined with the 3-way deltas shows every record of both as the snapshot alone shows it;
//  - without duplicate keys, the canonical export of what was read reads back without reject and
//    writes the same bytes, and its twin export reads back as twins without reject;
//  - for every snapshot line and base line of one key that the fast reader reads, the diff of
//    their full writes (DiffFullWrites, the 3-way read's) is DiffDelta's, byte for byte, or
//    declined.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "fuzz/fuzz_util.h"
#include "lib/iothub/device_doc.h"
#include "lib/iothub/export_line.h"
#include "lib/iothub/full_write_diff.h"

namespace reconcile::fuzz {
namespace {

const Hlc kBaseTime = Time("2026-11-20T00:00:00Z");
const Hlc kSnapshotTime = Time("2026-11-22T12:00:00Z");
const Hlc kLaterTime = Time("2026-11-24T00:00:00Z");

ExportReadOptions Options(const std::string& site, Hlc observed_at) {
  ExportReadOptions options;
  options.site = site;
  options.observed_at = observed_at;
  return options;
}

TwinReadOptions TwinOptions(const std::string& site, Hlc observed_at) {
  TwinReadOptions options;
  options.site = site;
  options.observed_at = observed_at;
  return options;
}

const ExportReadOptions kOptions = Options("neu-secondary", kSnapshotTime);

// The snapshot, and the base when the input has a "#base" line.
std::pair<std::string_view, std::optional<std::string_view>> Split(std::string_view input) {
  constexpr std::string_view kMarker = "#base\n";
  if (input.substr(0, kMarker.size()) == kMarker) {
    return {std::string_view(), input.substr(kMarker.size())};
  }
  size_t at = input.find("\n#base\n");
  if (at == std::string_view::npos) return {input, std::nullopt};
  return {input.substr(0, at + 1), input.substr(at + 1 + kMarker.size())};
}

void CheckStamps(const std::vector<std::pair<Key, RecordState>>& deltas, Hlc hlc,
                 const std::string& site) {
  const SiteId id = SiteId::FromName(site);
  for (const auto& [key, delta] : deltas) {
    for (const Cell& c : delta.cells()) {
      const bool ok = c.site == id && (!c.has_value || c.value_hlc == hlc) &&
                      (!c.has_cover || c.cover_hlc == hlc) &&
                      (!c.has_below_cover || c.below_cover_hlc == hlc);
      FUZZ_CHECK(ok, key.ToString() + ": a cell not stamped (observed_at, site)");
    }
  }
}

std::set<Key> Keys(const ReadOutput& out) {
  std::set<Key> keys;
  for (const auto& [key, delta] : out.deltas) keys.insert(key);
  return keys;
}

// The lines of `text` (LF-separated, a CR before the LF dropped).
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

// DiffFullWrites against DiffDelta on every (base line, snapshot line) pair of one key that the
// fast reader reads.
void CheckFullWriteDiffs(std::string_view snapshot_text, std::string_view base_text) {
  static iothub::ExportLineReader fast;
  const Stamp read{1, SiteId()};
  const Stamp stamp{kSnapshotTime, SiteId::FromName(kOptions.site)};
  std::map<std::string, std::pair<std::string_view, RecordState>> base;
  for (std::string_view line : SplitLines(base_text)) {
    std::optional<Key> key;
    RecordState cells;
    if (fast.FullWrite(line, read, false, &key, &cells)) {
      base.try_emplace(key->Encode(), line, std::move(cells));
    }
  }
  for (std::string_view line : SplitLines(snapshot_text)) {
    std::optional<Key> key;
    RecordState cells;
    if (!fast.FullWrite(line, read, false, &key, &cells)) continue;
    auto it = base.find(key->Encode());
    if (it == base.end()) continue;
    RecordState from_cells;
    if (!iothub::DiffFullWrites(it->second.second, cells, stamp, &from_cells)) continue;
    iothub::ExportDevice before, after;
    FUZZ_CHECK(!iothub::ParseExportDevice(it->second.first, &before) &&
                   !iothub::ParseExportDevice(line, &after),
               "the exact reader rejects a line the fast reader read");
    Result<RecordState> exact = iothub::DiffDelta(before, after, stamp, false);
    FUZZ_CHECK(exact.ok(), exact.status().ToString());
    FUZZ_CHECK(EncodeRecord(*exact) == EncodeRecord(from_cells),
               key->ToString() + ": DiffFullWrites differs from DiffDelta:\n" +
                   Describe({{*key, *exact}}) + "---\n" + Describe({{*key, from_cells}}));
  }
}

// 3-way read of the snapshot against a real base (the input's "#base" part).
void CheckThreeWay(const MemFile& snapshot, std::string_view snapshot_text,
                   std::string_view base_text, const ReadOutput& plain) {
  MemFile base_file(base_text);
  std::unique_ptr<LineReader> base = base_file.Open();
  ReadOutput three = RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
    std::unique_ptr<LineReader> snap = snapshot.Open();
    return ReadExportWithBase(*snap, *base, kOptions, rejects, sink);
  });
  FUZZ_CHECK(three.stats.lines.bytes == snapshot_text.size(), "snapshot not read to its end");
  FUZZ_CHECK(three.stats.records == three.deltas.size(), "records count differs from deltas");
  FUZZ_CHECK(three.stats.rejected == three.rejects.size(), "rejected count differs from rejects");
  for (const auto& [key, delta] : three.deltas) CheckDelta(key, delta);
  CheckRejects(three.rejects, {{snapshot.path(), three.stats.lines.lines},
                               {base_file.path(), base->stats().lines}});
  CheckStamps(three.deltas, kOptions.observed_at, kOptions.site);

  const std::set<Key> in_snapshot = Keys(plain);
  const RecordState deleted =
      DeleteDelta(Stamp{kOptions.observed_at, SiteId::FromName(kOptions.site)});
  for (const auto& [key, delta] : three.deltas) {
    if (delta == deleted) {
      FUZZ_CHECK(!in_snapshot.contains(key), key.ToString() + " is in the snapshot but deleted");
    }
  }

  // The base (as its own site, earlier) joined with the 3-way deltas shows what the snapshot
  // shows, for records read from both. A snapshot record without authentication leaves the
  // base's alone (unknown), so that field is compared only when the snapshot has it.
  ReadOutput from_base = RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
    std::unique_ptr<LineReader> in = FromString("base", base_text);
    return ReadExport(*in, Options("backup", kBaseTime), rejects, sink);
  });
  if (HasDuplicateKeys(plain.deltas) || HasDuplicateKeys(from_base.deltas)) return;
  Model merged, alone;
  JoinInto(&merged, from_base.deltas);
  JoinInto(&merged, three.deltas);
  JoinInto(&alone, plain.deltas);
  const MergeView view{&LwwTable(), 0};
  for (const Key& key : Keys(from_base)) {
    if (!in_snapshot.contains(key)) continue;
    Result<std::optional<json>> want = MaterializeJson(key.kind(), alone[key], view);
    Result<std::optional<json>> got = MaterializeJson(key.kind(), merged[key], view);
    FUZZ_CHECK(want.ok() && got.ok() && want->has_value() && got->has_value(),
               key.ToString() + ": does not materialize");
    if (!(*want)->contains("authentication")) (*got)->erase("authentication");
    FUZZ_CHECK(**want == **got, key.ToString() + ": base + 3-way deltas show " + (*got)->dump() +
                                    ", the snapshot shows " + (*want)->dump());
  }
}

// Canonical export -> ReadExport -> canonical export gives the same bytes; the twin export reads
// back as twins.
void CheckWritersRoundTrip(const ReadOutput& plain) {
  static const PolicyTable table = PolicyTable::Default();
  const MergeView view{&table, 0};
  Model model;
  JoinInto(&model, plain.deltas);
  WriteStats ws;
  const std::string once = WriteModel(model, view, WriteCanonicalExport, &ws);
  FUZZ_CHECK(ws.written + ws.absent + ws.orphan_modules == model.size(), "records lost by writer");
  ReadOutput again = RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
    std::unique_ptr<LineReader> in = FromString("canonical", once);
    return ReadExport(*in, Options("audit", kLaterTime), rejects, sink);
  });
  FUZZ_CHECK(again.rejects.empty(),
             "the canonical export does not read back: " + again.rejects[0].reject.ToString());
  FUZZ_CHECK(again.deltas.size() == ws.written, "canonical export lines lost on re-read");
  Model back;
  JoinInto(&back, again.deltas);
  const std::string twice = WriteModel(back, view, WriteCanonicalExport);
  FUZZ_CHECK(twice == once, "canonical export changed on re-read:\n" + once + "---\n" + twice);

  WriteStats ts;
  const std::string twins = WriteModel(model, view, WriteTwinExport, &ts);
  ReadOutput twin_read = RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
    std::unique_ptr<LineReader> in = FromString("twins", twins);
    return ReadTwins(*in, TwinOptions("audit", kLaterTime), rejects, sink);
  });
  FUZZ_CHECK(twin_read.rejects.empty(),
             "the twin export does not read back: " + twin_read.rejects[0].reject.ToString());
  FUZZ_CHECK(twin_read.deltas.size() == ts.written, "twin export lines lost on re-read");
}

}  // namespace
}  // namespace reconcile::fuzz

RECONCILE_FUZZ_TARGET(input) {
  const auto [snapshot_text, base_text] = Split(input);
  const MemFile snapshot(snapshot_text);

  // The read `mergetool ingest --format export` does.
  ReadOutput plain = RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
    std::unique_ptr<LineReader> in = snapshot.Open();
    return ReadExport(*in, kOptions, rejects, sink);
  });
  CheckRead(plain, snapshot.path(), snapshot_text.size(), /*exact=*/true);
  CheckStamps(plain.deltas, kOptions.observed_at, kOptions.site);
  FUZZ_CHECK(plain.stats.creates == plain.stats.records, "an export read wrote a non-create");
  for (const auto& [key, delta] : plain.deltas) {
    FUZZ_CHECK(key.kind() != KeyKind::kMeta, "an export line became a meta record");
    FUZZ_CHECK(!delta.empty() && delta.cells().front().path.empty() &&
                   delta.cells().front().IsObjectMarker(),
               key.ToString() + ": an export record without its existence marker");
  }
  const bool duplicates = HasDuplicateKeys(plain.deltas);

  // 3-way against an empty base: every record is new.
  ReadOutput empty_base = RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
    std::unique_ptr<LineReader> snap = snapshot.Open();
    std::unique_ptr<LineReader> base = FromString("base", "");
    return ReadExportWithBase(*snap, *base, kOptions, rejects, sink);
  });
  CheckRead(empty_base, snapshot.path(), snapshot_text.size(), /*exact=*/true);
  if (!duplicates) {
    FUZZ_CHECK(empty_base.deltas == plain.deltas,
               "3-way read against an empty base differs from ReadExport:\n" +
                   Describe(empty_base.deltas) + "---\n" + Describe(plain.deltas));
    FUZZ_CHECK(SameRejects(empty_base.rejects, plain.rejects),
               "3-way read against an empty base rejects other lines than ReadExport");
  }

  // 3-way against itself: nothing changed.
  {
    std::unique_ptr<LineReader> base = FromString("self", snapshot_text);
    ReadOutput self = RunReader([&](RejectSink* rejects, const DeltaSink& sink) {
      std::unique_ptr<LineReader> snap = snapshot.Open();
      return ReadExportWithBase(*snap, *base, kOptions, rejects, sink);
    });
    FUZZ_CHECK(self.deltas.empty(),
               "a snapshot read against itself gave deltas:\n" + Describe(self.deltas));
    CheckRejects(self.rejects,
                 {{snapshot.path(), self.stats.lines.lines}, {"self", base->stats().lines}});
  }

  if (base_text) {
    CheckThreeWay(snapshot, snapshot_text, *base_text, plain);
    CheckFullWriteDiffs(snapshot_text, *base_text);
  }
  if (!duplicates) CheckWritersRoundTrip(plain);
}
