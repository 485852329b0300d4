// Internal: an index of byte keys to byte values that holds at most a memory budget of itself and
// keeps the rest on disk, so that reading an export of any size against another takes the same
// memory (docs/DECISIONS.md P12).
//
// A DiskIndexBuilder takes entries in any order. While they fit the budget they stay in memory;
// past it, each budget's worth is sorted and written to a run file, and Finish merges the runs
// into one index file: entries in key order cut into blocks of about 4 KiB, of which only each
// block's first key stays in memory (some 40 bytes a block, ~1% of the entries' bytes). A key
// added more than once keeps its first value; every later one is handed to the caller's
// duplicate callback. A small input never touches the disk.
//
// File format (runs and the index file alike): entries back to back, each
// varint(key size) varint(value size) key value. The files are scratch: written and read by one
// process, removed when the builder or index is destroyed, never read across versions.
//
// Thread safety: a builder is used by one thread; a finished index is immutable, and Find and
// cursors may run on any number of threads at once (each cursor on one).
#ifndef RECONCILE_LIB_IOTHUB_DISK_INDEX_H_
#define RECONCILE_LIB_IOTHUB_DISK_INDEX_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/status.h"

namespace reconcile::iothub {

class DiskIndex;

class DiskIndexBuilder {
 public:
  // Files go to `dir` (created when first needed), named `<prefix>-<pid>-<n>...`.
  DiskIndexBuilder(std::filesystem::path dir, std::string prefix, size_t memory_bytes);
  ~DiskIndexBuilder();  // removes the run files
  DiskIndexBuilder(const DiskIndexBuilder&) = delete;
  DiskIndexBuilder& operator=(const DiskIndexBuilder&) = delete;

  Status Add(std::string_view key, std::string_view value);

  // Called for each entry whose key was added before: the kept (first) value and this one, in
  // the order they were added. An error ends Finish with it.
  using DuplicateFn =
      std::function<Status(std::string_view key, std::string_view kept, std::string_view dropped)>;
  // Ends the building (the builder is then empty).
  Result<std::unique_ptr<DiskIndex>> Finish(const DuplicateFn& duplicate);

  uint64_t runs_written() const { return runs_.size(); }

  // Removes the files of builders and indexes with this prefix in `dir` whose process is gone (a
  // crash or a kill leaves them): files of running processes stay. Best effort: errors are ignored.
  static void RemoveStale(const std::filesystem::path& dir, std::string_view prefix);

 private:
  friend class DiskIndex;
  struct Ref {
    uint64_t at;  // in arena_
    uint32_t key_size;
    uint32_t value_size;
  };
  std::string_view KeyOf(const Ref& r) const { return {arena_.data() + r.at, r.key_size}; }
  std::string_view ValueOf(const Ref& r) const {
    return {arena_.data() + r.at + r.key_size, r.value_size};
  }
  void SortRefs();
  Status WriteRun();
  std::filesystem::path NewPath(std::string_view kind);

  std::filesystem::path dir_;
  std::string prefix_;
  size_t memory_bytes_;
  std::string arena_;
  std::vector<Ref> refs_;
  std::vector<std::filesystem::path> runs_;
};

class DiskIndex {
 public:
  ~DiskIndex();  // removes the index file
  DiskIndex(const DiskIndex&) = delete;
  DiskIndex& operator=(const DiskIndex&) = delete;

  uint64_t size() const { return size_; }
  bool on_disk() const { return !path_.empty(); }

  // The value of `key` and its ordinal (its place in key order, from 0): false when absent.
  Result<bool> Find(std::string_view key, std::string* value, uint64_t* ordinal = nullptr) const;

  // Reads the entries in key order.
  class Cursor {
   public:
    explicit Cursor(const DiskIndex& index);
    // Moves to the next entry (the first, on the first call); false at the end.
    Result<bool> Next();
    std::string_view key() const { return key_; }
    std::string_view value() const { return value_; }
    uint64_t ordinal() const { return ordinal_; }

   private:
    const DiskIndex& index_;
    size_t block_ = 0;       // the next block to load (on disk)
    std::string buffer_;     // the loaded block (on disk)
    std::string_view rest_;  // what is left of it
    uint64_t next_ = 0;      // the next entry's ordinal
    uint64_t ordinal_ = 0;
    std::string_view key_, value_;
  };

 private:
  friend class DiskIndexBuilder;
  struct Block {
    std::string first_key;
    uint64_t offset;
    uint64_t size;
    uint64_t first_ordinal;
  };
  DiskIndex() = default;
  Status ReadBlock(size_t block, std::string* out) const;

  uint64_t size_ = 0;
  // In memory: the sorted entries, deduplicated.
  std::string arena_;
  std::vector<DiskIndexBuilder::Ref> refs_;
  // On disk.
  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<Block> blocks_;
};

}  // namespace reconcile::iothub

#endif  // RECONCILE_LIB_IOTHUB_DISK_INDEX_H_
