#include "lib/iothub/full_write_diff.h"

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/path.h"

namespace reconcile::iothub {
namespace {

// A run of cells, all below one path (the root's run holds every cell but the root's own).
struct Run {
  size_t lo = 0;
  size_t hi = 0;
  bool empty() const { return lo == hi; }
};

// The first segment of `path` after the first `offset` bytes.
std::string_view SegmentAt(std::string_view path, size_t offset) {
  const size_t end = path.find(kPathSeparator, offset);
  return std::string_view(path).substr(offset, end == std::string::npos ? end : end - offset);
}

bool IsNumber(std::string_view t) {
  return !t.empty() && (t[0] == '-' || (t[0] >= '0' && t[0] <= '9'));
}

// A number's text is a float's (nlohmann writes every float with a '.' or an exponent).
bool IsFloat(std::string_view number) {
  return number.find_first_of(".eE") != std::string_view::npos;
}

// True when the canonical text holds a float outside its strings (a line the fast reader read
// has no backslash, so a string ends at the next quote).
bool HasFloat(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') {
      i = text.find('"', i + 1);
      if (i == std::string_view::npos) return false;
    } else if (IsNumber(text.substr(i, 1))) {
      size_t end = i;
      while (end < text.size() &&
             std::string_view("0123456789+-.eE").find(text[end]) != std::string_view::npos) {
        ++end;
      }
      if (IsFloat(text.substr(i, end - i))) return true;
      i = end - 1;
    }
  }
  return false;
}

// The number as DiffDelta's comparison sees it next to a float: integers converted to double.
bool AsDouble(std::string_view number, double* out) {
  const char* end = number.data() + number.size();
  if (IsFloat(number)) return std::from_chars(number.data(), end, *out).ptr == end;
  int64_t i = 0;
  if (std::from_chars(number.data(), end, i).ptr == end) {
    *out = static_cast<double>(i);
    return true;
  }
  uint64_t u = 0;
  if (std::from_chars(number.data(), end, u).ptr == end) {
    *out = static_cast<double>(u);
    return true;
  }
  return false;
}

enum class Equal { kYes, kNo, kUnknown };

// Whether two canonical scalar (or array) texts are equal as DiffDelta compares JSON values,
// where an integer equals the float of the same value (1 and 1.0), also inside arrays.
Equal SameValue(std::string_view a, std::string_view b) {
  if (a == b) return Equal::kYes;
  if (IsNumber(a) && IsNumber(b)) {
    // Two integers, or two floats, are equal exactly when their canonical texts are.
    if (IsFloat(a) == IsFloat(b)) return Equal::kNo;
    double x = 0, y = 0;
    if (!AsDouble(a, &x) || !AsDouble(b, &y)) return Equal::kUnknown;
    return x == y ? Equal::kYes : Equal::kNo;
  }
  if (!a.empty() && !b.empty() && a[0] == '[' && b[0] == '[' && (HasFloat(a) || HasFloat(b))) {
    return Equal::kUnknown;  // rare: left to DiffDelta
  }
  return Equal::kNo;
}

class Differ {
 public:
  Differ(const std::vector<Cell>& base, const std::vector<Cell>& snap, const Stamp& stamp)
      : base_(base), snap_(snap), stamp_(stamp) {}

  // The members below the path whose segments start at `offset` in every cell of both runs.
  bool Members(Run b, Run s, size_t offset) {
    while (!b.empty() || !s.empty()) {
      std::string_view name;
      if (b.empty()) {
        name = SegmentAt(snap_[s.lo].path, offset);
      } else if (s.empty()) {
        name = SegmentAt(base_[b.lo].path, offset);
      } else {
        std::string_view nb = SegmentAt(base_[b.lo].path, offset);
        std::string_view ns = SegmentAt(snap_[s.lo].path, offset);
        name = nb < ns ? nb : ns;
      }
      const Run bm = Take(base_, &b, offset, name);
      const Run sm = Take(snap_, &s, offset, name);
      const std::string_view some = bm.empty() ? snap_[sm.lo].path : base_[bm.lo].path;
      if (!Member(some.substr(0, offset + name.size()), bm, sm, offset == 0)) return false;
    }
    return true;
  }

