#include "lib/core/winner.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "reconcile/operations.h"

namespace reconcile::internal {
namespace {

const PolicyTable& EmptyTable() {
  static const PolicyTable kEmpty;
  return kEmpty;
}

// (stamp, bytes) order of values.
bool ValueLess(const Cell* a, const Cell* b) {
  if (a->value_stamp() != b->value_stamp()) return a->value_stamp() < b->value_stamp();
  return a->value < b->value;
}

Winner FromCell(const Cell* c) { return Winner{c, c->value_stamp(), {}}; }

const Cell* Newest(const std::vector<const Cell*>& cells) {
  return *std::max_element(cells.begin(), cells.end(), ValueLess);
}

Winner ChooseOrder(const std::vector<const Cell*>& cands, const Policy& policy, Hlc fork) {
  std::vector<const Cell*> post;
  for (const Cell* c : cands) {
    if (c->value_hlc > fork) post.push_back(c);
  }
  if (post.empty()) return FromCell(Newest(cands));
  auto rank = [&](const Cell* c) {
    auto it = std::find(policy.order.begin(), policy.order.end(), c->value);
    return static_cast<size_t>(it - policy.order.begin());
  };
  const Cell* best = post.front();
  for (const Cell* c : post) {
    size_t rc = rank(c), rb = rank(best);
    if (rc < rb || (rc == rb && ValueLess(best, c))) best = c;
  }
  return FromCell(best);
}

Winner ChooseMax(const std::vector<const Cell*>& cands) {
  const Cell* best = nullptr;
  nlohmann::json best_num;
  for (const Cell* c : cands) {
    nlohmann::json v = nlohmann::json::parse(c->value, nullptr, false);
    if (!v.is_number()) continue;
    if (best == nullptr || best_num < v || (!(v < best_num) && ValueLess(best, c))) {
      best = c;
      best_num = std::move(v);
    }
  }
  return FromCell(best != nullptr ? best : Newest(cands));
}

Winner ChooseUnion(const std::vector<const Cell*>& cands) {
  std::vector<std::string> elems;
  for (const Cell* c : cands) {
    nlohmann::json v = nlohmann::json::parse(c->value, nullptr, false);
    if (!v.is_array()) return FromCell(Newest(cands));
    for (const auto& e : v) elems.push_back(CanonicalJson(e));
  }
  std::sort(elems.begin(), elems.end());
  elems.erase(std::unique(elems.begin(), elems.end()), elems.end());
  std::string out = "[";
  for (size_t i = 0; i < elems.size(); ++i) {
    if (i > 0) out += ',';
    out += elems[i];
  }
  out += ']';
  const Cell* newest = Newest(cands);
  // One site's array is still a set: shown sorted and deduplicated, as with many (policy.h).
  if (cands.size() == 1 && newest->value == out) return FromCell(newest);
  return Winner{nullptr, newest->value_stamp(), std::move(out)};
}

Winner ChooseSitePriority(const std::vector<const Cell*>& cands, const Policy& policy, Hlc fork) {
  std::vector<const Cell*> preferred;
  for (const Cell* c : cands) {
    if (c->site == policy.priority_site && c->value_hlc > fork) preferred.push_back(c);
  }
  return FromCell(Newest(preferred.empty() ? cands : preferred));
}

Winner Choose(const std::vector<const Cell*>& cands, const Policy& policy, Hlc fork) {
  switch (policy.kind) {
    case PolicyKind::kOrder: return ChooseOrder(cands, policy, fork);
    case PolicyKind::kMax: return ChooseMax(cands);
    case PolicyKind::kUnion: return ChooseUnion(cands);
    case PolicyKind::kSitePriority: return ChooseSitePriority(cands, policy, fork);
    case PolicyKind::kLww:
    case PolicyKind::kMulti: break;
  }
  return FromCell(Newest(cands));
}

}  // namespace

Status WalkPaths(KeyKind kind, const RecordState& state, const MergeView& view,
                 const std::function<Status(const PathGroup&)>& fn) {
  const PolicyTable& table = view.policies != nullptr ? *view.policies : EmptyTable();
  // Ancestors still open, each with the greatest stamp that hides values below it: covers at it
  // or above, and below-covers at it or above.
  struct Frame {
    std::string_view path;
    bool has_below;
    Stamp below;
  };
  std::vector<Frame> stack;
  const std::vector<Cell>& cells = state.cells();
  size_t i = 0;
  while (i < cells.size()) {
    size_t j = i;
    while (j < cells.size() && cells[j].path == cells[i].path) ++j;
    PathGroup g;
    g.path = cells[i].path;
    g.cells = std::span<const Cell>(cells.data() + i, j - i);
    while (!stack.empty() && !Path::IsWithin(g.path, stack.back().path)) stack.pop_back();
    bool has_here = !stack.empty() && stack.back().has_below;
    Stamp here = has_here ? stack.back().below : Stamp{};
    for (const Cell& c : g.cells) {
      if (c.has_cover && (!has_here || here < c.cover_stamp())) {
        has_here = true;
        here = c.cover_stamp();
      }
    }
    g.has_cover = has_here;
    g.cover = here;
    for (const Cell& c : g.cells) {
      if (!c.has_value) continue;
      if (has_here && c.value_stamp() < here) continue;
      g.visible.push_back(&c);
    }
    g.policy = &table.For(kind, g.path);
    if (!g.visible.empty()) g.winner = Choose(g.visible, *g.policy, view.fork_point);
    Frame frame{g.path, has_here, here};
    for (const Cell& c : g.cells) {
      if (c.has_below_cover && (!frame.has_below || frame.below < c.below_cover_stamp())) {
        frame.has_below = true;
        frame.below = c.below_cover_stamp();
      }
    }
    RECONCILE_RETURN_IF_ERROR(fn(g));
    stack.push_back(frame);
    i = j;
  }
  return Status::Ok();
}

}  // namespace reconcile::internal
