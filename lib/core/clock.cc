#include "reconcile/clock.h"

#include <algorithm>
#include <chrono>
#include <string>

namespace reconcile {

HlcClock::HlcClock(ClockOptions options) : options_(std::move(options)) {}

uint64_t HlcClock::PhysicalMs() const {
  if (options_.physical_ms) return options_.physical_ms();
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

Hlc HlcClock::Now() {
  const uint64_t pt = PhysicalMs();
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t l = HlcMillis(last_);
  const uint64_t c = HlcLogical(last_);
  if (pt > l) {
    last_ = MakeHlc(pt, 0);
  } else if (c < kHlcLogicalMask) {
    last_ = MakeHlc(l, c + 1);
  } else {
    // The logical counter is exhausted within this millisecond: borrow the next one.
    last_ = MakeHlc(l + 1, 0);
  }
  return last_;
}

Status HlcClock::Check(Hlc remote) const {
  const uint64_t pt = PhysicalMs();
  const uint64_t rm = HlcMillis(remote);
  if (rm > pt && rm - pt > options_.max_offset_ms) {
    return Status::Conflict("stamp " + FormatIso8601(remote) + " is " + std::to_string(rm - pt) +
                            " ms ahead of this site's clock (max offset " +
                            std::to_string(options_.max_offset_ms) + " ms)");
  }
  return Status::Ok();
}

Result<Hlc> HlcClock::Receive(Hlc remote) {
  RECONCILE_RETURN_IF_ERROR(Check(remote));
  const uint64_t pt = PhysicalMs();
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t l = HlcMillis(last_), c = HlcLogical(last_);
  const uint64_t ml = HlcMillis(remote), mc = HlcLogical(remote);
  const uint64_t nl = std::max({l, ml, pt});
  uint64_t nc;
  if (nl == l && nl == ml) {
    nc = std::max(c, mc) + 1;
  } else if (nl == l) {
    nc = c + 1;
  } else if (nl == ml) {
    nc = mc + 1;
  } else {
    nc = 0;
  }
  last_ = nc > kHlcLogicalMask ? MakeHlc(nl + 1, 0) : MakeHlc(nl, nc);
  return last_;
}

Hlc HlcClock::Last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

}  // namespace reconcile
