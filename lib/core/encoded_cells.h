// Internal: the cells of an encoded state (reconcile/codec.h) read in place, for a caller that
// needs a few cells of many records and would otherwise decode every record whole.
//
// Thread safety: a pure function (it keeps a reader per thread).
#ifndef RECONCILE_LIB_CORE_ENCODED_CELLS_H_
#define RECONCILE_LIB_CORE_ENCODED_CELLS_H_

#include <cstddef>
#include <functional>
#include <string_view>

#include "reconcile/site.h"
#include "reconcile/stamp.h"
#include "reconcile/status.h"

namespace reconcile::internal {

// A cell as encoded; the views are valid during the visit only.
struct EncodedCell {
  std::string_view path;
  size_t site = 0;  // its index in the state's site table
  bool has_value = false;
  std::string_view value;
  Hlc value_hlc = 0;
  bool has_cover = false;
  Hlc cover_hlc = 0;
};

// How many sites an encoded state's table holds (its header only). Errors as DecodeRecord's.
Result<size_t> EncodedSiteCount(std::string_view bytes);

// True when `site` is the only site an encoded state's table holds (its header only), so every
// cell of the state is that site's: the table holds no site without a cell. Errors as
// DecodeRecord's.
Result<bool> EncodedOnlyBy(std::string_view bytes, const SiteId& site);

// Calls `visit` with each cell of `bytes` in (path, site) order while it returns true. Every cell
// read is checked as DecodeRecord checks it (same errors); cells after the visit stops are not
// read, so their damage is not seen.
Status VisitEncodedCells(std::string_view bytes,
                         const std::function<bool(const EncodedCell&)>& visit);

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_ENCODED_CELLS_H_
