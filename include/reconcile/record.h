// reconcile/record.h — the state of one record: cells, and the join that merges states.
//
// DESIGN §2. At each (path, origin site) a RecordState keeps at most
//   - the greatest value cell: (stamp, canonical JSON bytes of a scalar, an array, or "{}", the
//     object marker; "{}" at the root is the record's existence marker), ordered by stamp, then
//     by the bytes;
//   - the greatest cover: a stamp that hides every value at that path or below it whose stamp is
//     older. A value whose stamp equals a cover's stamp stays visible (one operation wrote both);
//   - the greatest below-cover: a stamp that hides every value strictly below that path whose
//     stamp is older. A patch that writes a scalar or an array at a path writes one with the same
//     stamp: the scalar replaced whatever object was there, but other sites' values at the path
//     itself stay visible to its policy.
// A cell's stamps always carry the cell's site, so a cell stores only the hlc parts.
//
// Join is the per-(path, site) maximum of each part: commutative, associative, idempotent.
// Prune drops values hidden by a cover at their path or above (or a below-cover above them), and
// covers and below-covers made redundant by a newer-or-equal one above them; it never changes what Materialize shows, and
// Prune(Join(a, b)) == Prune(Join(Prune(a), Prune(b))).
//
// Invariants: cells are sorted by (path, site) with no two cells at the same (path, site); every
// cell holds at least one of a value, a cover and a below-cover; the root has no below-cover.
//
// Thread safety: a RecordState is a value; const methods may be called from many threads,
// mutating ones need external synchronization. Copyable and movable.
#ifndef RECONCILE_RECORD_H_
#define RECONCILE_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/cell_text.h"
#include "reconcile/path.h"
#include "reconcile/site.h"
#include "reconcile/stamp.h"

namespace reconcile {

// A cell's path and value are held in the cell up to 40 and 24 bytes (cell_text.h): every path
// and nearly every value of a typical device record, so its cells are one block of 128 bytes each
// (the members laid out by size, the three flags together), which the join, the copy and the codec
// move through by the thousand without an allocation.
using CellPath = CellText<40>;
using CellValue = CellText<24>;

struct Cell {
  CellPath path;    // Path::joined()
  CellValue value;  // canonical JSON bytes; "{}" is the object marker
  SiteId site;
  Hlc value_hlc = 0;
  Hlc cover_hlc = 0;
  Hlc below_cover_hlc = 0;
  bool has_value = false;
  bool has_cover = false;
  bool has_below_cover = false;

  Stamp value_stamp() const { return {value_hlc, site}; }
  Stamp cover_stamp() const { return {cover_hlc, site}; }
  Stamp below_cover_stamp() const { return {below_cover_hlc, site}; }
  // True when the cell holds nothing (and must not be kept).
  bool empty() const { return !has_value && !has_cover && !has_below_cover; }
  bool IsObjectMarker() const { return has_value && value == "{}"; }

  friend bool operator==(const Cell&, const Cell&) = default;
};

// The canonical JSON text of the object marker (and of the root existence marker).
inline constexpr std::string_view kObjectMarker = "{}";

class RecordState {
 public:
  RecordState() = default;

  // Joins a value cell at `path`: kept iff greater (stamp, then bytes) than the one held for
  // stamp.site. REQUIRES: `value` is canonical JSON (see CanonicalJson in operations.h).
  void AddValue(const Path& path, const Stamp& stamp, std::string value);
  // Joins a cover at `path`: kept iff newer than the one held for stamp.site.
  void AddCover(const Path& path, const Stamp& stamp);
  // Joins a below-cover at `path`. REQUIRES: !path.is_root() (the root's cover does that job).
  void AddBelowCover(const Path& path, const Stamp& stamp);

  // this := join(this, other).
  void Join(const RecordState& other);
  // this := join(this, other), reusing other's storage.
  void Join(RecordState&& other);
  static RecordState Joined(const RecordState& a, const RecordState& b);

  // Drops hidden values and redundant covers (see above).
  void Prune();

  bool empty() const { return cells_.empty(); }
  const std::vector<Cell>& cells() const { return cells_; }

  // The greatest stamp (value or cover) of each site present, sorted by site.
  std::vector<Stamp> MaxStampPerSite() const;
  // The greatest hlc of any part of any cell (0 for an empty state).
  Hlc MaxHlc() const;

  // Which parts DropAtOrBelow removes.
  enum class Parts { kCovers, kAll };
  // Removes the covers and below-covers (kCovers), or every part (kAll), whose hlc is at or below
  // `horizon`, and the cells left empty. Used by tombstone GC once `horizon` is stable.
  void DropAtOrBelow(Hlc horizon, Parts parts);

  // Builds a state from cells in any order; cells at the same (path, site) are joined.
  static RecordState FromCells(std::vector<Cell> cells);

  // Checks the invariants (sorted, unique, non-empty cells). Used after decoding.
  Status Validate() const;

  friend bool operator==(const RecordState&, const RecordState&) = default;

 private:
  // The decoder checks order, uniqueness and every cell as it reads, then adopts the cells as
  // they are (no sort, no copy).
  friend Result<RecordState> DecodeRecord(std::string_view bytes);

  std::vector<Cell> cells_;
};

// Joins `from` into `into` at one (path, site) (both must have the same path and site).
void JoinCell(Cell& into, const Cell& from);

}  // namespace reconcile

#endif  // RECONCILE_RECORD_H_
