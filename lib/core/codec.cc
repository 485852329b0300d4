// The binary encoding of a RecordState (format version 1). It reaches disk as the value of every
// record and every merge operand: never change what a version means; add a new version instead.
//
//   record   := version:u8 (= 1) nsites:varint site_id{nsites} ncells:varint cell{ncells}
//   site_id  := 16 bytes; strictly ascending; each used by at least one cell
//   cell     := shared:varint suffix_len:varint suffix:byte{suffix_len}
//               site_index:varint flags:u8
//               [value_hlc:varint value_len:varint value:byte{value_len}]   if flags & 0x01
//               [cover_hlc:varint]                          if flags & 0x02 and not flags & 0x04
//               [below_cover_hlc:varint]                    if flags & 0x08 and not flags & 0x10
//   flags    := 0x01 has a value | 0x02 has a cover | 0x04 the cover's hlc equals the value's
//               (a create or replace writes both with one stamp) | 0x08 has a below-cover |
//               0x10 the below-cover's hlc equals the value's (a patch's scalar); other bits
//               must be zero, and 0x04 needs 0x01|0x02, 0x10 needs 0x01|0x08
//   path     := the previous cell's path[0, shared) + suffix      (the first cell: shared = 0)
//   varint   := LEB128, at most 10 bytes, fitting in 64 bits
// Cells appear in (path, site) order, each (path, site) once; the decoder checks this, every
// bound and every index, and fails with kCorruption rather than trust a byte.
#include "reconcile/codec.h"

#include <algorithm>

#include "lib/core/cell_check.h"
#include "lib/core/varint.h"

