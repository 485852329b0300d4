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
#include <cstring>
#include <memory>

#include "lib/core/cell_check.h"
#include "lib/core/encoded_cells.h"
#include "lib/core/varint.h"

namespace reconcile {

using internal::CellParts;
using internal::GetBytes;
using internal::GetVarint;

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

// The flags byte of a cell (see the grammar above).
uint8_t FlagsOf(const WireCell& c) {
  const CellParts& p = c.parts;
  uint8_t flags = 0;
  if (p.has_value) flags |= kHasValue;
  if (p.has_cover) flags |= kHasCover;
  if (p.has_value && p.has_cover && c.value_hlc == c.cover_hlc) flags |= kCoverIsValueHlc;
  if (p.has_below_cover) flags |= kHasBelowCover;
  if (p.has_value && p.has_below_cover && c.value_hlc == c.below_cover_hlc) {
    flags |= kBelowCoverIsValueHlc;
  }
  return flags;
}

// The most bytes WriteHeader writes for `nsites` sites.
size_t MaxHeaderSize(size_t nsites) { return 1 + 10 + nsites * SiteId::kSize; }

// Writes the version and the site table at `w` (room needed: MaxHeaderSize) and returns the end.
char* WriteHeader(char* w, const std::vector<SiteId>& sites) {
  *w++ = static_cast<char>(kRecordCodecVersion);
  w = internal::WriteVarint(w, sites.size());
  for (const SiteId& s : sites) {
    std::memcpy(w, s.bytes().data(), SiteId::kSize);
    w += SiteId::kSize;
  }
  return w;
}

// Writes one cell at `w` (room needed: MaxCellSize) and returns the end; its path shares
// `shared` bytes with the previous cell's.
char* WriteCell(char* w, size_t shared, const WireCell& c, size_t site_index) {
  const CellParts& p = c.parts;
  w = internal::WriteVarint(w, shared);
  const size_t suffix = p.path.size() - shared;
  w = internal::WriteVarint(w, suffix);
  std::memcpy(w, p.path.data() + shared, suffix);
  w += suffix;
  w = internal::WriteVarint(w, site_index);
  const uint8_t flags = FlagsOf(c);
  *w++ = static_cast<char>(flags);
  if (p.has_value) {
    w = internal::WriteVarint(w, c.value_hlc);
    w = internal::WriteVarint(w, p.value.size());
    std::memcpy(w, p.value.data(), p.value.size());
    w += p.value.size();
  }
  if (p.has_cover && !(flags & kCoverIsValueHlc)) w = internal::WriteVarint(w, c.cover_hlc);
  if (p.has_below_cover && !(flags & kBelowCoverIsValueHlc)) {
    w = internal::WriteVarint(w, c.below_cover_hlc);
  }
  return w;
}

// The most bytes WriteCell writes for a cell with a path and a value of these sizes: seven
// varints, the flags, the bytes.
size_t MaxCellSize(size_t path_size, size_t value_size) {
  return 7 * 10 + 1 + path_size + value_size;
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
    used_.assign(sites_.size(), 0);
    unused_ = sites_.size();
    total_ = left_;
    path_len_ = 0;
    lcp_ = 0;
    return Status::Ok();
  }

  const std::vector<SiteId>& sites() const { return sites_; }
  uint64_t total() const { return total_; }
  bool done() const { return left_ == 0; }
  // The site-table index of the last cell read.
  size_t site_index() const { return site_index_; }
  // How many bytes the last cell's path shares with the one before it (exactly: an encoder may
  // have written a smaller `shared`).
  size_t lcp() const { return lcp_; }

