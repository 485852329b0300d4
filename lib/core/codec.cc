// The binary encoding of a RecordState (format version 1). It reaches disk as the value of every
// record and every merge operand: never change what a version means; add a new version instead.
//
//   record   := version:u8 (= 1) nsites:varint site_id{nsites} ncells:varint cell{ncells}
//   site_id  := 16 bytes; strictly ascending
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

}  // namespace

void EncodeRecordTo(const RecordState& state, std::string* out) {
  const std::vector<Cell>& cells = state.cells();
  // A record has a handful of sites: collect them linearly, then sort the few.
  std::vector<SiteId> sites;
  for (const Cell& c : cells) {
    if (std::find(sites.begin(), sites.end(), c.site) == sites.end()) sites.push_back(c.site);
  }
  std::sort(sites.begin(), sites.end());

  out->push_back(static_cast<char>(kRecordCodecVersion));
  PutVarint(out, sites.size());
  for (const SiteId& s : sites) {
    out->append(reinterpret_cast<const char*>(s.bytes().data()), SiteId::kSize);
  }
  PutVarint(out, cells.size());
  std::string_view prev;
  for (const Cell& c : cells) {
    size_t shared = 0;
    const size_t limit = std::min(prev.size(), c.path.size());
    while (shared < limit && prev[shared] == c.path[shared]) ++shared;
    PutVarint(out, shared);
    PutVarint(out, c.path.size() - shared);
    out->append(c.path, shared, std::string::npos);
    const size_t index =
        static_cast<size_t>(std::lower_bound(sites.begin(), sites.end(), c.site) - sites.begin());
    PutVarint(out, index);
    uint8_t flags = 0;
    if (c.has_value) flags |= kHasValue;
    if (c.has_cover) flags |= kHasCover;
    if (c.has_value && c.has_cover && c.value_hlc == c.cover_hlc) flags |= kCoverIsValueHlc;
    if (c.has_below_cover) flags |= kHasBelowCover;
    if (c.has_value && c.has_below_cover && c.value_hlc == c.below_cover_hlc) {
      flags |= kBelowCoverIsValueHlc;
    }
    out->push_back(static_cast<char>(flags));
    if (c.has_value) {
      PutVarint(out, c.value_hlc);
      PutVarint(out, c.value.size());
      out->append(c.value);
    }
    if (c.has_cover && !(flags & kCoverIsValueHlc)) PutVarint(out, c.cover_hlc);
    if (c.has_below_cover && !(flags & kBelowCoverIsValueHlc)) PutVarint(out, c.below_cover_hlc);
    prev = c.path;
  }
}

std::string EncodeRecord(const RecordState& state) {
  std::string out;
  EncodeRecordTo(state, &out);
  return out;
}

Result<RecordState> DecodeRecord(std::string_view bytes) {
  auto corrupt = [](const char* why) {
    return Status::Corruption(std::string("record state: ") + why);
  };
  std::string_view in = bytes;
  if (in.empty()) return corrupt("empty");
  const uint8_t version = static_cast<uint8_t>(in.front());
  in.remove_prefix(1);
  if (version != kRecordCodecVersion) {
    return Status::Unsupported("record state format version " + std::to_string(version) +
                               " (this build reads version " +
                               std::to_string(kRecordCodecVersion) + ")");
  }
  uint64_t nsites;
  if (!GetVarint(&in, &nsites)) return corrupt("truncated site count");
  if (nsites > in.size() / SiteId::kSize) return corrupt("site count exceeds the data");
  std::vector<SiteId> sites;
  sites.reserve(nsites);
  for (uint64_t i = 0; i < nsites; ++i) {
    std::string_view raw;
    if (!GetBytes(&in, SiteId::kSize, &raw)) return corrupt("truncated site id");
    sites.push_back(SiteId::FromBytes(reinterpret_cast<const uint8_t*>(raw.data())));
    if (i > 0 && !(sites[i - 1] < sites[i])) return corrupt("site ids out of order");
  }
  uint64_t ncells;
  if (!GetVarint(&in, &ncells)) return corrupt("truncated cell count");
  // Every cell takes at least 4 bytes.
  if (ncells > in.size() / 4) return corrupt("cell count exceeds the data");
  RecordState state;
  std::vector<Cell>& cells = state.cells_;
  cells.reserve(ncells);
  for (uint64_t i = 0; i < ncells; ++i) {
    Cell c;
    uint64_t shared, suffix_len, index;
    std::string_view suffix;
    if (!GetVarint(&in, &shared) || !GetVarint(&in, &suffix_len)) return corrupt("truncated path");
    const std::string_view prev = cells.empty() ? std::string_view() : cells.back().path;
    if (shared > prev.size()) return corrupt("path shares more than the previous path has");
    if (!GetBytes(&in, suffix_len, &suffix)) return corrupt("truncated path");
    c.path.reserve(shared + suffix.size());
    c.path.append(prev.data(), shared);
    c.path.append(suffix);
    if (!GetVarint(&in, &index)) return corrupt("truncated site index");
    if (index >= sites.size()) return corrupt("site index out of range");
    c.site = sites[index];
    // (path, site) must ascend: the paths share `shared` bytes, so only the rest decides.
    if (i > 0) {
      const int order = suffix.compare(prev.substr(shared));
      if (order < 0 || (order == 0 && !(cells.back().site < c.site))) {
        return corrupt("cells out of order or duplicated");
      }
    }
    if (in.empty()) return corrupt("truncated flags");
    const uint8_t flags = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    if (flags & ~kKnownFlags) return corrupt("unknown cell flags");
    if ((flags & (kHasValue | kHasCover | kHasBelowCover)) == 0) return corrupt("an empty cell");
    if ((flags & kCoverIsValueHlc) && (flags & (kHasValue | kHasCover)) != (kHasValue | kHasCover)) {
      return corrupt("inconsistent cell flags");
    }
    if ((flags & kBelowCoverIsValueHlc) &&
        (flags & (kHasValue | kHasBelowCover)) != (kHasValue | kHasBelowCover)) {
      return corrupt("inconsistent cell flags");
    }
    if (flags & kHasValue) {
      uint64_t len;
      std::string_view value;
      c.has_value = true;
      if (!GetVarint(&in, &c.value_hlc) || !GetVarint(&in, &len) || !GetBytes(&in, len, &value)) {
        return corrupt("truncated value");
      }
      c.value.assign(value);
    }
    if (flags & kHasCover) {
      c.has_cover = true;
      if (flags & kCoverIsValueHlc) {
        c.cover_hlc = c.value_hlc;
      } else if (!GetVarint(&in, &c.cover_hlc)) {
        return corrupt("truncated cover");
      }
    }
    if (flags & kHasBelowCover) {
      c.has_below_cover = true;
      if (flags & kBelowCoverIsValueHlc) {
        c.below_cover_hlc = c.value_hlc;
      } else if (!GetVarint(&in, &c.below_cover_hlc)) {
        return corrupt("truncated below-cover");
      }
    }
    RECONCILE_RETURN_IF_ERROR(internal::CheckCell(c));
    cells.push_back(std::move(c));
  }
  if (!in.empty()) return corrupt("trailing bytes");
  return state;
}

}  // namespace reconcile