namespace reconcile {

using internal::CellParts;
using internal::GetBytes;
using internal::GetVarint;
using internal::PutVarint;

namespace {

constexpr uint8_t kHasValue = 0x01;
constexpr uint8_t kHasCover = 0x02;
constexpr uint8_t kCoverIsValueHlc = 0x04;
constexpr uint8_t kHasBelowCover = 0x08;
constexpr uint8_t kBelowCoverIsValueHlc = 0x10;
constexpr uint8_t kKnownFlags =
    kHasValue | kHasCover | kCoverIsValueHlc | kHasBelowCover | kBelowCoverIsValueHlc;

Status Corrupt(const char* why) { return Status::Corruption(std::string("record state: ") + why); }

// One cell on the wire, its path spelled out. The views point into the encoded bytes or into the
// reader's path buffer, valid until the reader's next call.
struct WireCell {
  CellParts parts;
  SiteId site;
  Hlc value_hlc = 0;
  Hlc cover_hlc = 0;
  Hlc below_cover_hlc = 0;
};

// Appends the version and the site table.
void PutHeader(const std::vector<SiteId>& sites, std::string* out) {
  out->push_back(static_cast<char>(kRecordCodecVersion));
  PutVarint(out, sites.size());
  for (const SiteId& s : sites) {
    out->append(reinterpret_cast<const char*>(s.bytes().data()), SiteId::kSize);
  }
}

// Appends one cell, its path compressed against `prev` (the previous cell's path).
void PutCell(std::string_view prev, const WireCell& c, size_t site_index, std::string* out) {
  const CellParts& p = c.parts;
  size_t shared = 0;
  const size_t limit = std::min(prev.size(), p.path.size());
  while (shared < limit && prev[shared] == p.path[shared]) ++shared;
  PutVarint(out, shared);
  PutVarint(out, p.path.size() - shared);
  out->append(p.path.substr(shared));
  PutVarint(out, site_index);
  uint8_t flags = 0;
  if (p.has_value) flags |= kHasValue;
  if (p.has_cover) flags |= kHasCover;
  if (p.has_value && p.has_cover && c.value_hlc == c.cover_hlc) flags |= kCoverIsValueHlc;
  if (p.has_below_cover) flags |= kHasBelowCover;
  if (p.has_value && p.has_below_cover && c.value_hlc == c.below_cover_hlc) {
    flags |= kBelowCoverIsValueHlc;
  }
  out->push_back(static_cast<char>(flags));
  if (p.has_value) {
    PutVarint(out, c.value_hlc);
    PutVarint(out, p.value.size());
    out->append(p.value);
  }
  if (p.has_cover && !(flags & kCoverIsValueHlc)) PutVarint(out, c.cover_hlc);
  if (p.has_below_cover && !(flags & kBelowCoverIsValueHlc)) PutVarint(out, c.below_cover_hlc);
}

WireCell WireOf(const Cell& c) {
  WireCell w;
  w.parts = CellParts{c.path, c.has_value, c.value, c.has_cover, c.has_below_cover};
  w.site = c.site;
  w.value_hlc = c.value_hlc;
  w.cover_hlc = c.cover_hlc;
  w.below_cover_hlc = c.below_cover_hlc;
  return w;
}

// Reads one encoded state: the header on Open, then each cell in order, checking every bound,
// index, flag, the (path, site) order and the cell invariants as it goes. The one parser of the
// grammar above, shared by DecodeRecord and JoinEncodedRecords.
class WireReader {
 public:
  Status Open(std::string_view bytes) {
    in_ = bytes;
    if (in_.empty()) return Corrupt("empty");
    const uint8_t version = static_cast<uint8_t>(in_.front());
    in_.remove_prefix(1);
    if (version != kRecordCodecVersion) {
      return Status::Unsupported("record state format version " + std::to_string(version) +
                                 " (this build reads version " +
                                 std::to_string(kRecordCodecVersion) + ")");
    }
    uint64_t nsites;
    if (!GetVarint(&in_, &nsites)) return Corrupt("truncated site count");
    if (nsites > in_.size() / SiteId::kSize) return Corrupt("site count exceeds the data");
    sites_.clear();
    sites_.reserve(nsites);
    for (uint64_t i = 0; i < nsites; ++i) {
      std::string_view raw;
      if (!GetBytes(&in_, SiteId::kSize, &raw)) return Corrupt("truncated site id");
      sites_.push_back(SiteId::FromBytes(reinterpret_cast<const uint8_t*>(raw.data())));
      if (i > 0 && !(sites_[i - 1] < sites_[i])) return Corrupt("site ids out of order");
    }
    if (!GetVarint(&in_, &left_)) return Corrupt("truncated cell count");
    // Every cell takes at least 4 bytes.
    if (left_ > in_.size() / 4) return Corrupt("cell count exceeds the data");
    if (left_ == 0 && !in_.empty()) return Corrupt("trailing bytes");
    if (left_ == 0 && !sites_.empty()) return Corrupt("a site no cell uses");
    used_.assign(sites_.size(), false);
    unused_ = sites_.size();
    total_ = left_;
    path_.clear();
    return Status::Ok();
  }

  const std::vector<SiteId>& sites() const { return sites_; }
  uint64_t total() const { return total_; }
  bool done() const { return left_ == 0; }
  // The site-table index of the last cell read.
  size_t site_index() const { return site_index_; }

