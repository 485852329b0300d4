#include "reconcile/materialize.h"

#include "lib/core/winner.h"

namespace reconcile {
namespace {

struct Entry {
  std::string_view path;
  std::string value;
};

// Inserts `value` at joined `path` below `root`, making objects along the way.
void Insert(nlohmann::json& root, std::string_view path, nlohmann::json value) {
  nlohmann::json* node = &root;
  size_t pos = 0;
  while (true) {
    size_t sep = path.find(kPathSeparator, pos);
    std::string seg(path.substr(pos, sep == std::string_view::npos ? sep : sep - pos));
    if (!node->is_object()) *node = nlohmann::json::object();
    node = &(*node)[seg];
    if (sep == std::string_view::npos) break;
    pos = sep + 1;
  }
  if (value.is_object()) {
    if (!node->is_object()) *node = nlohmann::json::object();
  } else {
    *node = std::move(value);
  }
}

}  // namespace

Result<std::optional<nlohmann::json>> MaterializeJson(KeyKind kind, const RecordState& state,
                                                      const MergeView& view) {
  std::vector<Entry> entries;
  bool exists = false;
  Status walked = internal::WalkPaths(kind, state, view, [&](const internal::PathGroup& g) {
    if (!g.winner) return Status::Ok();
    if (g.path.empty()) {
      exists = true;
      return Status::Ok();
    }
    entries.push_back({g.path, g.winner->value});
    return Status::Ok();
  });
  RECONCILE_RETURN_IF_ERROR(walked);
  if (!exists) return std::optional<nlohmann::json>();
  nlohmann::json root = nlohmann::json::object();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const bool leaf = internal::IsLeafValue(e.value);
    // A scalar or array is shown only when nothing visible lies below it; the subtree of a path
    // follows it directly in path order.
    if (leaf && i + 1 < entries.size() && Path::IsWithin(entries[i + 1].path, e.path)) continue;
    nlohmann::json v = nlohmann::json::parse(e.value, nullptr, false);
    if (v.is_discarded()) {
      return Status::Corruption("value at '" + Path::FromJoined(std::string(e.path)).ToString() +
                                "' is not valid JSON");
    }
    Insert(root, e.path, std::move(v));
  }
  return std::optional<nlohmann::json>(std::move(root));
}

Result<std::optional<std::string>> Materialize(KeyKind kind, const RecordState& state,
                                               const MergeView& view) {
  Result<std::optional<nlohmann::json>> doc = MaterializeJson(kind, state, view);
  if (!doc.ok()) return doc.status();
  if (!doc->has_value()) return std::optional<std::string>();
  return std::optional<std::string>(
      (*doc)->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace reconcile
