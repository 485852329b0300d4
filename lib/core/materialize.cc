#include "reconcile/materialize.h"

#include <algorithm>
#include <cstdint>

#include "lib/core/winner.h"

namespace reconcile {
namespace {

struct Entry {
  std::string_view path;
  const CellValue* cell_value;  // the winning cell's value, or null for `owned`
  std::string owned;            // a value no cell holds (union)
  std::string_view value() const {
    return cell_value != nullptr ? cell_value->view() : std::string_view(owned);
  }
};

// `text` is a string of printable ASCII without escapes: "..." with no byte below 0x20, '"',
// '\\' or 0x80 and above inside.
bool IsPlainString(std::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return false;
  for (char ch : text.substr(1, text.size() - 2)) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
  }
  return true;
}

// `text` is an integer of at most 18 digits (no overflow), with no leading zero.
bool IsSmallInteger(std::string_view text) {
  const std::string_view digits = text.substr(!text.empty() && text.front() == '-' ? 1 : 0);
  return !digits.empty() && digits.size() <= 18 && (digits.size() == 1 || digits.front() != '0') &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The JSON value of canonical text `text` into *out; false when it is not valid JSON. The common
// scalars (literals, plain strings, small integers) are read here, as the same values nlohmann's
// parser gives (non-negative integers unsigned); everything else by that parser.
bool ParseValue(std::string_view text, nlohmann::json* out) {
  if (text == "true" || text == "false") {
    *out = text == "true";
    return true;
  }
  if (text == "null") {
    *out = nullptr;
    return true;
  }
  if (IsPlainString(text)) {
    *out = std::string(text.substr(1, text.size() - 2));
    return true;
  }
  if (IsSmallInteger(text)) {
    const bool negative = text.front() == '-';
    uint64_t n = 0;
    for (char c : text.substr(negative ? 1 : 0)) n = n * 10 + static_cast<uint64_t>(c - '0');
    if (negative) {
      *out = -static_cast<nlohmann::json::number_integer_t>(n);
    } else {
      *out = static_cast<nlohmann::json::number_unsigned_t>(n);
    }
    return true;
  }
  *out = nlohmann::json::parse(text, nullptr, false);
  return !out->is_discarded();
}

// Whether `text` is valid JSON, with the same fast cases.
bool IsValidValue(std::string_view text) {
  return text == "true" || text == "false" || text == "null" || IsPlainString(text) ||
         IsSmallInteger(text) || nlohmann::json::accept(text);
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
  entries.reserve(state.cells().size());
  bool exists = false;
  RECONCILE_RETURN_IF_ERROR(CollectEntries(kind, state, view, &entries, &exists));
  if (!exists) return std::optional<nlohmann::json>();
  nlohmann::json root = nlohmann::json::object();
  // Entries come in path order, which is the order of sorted keys: the objects open along the
  // previous path are kept (`open`: their segments and nodes), so a path is not looked up from
  // the root again, and new members go at the end of their object.
  std::vector<std::pair<std::string_view, nlohmann::json*>> open;
  std::vector<std::string_view> segs;
  nlohmann::json v;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const bool leaf = internal::IsLeafValue(e.value());
    // A scalar or array is shown only when nothing visible lies below it; the subtree of a path
    // follows it directly in path order.
    if (leaf && i + 1 < entries.size() && Path::IsWithin(entries[i + 1].path, e.path)) continue;
    if (leaf && !ParseValue(e.value(), &v)) {
      return Status::Corruption("value at '" + Path::FromJoined(std::string(e.path)).ToString() +
                                "' is not valid JSON");
    }
    SplitJoined(e.path, &segs);
    size_t common = 0;
    while (common < open.size() && common + 1 < segs.size() && open[common].first == segs[common]) {
      ++common;
    }
    open.resize(common);
    for (size_t k = common; k < segs.size(); ++k) {
      nlohmann::json* parent = k == 0 ? &root : open[k - 1].second;
      if (!parent->is_object()) *parent = nlohmann::json::object();
      auto& members = parent->get_ref<nlohmann::json::object_t&>();
      auto it = members.find(segs[k]);
      if (it == members.end()) {
        it = members.emplace_hint(members.end(), std::string(segs[k]), nlohmann::json());
      }
      nlohmann::json* node = &it->second;
      if (k + 1 < segs.size() || !leaf) {
        if (!node->is_object()) *node = nlohmann::json::object();
        open.emplace_back(segs[k], node);
      } else {
        *node = std::move(v);
      }
    }
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
    if (leaf && !IsValidValue(e.value())) {
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
