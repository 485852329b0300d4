#include "reconcile/operations.h"

namespace reconcile {
namespace {

size_t MaxDepth(PathRules rules) {
  return rules == PathRules::kTwin ? kMaxRecordDepth : kMaxMetaDepth;
}

Status PathError(const Path& path, const Status& s) {
  return s.WithContext(path.is_root() ? std::string("at the root")
                                      : "at '" + path.ToString() + "'");
}

// The cells of one delta, collected in the order they are written and made a state at the end
// (RecordState::FromCells joins a path's cells and sorts only when it must: an object walk writes
// in path order already, nlohmann keeping members sorted and the separator sorting below every
// key byte). Adding each cell to a state as it came moved the cells after it every time.
class CellList {
 public:
  explicit CellList(const Stamp& stamp) : stamp_(stamp) {}
  void Value(const std::string& path, std::string value) {
    Cell& c = Add(path);
    c.has_value = true;
    c.value_hlc = stamp_.hlc;
    c.value = std::move(value);
  }
  void Cover(const std::string& path) {
    Cell& c = Add(path);
    c.has_cover = true;
    c.cover_hlc = stamp_.hlc;
  }
  void BelowCover(const std::string& path) {
    Cell& c = Add(path);
    c.has_below_cover = true;
    c.below_cover_hlc = stamp_.hlc;
  }
  RecordState Take() { return RecordState::FromCells(std::move(cells_)); }

 private:
  Cell& Add(const std::string& path) {
    Cell& c = cells_.emplace_back();
    c.path = path;
    c.site = stamp_.site;
    return c;
  }
  Stamp stamp_;
  std::vector<Cell> cells_;
};

// Writes the members of `obj` below `at`: values for leaves, markers for objects. In a patch
// (`patch`), a null becomes a cover and a scalar or array also gets a below-cover (it replaces
// whatever object was at its path); in a create, nulls are skipped (null means absent) and the
// root cover already hides everything older.
// `path` is the joined path of `obj` (extended and restored per member), `depth` its depth.
Status WriteObject(const nlohmann::json& obj, std::string& path, size_t depth, PathRules rules,
                   bool patch, CellList* out) {
  const size_t len = path.size();
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& name = it.key();
    Status s = ValidateSegment(name, rules);
    if (!s.ok()) return PathError(Path::FromJoined(path), s);
    if (len > 0) path.push_back(kPathSeparator);
    path.append(name);
    if (depth + 1 > MaxDepth(rules)) {
      return Status::InvalidInput("'" + Path::FromJoined(path).ToString() + "' is deeper than " +
                                  std::to_string(MaxDepth(rules)) + " levels");
    }
    const nlohmann::json& v = it.value();
    if (v.is_object()) {
      out->Value(path, std::string(kObjectMarker));
      RECONCILE_RETURN_IF_ERROR(WriteObject(v, path, depth + 1, rules, patch, out));
    } else if (v.is_null()) {
      if (patch) out->Cover(path);
    } else if (v.is_discarded()) {
      return Status::InvalidInput("discarded JSON value at '" + Path::FromJoined(path).ToString() +
                                  "'");
    } else {
      out->Value(path, CanonicalJson(v));
      if (patch) out->BelowCover(path);
    }
    path.resize(len);
  }
  return Status::Ok();
}

}  // namespace

std::string CanonicalJson(const nlohmann::json& value) {
  // The common scalars written directly, as dump() writes them: a string of printable ASCII
  // without quote or backslash needs no escape; integers are plain decimal.
  switch (value.type()) {
    case nlohmann::json::value_t::string: {
      const std::string& text = value.get_ref<const std::string&>();
      bool plain = true;
      for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
          plain = false;
          break;
        }
      }
      if (!plain) break;
      std::string out;
      out.reserve(text.size() + 2);
      out.push_back('"');
      out.append(text);
      out.push_back('"');
      return out;
    }
    case nlohmann::json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case nlohmann::json::value_t::number_integer:
      return std::to_string(value.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return std::to_string(value.get<uint64_t>());
    case nlohmann::json::value_t::null:
      return "null";
    default:
      break;
  }
  // nlohmann::json keeps object members in a std::map: keys come out sorted by their bytes.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<RecordState> CreateDelta(const nlohmann::json& doc, const Stamp& stamp, PathRules rules) {
  if (!doc.is_object()) return Status::InvalidInput("a record document must be a JSON object");
  CellList out(stamp);
  std::string path;
  out.Cover(path);
  out.Value(path, std::string(kObjectMarker));
  RECONCILE_RETURN_IF_ERROR(WriteObject(doc, path, 0, rules, false, &out));
  return out.Take();
}

Result<RecordState> ReplaceDelta(const nlohmann::json& doc, const Stamp& stamp, PathRules rules) {
  return CreateDelta(doc, stamp, rules);
}

Result<RecordState> PatchDelta(const nlohmann::json& doc, const Stamp& stamp, PathRules rules) {
  if (!doc.is_object()) return Status::InvalidInput("a patch must be a JSON object");
  CellList out(stamp);
  std::string path;
  RECONCILE_RETURN_IF_ERROR(WriteObject(doc, path, 0, rules, true, &out));
  return out.Take();
}

RecordState DeleteDelta(const Stamp& stamp) {
  RecordState out;
  out.AddCover(Path(), stamp);
  return out;
}

Result<RecordState> SetDelta(const Path& path, const nlohmann::json& value, const Stamp& stamp,
                             PathRules rules) {
  if (path.is_root()) return Status::InvalidInput("set at the root: use a replace");
  CellList out(stamp);
  std::string joined = path.joined();
  out.Cover(joined);
  if (value.is_object()) {
    out.Value(joined, std::string(kObjectMarker));
    RECONCILE_RETURN_IF_ERROR(WriteObject(value, joined, path.depth(), rules, false, &out));
  } else if (!value.is_null()) {
    out.Value(joined, CanonicalJson(value));
  }
  return out.Take();
}

RecordState RemoveDelta(const Path& path, const Stamp& stamp) {
  RecordState out;
  out.AddCover(path, stamp);
  return out;
}

}  // namespace reconcile

