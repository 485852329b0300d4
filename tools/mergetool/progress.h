// Progress of long work on stderr: records done, rate and (when the total is known) an ETA,
// redrawn at most five times a second, and only when stderr is a terminal. The summary line
// (Finish) is always printed.
#ifndef RECONCILE_TOOLS_MERGETOOL_PROGRESS_H_
#define RECONCILE_TOOLS_MERGETOOL_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace mergetool {

class Progress {
 public:
  // `what` names the work ("ingest"); `total` is 0 when unknown.
  explicit Progress(std::string what, uint64_t total = 0);

  // Adds `n` records done.
  void Add(uint64_t n = 1);
  uint64_t done() const { return done_; }
  double seconds() const;

  // Clears the progress line and prints "<what>: <done> records[, <extra>], <seconds> s".
  void Finish(const std::string& extra = "");

 private:
  void Draw();

  std::string what_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace mergetool

#endif  // RECONCILE_TOOLS_MERGETOOL_PROGRESS_H_
