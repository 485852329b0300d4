// Bulk export readers: ExportImportDevice lines -> deltas, with or without a base (3-way).
#include <algorithm>
#include <unordered_map>

#include "lib/iothub/device_doc.h"
#include "lib/iothub/export_line.h"
#include "lib/iothub/full_write_diff.h"
#include "lib/iothub/line_pipeline.h"
#include "reconcile/codec.h"
#include "reconcile/iothub.h"
#include "reconcile/operations.h"

namespace reconcile {
namespace {

using iothub::ExportDevice;
using iothub::Invalid;

Status CheckOptions(const ExportReadOptions& options) {
  RECONCILE_RETURN_IF_ERROR(ValidateSiteName(options.site).WithContext("export read: site"));
  if (options.observed_at == 0) {
    return Status::InvalidInput("export read: observed_at is required");
  }
  return iothub::CheckObservedAt(options.clock_guard, options.observed_at, "export read");
}

// A delta that failed to build (a path core refused) becomes a reject of the line.
Invalid DeltaError(const Status& s) {
  RejectReason reason = s.message().find("deeper than") != std::string::npos
                            ? RejectReason::kTooDeep
                            : RejectReason::kInvalidTwinKey;
  return Invalid{reason, s.message()};
}

// Hash128 is already uniformly distributed: its first half is a fine bucket hash.
struct RawLineHash {
  size_t operator()(const iothub::Hash128& h) const { return static_cast<size_t>(h.a); }
};

struct BaseEntry {
  uint64_t offset = 0;
  uint64_t line = 0;
  iothub::Hash128 hash;
  bool in_base = false;
  bool seen = false;
};

// The stamp of the deltas a content hash is taken over: any fixed stamp does.
const Stamp kHashStamp{1, SiteId()};

// The key and a content hash of one export line, for the 3-way read: the hash of the line's
// full-write delta (the normalized document, keys included) at a fixed stamp, so lines whose
// documents are equal hash equal whichever path read them. The fast path reads most lines; the
// exact path the rest, filling *dev. A document whose delta cannot be built (the exact path's
// DeltaError) hashes its canonical JSON instead: equal to nothing the fast path hashes.
std::optional<Invalid> KeyAndHash(iothub::ExportLineReader& fast, std::string_view text,
                                  std::optional<Key>* key, iothub::Hash128* hash, ExportDevice* dev,
                                  RecordState* scratch, std::string* encoded) {
  if (fast.FullWrite(text, kHashStamp, false, key, scratch)) {
    encoded->clear();
    EncodeRecordTo(*scratch, encoded);
    *hash = iothub::HashText(*encoded);
    return std::nullopt;
  }
  if (auto bad = iothub::ParseExportDevice(text, dev)) {
    *key = dev->key;
    return bad;
  }
  *key = dev->key;
  Result<RecordState> delta = iothub::FullWriteDelta(*dev, kHashStamp, false);
  if (delta.ok()) {
    encoded->clear();
    EncodeRecordTo(*delta, encoded);
    *hash = iothub::HashText(*encoded);
  } else {
    *hash = iothub::HashExportDevice(*dev);
  }
  return std::nullopt;
}

}  // namespace

Result<ReadStats> ReadExport(LineReader& snapshot, const ExportReadOptions& options,
                             RejectSink* rejects, const DeltaSink& sink) {
  RECONCILE_RETURN_IF_ERROR(CheckOptions(options));
  const Stamp stamp{options.observed_at, SiteId::FromName(options.site)};
  ReadStats stats;
  const size_t workers = iothub::ParseWorkers();
  std::vector<iothub::ExportLineReader> fast(workers);
  struct Item {
    std::optional<Invalid> invalid;
    std::optional<Key> key;
    RecordState delta;
  };
  auto work = [&](size_t worker, const Line& line, Item* item) {
    if (fast[worker].FullWrite(line.text, stamp, options.keys_excluded, &item->key, &item->delta)) {
      return;
    }
    ExportDevice dev;
    if ((item->invalid = iothub::ParseExportDevice(line.text, &dev))) return;
    Result<RecordState> delta = iothub::FullWriteDelta(dev, stamp, options.keys_excluded);
    if (!delta.ok()) {
      item->invalid = DeltaError(delta.status());
      return;
    }
    item->key = std::move(dev.key);
    item->delta = std::move(*delta);
  };
  auto commit = [&](const Line&, Item& item, std::optional<Invalid>* invalid) -> Status {
    if (item.invalid) {
      *invalid = std::move(item.invalid);
      return Status::Ok();
    }
    ++stats.records;
    ++stats.creates;
    return sink(*item.key, std::move(item.delta));
  };
  RECONCILE_RETURN_IF_ERROR(iothub::ForEachLineParallel<Item>(
      snapshot, rejects, nullptr, &stats.rejected, nullptr, workers, work, commit));
  stats.lines = snapshot.stats();
  return stats;
}

Result<ReadStats> ReadExportWithBase(LineReader& snapshot, LineReader& base,
                                     const ExportReadOptions& options, RejectSink* rejects,
                                     const DeltaSink& sink) {
  RECONCILE_RETURN_IF_ERROR(CheckOptions(options));
  const Stamp stamp{options.observed_at, SiteId::FromName(options.site)};
  ReadStats stats;

  // 1. Index the base: key -> (offset, hash). Its rejects count with this read's. A second index
  // by the hash of each line's bytes lets a snapshot line the base holds byte for byte (most of
  // them, after an outage) skip parsing: it can hold no change.
  const size_t workers = iothub::ParseWorkers();
  std::vector<iothub::ExportLineReader> fast(workers);
  std::vector<RecordState> scratch(workers);
  std::vector<std::string> encodings(workers);
  std::unordered_map<std::string, BaseEntry> index;
  std::unordered_map<iothub::Hash128, BaseEntry*, RawLineHash> by_text;
  struct Item {
    bool identical = false;  // the base holds these bytes (pass 2)
    iothub::Hash128 text_hash;
    std::optional<Invalid> invalid;
    std::optional<Key> key;
    iothub::Hash128 hash;
    ExportDevice dev;  // when the exact path read the line
  };
  auto read_key_and_hash = [&](size_t worker, const Line& line, Item* item) {
    item->invalid = KeyAndHash(fast[worker], line.text, &item->key, &item->hash, &item->dev,
                               &scratch[worker], &encodings[worker]);
  };
  Status s = iothub::ForEachLineParallel<Item>(
      base, rejects, nullptr, &stats.rejected, nullptr, workers,
      [&](size_t worker, const Line& line, Item* item) {
        item->text_hash = iothub::HashText(line.text);
        read_key_and_hash(worker, line, item);
      },
      [&](const Line& line, Item& item, std::optional<Invalid>* invalid) -> Status {
        if ((*invalid = std::move(item.invalid))) return Status::Ok();
        auto [it, inserted] = index.try_emplace(item.key->Encode());
        if (!inserted) {
          *invalid = Invalid{RejectReason::kDuplicateRecord,
                             item.key->ToString() + " appears again (first at line " +
                                 std::to_string(it->second.line) + ")"};
          return Status::Ok();
        }
        it->second = BaseEntry{line.offset, line.number, item.hash, true, false};
        by_text.emplace(item.text_hash, &it->second);
        return Status::Ok();
      });
  RECONCILE_RETURN_IF_ERROR(s);

  // 2. Stream the snapshot against the index, which no one changes now: keys the base lacks are
  // kept in `fresh`. The workers read each line, look its key up and build its delta (a create,
  // or the 3-way diff against the base's line, read again on the worker's own reader); the commit
  // keeps the books (seen, duplicates) and sends the deltas on in line order. A rejected line
  // whose key is known keeps its record as it was (marked seen); one whose key is unknown may be
  // any missing record's line.
  struct Built {
    Status error;                              // the read cannot go on (a corrupt or changed base)
    std::optional<Invalid> invalid;            // the line is rejected
    std::optional<Result<RecordState>> delta;  // set when built
  };
  std::vector<std::unique_ptr<LineReader>> base_again(workers);
  for (auto& reader : base_again) reader = base.Reopen();
  std::vector<std::string> base_texts(workers);
  std::vector<RecordState> base_full(workers);
  // Builds the delta of a readable line whose key is `entry`'s (null: not in the base).
  auto build = [&](iothub::ExportLineReader& reader, RecordState* cells, RecordState* base_cells,
                   LineReader& base_reader, std::string* base_text, const Line& line, Item& item,
                   const BaseEntry* entry) -> Built {
    Built out;
    if (entry != nullptr && item.hash == entry->hash) return out;  // unchanged
    std::optional<Key> key;
    if (entry == nullptr) {
      if (reader.FullWrite(line.text, stamp, options.keys_excluded, &key, cells)) {
        out.delta = std::move(*cells);
        return out;
      }
    } else {
      if (Status read = base_reader.ReadLineAt(entry->offset, base_text); !read.ok()) {
        out.error = read;
        return out;
      }
      // When the fast path read the line (its full write is in *cells) and reads the base's
      // too, the diff comes from the two full writes (DiffFullWrites, the same delta).
      RecordState delta;
      if (!item.dev.key && !options.keys_excluded &&
          reader.FullWrite(*base_text, kHashStamp, false, &key, base_cells) &&
          iothub::DiffFullWrites(*base_cells, *cells, stamp, &delta)) {
        out.delta = std::move(delta);
        return out;
      }
    }
    // The exact path's document (when the fast path read the line, it gave only the hash).
    ExportDevice& dev = item.dev;
    if (!dev.key && iothub::ParseExportDevice(line.text, &dev)) {
      out.error = Status::Internal("line " + std::to_string(line.number) + " of '" +
                                   snapshot.name() + "': the fast and exact readers disagree");
      return out;
    }
    if (entry == nullptr) {
      out.delta = iothub::FullWriteDelta(dev, stamp, options.keys_excluded);
      return out;
    }
    ExportDevice before;
    if (iothub::ParseExportDevice(*base_text, &before)) {
      out.error = Status::Corruption("base line " + std::to_string(entry->line) + " of '" +
                                     base.name() + "' no longer parses (did the file change?)");
      return out;
    }
    out.delta = iothub::DiffDelta(before, dev, stamp, options.keys_excluded);
    return out;
  };
  auto find_in_base = [&](const Key& key) -> BaseEntry* {
    auto it = index.find(key.Encode());
    return it == index.end() ? nullptr : &it->second;
  };
  struct SnapshotItem : Item {
    std::optional<Built> built;  // by the worker, for a line with a key
  };
  std::unordered_map<std::string, BaseEntry> fresh;  // keys the base does not hold
  iothub::ExportLineReader own;                      // the commit's (the workers' are busy)
  RecordState own_scratch;
  RecordState own_base_cells;
  std::string own_encoded;
  uint64_t keyless_rejects = 0;
  uint64_t readable = 0;
  s = iothub::ForEachLineParallel<SnapshotItem>(
      snapshot, rejects, nullptr, &stats.rejected, nullptr, workers,
      [&](size_t worker, const Line& line, SnapshotItem* item) {
        item->text_hash = iothub::HashText(line.text);
        item->identical = by_text.find(item->text_hash) != by_text.end();
        if (item->identical) return;
        read_key_and_hash(worker, line, item);
        if (item->invalid || !item->key) return;
        item->built =
            build(fast[worker], &scratch[worker], &base_full[worker], *base_again[worker],
                  &base_texts[worker], line, *item, find_in_base(*item->key));
      },
      [&](const Line& line, SnapshotItem& item, std::optional<Invalid>* invalid) -> Status {
        if (item.identical) {
          BaseEntry* same = by_text.find(item.text_hash)->second;
          if (!same->seen) {
            same->seen = true;
            ++readable;
            ++stats.unchanged;
            return Status::Ok();
          }
          // The same bytes again: read them like any other line (a duplicate, below).
          item.invalid = KeyAndHash(own, line.text, &item.key, &item.hash, &item.dev, &own_scratch,
                                    &own_encoded);
        }
        if ((*invalid = std::move(item.invalid))) {
          if (!item.key) {
            ++keyless_rejects;
          } else if (BaseEntry* known = find_in_base(*item.key)) {
            known->seen = true;
          }
          return Status::Ok();
        }
        ++readable;
        BaseEntry* entry = find_in_base(*item.key);
        const bool in_base = entry != nullptr;
        if (!in_base) entry = &fresh.try_emplace(item.key->Encode()).first->second;
        if (entry->seen) {
          *invalid = Invalid{RejectReason::kDuplicateRecord,
                             item.key->ToString() + " appears again in the snapshot"};
          return Status::Ok();
        }
        entry->seen = true;
        if (!in_base) entry->line = line.number;
        if (!item.built) {
          item.built = build(own, &own_scratch, &own_base_cells, base, &own_encoded, line, item,
                             in_base ? entry : nullptr);
        }
        Built& built = *item.built;
        RECONCILE_RETURN_IF_ERROR(built.error);
        if (!built.delta) {
          ++stats.unchanged;
          return Status::Ok();
        }
        if (!built.delta->ok()) {
          *invalid = DeltaError(built.delta->status());
          return Status::Ok();
        }
        RecordState& delta = **built.delta;
        if (delta.empty()) {
          ++stats.unchanged;
          return Status::Ok();
        }
        ++stats.records;
        ++(in_base ? stats.patches : stats.creates);
        return sink(*item.key, std::move(delta));
      });
  RECONCILE_RETURN_IF_ERROR(s);

  // 3. Base records the snapshot no longer has: deletes, in key order.
  std::vector<std::string> gone;
  for (const auto& [encoded, entry] : index) {
    if (entry.in_base && !entry.seen) gone.push_back(encoded);
  }
  // A line rejected before its key was known may be the line of any record missing here; and
  // an empty, binary or wrong snapshot would delete the whole fleet.
  keyless_rejects += snapshot.stats().rejected;
  if ((keyless_rejects > 0 || readable == 0) && !gone.empty()) {
    stats.deletes_held = gone.size();
    gone.clear();
  }
  std::sort(gone.begin(), gone.end());
  for (const std::string& encoded : gone) {
    Result<Key> key = Key::Decode(encoded);
    if (!key.ok()) return key.status();
    ++stats.records;
    ++stats.deletes;
    RECONCILE_RETURN_IF_ERROR(sink(*key, DeleteDelta(stamp)));
  }
  stats.lines = snapshot.stats();
  return stats;
}

}  // namespace reconcile
