// lib/store/held_writes.h — a batch of writes held before it reaches RocksDB: what Apply builds
// and writes at once, and what a BulkRun collects over many calls. One place says what a batch of
// deltas writes (the record operands, digest index entries, watermarks, counts and meta), so the
// logged batch and the table files write the same things.
#ifndef RECONCILE_LIB_STORE_HELD_WRITES_H_
#define RECONCILE_LIB_STORE_HELD_WRITES_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/site.h"
#include "reconcile/stamp.h"

namespace reconcile::store {

struct HeldWrites {
  // A record's merge operand: its encoded key and state, back to back in `bytes`.
  struct Operand {
    size_t at = 0;
    uint32_t key_size = 0;
    uint32_t state_size = 0;
  };
  std::string bytes;
  std::vector<Operand> operands;       // in the order held
  std::vector<uint32_t> touched;       // digest bucket of each operand's key
  std::map<SiteId, Hlc> watermarks;    // the greatest stamp per site of the held deltas
  std::map<std::string, std::string> meta;  // meta key -> value; a later Put of a key wins
  size_t deltas = 0;                   // deltas added (held, empty or below the horizon)
  size_t below_horizon = 0;
  Hlc horizon = 0;                     // the store's GC horizon when the first delta was added
  bool started = false;

  std::string_view KeyOf(const Operand& o) const { return {bytes.data() + o.at, o.key_size}; }
  std::string_view StateOf(const Operand& o) const {
    return {bytes.data() + o.at + o.key_size, o.state_size};
  }
  // True when a write would change nothing (no operand, meta or count).
  bool empty() const { return operands.empty() && meta.empty() && below_horizon == 0; }
  // Empties it, keeping the room `bytes`, `operands` and `touched` have for the next batch (a
  // bulk run fills them to about the same size each time).
  void Reset() {
    bytes.clear();
    operands.clear();
    touched.clear();
    watermarks.clear();
    meta.clear();
    deltas = 0;
    below_horizon = 0;
    horizon = 0;
    started = false;
  }
};

}  // namespace reconcile::store

#endif  // RECONCILE_LIB_STORE_HELD_WRITES_H_