  // Reads the next cell. REQUIRES: !done().
  Status Next(WireCell* c) {
    uint64_t shared, suffix_len, index;
    std::string_view suffix;
    if (!GetVarint(&in_, &shared) || !GetVarint(&in_, &suffix_len)) {
      return Corrupt("truncated path");
    }
    if (shared > path_len_) return Corrupt("path shares more than the previous path has");
    if (!GetBytes(&in_, suffix_len, &suffix)) return Corrupt("truncated path");
    if (!GetVarint(&in_, &index)) return Corrupt("truncated site index");
    if (index >= sites_.size()) return Corrupt("site index out of range");
    const size_t len = shared + suffix.size();
    // The common prefix with the previous path; where it ends decides their order.
    const size_t lcp = shared + internal::CommonPrefix(path_.data() + shared, suffix.data(),
                                                       std::min(path_len_, len) - shared);
    // (path, site) must ascend.
    if (left_ != total_) {
      bool ascends;
      if (lcp == len) {
        ascends = lcp == path_len_ && index > site_index_;  // a prefix of the previous path, or it
      } else if (lcp == path_len_) {
        ascends = true;  // the previous path is a prefix of this one
      } else {
        ascends = static_cast<uint8_t>(suffix[lcp - shared]) > static_cast<uint8_t>(path_[lcp]);
      }
      if (!ascends) return Corrupt("cells out of order or duplicated");
    }
    if (path_.size() < len) path_.resize(std::max(len, 2 * path_.size()));
    if (!suffix.empty()) std::memcpy(path_.data() + shared, suffix.data(), suffix.size());
    path_len_ = len;
    lcp_ = lcp;
    site_index_ = index;
    if (!used_[index]) {
      used_[index] = 1;
      --unused_;
    }
    c->site = sites_[index];
    if (in_.empty()) return Corrupt("truncated flags");
    const uint8_t flags = static_cast<uint8_t>(in_.front());
    in_.remove_prefix(1);
    if (flags & ~kKnownFlags) return Corrupt("unknown cell flags");
    if ((flags & (kHasValue | kHasCover | kHasBelowCover)) == 0) return Corrupt("an empty cell");
    if ((flags & kCoverIsValueHlc) &&
        (flags & (kHasValue | kHasCover)) != (kHasValue | kHasCover)) {
      return Corrupt("inconsistent cell flags");
    }
    if ((flags & kBelowCoverIsValueHlc) &&
        (flags & (kHasValue | kHasBelowCover)) != (kHasValue | kHasBelowCover)) {
      return Corrupt("inconsistent cell flags");
    }
    CellParts& p = c->parts;
    p = CellParts{std::string_view(path_.data(), path_len_),
                  (flags & kHasValue) != 0,
                  {},
                  (flags & kHasCover) != 0,
                  (flags & kHasBelowCover) != 0};
    c->value_hlc = c->cover_hlc = c->below_cover_hlc = 0;
    if (p.has_value) {
      uint64_t vlen;
      if (!GetVarint(&in_, &c->value_hlc) || !GetVarint(&in_, &vlen) ||
          !GetBytes(&in_, vlen, &p.value)) {
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
    // The first lcp bytes are the previous path's, which passed these checks.
    RECONCILE_RETURN_IF_ERROR(internal::CheckCellAfter(p, left_ != total_ ? lcp : 0));
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
  // The last cell's path is path_[0, path_len_); path_ only grows, so reading allocates nothing
  // once it is as long as the longest path.
  std::string path_;
  size_t path_len_ = 0;
  size_t lcp_ = 0;
  size_t site_index_ = 0;
  std::vector<uint8_t> used_;
  size_t unused_ = 0;
};

// Per (path, site) maximum of two wire cells' parts, into `into` (the views keep pointing at the
// encoded inputs, which outlive the join).
void JoinWire(WireCell& into, const WireCell& from) {
  CellParts& a = into.parts;
  const CellParts& b = from.parts;
  if (b.has_value &&
      (!a.has_value || from.value_hlc > into.value_hlc ||
       (from.value_hlc == into.value_hlc && internal::CompareBytes(b.value, a.value) > 0))) {
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
  // A record has a handful of sites, and runs of cells of one site: collect them linearly, then
  // sort the few.
  std::vector<SiteId> sites;
  size_t bound = 10;  // the cell count
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    if ((i == 0 || !(c.site == cells[i - 1].site)) &&
        std::find(sites.begin(), sites.end(), c.site) == sites.end()) {
      sites.push_back(c.site);
    }
    bound += MaxCellSize(c.path.size(), c.value.size());
  }
  std::sort(sites.begin(), sites.end());
  bound += MaxHeaderSize(sites.size());
  // Written through a pointer into this thread's scratch block, then appended at once: no
  // capacity check a byte, and no zeroing of room made ahead (as growing `out` would).
  thread_local std::unique_ptr<char[]> scratch;
  thread_local size_t scratch_size = 0;
  if (scratch_size < bound) {
    scratch_size = std::max(bound, 2 * scratch_size);
    scratch.reset(new char[scratch_size]);
  }
  char* w = WriteHeader(scratch.get(), sites);
  w = internal::WriteVarint(w, cells.size());
  std::string_view prev;
  size_t index = 0;
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    if (i == 0 || !(c.site == cells[i - 1].site)) {
      index =
          static_cast<size_t>(std::lower_bound(sites.begin(), sites.end(), c.site) - sites.begin());
    }
    const std::string_view path = c.path;
    const size_t shared =
        internal::CommonPrefix(prev.data(), path.data(), std::min(prev.size(), path.size()));
    w = WriteCell(w, shared, WireOf(c), index);
    prev = path;
  }
  out->append(scratch.get(), static_cast<size_t>(w - scratch.get()));
}

std::string EncodeRecord(const RecordState& state) {
  std::string out;
  EncodeRecordTo(state, &out);
  return out;
}

Result<RecordState> DecodeRecord(std::string_view bytes) {
  // Its site tables and path buffer are kept from record to record (DecodeRecord calls nothing
  // that decodes again, so one reader a thread is enough).
  thread_local WireReader reader;
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

namespace internal {

Status VisitEncodedCells(std::string_view bytes,
                         const std::function<bool(const EncodedCell&)>& visit) {
  thread_local WireReader reader;  // its tables and path buffer are kept from record to record
  RECONCILE_RETURN_IF_ERROR(reader.Open(bytes));
  while (!reader.done()) {
    WireCell w;
    RECONCILE_RETURN_IF_ERROR(reader.Next(&w));
    if (!visit(EncodedCell{w.parts.path, reader.site_index(), w.parts.has_value, w.parts.value,
                           w.value_hlc, w.parts.has_cover, w.cover_hlc})) {
      break;
    }
  }
  return Status::Ok();
}

Result<size_t> EncodedSiteCount(std::string_view bytes) {
  thread_local WireReader reader;
  RECONCILE_RETURN_IF_ERROR(reader.Open(bytes));
  return reader.sites().size();
}

Result<bool> EncodedOnlyBy(std::string_view bytes, const SiteId& site) {
  thread_local WireReader reader;
  RECONCILE_RETURN_IF_ERROR(reader.Open(bytes));
  return reader.sites().size() == 1 && reader.sites().front() == site;
}

}  // namespace internal

namespace {

// One input of JoinEncodedRecords: its reader, its current cell, and where its sites go in the
// output's site table.
struct JoinInput {
  WireReader reader;
  WireCell head;
  std::vector<uint32_t> out_site;  // reader site index -> output site index
  bool live = false;
  // The reader's previous cell is the previous output cell, so reader.lcp() is also how much
  // head's path shares with the previous output path.
  bool after_out = false;
};

// Orders two heads by (path, site). When both follow the previous output cell, their shared
// prefixes with it decide without reading the paths unless they are equal: the head that
// shares more with it is the smaller (both come after it), and equal ones agree up to there.
int CompareHeads(const JoinInput& x, const JoinInput& y) {
  const std::string_view xp = x.head.parts.path, yp = y.head.parts.path;
  size_t from = 0;
  if (x.after_out && y.after_out) {
    const size_t xl = x.reader.lcp(), yl = y.reader.lcp();
    if (xl != yl) return xl > yl ? -1 : 1;
    from = xl;
  }
  if (int c = internal::CompareBytes(xp.substr(from), yp.substr(from)); c != 0) return c;
  const uint32_t xs = x.out_site[x.reader.site_index()], ys = y.out_site[y.reader.site_index()];
  return xs < ys ? -1 : (xs > ys ? 1 : 0);
}

// What JoinEncodedRecords keeps between calls on one thread, so that a warm merge allocates
// nothing but its output (the merge operator runs on every read, flush and compaction).
struct JoinScratch {
  std::vector<JoinInput> inputs;
  std::vector<SiteId> sites;
  std::vector<size_t> same;
  std::string prev_path;
};

// Appends the output, writing through a pointer into a string grown ahead of need (no per-byte
// capacity checks); Finish trims it to what was written.
class OutBuffer {
 public:
  explicit OutBuffer(std::string* out) : out_(out) {}
  // A pointer with room for `n` more bytes; Commit the end after writing.
  char* Reserve(size_t n) {
    if (out_->size() - pos_ < n) out_->resize(std::max(out_->size() * 2, pos_ + n));
    return out_->data() + pos_;
  }
  void Commit(char* end) { pos_ = static_cast<size_t>(end - out_->data()); }
  size_t pos() const { return pos_; }
  char* at(size_t pos) { return out_->data() + pos; }
  void Finish() { out_->resize(pos_); }
  void Drop(size_t from, size_t n) {  // removes n bytes at `from`
    std::memmove(at(from), at(from + n), pos_ - from - n);
    pos_ -= n;
  }

 private:
  std::string* out_;
  size_t pos_ = 0;
};

}  // namespace

Status JoinEncodedRecords(const std::vector<std::string_view>& parts, std::string* out) {
  thread_local JoinScratch scratch;
  const size_t n = parts.size();
  if (scratch.inputs.size() < n) scratch.inputs.resize(n);
  std::vector<JoinInput>& in = scratch.inputs;
  std::vector<SiteId>& sites = scratch.sites;
  sites.clear();
  size_t total_bytes = 0;
  uint64_t total_cells = 0;
  for (size_t i = 0; i < n; ++i) {
    RECONCILE_RETURN_IF_ERROR(in[i].reader.Open(parts[i]));
    for (const SiteId& s : in[i].reader.sites()) {
      if (std::find(sites.begin(), sites.end(), s) == sites.end()) sites.push_back(s);
    }
    total_bytes += parts[i].size();
    total_cells += in[i].reader.total();
  }
  // Every site of a header is some cell's site, and a join keeps every cell: the output's sites
  // are the union of the inputs'.
  std::sort(sites.begin(), sites.end());
  for (size_t i = 0; i < n; ++i) {
    const std::vector<SiteId>& own = in[i].reader.sites();
    in[i].out_site.resize(own.size());
    for (size_t k = 0; k < own.size(); ++k) {
      in[i].out_site[k] = static_cast<uint32_t>(
          std::lower_bound(sites.begin(), sites.end(), own[k]) - sites.begin());
    }
    in[i].live = false;
    in[i].after_out = false;
    if (!in[i].reader.done()) {
      RECONCILE_RETURN_IF_ERROR(in[i].reader.Next(&in[i].head));
      in[i].live = true;
    }
  }

  // The output is at most about the inputs together (the join's paths share at least as much
  // with their predecessors as in any input); the buffer grows if a few varints come out longer.
  out->clear();
  out->resize(total_bytes + 64);
  OutBuffer buf(out);
  char* w = WriteHeader(buf.Reserve(MaxHeaderSize(sites.size()) + 10), sites);
  // The cell count comes first but is known last: leave room for the largest it can be, and
  // close the gap if it is shorter.
  const size_t count_at = static_cast<size_t>(w - buf.at(0));
  const size_t count_room = internal::VarintLength(total_cells);
  buf.Commit(w + count_room);

  // The previous output path, for the rare cell that follows none of its inputs' previous cells.
  std::string& prev = scratch.prev_path;  // prev[0, prev_len), grown as needed
  size_t prev_len = 0;
  std::vector<size_t>& same = scratch.same;
  uint64_t count = 0;
  while (true) {
    same.clear();
    size_t min = n;
    for (size_t i = 0; i < n; ++i) {
      if (!in[i].live) continue;
      if (min == n) {
        min = i;
        same.push_back(i);
        continue;
      }
      const int c = CompareHeads(in[i], in[min]);
      if (c < 0) {
        min = i;
        same.clear();
      }
      if (c <= 0) same.push_back(i);
    }
    if (min == n) break;
    WireCell joined = in[min].head;
    for (size_t i : same) {
      if (i != min) JoinWire(joined, in[i].head);
    }
    const std::string_view path = joined.parts.path;
    size_t shared = 0;
    bool known = false;
    for (size_t i : same) {
      if (in[i].after_out) {
        shared = in[i].reader.lcp();
        known = true;
        break;
      }
    }
    if (!known)
      shared = internal::CommonPrefix(prev.data(), path.data(), std::min(prev_len, path.size()));
    w = buf.Reserve(MaxCellSize(joined.parts.path.size(), joined.parts.value.size()));
    buf.Commit(WriteCell(w, shared, joined, in[min].out_site[in[min].reader.site_index()]));
    if (prev.size() < path.size()) prev.resize(std::max(path.size(), 2 * prev.size()));
    std::memcpy(prev.data() + shared, path.data() + shared, path.size() - shared);
    prev_len = path.size();
    ++count;
    for (size_t i = 0; i < n; ++i) in[i].after_out = false;
    for (size_t i : same) {
      if (in[i].reader.done()) {
        in[i].live = false;
      } else {
        RECONCILE_RETURN_IF_ERROR(in[i].reader.Next(&in[i].head));
        in[i].after_out = true;
      }
    }
  }
  const size_t count_len = internal::VarintLength(count);
  if (count_len < count_room) buf.Drop(count_at + count_len, count_room - count_len);
  internal::WriteVarint(buf.at(count_at), count);
  buf.Finish();
  return Status::Ok();
}

}  // namespace reconcile