  // Reads the next cell. REQUIRES: !done().
  Status Next(WireCell* c) {
    uint64_t shared, suffix_len, index;
    std::string_view suffix;
    if (!GetVarint(&in_, &shared) || !GetVarint(&in_, &suffix_len)) {
      return Corrupt("truncated path");
    }
    if (shared > path_.size()) return Corrupt("path shares more than the previous path has");
    if (!GetBytes(&in_, suffix_len, &suffix)) return Corrupt("truncated path");
    if (!GetVarint(&in_, &index)) return Corrupt("truncated site index");
    if (index >= sites_.size()) return Corrupt("site index out of range");
    // (path, site) must ascend: the paths share `shared` bytes, so only the rest decides.
    if (left_ != total_) {
      const int order = suffix.compare(std::string_view(path_).substr(shared));
      if (order < 0 || (order == 0 && index <= site_index_)) {
        return Corrupt("cells out of order or duplicated");
      }
    }
    path_.resize(shared);
    path_.append(suffix);
    site_index_ = index;
    if (!used_[index]) {
      used_[index] = true;
      --unused_;
    }
    c->site = sites_[index];
    if (in_.empty()) return Corrupt("truncated flags");
    const uint8_t flags = static_cast<uint8_t>(in_.front());
    in_.remove_prefix(1);
    if (flags & ~kKnownFlags) return Corrupt("unknown cell flags");
    if ((flags & (kHasValue | kHasCover | kHasBelowCover)) == 0) return Corrupt("an empty cell");
    if ((flags & kCoverIsValueHlc) && (flags & (kHasValue | kHasCover)) != (kHasValue | kHasCover)) {
      return Corrupt("inconsistent cell flags");
    }
    if ((flags & kBelowCoverIsValueHlc) &&
        (flags & (kHasValue | kHasBelowCover)) != (kHasValue | kHasBelowCover)) {
      return Corrupt("inconsistent cell flags");
    }
    CellParts& p = c->parts;
    p = CellParts{path_, (flags & kHasValue) != 0, {}, (flags & kHasCover) != 0,
                  (flags & kHasBelowCover) != 0};
    c->value_hlc = c->cover_hlc = c->below_cover_hlc = 0;
    if (p.has_value) {
      uint64_t len;
      if (!GetVarint(&in_, &c->value_hlc) || !GetVarint(&in_, &len) ||
          !GetBytes(&in_, len, &p.value)) {
        return Corrupt("truncated value");
      }
    }
    if (p.has_cover) {
      if (flags & kCoverIsValueHlc) {
        c->cover_hlc = c->value_hlc;
      } else if (!GetVarint(&in_, &c->cover_hlc)) {
        return Corrupt("truncated cover");
      }
    }
    if (p.has_below_cover) {
      if (flags & kBelowCoverIsValueHlc) {
        c->below_cover_hlc = c->value_hlc;
      } else if (!GetVarint(&in_, &c->below_cover_hlc)) {
        return Corrupt("truncated below-cover");
      }
    }
    RECONCILE_RETURN_IF_ERROR(internal::CheckCell(p));
    --left_;
    if (left_ == 0 && !in_.empty()) return Corrupt("trailing bytes");
    // The encoder lists exactly the sites its cells use: a join can then take the union of the
    // inputs' tables as its own.
    if (left_ == 0 && unused_ != 0) return Corrupt("a site no cell uses");
    return Status::Ok();
  }

