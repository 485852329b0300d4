#include "reconcile/materialize.h"

#include "lib/core/winner.h"

namespace reconcile {
namespace {

struct Entry {
  std::string_view path;
  const std::string* cell_value;  // the winning cell's value, or null for `owned`
  std::string owned;              // a value no cell holds (union)
  const std::string& value() const { return cell_value != nullptr ? *cell_value : owned; }
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

// The winners of every path with a visible value, in path order; `exists` from the root.
Status CollectEntries(KeyKind kind, const RecordState& state, const MergeView& view,
                      std::vector<Entry>* entries, bool* exists) {
  return internal::WalkPaths(kind, state, view, [&](const internal::PathGroup& g) {
    if (!g.winner) return Status::Ok();
    if (g.path.empty()) {
      *exists = true;
    } else {
      if (g.winner->cell != nullptr) {
        entries->push_back({g.path, &g.winner->cell->value, {}});
      } else {
        entries->push_back({g.path, nullptr, g.winner->synthesized});
      }
    }
    return Status::Ok();
  });
}

void SplitJoined(std::string_view path, std::vector<std::string_view>* segs) {
  segs->clear();
  size_t pos = 0;
  while (true) {
    size_t sep = path.find(kPathSeparator, pos);
    segs->push_back(path.substr(pos, sep == std::string_view::npos ? sep : sep - pos));
    if (sep == std::string_view::npos) return;
    pos = sep + 1;
  }
}

// Appends "key": escaped exactly as nlohmann::json::dump does (so both give the same bytes).
void AppendKey(std::string_view key, std::string* out) {
  out->push_back('"');
  for (char ch : key) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->append("\":");
}

}  // namespace

Result<std::optional<nlohmann::json>> MaterializeJson(KeyKind kind, const RecordState& state,
                                                      const MergeView& view) {
  std::vector<Entry> entries;
  bool exists = false;
  RECONCILE_RETURN_IF_ERROR(CollectEntries(kind, state, view, &entries, &exists));
  if (!exists) return std::optional<nlohmann::json>();
  nlohmann::json root = nlohmann::json::object();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const bool leaf = internal::IsLeafValue(e.value());
    // A scalar or array is shown only when nothing visible lies below it; the subtree of a path
    // follows it directly in path order.
    if (leaf && i + 1 < entries.size() && Path::IsWithin(entries[i + 1].path, e.path)) continue;
    nlohmann::json v = nlohmann::json::parse(e.value(), nullptr, false);
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
  std::vector<Entry> entries;
  bool exists = false;
  RECONCILE_RETURN_IF_ERROR(CollectEntries(kind, state, view, &entries, &exists));
  if (!exists) return std::optional<std::string>();
  // Streams the canonical bytes: entries come in path order, which is the order of sorted keys,
  // and every value is already canonical JSON. `open` holds the segments of the objects that are
  // open below the root; `first` whether the innermost open object has no member yet.
  std::string out = "{";
  std::vector<std::string_view> open;
  bool first = true;
  std::vector<std::string_view> segs;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const bool leaf = internal::IsLeafValue(e.value());
    if (leaf && i + 1 < entries.size() && Path::IsWithin(entries[i + 1].path, e.path)) continue;
    if (leaf && !nlohmann::json::accept(e.value())) {
      return Status::Corruption("value at '" + Path::FromJoined(std::string(e.path)).ToString() +
                                "' is not valid JSON");
    }
    SplitJoined(e.path, &segs);
    size_t common = 0;
    while (common < open.size() && common + 1 < segs.size() && open[common] == segs[common]) {
      ++common;
    }
    while (open.size() > common) {
      out += '}';
      open.pop_back();
      first = false;
    }
    for (size_t k = common; k < segs.size(); ++k) {
      if (!first) out += ',';
      AppendKey(segs[k], &out);
      if (k + 1 < segs.size() || !leaf) {
        out += '{';
        open.push_back(segs[k]);
        first = true;
      } else {
        out.append(e.value());
        first = false;
      }
    }
  }
  out.append(open.size() + 1, '}');
  return std::optional<std::string>(std::move(out));
}

}  // namespace reconcile
