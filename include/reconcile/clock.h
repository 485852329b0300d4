// reconcile/clock.h — the hybrid logical clock of an ingesting site, with a max-offset guard.
//
// Send/local event: l' = max(l, pt); c' = (l' == l) ? c + 1 : 0.
// Receive(m):      l' = max(l, m.l, pt); c' per Kulkarni et al.
// The guard: a received hlc whose wall part is more than `max_offset_ms` ahead of this site's
// physical clock is refused (kConflict) and does not advance the clock, so a site with a skewed
// clock cannot make its stamps win every conflict forever.
//
// Thread safety: HlcClock is internally synchronized; Now() and Receive() may be called from many
// threads. The physical-clock function must itself be thread-safe.
#ifndef RECONCILE_CLOCK_H_
#define RECONCILE_CLOCK_H_

#include <cstdint>
#include <functional>
#include <mutex>

#include "reconcile/stamp.h"
#include "reconcile/status.h"

namespace reconcile {

struct ClockOptions {
  // How far (in milliseconds) a received stamp may be ahead of the local physical clock.
  // Default: 5 minutes.
  uint64_t max_offset_ms = 5 * 60 * 1000;
  // The physical clock in milliseconds since the epoch. Default (empty): the system clock.
  std::function<uint64_t()> physical_ms;
};

class HlcClock {
 public:
  explicit HlcClock(ClockOptions options = {});
  HlcClock(const HlcClock&) = delete;
  HlcClock& operator=(const HlcClock&) = delete;

  // A new hlc for a local event, greater than every hlc this clock returned or received.
  Hlc Now();

  // Advances the clock past `remote` (the receive rule) and returns the new local hlc.
  // Returns kConflict, leaving the clock unchanged, when remote is beyond max_offset ahead.
  Result<Hlc> Receive(Hlc remote);

  // OK when `remote` is within max_offset of the physical clock; kConflict naming the skew
  // (in milliseconds) otherwise. Does not change the clock.
  Status Check(Hlc remote) const;

  // The last hlc issued or received (0 before any).
  Hlc Last() const;

 private:
  uint64_t PhysicalMs() const;

  ClockOptions options_;
  mutable std::mutex mu_;
  Hlc last_ = 0;
};

}  // namespace reconcile

#endif  // RECONCILE_CLOCK_H_
