// Key encoding. The bytes sort a device directly before its modules and all devices before all
// meta records:
//
//   key    := device | module | meta
//   device := 0x01 device_id 0x00
//   module := 0x01 device_id 0x00 module_id      (module_id is never empty)
//   meta   := 0x03 namespace 0x00 meta_key
//
// No id, namespace or meta key can contain 0x00 (the validation rules exclude control
// characters), so the first 0x00 always ends the first part. These bytes reach disk: never change
// them.
#include "reconcile/key.h"

#include <cstring>

#include "lib/core/utf8.h"

namespace reconcile {
namespace {

constexpr char kDeviceTag = '\x01';
constexpr char kMetaTag = '\x03';

bool IsIdChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("-:.+%_#*?!(),=@;$'", c) != nullptr && c != '\0';
}

Status ValidateId(std::string_view id, const char* what) {
  if (id.empty()) return Status::InvalidInput(std::string(what) + " is empty");
  if (id.size() > 128) {
    return Status::InvalidInput(std::string(what) + " is longer than 128 characters (" +
                                std::to_string(id.size()) + ")");
  }
  for (char c : id) {
    if (!IsIdChar(c)) {
      std::string shown = (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f)
                              ? std::string("'") + c + "'"
                              : "byte " + std::to_string(static_cast<unsigned char>(c));
      return Status::InvalidInput(std::string(what) + " '" + std::string(id.substr(0, 128)) +
                                  "' has a character IoT Hub does not allow: " + shown);
    }
  }
  return Status::Ok();
}

Status ValidateMetaPart(std::string_view part, const char* what) {
  if (part.empty() || part.size() > 256) {
    return Status::InvalidInput(std::string(what) + " must be 1 to 256 bytes");
  }
  if (!internal::IsValidUtf8(part)) {
    return Status::InvalidInput(std::string(what) + " is not valid UTF-8");
  }
  for (char c : part) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Status::InvalidInput(std::string(what) + " has a control character");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateDeviceId(std::string_view id) { return ValidateId(id, "device id"); }

Status ValidateModuleId(std::string_view id) {
  RECONCILE_RETURN_IF_ERROR(ValidateId(id, "module id"));
  if (id[0] == '$' && id != "$edgeAgent" && id != "$edgeHub") {
    return Status::InvalidInput("module id '" + std::string(id) +
                                "' starts with '$' but is not a system module");
  }
  return Status::Ok();
}

Result<Key> Key::Device(std::string_view device_id) {
  RECONCILE_RETURN_IF_ERROR(ValidateDeviceId(device_id));
  return Key(KeyKind::kDevice, std::string(device_id), "");
}

Result<Key> Key::Module(std::string_view device_id, std::string_view module_id) {
  RECONCILE_RETURN_IF_ERROR(ValidateDeviceId(device_id));
  RECONCILE_RETURN_IF_ERROR(ValidateModuleId(module_id));
  return Key(KeyKind::kModule, std::string(device_id), std::string(module_id));
}

Result<Key> Key::Meta(std::string_view name_space, std::string_view key) {
  RECONCILE_RETURN_IF_ERROR(ValidateMetaPart(name_space, "meta namespace"));
  RECONCILE_RETURN_IF_ERROR(ValidateMetaPart(key, "meta key"));
  return Key(KeyKind::kMeta, std::string(name_space), std::string(key));
}

Result<Key> Key::Decode(std::string_view encoded) {
  auto corrupt = [] { return Status::Corruption("not an encoded record key"); };
  if (encoded.size() < 3) return corrupt();
  const char tag = encoded[0];
  const size_t sep = encoded.find('\0', 1);
  if (sep == std::string_view::npos) return corrupt();
  std::string_view first = encoded.substr(1, sep - 1);
  std::string_view second = encoded.substr(sep + 1);
  Result<Key> key = Status::Corruption("unknown key tag");
  if (tag == kDeviceTag) {
    key = second.empty() ? Device(first) : Module(first, second);
  } else if (tag == kMetaTag) {
    key = Meta(first, second);
  }
  if (!key.ok()) return Status::Corruption("bad encoded key: " + key.status().message());
  return key;
}

std::string Key::Encode() const {
  std::string out;
  out.reserve(2 + first_.size() + second_.size());
  EncodeTo(&out);
  return out;
}

void Key::EncodeTo(std::string* out) const {
  out->push_back(kind_ == KeyKind::kMeta ? kMetaTag : kDeviceTag);
  out->append(first_);
  out->push_back('\0');
  out->append(second_);
}

std::string Key::ToString() const {
  switch (kind_) {
    case KeyKind::kDevice: return "device:" + first_;
    case KeyKind::kModule: return "module:" + first_ + "/" + second_;
    case KeyKind::kMeta: return "meta:" + first_ + "/" + second_;
  }
  return "?";
}

std::strong_ordering operator<=>(const Key& a, const Key& b) {
  // Same order as the encoded bytes, without building them.
  const bool am = a.kind_ == KeyKind::kMeta, bm = b.kind_ == KeyKind::kMeta;
  if (am != bm) return am ? std::strong_ordering::greater : std::strong_ordering::less;
  if (int c = a.first_.compare(b.first_); c != 0) {
    // "ab" vs "a": the encoded form compares 'b' with 0x00 — the same as comparing the strings,
    // since a shorter prefix compares less in both.
    return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
  }
  int c = a.second_.compare(b.second_);
  if (c == 0) return std::strong_ordering::equal;
  return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
}

}  // namespace reconcile
