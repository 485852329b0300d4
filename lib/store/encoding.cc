// Fixed-width big-endian integers and digest_index keys (grammar in lib/store/encoding.h).
#include "lib/store/encoding.h"

namespace reconcile::store {

void PutU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string EncodeU64(uint64_t v) {
  std::string out;
  PutU64(&out, v);
  return out;
}

bool ReadU64(std::string_view bytes, size_t* pos, uint64_t* v) {
  if (bytes.size() < *pos || bytes.size() - *pos < 8) return false;
  uint64_t r = 0;
  for (size_t i = 0; i < 8; ++i) r = (r << 8) | static_cast<uint8_t>(bytes[*pos + i]);
  *pos += 8;
  *v = r;
  return true;
}

bool ReadU32(std::string_view bytes, size_t* pos, uint32_t* v) {
  if (bytes.size() < *pos || bytes.size() - *pos < 4) return false;
  uint32_t r = 0;
  for (size_t i = 0; i < 4; ++i) r = (r << 8) | static_cast<uint8_t>(bytes[*pos + i]);
  *pos += 4;
  *v = r;
  return true;
}

std::optional<uint32_t> DecodeU32(std::string_view bytes) {
  if (bytes.size() != 4) return std::nullopt;
  size_t pos = 0;
  uint32_t v = 0;
  ReadU32(bytes, &pos, &v);
  return v;
}

std::optional<uint64_t> DecodeU64(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  size_t pos = 0;
  uint64_t v = 0;
  ReadU64(bytes, &pos, &v);
  return v;
}

std::string DigestBucketPrefix(uint32_t bucket) {
  std::string out;
  out.push_back(static_cast<char>((bucket >> 8) & 0xff));
  out.push_back(static_cast<char>(bucket & 0xff));
  return out;
}

std::string DigestIndexKey(uint32_t bucket, std::string_view encoded_key) {
  std::string out = DigestBucketPrefix(bucket);
  out.append(encoded_key);
  return out;
}

}  // namespace reconcile::store
