// reconcile/stamp.h — stamps: hybrid logical clock values tagged with the writing site.
//
// An Hlc is 64 bits: the high 48 bits are wall-clock milliseconds since the Unix epoch, the low 16
// bits a logical counter (Kulkarni et al., 2014). Timestamps from outside (ISO-8601 with up to 100 ns
// precision, as IoT Hub writes them) put their sub-millisecond part, in 100 ns ticks (0..9999), into
// the logical bits, so their order survives the conversion.
//
// A Stamp is (hlc, site), totally ordered by hlc, then by site id bytes. Stamps are unique per site
// and operation; equal stamps mean the same operation (or the same outside instant).
//
// Thread safety: value types; safe to copy and share.
#ifndef RECONCILE_STAMP_H_
#define RECONCILE_STAMP_H_

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "reconcile/site.h"
#include "reconcile/status.h"

namespace reconcile {

using Hlc = uint64_t;

constexpr int kHlcLogicalBits = 16;
constexpr uint64_t kHlcLogicalMask = (uint64_t{1} << kHlcLogicalBits) - 1;
constexpr uint64_t kHlcMaxMillis = (uint64_t{1} << 48) - 1;

inline constexpr Hlc MakeHlc(uint64_t millis, uint64_t logical) {
  return (millis << kHlcLogicalBits) | (logical & kHlcLogicalMask);
}
inline constexpr uint64_t HlcMillis(Hlc hlc) { return hlc >> kHlcLogicalBits; }
inline constexpr uint64_t HlcLogical(Hlc hlc) { return hlc & kHlcLogicalMask; }

// Parses an ISO-8601 UTC timestamp as IoT Hub writes them: "2022-05-27T18:49:38.4904785Z", with 0 to
// 7 fraction digits, 'Z' or a numeric offset ("+01:00"). Digits past the 7th are an error.
// The result's logical bits hold the sub-millisecond 100 ns ticks.
// Returns kInvalidInput naming the text when it does not parse or is before 1970.
Result<Hlc> ParseIso8601(std::string_view text);

// Formats an hlc as "YYYY-MM-DDTHH:MM:SS.fffffffZ" (7 fraction digits). For an hlc made by
// ParseIso8601 this is the inverse (the logical bits are read as 100 ns ticks, capped at 9999).
std::string FormatIso8601(Hlc hlc);

struct Stamp {
  Hlc hlc = 0;
  SiteId site;

  friend auto operator<=>(const Stamp&, const Stamp&) = default;
  friend bool operator==(const Stamp&, const Stamp&) = default;

  // "<iso8601>@<site uuid>" — for reports and debugging.
  std::string ToString() const;
};

}  // namespace reconcile

#endif  // RECONCILE_STAMP_H_
