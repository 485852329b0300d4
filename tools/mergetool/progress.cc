#include "tools/mergetool/progress.h"

#include <unistd.h>

#include <cstdio>

namespace mergetool {

Progress::Progress(std::string what, uint64_t total)
    : what_(std::move(what)),
      total_(total),
      tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::Add(uint64_t n) {
  done_ += n;
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  Draw();
}

void Progress::Draw() {
  const double s = seconds();
  const double rate = s > 0 ? done_ / s : 0;
  if (total_ > 0 && rate > 0 && done_ <= total_) {
    std::fprintf(stderr, "\r%s: %llu/%llu records, %.0f/s, ETA %.0f s   ", what_.c_str(),
                 static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_),
                 rate, (total_ - done_) / rate);
  } else {
    std::fprintf(stderr, "\r%s: %llu records, %.0f/s   ", what_.c_str(),
                 static_cast<unsigned long long>(done_), rate);
  }
  std::fflush(stderr);
}

void Progress::Finish(const std::string& extra) {
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s: %llu records%s%s, %.2f s\n", what_.c_str(),
               static_cast<unsigned long long>(done_), extra.empty() ? "" : ", ", extra.c_str(),
               seconds());
}

}  // namespace mergetool
