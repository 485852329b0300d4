// Where mergetool sends rejected input lines: stderr, as "mergetool: error: FILE:LINE: reason",
// (the first kMaxPrinted, then a count) and the rejects file, created on the first reject.
#ifndef RECONCILE_TOOLS_MERGETOOL_REJECTS_H_
#define RECONCILE_TOOLS_MERGETOOL_REJECTS_H_

#include <memory>
#include <string>

#include "reconcile/reject.h"

namespace mergetool {

class CommandRejects final : public reconcile::RejectSink {
 public:
  static constexpr uint64_t kMaxPrinted = 20;

  // `what` says what became of the lines in the closing summary ("rejected", "quarantined").
  explicit CommandRejects(std::string path, std::string what = "rejected")
      : path_(std::move(path)), what_(std::move(what)) {}
  reconcile::Status Add(const reconcile::Reject& reject, std::string_view raw_line) override;
  // Closes the file and prints how many were not shown; kIoError when the file failed.
  reconcile::Status Close();

  uint64_t count() const { return count_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string what_;
  std::unique_ptr<reconcile::FileRejectSink> file_;
  uint64_t count_ = 0;
};

}  // namespace mergetool

#endif  // RECONCILE_TOOLS_MERGETOOL_REJECTS_H_
