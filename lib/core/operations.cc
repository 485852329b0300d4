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

// Writes the members of `obj` below `at`: values for leaves, markers for objects. In a patch
// (`patch`), a null becomes a cover and a scalar or array also gets a below-cover (it replaces
// whatever object was at its path); in a create, nulls are skipped (null means absent) and the
// root cover already hides everything older.
Status WriteObject(const nlohmann::json& obj, const Path& at, const Stamp& stamp, PathRules rules,
                   bool patch, RecordState* out) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& name = it.key();
    Status s = ValidateSegment(name, rules);
    if (!s.ok()) return PathError(at, s);
    Path child = at.Child(name);
    if (child.depth() > MaxDepth(rules)) {
      return Status::InvalidInput("'" + child.ToString() + "' is deeper than " +
                                  std::to_string(MaxDepth(rules)) + " levels");
    }
    const nlohmann::json& v = it.value();
    if (v.is_object()) {
      out->AddValue(child, stamp, std::string(kObjectMarker));
      RECONCILE_RETURN_IF_ERROR(WriteObject(v, child, stamp, rules, patch, out));
    } else if (v.is_null()) {
      if (patch) out->AddCover(child, stamp);
    } else if (v.is_discarded()) {
      return Status::InvalidInput("discarded JSON value at '" + child.ToString() + "'");
    } else {
      out->AddValue(child, stamp, CanonicalJson(v));
      if (patch) out->AddBelowCover(child, stamp);
    }
  }
  return Status::Ok();
}

}  // namespace

std::string CanonicalJson(const nlohmann::json& value) {
  // nlohmann::json keeps object members in a std::map: keys come out sorted by their bytes.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<RecordState> CreateDelta(const nlohmann::json& doc, const Stamp& stamp, PathRules rules) {
  if (!doc.is_object()) return Status::InvalidInput("a record document must be a JSON object");
  RecordState out;
  out.AddCover(Path(), stamp);
  out.AddValue(Path(), stamp, std::string(kObjectMarker));
  RECONCILE_RETURN_IF_ERROR(WriteObject(doc, Path(), stamp, rules, false, &out));
  return out;
}

Result<RecordState> ReplaceDelta(const nlohmann::json& doc, const Stamp& stamp, PathRules rules) {
  return CreateDelta(doc, stamp, rules);
}

Result<RecordState> PatchDelta(const nlohmann::json& doc, const Stamp& stamp, PathRules rules) {
  if (!doc.is_object()) return Status::InvalidInput("a patch must be a JSON object");
  RecordState out;
  RECONCILE_RETURN_IF_ERROR(WriteObject(doc, Path(), stamp, rules, true, &out));
  return out;
}

RecordState DeleteDelta(const Stamp& stamp) {
  RecordState out;
  out.AddCover(Path(), stamp);
  return out;
}

Result<RecordState> SetDelta(const Path& path, const nlohmann::json& value, const Stamp& stamp,
                             PathRules rules) {
  if (path.is_root()) return Status::InvalidInput("set at the root: use a replace");
  RecordState out;
  out.AddCover(path, stamp);
  if (value.is_null()) return out;
  if (value.is_object()) {
    out.AddValue(path, stamp, std::string(kObjectMarker));
    RECONCILE_RETURN_IF_ERROR(WriteObject(value, path, stamp, rules, false, &out));
  } else {
    out.AddValue(path, stamp, CanonicalJson(value));
  }
  return out;
}

RecordState RemoveDelta(const Path& path, const Stamp& stamp) {
  RecordState out;
  out.AddCover(path, stamp);
  return out;
}

}  // namespace reconcile

