// The retry plan: the previous plan's failed lines, switched or re-planned per importErrors.log.
#include <map>

#include "lib/iothub/plan_internal.h"
#include "lib/iothub/device_doc.h"
#include "reconcile/operations.h"

namespace reconcile {

using iothub::Invalid;
using nlohmann::json;

namespace {

constexpr int64_t kNotFound = 404001;
constexpr int64_t kAlreadyExists = 409001;
constexpr int64_t kPreconditionFailed = 412001;

}  // namespace

Result<std::vector<ImportError>> ReadImportErrors(LineReader& log, RejectSink* rejects) {
  std::vector<ImportError> errors;
  uint64_t rejected = 0;
  Status s = iothub::ForEachLine(
      log, rejects, &rejected, [&](const Line& line, std::optional<Invalid>* invalid) -> Status {
        json obj;
        if ((*invalid = iothub::ParseObject(line.text, &obj))) return Status::Ok();
        std::optional<Key> key;
        if ((*invalid = iothub::MakeKey(iothub::PresentMember(obj, "deviceId"), iothub::PresentMember(obj, "moduleId"),
                                        "deviceId", "moduleId", &key))) {
          return Status::Ok();
        }
        ImportError e;
        e.device_id = key->device_id();
        e.module_id = key->kind() == KeyKind::kModule ? key->module_id() : "";
        const json* code = iothub::PresentMember(obj, "errorCode");
        if (code == nullptr) {
          *invalid = Invalid{RejectReason::kMissingField, "'errorCode' is missing"};
          return Status::Ok();
        }
        if (code->is_number_integer()) {
          e.error_code = code->get<int64_t>();
        } else if (code->is_string() && !code->get_ref<const std::string&>().empty() &&
                   code->get_ref<const std::string&>().size() <= 18 &&
                   code->get_ref<const std::string&>().find_first_not_of("0123456789") ==
                       std::string::npos) {
          e.error_code = std::stoll(code->get<std::string>());
        } else {
          *invalid = Invalid{RejectReason::kInvalidErrorCode, "'errorCode' is not a number"};
          return Status::Ok();
        }
        if (const json* st = iothub::PresentMember(obj, "errorStatus"); st != nullptr && st->is_string()) {
          e.error_status = st->get<std::string>();
        }
        errors.push_back(std::move(e));
        return Status::Ok();
      });
  RECONCILE_RETURN_IF_ERROR(s);
  return errors;
}

Result<PlanSummary> BuildRetryPlan(const RetryInputs& inputs,
                                   const std::vector<ImportError>& errors,
                                   const PlanOptions& options, RejectSink* rejects) {
  if (inputs.previous_files.empty()) {
    return Status::InvalidInput("retry: the previous plan's files are required");
  }
  const bool can_replan =
      inputs.merged != nullptr && *inputs.merged && inputs.fresh_primary != nullptr;

  // The first error of each key.
  std::map<Key, const ImportError*> failed;
  for (const ImportError& e : errors) {
    Result<Key> key =
        e.module_id.empty() ? Key::Device(e.device_id) : Key::Module(e.device_id, e.module_id);
    if (!key.ok()) return key.status().WithContext("retry: import error");
    failed.try_emplace(*key, &e);
  }

  iothub::PlanWriter writer(options);
  RECONCILE_RETURN_IF_ERROR(writer.Open());
  PlanSummary summary;
  std::vector<std::pair<std::string, std::string>> digests;
  std::set<Key> replan;
  std::set<Key> matched;
  struct Switched {
    iothub::Phase phase;
    ImportMode mode;
    std::string line;
  };
  std::vector<Switched> switched;

  for (const std::string& path : inputs.previous_files) {
    Result<std::string> digest = FileSha256(path);
    if (!digest.ok()) return digest.status();
    digests.emplace_back("previous:" + std::filesystem::path(path).filename().string(), *digest);
    Result<std::unique_ptr<LineReader>> reader = LineReader::Open(path);
    if (!reader.ok()) return reader.status();
    uint64_t rejected = 0;
    Status s = iothub::ForEachLine(
        **reader, rejects, &rejected,
        [&](const Line& text, std::optional<Invalid>* invalid) -> Status {
          json line;
          if ((*invalid = iothub::ParseObject(text.text, &line))) return Status::Ok();
          std::optional<Key> key;
          if ((*invalid = iothub::MakeKey(iothub::PresentMember(line, "id"), iothub::PresentMember(line, "moduleId"), "id",
                                          "moduleId", &key))) {
            return Status::Ok();
          }
          auto it = failed.find(*key);
          if (it == failed.end()) return Status::Ok();  // applied
          const json* mode_text = iothub::PresentMember(line, "importMode");
          Result<ImportMode> mode = mode_text && mode_text->is_string()
                                        ? ParseImportMode(mode_text->get<std::string>())
                                        : Result<ImportMode>(Status::InvalidInput("no importMode"));
          if (!mode.ok()) {
            *invalid =
                Invalid{RejectReason::kInvalidEnum, "'importMode' is not a known import mode"};
            return Status::Ok();
          }
          matched.insert(*key);
          const int64_t code = it->second->error_code;
          const bool is_module = key->kind() == KeyKind::kModule;
          const json* caps = iothub::PresentMember(line, "capabilities");
          const bool edge = caps && iothub::PresentMember(*caps, "iotEdge") && (*caps)["iotEdge"] == true;
          const bool is_delete =
              *mode == ImportMode::kDelete || *mode == ImportMode::kDeleteIfMatchETag;
          iothub::Phase phase =
              is_module ? (is_delete ? iothub::kModuleDelete : iothub::kModuleUpsert)
              : edge    ? (is_delete ? iothub::kEdgeDelete : iothub::kEdgeUpsert)
                        : (is_delete ? iothub::kDeviceDelete : iothub::kDeviceUpsert);
          auto note = [&](std::string_view what) {
            return writer.Report(*key, what, json{{"errorCode", code}});
          };
          if (code == kNotFound) {
            if (is_delete) {
              return note("alreadyDeleted");
            }
            if (*mode == ImportMode::kCreate) {
              ++summary.not_retried;
              return note("notRetried");
            }
            line["importMode"] = ImportModeName(ImportMode::kCreate);
            line.erase("eTag");
            line.erase("twinETag");
            switched.push_back({phase, ImportMode::kCreate, CanonicalJson(line)});
            return note("switchedToCreate");
          }
          if (code == kAlreadyExists && *mode == ImportMode::kCreate) {
            if (can_replan) {
              replan.insert(*key);
              return note("replanned");
            }
            line["importMode"] = ImportModeName(ImportMode::kUpdate);
            switched.push_back({phase, ImportMode::kUpdate, CanonicalJson(line)});
            return note("switchedToUpdate");
          }
          if (code == kPreconditionFailed) {
            if (can_replan) {
              replan.insert(*key);
              return note("replanned");
            }
            ++summary.needs_fresh_export;
            return note("needsFreshExport");
          }
          ++summary.not_retried;
          return note("notRetried");
        });
    RECONCILE_RETURN_IF_ERROR(s);
  }
  for (const auto& [key, error] : failed) {
    if (matched.count(key) == 0) {
      ++summary.not_retried;
      RECONCILE_RETURN_IF_ERROR(
          writer.Report(key, "errorWithoutPlanLine", json{{"errorCode", error->error_code}}));
    }
  }

  if (!replan.empty()) {
    PlanOptions sub = options;
    sub.only_keys = replan;
    iothub::Planner planner(sub, &writer, &summary);
    RECONCILE_RETURN_IF_ERROR(inputs.fresh_primary->Rewind());
    RECONCILE_RETURN_IF_ERROR(
        planner.Run(*inputs.merged, *inputs.fresh_primary, rejects, &digests));
  }
  for (const Switched& s : switched) {
    const int depth = s.phase == iothub::kEdgeDelete ? -1 : iothub::kLateDepth;
    RECONCILE_RETURN_IF_ERROR(writer.Add(s.phase, depth, s.mode, s.line));
  }
  return writer.Finish(std::move(summary), digests);
}

}  // namespace reconcile
