#include "reconcile/record.h"

#include <algorithm>

#include "lib/core/cell_check.h"

namespace reconcile {
namespace {

using internal::CompareBytes;

// SiteId's order as -1, 0 or 1.
int CompareSites(const SiteId& a, const SiteId& b) {
  const std::strong_ordering c = a <=> b;
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// Orders cells by (path, site): the RecordState invariant.
int CompareCellKey(const Cell& a, const Cell& b) {
  if (int c = CompareBytes(a.path, b.path); c != 0) return c;
  return CompareSites(a.site, b.site);
}

bool CellKeyLess(const Cell& a, const Cell& b) { return CompareCellKey(a, b) < 0; }

// True when (hlc, bytes) of `b` is greater than that of `a` (same site implied).
bool ValueGreater(Hlc b_hlc, std::string_view b_value, Hlc a_hlc, std::string_view a_value) {
  if (b_hlc != a_hlc) return b_hlc > a_hlc;
  return CompareBytes(b_value, a_value) > 0;
}

// The cover parts of the per-(path, site) maximum.
void JoinCovers(Cell& into, const Cell& from) {
  if (from.has_cover && (!into.has_cover || from.cover_hlc > into.cover_hlc)) {
    into.has_cover = true;
    into.cover_hlc = from.cover_hlc;
  }
  if (from.has_below_cover && (!into.has_below_cover || from.below_cover_hlc > into.below_cover_hlc)) {
    into.has_below_cover = true;
    into.below_cover_hlc = from.below_cover_hlc;
  }
}

}  // namespace

void JoinCell(Cell& into, const Cell& from) {
  if (from.has_value &&
      (!into.has_value || ValueGreater(from.value_hlc, from.value, into.value_hlc, into.value))) {
    into.has_value = true;
    into.value_hlc = from.value_hlc;
    into.value = from.value;  // reuses the capacity `into` has
  }
  JoinCovers(into, from);
}

namespace {

void JoinCellMove(Cell& into, Cell&& from) {
  if (from.has_value &&
      (!into.has_value || ValueGreater(from.value_hlc, from.value, into.value_hlc, into.value))) {
    into.has_value = true;
    into.value_hlc = from.value_hlc;
    into.value = std::move(from.value);
  }
  JoinCovers(into, from);
}

// Inserts or joins one cell, keeping the invariant. O(log n) search + O(n) insert.
void JoinOne(std::vector<Cell>& cells, Cell cell) {
  auto it = std::lower_bound(cells.begin(), cells.end(), cell, CellKeyLess);
  if (it != cells.end() && CompareCellKey(*it, cell) == 0) {
    JoinCellMove(*it, std::move(cell));
  } else {
    cells.insert(it, std::move(cell));
  }
}

// As JoinOne, copying `cell` only when it is new.
void JoinOneCopy(std::vector<Cell>& cells, const Cell& cell) {
  auto it = std::lower_bound(cells.begin(), cells.end(), cell, CellKeyLess);
  if (it != cells.end() && CompareCellKey(*it, cell) == 0) {
    JoinCell(*it, cell);
  } else {
    cells.insert(it, cell);
  }
}

template <typename Other>
std::vector<Cell> MergeSorted(std::vector<Cell>& mine, Other&& other_cells) {
  std::vector<Cell> out;
  out.reserve(mine.size() + other_cells.size());
  auto a = mine.begin();
  auto b = other_cells.begin();
  while (a != mine.end() && b != other_cells.end()) {
    int c = CompareCellKey(*a, *b);
    if (c < 0) {
      out.push_back(std::move(*a++));
    } else if (c > 0) {
      if constexpr (std::is_rvalue_reference_v<Other&&>) {
        out.push_back(std::move(*b++));
      } else {
        out.push_back(*b++);
      }
    } else {
      out.push_back(std::move(*a++));
      if constexpr (std::is_rvalue_reference_v<Other&&>) {
        JoinCellMove(out.back(), std::move(*b++));
      } else {
        JoinCell(out.back(), *b++);
      }
    }
  }
  for (; a != mine.end(); ++a) out.push_back(std::move(*a));
  for (; b != other_cells.end(); ++b) {
    if constexpr (std::is_rvalue_reference_v<Other&&>) {
      out.push_back(std::move(*b));
    } else {
      out.push_back(*b);
    }
  }
  return out;
}

// Joins `other` into `mine` in place when every (path, site) of `other` is already in `mine` —
// the usual join of two versions of one record — and returns true; returns false, changing
// nothing, when `other` brings a new cell (the caller merges the two lists instead).
template <typename Other>
bool JoinInPlace(std::vector<Cell>& mine, Other&& other_cells) {
  auto a = mine.begin();
  for (const Cell& b : other_cells) {
    while (a != mine.end() && CompareCellKey(*a, b) < 0) ++a;
    if (a == mine.end() || CompareCellKey(*a, b) != 0) return false;
    ++a;
  }
  a = mine.begin();
  for (auto b = other_cells.begin(); b != other_cells.end(); ++b) {
    while (CompareCellKey(*a, *b) < 0) ++a;
    if constexpr (std::is_rvalue_reference_v<Other&&>) {
      JoinCellMove(*a, std::move(*b));
    } else {
      JoinCell(*a, *b);
    }
    ++a;
  }
  return true;
}

}  // namespace

namespace {

// A cell at (path, stamp.site) with no parts yet.
Cell EmptyCell(const Path& path, const Stamp& stamp) {
  Cell cell;
  cell.path = path.joined();
  cell.site = stamp.site;
  return cell;
}

}  // namespace

void RecordState::AddValue(const Path& path, const Stamp& stamp, std::string value) {
  Cell cell = EmptyCell(path, stamp);
  cell.has_value = true;
  cell.value_hlc = stamp.hlc;
  cell.value = std::move(value);
  JoinOne(cells_, std::move(cell));
}

void RecordState::AddCover(const Path& path, const Stamp& stamp) {
  Cell cell = EmptyCell(path, stamp);
  cell.has_cover = true;
  cell.cover_hlc = stamp.hlc;
  JoinOne(cells_, std::move(cell));
}

void RecordState::AddBelowCover(const Path& path, const Stamp& stamp) {
  Cell cell = EmptyCell(path, stamp);
  cell.has_below_cover = true;
  cell.below_cover_hlc = stamp.hlc;
  JoinOne(cells_, std::move(cell));
}

void RecordState::Join(const RecordState& other) {
  if (other.cells_.empty()) return;
  if (cells_.empty()) {
    cells_ = other.cells_;
    return;
  }
  if (other.cells_.size() <= 2) {
    for (const Cell& c : other.cells_) JoinOneCopy(cells_, c);
    return;
  }
  if (other.cells_.size() <= cells_.size() && JoinInPlace(cells_, other.cells_)) return;
  cells_ = MergeSorted(cells_, other.cells_);
}

void RecordState::Join(RecordState&& other) {
  if (other.cells_.empty()) return;
  if (cells_.empty()) {
    cells_ = std::move(other.cells_);
    return;
  }
  if (other.cells_.size() <= cells_.size() && JoinInPlace(cells_, std::move(other.cells_))) return;
  cells_ = MergeSorted(cells_, std::move(other.cells_));
}

RecordState RecordState::Joined(const RecordState& a, const RecordState& b) {
  RecordState out = a;
  out.Join(b);
  return out;
}

RecordState RecordState::FromCells(std::vector<Cell> cells) {
  // Writers that produce cells in order (the fast export reader) skip the sort.
  if (!std::is_sorted(cells.begin(), cells.end(), CellKeyLess)) {
    std::sort(cells.begin(), cells.end(), CellKeyLess);
  }
  RecordState out;
  out.cells_.reserve(cells.size());
  for (Cell& c : cells) {
    if (c.empty()) continue;
    if (!c.has_value) c.value.clear(), c.value_hlc = 0;
    if (!c.has_cover) c.cover_hlc = 0;
    if (!c.has_below_cover) c.below_cover_hlc = 0;
    if (!out.cells_.empty() && CompareCellKey(out.cells_.back(), c) == 0) {
      JoinCellMove(out.cells_.back(), std::move(c));
    } else {
      out.cells_.push_back(std::move(c));
    }
  }
  return out;
}

void RecordState::Prune() {
  // Walk paths in order; `stack` holds the nearest ancestors that hide something below them, each
  // with the greatest stamp that hides values strictly below it (covers at it or above, and
  // below-covers at it or above).
  struct Frame {
    std::string_view path;
    Stamp below;
  };
  std::vector<Frame> stack;
  size_t i = 0;
  while (i < cells_.size()) {
    size_t j = i;
    while (j < cells_.size() && cells_[j].path == cells_[i].path) ++j;
    std::string_view path = cells_[i].path;
    while (!stack.empty() && !Path::IsWithin(path, stack.back().path)) stack.pop_back();
    const bool have_anc = !stack.empty();
    const Stamp anc = have_anc ? stack.back().below : Stamp{};
    // What hides values at this path: the ancestors' stamp and the covers here.
    bool have_here = have_anc;
    Stamp here = anc;
    for (size_t k = i; k < j; ++k) {
      const Cell& c = cells_[k];
      if (c.has_cover && (!have_here || here < c.cover_stamp())) {
        have_here = true;
        here = c.cover_stamp();
      }
    }
    // What hides values below this path: that, and the below-covers here.
    bool have_below = have_here;
    Stamp below = here;
    for (size_t k = i; k < j; ++k) {
      const Cell& c = cells_[k];
      if (c.has_below_cover && (!have_below || below < c.below_cover_stamp())) {
        have_below = true;
        below = c.below_cover_stamp();
      }
    }
    for (size_t k = i; k < j; ++k) {
      Cell& c = cells_[k];
      // Redundant: something above already hides all that this hides, and it never leaves.
      if (c.has_cover && have_anc && !(anc < c.cover_stamp())) {
        c.has_cover = false;
        c.cover_hlc = 0;
      }
      if (c.has_below_cover && have_here && !(here < c.below_cover_stamp())) {
        c.has_below_cover = false;
        c.below_cover_hlc = 0;
      }
      if (c.has_value && have_here && c.value_stamp() < here) {
        c.has_value = false;
        c.value_hlc = 0;
        c.value.clear();
      }
    }
    if (have_below && (!have_anc || anc < below)) stack.push_back({path, below});
    i = j;
  }
  // Frames point into cells_' paths: they are done with before any cell moves.
  stack.clear();
  std::erase_if(cells_, [](const Cell& c) { return c.empty(); });
}

std::vector<Stamp> RecordState::MaxStampPerSite() const {
  // A record has a handful of sites, in runs of cells: a linear search from the last one found.
  std::vector<Stamp> out;
  size_t at = 0;
  for (const Cell& c : cells_) {
    const Hlc h = std::max({c.has_value ? c.value_hlc : 0, c.has_cover ? c.cover_hlc : 0,
                            c.has_below_cover ? c.below_cover_hlc : 0});
    if (at == out.size() || !(out[at].site == c.site)) {
      at = 0;
      while (at < out.size() && !(out[at].site == c.site)) ++at;
      if (at == out.size()) out.push_back({0, c.site});
    }
    out[at].hlc = std::max(out[at].hlc, h);
  }
  std::sort(out.begin(), out.end(),
            [](const Stamp& a, const Stamp& b) { return a.site < b.site; });
  return out;
}

Hlc RecordState::MaxHlc() const {
  Hlc max = 0;
  for (const Cell& c : cells_) {
    if (c.has_value) max = std::max(max, c.value_hlc);
    if (c.has_cover) max = std::max(max, c.cover_hlc);
    if (c.has_below_cover) max = std::max(max, c.below_cover_hlc);
  }
  return max;
}

void RecordState::DropAtOrBelow(Hlc horizon, Parts parts) {
  for (Cell& c : cells_) {
    if (parts == Parts::kAll && c.has_value && c.value_hlc <= horizon) {
      c.has_value = false;
      c.value_hlc = 0;
      c.value.clear();
    }
    if (c.has_cover && c.cover_hlc <= horizon) {
      c.has_cover = false;
      c.cover_hlc = 0;
    }
    if (c.has_below_cover && c.below_cover_hlc <= horizon) {
      c.has_below_cover = false;
      c.below_cover_hlc = 0;
    }
  }
  std::erase_if(cells_, [](const Cell& c) { return c.empty(); });
}

Status RecordState::Validate() const {
  for (size_t i = 0; i < cells_.size(); ++i) {
    RECONCILE_RETURN_IF_ERROR(internal::CheckCell(cells_[i]));
    if (i > 0 && CompareCellKey(cells_[i - 1], cells_[i]) >= 0) {
      return Status::Corruption("cells out of order or duplicated");
    }
  }
  return Status::Ok();
}

namespace internal {

Status CheckCell(const CellParts& c) { return CheckCellAfter(c, 0); }

}  // namespace internal

}  // namespace reconcile
