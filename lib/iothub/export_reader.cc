// Bulk export readers: ExportImportDevice lines -> deltas, with or without a base (3-way).
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <type_traits>
#include <unordered_set>

#include "lib/iothub/device_doc.h"
#include "lib/iothub/disk_index.h"
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

// What the 3-way read keeps of a base line: the value of its key in the base's index (copied as
// bytes: the index is this process's scratch, DiskIndex).
struct BaseEntry {
  uint64_t offset = 0;
  uint64_t line = 0;
  iothub::Hash128 hash;       // KeyAndHash's content hash
  iothub::Hash128 text_hash;  // of the line's bytes
};
static_assert(std::is_trivially_copyable_v<BaseEntry>);

std::string_view BytesOf(const BaseEntry& e) {
  return {reinterpret_cast<const char*>(&e), sizeof e};
}

BaseEntry EntryOf(std::string_view bytes) {
  BaseEntry e;
  std::memcpy(&e, bytes.data(), std::min(bytes.size(), sizeof e));
  return e;
}

// A key's line in the base: its entry and its ordinal in the index (the read's `seen` bit).
struct InBase {
  BaseEntry entry;
  uint64_t ordinal = 0;
};

Result<std::optional<InBase>> FindInBase(const iothub::DiskIndex& index, const Key& key) {
  thread_local std::string encoded, value;
  encoded.clear();
  key.EncodeTo(&encoded);
  InBase found;
  Result<bool> got = index.Find(encoded, &value, &found.ordinal);
  if (!got.ok()) return got.status();
  if (!*got) return std::optional<InBase>();
  found.entry = EntryOf(value);
  return std::optional<InBase>(found);
}

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
  std::error_code ec;
  const std::filesystem::path scratch_dir = options.scratch_dir.empty()
                                                ? std::filesystem::temp_directory_path(ec)
                                                : std::filesystem::path(options.scratch_dir);

  // 1. Index the base: key -> (offset, line, content hash, hash of the bytes), in memory up to
  // the budget and on disk past it (DiskIndex). Its rejects count with this read's; a key seen
  // again is rejected when the index is finished (after the base's other rejects).
  const size_t workers = iothub::ParseWorkers();
  std::vector<iothub::ExportLineReader> fast(workers);
  std::vector<RecordState> scratch(workers);
  std::vector<std::string> encodings(workers);
  struct Item {
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
  iothub::DiskIndexBuilder::RemoveStale(scratch_dir, "reconcile-base-index");  // a killed read's
  iothub::DiskIndexBuilder builder(scratch_dir, "reconcile-base-index",
                                   options.index_memory_bytes);
  std::string encoded_key;
  Status s = iothub::ForEachLineParallel<Item>(
      base, rejects, nullptr, &stats.rejected, nullptr, workers,
      [&](size_t worker, const Line& line, Item* item) {
        item->text_hash = iothub::HashText(line.text);
        read_key_and_hash(worker, line, item);
      },
      [&](const Line& line, Item& item, std::optional<Invalid>* invalid) -> Status {
        if ((*invalid = std::move(item.invalid))) return Status::Ok();
        encoded_key.clear();
        item.key->EncodeTo(&encoded_key);
        return builder.Add(encoded_key,
                           BytesOf(BaseEntry{line.offset, line.number, item.hash, item.text_hash}));
      });
  RECONCILE_RETURN_IF_ERROR(s);
  Result<std::unique_ptr<iothub::DiskIndex>> built_index = builder.Finish(
      [&](std::string_view encoded, std::string_view kept, std::string_view dropped) -> Status {
        const BaseEntry repeat = EntryOf(dropped);
        return iothub::RejectRepeatedKey(base, encoded, EntryOf(kept).line, repeat.line,
                                         repeat.offset, rejects, &stats.rejected);
      });
  if (!built_index.ok()) return built_index.status();
  const iothub::DiskIndex& index = **built_index;
  // By ordinal: `seen`, the snapshot has a line of the key (a readable one, or a rejected one
  // whose key is known: its record is not deleted); `taken`, a readable line of the key was used
  // (another is a duplicate). A rejected line before a readable one of its key does not make the
  // readable one a duplicate: it is the line the plain read (ReadExport) keeps as well.
  std::vector<bool> seen(index.size(), false);
  std::vector<bool> taken(index.size(), false);

  // 2. Stream the snapshot against the index, which no one changes now: keys the base lacks are
  // kept in `fresh`. The workers read each line's key, look it up and, unless the base holds the
  // line byte for byte (most lines, after an outage: nothing more is parsed), build its delta (a
  // create, or the 3-way diff against the base's line, read again on the worker's own reader);
  // the commit keeps the books (seen, duplicates) and sends the deltas on in line order. A
  // rejected line whose key is known keeps its record as it was (marked seen); one whose key is
  // unknown may be any missing record's line.
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
  struct SnapshotItem : Item {
    bool identical = false;           // the base holds these bytes under this key
    std::optional<Key> hint;          // the key the line's id members make (KeyOf)
    std::optional<InBase> in_base;    // the base's line of `key` (or of `hint`, when identical)
    Status error;                     // a lookup failed
    std::optional<Built> built;       // by the worker, for a line with a key
  };
  // Looks the item's key up, unless the hint's lookup already did.
  auto look_up = [&](SnapshotItem* item) -> Status {
    if (item->hint && *item->hint == *item->key) return Status::Ok();
    Result<std::optional<InBase>> found = FindInBase(index, *item->key);
    if (!found.ok()) return found.status();
    item->in_base = *found;
    return Status::Ok();
  };
  std::unordered_set<std::string> fresh;  // keys the base does not hold
  iothub::ExportLineReader own;                     // the commit's (the workers' are busy)
  RecordState own_scratch;
  RecordState own_base_cells;
  std::string own_encoded;
  uint64_t keyless_rejects = 0;
  uint64_t readable = 0;
  s = iothub::ForEachLineParallel<SnapshotItem>(
      snapshot, rejects, nullptr, &stats.rejected, nullptr, workers,
      [&](size_t worker, const Line& line, SnapshotItem* item) {
        item->text_hash = iothub::HashText(line.text);
        if (fast[worker].KeyOf(line.text, &item->hint)) {
          Result<std::optional<InBase>> found = FindInBase(index, *item->hint);
          if (!found.ok()) {
            item->error = found.status();
            return;
          }
          item->in_base = *found;
          item->identical = item->in_base && item->in_base->entry.text_hash == item->text_hash;
          if (item->identical) return;
        } else {
          item->hint.reset();
        }
        read_key_and_hash(worker, line, item);
        if (!item->key) return;
        if ((item->error = look_up(item)); !item->error.ok() || item->invalid) return;
        item->built = build(fast[worker], &scratch[worker], &base_full[worker],
                            *base_again[worker], &base_texts[worker], line, *item,
                            item->in_base ? &item->in_base->entry : nullptr);
      },
      [&](const Line& line, SnapshotItem& item, std::optional<Invalid>* invalid) -> Status {
        RECONCILE_RETURN_IF_ERROR(item.error);
        if (item.identical) {
          if (!taken[item.in_base->ordinal]) {
            seen[item.in_base->ordinal] = true;
            taken[item.in_base->ordinal] = true;
            ++readable;
            ++stats.unchanged;
            return Status::Ok();
          }
          // The same bytes again: read them like any other line (a duplicate, below).
          item.invalid = KeyAndHash(own, line.text, &item.key, &item.hash, &item.dev, &own_scratch,
                                    &own_encoded);
          if (item.key) RECONCILE_RETURN_IF_ERROR(look_up(&item));
        }
        if ((*invalid = std::move(item.invalid))) {
          if (!item.key) {
            ++keyless_rejects;
          } else if (item.in_base) {
            seen[item.in_base->ordinal] = true;
          }
          return Status::Ok();
        }
        ++readable;
        const BaseEntry* entry = item.in_base ? &item.in_base->entry : nullptr;
        bool again_here = false;
        if (entry != nullptr) {
          again_here = taken[item.in_base->ordinal];
          seen[item.in_base->ordinal] = true;
          taken[item.in_base->ordinal] = true;
        } else {
          again_here = !fresh.insert(item.key->Encode()).second;
        }
        if (again_here) {
          *invalid = Invalid{RejectReason::kDuplicateRecord,
                             item.key->ToString() + " appears again in the snapshot"};
          return Status::Ok();
        }
        if (!item.built) {
          item.built =
              build(own, &own_scratch, &own_base_cells, base, &own_encoded, line, item, entry);
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
        ++(entry != nullptr ? stats.patches : stats.creates);
        return sink(*item.key, std::move(delta));
      });
  RECONCILE_RETURN_IF_ERROR(s);

  // 3. Base records the snapshot no longer has: deletes, in key order (the index's). A line
  // rejected before its key was known may be the line of any record missing here; and an empty,
  // binary or wrong snapshot would delete the whole fleet: then every delete is held.
  keyless_rejects += snapshot.stats().rejected;
  const bool hold = keyless_rejects > 0 || readable == 0;
  iothub::DiskIndex::Cursor cursor(index);
  while (true) {
    Result<bool> got = cursor.Next();
    if (!got.ok()) return got.status();
    if (!*got) break;
    if (seen[cursor.ordinal()]) continue;
    if (hold) {
      ++stats.deletes_held;
      continue;
    }
    Result<Key> key = Key::Decode(cursor.key());
    if (!key.ok()) return key.status();
    ++stats.records;
    ++stats.deletes;
    RECONCILE_RETURN_IF_ERROR(sink(*key, DeleteDelta(stamp)));
  }
  stats.lines = snapshot.stats();
  return stats;
}

}  // namespace reconcile
