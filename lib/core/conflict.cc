#include "reconcile/conflict.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "lib/core/conflict_hint.h"
#include "lib/core/encoded_cells.h"
#include "lib/core/hash.h"
#include "lib/core/winner.h"
#include "reconcile/operations.h"

namespace reconcile {
namespace {

// A site's own last write at one path after the fork point: its value, or its remove when the
// remove is newer than the value (a replace writes both with one stamp: that is a value).
std::optional<ConflictWrite> LastWrite(const Cell& c, Hlc fork) {
  const bool v = c.has_value && c.value_hlc > fork;
  const bool r = c.has_cover && c.cover_hlc > fork;
  if (r && (!v || c.value_hlc < c.cover_hlc)) {
    return ConflictWrite{Path::FromJoined(c.path.str()), c.cover_stamp(), true, ""};
  }
  if (v) return ConflictWrite{Path::FromJoined(c.path.str()), c.value_stamp(), false, c.value.str()};
  return std::nullopt;
}

// True when cells of two or more sites were written after the fork point. Every contender of a
// conflict is such a cell, keyed by its site, so a record without them has no conflict: most
// records after an outage, which the walk over their paths can then skip.
bool WroteAfter(bool has_value, Hlc value_hlc, bool has_cover, Hlc cover_hlc, Hlc fork) {
  return (has_value && value_hlc > fork) || (has_cover && cover_hlc > fork);
}

bool TwoSitesWroteAfter(const std::vector<Cell>& cells, Hlc fork) {
  const SiteId* first = nullptr;
  for (const Cell& c : cells) {
    if (!WroteAfter(c.has_value, c.value_hlc, c.has_cover, c.cover_hlc, fork)) continue;
    if (first == nullptr) {
      first = &c.site;
    } else if (c.site != *first) {
      return true;
    }
  }
  return false;
}

bool NewerFirst(const ConflictWrite& a, const ConflictWrite& b) {
  if (a.stamp != b.stamp) return b.stamp < a.stamp;
  return a.value > b.value;
}

}  // namespace

namespace internal {

// TwoSitesWroteAfter on the encoded cells; a state of one site needs its header only.
Result<bool> MayHoldConflicts(std::string_view encoded, Hlc fork) {
  Result<size_t> sites = EncodedSiteCount(encoded);
  if (!sites.ok()) return sites.status();
  if (*sites < 2) return false;
  bool first_seen = false, two = false;
  size_t first = 0;
  Status read = VisitEncodedCells(encoded, [&](const EncodedCell& c) {
    if (!WroteAfter(c.has_value, c.value_hlc, c.has_cover, c.cover_hlc, fork)) return true;
    if (!first_seen) {
      first_seen = true;
      first = c.site;
    } else if (c.site != first) {
      two = true;
    }
    return !two;
  });
  if (!read.ok()) return read;
  return two;
}

}  // namespace internal

Result<std::vector<Conflict>> FindConflicts(KeyKind kind, const RecordState& state,
                                            const MergeView& view) {
  std::vector<Conflict> out;
  const std::vector<Cell>& cells = state.cells();
  const Hlc fork = view.fork_point;
  if (!TwoSitesWroteAfter(cells, fork)) return out;
  Status walked = internal::WalkPaths(kind, state, view, [&](const internal::PathGroup& g) {
    std::map<SiteId, ConflictWrite> contenders;
    for (const Cell& c : g.cells) {
      if (auto w = LastWrite(c, fork)) contenders.emplace(c.site, std::move(*w));
    }
    // A remove or replace at this path against other sites' after-the-fork values below it that
    // it hid: each such site contends with its newest hidden value.
    const size_t end_of_group = static_cast<size_t>(g.cells.data() - cells.data()) + g.cells.size();
    for (const Cell& coverer : g.cells) {
      if (!coverer.has_cover || coverer.cover_hlc <= fork) continue;
      for (size_t k = end_of_group; k < cells.size() && Path::IsWithin(cells[k].path, g.path);
           ++k) {
        const Cell& below = cells[k];
        if (below.site == coverer.site || !below.has_value || below.value_hlc <= fork) continue;
        if (below.IsObjectMarker()) continue;  // the leaves below it say what was written
        // Hidden by the cover, or written to a record that stays deleted (remove wins against
        // patches: a patch newer than the delete is not shown either).
        const bool record_gone = g.path.empty() && !g.winner;
        if (!(below.value_stamp() < coverer.cover_stamp()) && !record_gone) continue;
        ConflictWrite w{Path::FromJoined(below.path.str()), below.value_stamp(), false, below.value.str()};
        auto it = contenders.find(below.site);
        if (it == contenders.end()) {
          contenders.emplace(below.site, std::move(w));
        } else if (it->second.path.joined() != g.path && NewerFirst(w, it->second)) {
          it->second = std::move(w);
        }
      }
    }
    if (contenders.size() < 2) return Status::Ok();
    bool all_same = true;
    const ConflictWrite& first = contenders.begin()->second;
    for (const auto& [site, w] : contenders) {
      if (w.is_cover || w.value != first.value || w.path != first.path) all_same = false;
    }
    if (all_same) return Status::Ok();

    Conflict conflict;
    conflict.path = Path::FromJoined(std::string(g.path));
    std::optional<SiteId> winner_site;
    if (g.winner) {
      conflict.rule = std::string(PolicyName(g.policy->kind));
      if (g.winner->cell != nullptr) {
        auto it = contenders.find(g.winner->cell->site);
        if (it != contenders.end() && !it->second.is_cover && it->second.path == conflict.path) {
          winner_site = it->first;
        }
      }
      if (winner_site) {
        conflict.winner = contenders[*winner_site];
      } else {
        conflict.winner = ConflictWrite{conflict.path, g.winner->stamp, false, std::string(g.winner->value())};
        // A value the policy made (a union, say) may be exactly one site's write: that site won,
        // it did not lose.
        for (const auto& [site, w] : contenders) {
          if (w == conflict.winner) {
            winner_site = site;
            break;
          }
        }
      }
    } else {
      // Nothing shown here: the newest remove decided, if one of the contenders made it.
      const ConflictWrite* best = nullptr;
      for (const auto& [site, w] : contenders) {
        if (w.is_cover && w.path == conflict.path && (best == nullptr || best->stamp < w.stamp)) {
          best = &w;
          winner_site = site;
        }
      }
      if (best == nullptr) return Status::Ok();  // hidden from above: reported there
      conflict.rule = "cover";
      conflict.winner = *best;
    }
    for (auto& [site, w] : contenders) {
      if (winner_site && site == *winner_site) continue;
      conflict.losers.push_back(w);
    }
    std::sort(conflict.losers.begin(), conflict.losers.end(), NewerFirst);
    out.push_back(std::move(conflict));
    return Status::Ok();
  });
  RECONCILE_RETURN_IF_ERROR(walked);
  return out;
}

std::string RedactForReport(const Path& path, const std::string& value) {
  std::vector<std::string> segs = path.segments();
  bool secret = false;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (segs[i] != "authentication") continue;
    // Below authentication only the type and the X.509 thumbprints are not secret.
    if (i + 1 < segs.size() && (segs[i + 1] == "type" || segs[i + 1] == "x509Thumbprint")) break;
    secret = i + 1 < segs.size() || value != kObjectMarker;
    break;
  }
  if (!secret && !segs.empty()) {
    const std::string& last = segs.back();
    secret = last.size() >= 3 && (last.ends_with("Key") || last.ends_with("key"));
  }
  if (!secret || value.empty() || value == "null" || value == kObjectMarker) return value;
  char buf[32];
  std::snprintf(buf, sizeof buf, "\"redacted:%08x\"",
                static_cast<unsigned>(internal::Hash64(value) & 0xffffffffu));
  return buf;
}

namespace {

void RedactInPlace(nlohmann::json& node, const Path& at) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it)
      RedactInPlace(it.value(), at.Child(it.key()));
    return;
  }
  std::string canonical = CanonicalJson(node);
  std::string shown = RedactForReport(at, canonical);
  if (shown != canonical) node = nlohmann::json::parse(shown);
}

}  // namespace

nlohmann::json RedactDocument(const nlohmann::json& doc) {
  nlohmann::json out = doc;
  RedactInPlace(out, Path());
  return out;
}

}  // namespace reconcile
