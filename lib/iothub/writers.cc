// Merged sources over memory, and the canonical / twin / meta export writers.
#include <algorithm>

#include "reconcile/iothub.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"

namespace reconcile {
namespace {

using nlohmann::json;


class StateMapSource final : public MergedSource {
 public:
  StateMapSource(const std::map<Key, RecordState>& states, const MergeView& view)
      : it_(states.begin()), end_(states.end()), view_(view) {}

  Result<bool> Next(MergedRecord* out) override {
    if (it_ == end_) return false;
    const auto& [key, state] = *it_++;
    Result<std::optional<json>> doc = MaterializeJson(key.kind(), state, view_);
    if (!doc.ok()) return doc.status().WithContext(key.ToString());
    out->key = key;
    out->doc = std::move(*doc);
    out->updated_at = state.MaxHlc();
    return true;
  }

 private:
  std::map<Key, RecordState>::const_iterator it_;
  std::map<Key, RecordState>::const_iterator end_;
  const MergeView& view_;
};

class VectorSource final : public MergedSource {
 public:
  explicit VectorSource(std::vector<MergedRecord> records) : records_(std::move(records)) {}
  Result<bool> Next(MergedRecord* out) override {
    if (next_ == records_.size()) return false;
    *out = records_[next_++];
    return true;
  }

 private:
  std::vector<MergedRecord> records_;
  size_t next_ = 0;
};

Status WriteLine(std::ostream& out, const std::string& line) {
  out.write(line.data(), static_cast<std::streamsize>(line.size()));
  out.put('\n');
  if (!out) return Status::IoError("write failed");
  return Status::Ok();
}

// Walks device and module records, tracking whether the current device exists, and calls
// write(record) for each existing device or module whose device exists.
template <typename Fn>
Result<WriteStats> ForEachIdentity(MergedSource& source, Fn&& write) {
  WriteStats stats;
  MergedRecord rec{Key::Device("x").value(), std::nullopt, 0};
  std::string device;  // id of the last existing device
  bool device_exists = false;
  while (true) {
    Result<bool> got = source.Next(&rec);
    if (!got.ok()) return got.status();
    if (!*got) break;
    const KeyKind kind = rec.key.kind();
    if (kind == KeyKind::kMeta) continue;
    if (kind == KeyKind::kDevice) {
      device = rec.key.device_id();
      device_exists = rec.doc.has_value();
    }
    if (!rec.doc) {
      ++stats.absent;
      continue;
    }
    if (kind == KeyKind::kModule && (!device_exists || device != rec.key.device_id())) {
      ++stats.orphan_modules;
      continue;
    }
    RECONCILE_RETURN_IF_ERROR(write(rec));
    ++stats.written;
  }
  return stats;
}

}  // namespace

std::unique_ptr<MergedSource> MakeMergedSource(const std::map<Key, RecordState>& states,
                                               const MergeView& view) {
  return std::make_unique<StateMapSource>(states, view);
}

std::unique_ptr<MergedSource> MakeMergedSource(std::vector<MergedRecord> records) {
  return std::make_unique<VectorSource>(std::move(records));
}

std::string CanonicalExportLine(const Key& key, const json& doc) {
  json line = doc;
  line["id"] = key.device_id();
  if (key.kind() == KeyKind::kModule) line["moduleId"] = key.module_id();
  return CanonicalJson(line);
}

Result<WriteStats> WriteCanonicalExport(MergedSource& source, std::ostream& out) {
  return ForEachIdentity(source, [&](const MergedRecord& rec) {
    return WriteLine(out, CanonicalExportLine(rec.key, *rec.doc));
  });
}

Result<WriteStats> WriteTwinExport(MergedSource& source, std::ostream& out) {
  return ForEachIdentity(source, [&](const MergedRecord& rec) {
    const json& doc = *rec.doc;
    json twin = json::object();
    twin["deviceId"] = rec.key.device_id();
    if (rec.key.kind() == KeyKind::kModule) twin["moduleId"] = rec.key.module_id();
    for (const char* field : {"status", "capabilities", "deviceScope", "parentScopes"}) {
      if (auto it = doc.find(field); it != doc.end()) twin[field] = *it;
    }
    twin["tags"] = doc.contains("tags") ? doc["tags"] : json::object();
    json props = json::object();
    for (const char* section : {"desired", "reported"}) {
      props[section] = json::object();
      if (auto p = doc.find("properties"); p != doc.end() && p->is_object()) {
        if (auto s = p->find(section); s != p->end()) props[section] = *s;
      }
    }
    twin["properties"] = std::move(props);
    return WriteLine(out, CanonicalJson(twin));
  });
}

Result<WriteStats> WriteMetaExport(MergedSource& source, std::ostream& out) {
  WriteStats stats;
  MergedRecord rec{Key::Device("x").value(), std::nullopt, 0};
  while (true) {
    Result<bool> got = source.Next(&rec);
    if (!got.ok()) return got.status();
    if (!*got) break;
    if (rec.key.kind() != KeyKind::kMeta) continue;
    json line = json::object();
    line["namespace"] = rec.key.first();
    line["key"] = rec.key.second();
    if (rec.updated_at != 0) line["updatedAt"] = FormatIso8601(rec.updated_at);
    if (rec.doc) {
      line["doc"] = *rec.doc;
    } else {
      line["deleted"] = true;
      ++stats.absent;
    }
    RECONCILE_RETURN_IF_ERROR(WriteLine(out, CanonicalJson(line)));
    ++stats.written;
  }
  return stats;
}

}  // namespace reconcile
