// The directory hub: a folder laid out like the hub's blob containers, which an operator keeps in
// sync with the real hub using their own tooling (az storage, azcopy, ...):
//   <dir>/export/devices.txt            the hub's latest export, put there by the operator
//   <dir>/import/<job>/<file>...         import files, copied there by Import
//   <dir>/import/<job>/job.json          {"job", "hub", "files": [names in apply order]}
//   <dir>/import/<job>/importErrors.log  put back by the operator when the job has run; its
//                                        presence (even empty) means the job completed
// Import never blocks: without importErrors.log it reports the job as not completed, and the
// orchestrator stops ("waiting for the import job") until a rerun with resume.
#include <filesystem>

#include "lib/failback/files.h"
#include "reconcile/failback.h"
#include "reconcile/operations.h"

namespace reconcile {
namespace {

namespace fs = std::filesystem;

class DirectoryHub final : public HubAdapter {
 public:
  DirectoryHub(std::string dir, std::string name) : dir_(std::move(dir)), name_(std::move(name)) {}

  std::string name() const override { return name_; }
  bool simulated() const override { return false; }

  Status Export(const std::string& path) override {
    const std::string source = (fs::path(dir_) / "export" / "devices.txt").string();
    if (!failback::Exists(source)) {
      return Status::NotFound("no export at '" + source + "' (put the hub's devices.txt there)");
    }
    return failback::CopyFileAtomic(source, path);
  }

  Result<ImportOutcome> Import(const std::string& job_id, const std::vector<std::string>& files,
                               const std::string& errors_path) override {
    if (job_id.empty() || job_id.find('/') != std::string::npos || job_id == "." ||
        job_id == "..") {
      return Status::InvalidInput("import: the job id must be a plain file name");
    }
    const fs::path job_dir = fs::path(dir_) / "import" / job_id;
    RECONCILE_RETURN_IF_ERROR(failback::MakeDirs(job_dir.string()));
    ImportOutcome outcome;
    nlohmann::json names = nlohmann::json::array();
    for (const std::string& file : files) {
      const fs::path target = job_dir / fs::path(file).filename();
      // Same job id, same files: copying again is harmless, and a job whose files were already
      // handed over keeps them as they were.
      if (!failback::Exists(target.string())) {
        RECONCILE_RETURN_IF_ERROR(failback::CopyFileAtomic(file, target.string()));
      }
      Result<uint64_t> lines = failback::CountJsonLines(target.string());
      if (!lines.ok()) return lines.status();
      outcome.lines += *lines;
      names.push_back(target.filename().string());
    }
    const std::string manifest = (job_dir / "job.json").string();
    if (!failback::Exists(manifest)) {
      nlohmann::json job = {{"job", job_id}, {"hub", name_}, {"files", names}};
      RECONCILE_RETURN_IF_ERROR(failback::WriteFileAtomic(manifest, job.dump(2) + "\n"));
    }
    const std::string log = (job_dir / "importErrors.log").string();
    if (!failback::Exists(log)) return outcome;  // not completed yet
    RECONCILE_RETURN_IF_ERROR(failback::CopyFileAtomic(log, errors_path));
    Result<uint64_t> failed = failback::CountJsonLines(log);
    if (!failed.ok()) return failed.status();
    outcome.failed = *failed;
    outcome.completed = true;
    return outcome;
  }

 private:
  std::string dir_;
  std::string name_;
};

}  // namespace

std::unique_ptr<HubAdapter> MakeDirectoryHub(const std::string& dir, const std::string& hub_name) {
  return std::make_unique<DirectoryHub>(dir, hub_name);
}

}  // namespace reconcile
