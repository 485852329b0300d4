// Looks for device key material in bytes: a symmetric key as written (base64), its base64url and
// JSON-escaped spellings, and the decoded key as raw bytes and as hex — whole or any 16-character
// (raw: 12-byte) piece of it, so a truncated or re-encoded key is found too.
//
// Thread safety: Find is const and may be called from many threads once the keys are added.
#ifndef RECONCILE_TESTS_HARDENING_SECRET_SCANNER_H_
#define RECONCILE_TESTS_HARDENING_SECRET_SCANNER_H_

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace reconcile::hardening {

class SecretScanner {
 public:
  // Adds a base64 symmetric key (all its spellings). Keys shorter than 16 characters are ignored
  // (no real key is that short, and short pieces would match by chance).
  void AddKey(const std::string& base64);
  // Adds every string value of a "primaryKey"/"secondaryKey" member anywhere in `value`.
  void AddKeysIn(const nlohmann::json& value);
  // Adds the keys of every JSON line of `bytes` (lines that do not parse are skipped).
  void AddKeysInLines(std::string_view bytes);

  size_t keys() const { return keys_; }

  // The first piece of key material in `bytes`: "<form> of key <first 6 chars>... at byte N", or
  // an empty string when there is none.
  std::string Find(std::string_view bytes) const;

 private:
  void AddForm(const std::string& form, const std::string& what, size_t window);
  size_t keys_ = 0;
  std::deque<std::string> forms_;   // owns the bytes the pieces point into
  std::vector<std::string> whats_;  // "base64 of key abc123...", ...
  std::unordered_map<std::string_view, uint32_t> text_pieces_;  // 16-char piece -> whats_ index
  std::unordered_map<std::string_view, uint32_t> raw_pieces_;   // 12-byte piece -> whats_ index
};

// Standard base64 (with or without padding) to bytes; empty when it is not base64.
std::string DecodeBase64(std::string_view text);

}  // namespace reconcile::hardening

#endif  // RECONCILE_TESTS_HARDENING_SECRET_SCANNER_H_