 private:
  std::string_view in_;
  std::vector<SiteId> sites_;
  uint64_t left_ = 0;
  uint64_t total_ = 0;
  std::string path_;
  size_t site_index_ = 0;
  std::vector<bool> used_;
  size_t unused_ = 0;
};

// Per (path, site) maximum of two wire cells' parts, into `into` (the views keep pointing at the
// encoded inputs, which outlive the join).
void JoinWire(WireCell& into, const WireCell& from) {
  CellParts& a = into.parts;
  const CellParts& b = from.parts;
  if (b.has_value && (!a.has_value || from.value_hlc > into.value_hlc ||
                      (from.value_hlc == into.value_hlc && b.value > a.value))) {
    a.has_value = true;
    into.value_hlc = from.value_hlc;
    a.value = b.value;
  }
  if (b.has_cover && (!a.has_cover || from.cover_hlc > into.cover_hlc)) {
    a.has_cover = true;
    into.cover_hlc = from.cover_hlc;
  }
  if (b.has_below_cover && (!a.has_below_cover || from.below_cover_hlc > into.below_cover_hlc)) {
    a.has_below_cover = true;
    into.below_cover_hlc = from.below_cover_hlc;
  }
}

}  // namespace

void EncodeRecordTo(const RecordState& state, std::string* out) {
  const std::vector<Cell>& cells = state.cells();
  // A record has a handful of sites: collect them linearly, then sort the few.
  std::vector<SiteId> sites;
  for (const Cell& c : cells) {
    if (std::find(sites.begin(), sites.end(), c.site) == sites.end()) sites.push_back(c.site);
  }
  std::sort(sites.begin(), sites.end());
  PutHeader(sites, out);
  PutVarint(out, cells.size());
  std::string_view prev;
  for (const Cell& c : cells) {
    const size_t index =
        static_cast<size_t>(std::lower_bound(sites.begin(), sites.end(), c.site) - sites.begin());
    PutCell(prev, WireOf(c), index, out);
    prev = c.path;
  }
}

std::string EncodeRecord(const RecordState& state) {
  std::string out;
  EncodeRecordTo(state, &out);
  return out;
}

Result<RecordState> DecodeRecord(std::string_view bytes) {
  WireReader reader;
  RECONCILE_RETURN_IF_ERROR(reader.Open(bytes));
  RecordState state;
  std::vector<Cell>& cells = state.cells_;
  cells.reserve(reader.total());
  while (!reader.done()) {
    WireCell w;
    RECONCILE_RETURN_IF_ERROR(reader.Next(&w));
    Cell& c = cells.emplace_back();
    c.path.assign(w.parts.path);
    c.site = w.site;
    c.has_value = w.parts.has_value;
    c.value_hlc = w.value_hlc;
    c.value.assign(w.parts.value);
    c.has_cover = w.parts.has_cover;
    c.cover_hlc = w.cover_hlc;
    c.has_below_cover = w.parts.has_below_cover;
    c.below_cover_hlc = w.below_cover_hlc;
  }
  return state;
}

Status JoinEncodedRecords(const std::vector<std::string_view>& parts, std::string* out) {
  const size_t n = parts.size();
  std::vector<WireReader> readers(n);
  std::vector<SiteId> sites;
  for (size_t i = 0; i < n; ++i) {
    RECONCILE_RETURN_IF_ERROR(readers[i].Open(parts[i]));
    for (const SiteId& s : readers[i].sites()) {
      if (std::find(sites.begin(), sites.end(), s) == sites.end()) sites.push_back(s);
    }
  }
  // Every site of a header is some cell's site, and a join keeps every cell: the output's sites
  // are the union of the inputs'.
  std::sort(sites.begin(), sites.end());
  std::vector<WireCell> head(n);
  std::vector<bool> live(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (!readers[i].done()) {
      RECONCILE_RETURN_IF_ERROR(readers[i].Next(&head[i]));
      live[i] = true;
    }
  }
  // The heads' paths live in the readers' buffers, which the next read overwrites: the chosen
  // cell's path is copied before its readers advance.
  std::string cells_out;
  std::string prev, path;
  uint64_t count = 0;
  std::vector<size_t> same;
  while (true) {
    size_t min = n;
    for (size_t i = 0; i < n; ++i) {
      if (!live[i]) continue;
      if (min == n) {
        min = i;
        continue;
      }
      const int c = head[i].parts.path.compare(head[min].parts.path);
      if (c < 0 || (c == 0 && head[i].site < head[min].site)) min = i;
    }
    if (min == n) break;
    same.clear();
    WireCell joined = head[min];
    for (size_t i = 0; i < n; ++i) {
      if (!live[i]) continue;
      if (i != min && (head[i].site != joined.site || head[i].parts.path != joined.parts.path)) {
        continue;
      }
      if (i != min) JoinWire(joined, head[i]);
      same.push_back(i);
    }
    path.assign(joined.parts.path);
    joined.parts.path = path;
    const size_t index =
        static_cast<size_t>(std::lower_bound(sites.begin(), sites.end(), joined.site) -
                            sites.begin());
    PutCell(prev, joined, index, &cells_out);
    prev.swap(path);
    ++count;
    for (size_t i : same) {
      if (readers[i].done()) {
        live[i] = false;
      } else {
        RECONCILE_RETURN_IF_ERROR(readers[i].Next(&head[i]));
      }
    }
  }
  out->clear();
  PutHeader(sites, out);
  PutVarint(out, count);
  out->append(cells_out);
  return Status::Ok();
}

}  // namespace reconcile