  std::vector<Cell> Take() { return std::move(out_); }

 private:
  // What a member holds on one side: its own cell's value, or, with no cell of its own but
  // cells below (the record's `properties`, which the full write never names), an object when
  // something below has a value.
  struct Node {
    const Cell* own = nullptr;
    Run below;
    bool object = false;
    bool present = false;
    std::string_view text;
  };

  static Node Look(const std::vector<Cell>& cells, Run run, std::string_view path) {
    Node n;
    n.below = run;
    if (!run.empty() && cells[run.lo].path.size() == path.size()) {
      n.own = &cells[run.lo];
      ++n.below.lo;
      if (n.own->has_value) {
        n.present = true;
        n.text = n.own->value;
        n.object = n.own->IsObjectMarker();
      }
      return n;
    }
    for (size_t i = run.lo; i < run.hi; ++i) {
      if (cells[i].has_value) {
        n.present = n.object = true;
        n.text = kObjectMarker;
        break;
      }
    }
    return n;
  }

  // The cells of the run `*rest` that belong to member `name` (segment at `offset`), taken off
  // its front (the runs are in path order, so a member's cells are together).
  static Run Take(const std::vector<Cell>& cells, Run* rest, size_t offset, std::string_view name) {
    Run got{rest->lo, rest->lo};
    while (got.hi < rest->hi && SegmentAt(cells[got.hi].path, offset) == name) ++got.hi;
    rest->lo = got.hi;
    return got;
  }

  bool Member(std::string_view path, Run b, Run s, bool top) {
    const Node nb = Look(base_, b, path);
    const Node ns = Look(snap_, s, path);
    // authentication the snapshot does not know (null or absent) is left alone.
    if (top && !ns.present && path == "authentication") return true;
    if (nb.object && ns.object) return Members(nb.below, ns.below, path.size() + 1);
    if (!nb.present && !ns.present) return true;
    if (nb.present && ns.present && !nb.object && !ns.object) {
      const Equal same = SameValue(nb.text, ns.text);
      if (same == Equal::kYes) return true;
      if (same == Equal::kUnknown) return false;
    }
    Cell& set = Add(path);
    set.has_cover = true;
    set.cover_hlc = stamp_.hlc;
    if (!ns.present) return true;
    set.has_value = true;
    set.value_hlc = stamp_.hlc;
    set.value = std::string(ns.text);
    for (size_t i = ns.below.lo; i < ns.below.hi; ++i) {
      if (!snap_[i].has_value) continue;
      Cell& c = Add(snap_[i].path);
      c.has_value = true;
      c.value_hlc = stamp_.hlc;
      c.value = snap_[i].value;
    }
    return true;
  }

  Cell& Add(std::string_view path) {
    Cell& c = out_.emplace_back();
    c.path = path;
    c.site = stamp_.site;
    return c;
  }

  const std::vector<Cell>& base_;
  const std::vector<Cell>& snap_;
  Stamp stamp_;
  std::vector<Cell> out_;
};

// The run of every cell below the root (a full write starts with the root's existence marker).
bool BelowRoot(const std::vector<Cell>& cells, Run* run) {
  if (cells.empty() || !cells.front().path.empty()) return false;
  *run = Run{1, cells.size()};
  return true;
}

}  // namespace

bool DiffFullWrites(const RecordState& base, const RecordState& snap, const Stamp& stamp,
                    RecordState* out) {
  Run b, s;
  if (!BelowRoot(base.cells(), &b) || !BelowRoot(snap.cells(), &s)) return false;
  Differ differ(base.cells(), snap.cells(), stamp);
  if (!differ.Members(b, s, 0)) return false;
  *out = RecordState::FromCells(differ.Take());
  return true;
}

}  // namespace reconcile::iothub
