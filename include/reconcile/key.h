// reconcile/key.h — record keys: device(id), module(id, moduleId), meta(namespace, key).
//
// Keys are validated on construction with IoT Hub's rules: a device or module id is 1 to 128
// characters of ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ '  (module ids may not
// start with '$' except the system modules $edgeAgent and $edgeHub). Meta namespaces and keys are 1 to 256
// bytes of UTF-8 without control characters.
//
// The encoded form sorts a device directly before its modules, and all devices before all meta
// records (see key.cc for the grammar). Encode/Decode round-trip.
//
// Thread safety: value type.
#ifndef RECONCILE_KEY_H_
#define RECONCILE_KEY_H_

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "reconcile/status.h"

namespace reconcile {

// On-disk values: never change them.
enum class KeyKind : uint8_t {
  kDevice = 1,
  kModule = 2,
  kMeta = 3,
};

class Key {
 public:
  static Result<Key> Device(std::string_view device_id);
  static Result<Key> Module(std::string_view device_id, std::string_view module_id);
  static Result<Key> Meta(std::string_view name_space, std::string_view key);

  // Parses the bytes Encode() produced; kCorruption when they are not a valid key.
  static Result<Key> Decode(std::string_view encoded);

  KeyKind kind() const { return kind_; }
  // device id, or meta namespace
  const std::string& first() const { return first_; }
  // module id, or meta key; empty for devices
  const std::string& second() const { return second_; }

  const std::string& device_id() const { return first_; }
  const std::string& module_id() const { return second_; }

  // Bytes that sort as described above.
  std::string Encode() const;
  // The same bytes, appended to *out.
  void EncodeTo(std::string* out) const;

  // "device:ID", "module:ID/MODULE", "meta:NS/KEY" — for reports and errors.
  std::string ToString() const;

  // Orders as the encoded bytes do.
  friend std::strong_ordering operator<=>(const Key& a, const Key& b);
  friend bool operator==(const Key&, const Key&) = default;

 private:
  Key(KeyKind kind, std::string first, std::string second)
      : kind_(kind), first_(std::move(first)), second_(std::move(second)) {}

  KeyKind kind_ = KeyKind::kDevice;
  std::string first_;
  std::string second_;
};

// The id rules alone (no Key is made).
Status ValidateDeviceId(std::string_view id);
Status ValidateModuleId(std::string_view id);

}  // namespace reconcile

#endif  // RECONCILE_KEY_H_
