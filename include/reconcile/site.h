// reconcile/site.h — sites: the named replica locations of a fleet ("weu-primary").
//
// A site's id is the name-based (SHA-1, RFC 4122 version 5) UUID of its name in reconcile's own
// namespace, so every machine derives the same id from the same name. Sites are ordered by the bytes
// of their id; that order breaks ties between stamps and must never change.
//
// Thread safety: SiteId is a 16-byte value type; safe to copy and share.
#ifndef RECONCILE_SITE_H_
#define RECONCILE_SITE_H_

#include <array>
#include <bit>
#include <compare>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "reconcile/status.h"

namespace reconcile {

class SiteId {
 public:
  static constexpr size_t kSize = 16;

  // The nil id (all zero bytes). It names no site; it is the smallest id.
  SiteId() = default;
  explicit SiteId(const std::array<uint8_t, kSize>& bytes) : bytes_(bytes) {}

  // The id of the site called `name`.
  // REQUIRES: name is not empty (ValidateSiteName).
  static SiteId FromName(std::string_view name);

  // Parses the canonical 36-character UUID text form.
  static Result<SiteId> Parse(std::string_view text);

  // Reads kSize raw bytes.  REQUIRES: data points at kSize readable bytes.
  static SiteId FromBytes(const uint8_t* data);

  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  bool is_nil() const;

  // Canonical lower-case UUID text, e.g. "5b9c3f0e-....".
  std::string ToString() const;

  // The order of the bytes (unsigned, in turn), compared as two big-endian words: sites are
  // compared for every cell a record encodes, joins and stamps, and a call to memcmp a time
  // cost more than the compare.
  friend bool operator==(const SiteId& a, const SiteId& b) {
    return a.Word(0) == b.Word(0) && a.Word(1) == b.Word(1);
  }
  friend std::strong_ordering operator<=>(const SiteId& a, const SiteId& b) {
    if (a.Word(0) != b.Word(0)) return a.Word(0) <=> b.Word(0);
    return a.Word(1) <=> b.Word(1);
  }

 private:
  // Bytes [8i, 8i + 8) as a big-endian number.
  uint64_t Word(size_t i) const {
    uint64_t w;
    std::memcpy(&w, bytes_.data() + 8 * i, 8);
    if constexpr (std::endian::native == std::endian::little) w = __builtin_bswap64(w);
    return w;
  }

  std::array<uint8_t, kSize> bytes_{};
};

// A site name is 1 to 128 characters of [A-Za-z0-9._-].
Status ValidateSiteName(std::string_view name);

}  // namespace reconcile

#endif  // RECONCILE_SITE_H_
