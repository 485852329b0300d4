#include "tools/mergetool/rejects.h"

#include "tools/mergetool/command.h"

namespace mergetool {

reconcile::Status CommandRejects::Add(const reconcile::Reject& reject, std::string_view raw_line) {
  ++count_;
  if (count_ <= kMaxPrinted) PrintError(reject.ToString());
  if (!file_) {
    auto file = reconcile::FileRejectSink::Open(path_);
    if (!file.ok()) return file.status();
    file_ = std::move(*file);
  }
  return file_->Add(reject, raw_line);
}

reconcile::Status CommandRejects::Close() {
  if (count_ > kMaxPrinted) {
    PrintError("... and " + std::to_string(count_ - kMaxPrinted) + " more " + what_ + " lines");
  }
  if (count_ > 0) PrintError(std::to_string(count_) + " " + what_ + " lines written to " + path_);
  if (file_) return file_->Close();
  return reconcile::Status::Ok();
}

}  // namespace mergetool
