#include "reconcile/site.h"

#include <boost/uuid/name_generator_sha1.hpp>
#include <boost/uuid/string_generator.hpp>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <cstring>

namespace reconcile {
namespace {

// reconcile's own namespace for name-based site ids. Never change it: every site id derives
// from it.
constexpr boost::uuids::uuid kSiteNamespace = {{0x6f, 0x1c, 0x2a, 0x57, 0x4e, 0x0b, 0x4d, 0x6a,
                                                0x9a, 0x83, 0x2c, 0x1e, 0x5d, 0x70, 0x31, 0xb4}};

SiteId FromUuid(const boost::uuids::uuid& u) {
  std::array<uint8_t, SiteId::kSize> bytes;
  std::memcpy(bytes.data(), u.data, SiteId::kSize);
  return SiteId(bytes);
}

}  // namespace

SiteId SiteId::FromName(std::string_view name) {
  boost::uuids::name_generator_sha1 gen(kSiteNamespace);
  return FromUuid(gen(name.data(), name.size()));
}

Result<SiteId> SiteId::Parse(std::string_view text) {
  if (text.size() != 36) return Status::InvalidInput("not a UUID: '" + std::string(text) + "'");
  try {
    boost::uuids::string_generator gen;
    return FromUuid(gen(text.begin(), text.end()));
  } catch (...) {
    return Status::InvalidInput("not a UUID: '" + std::string(text) + "'");
  }
}

SiteId SiteId::FromBytes(const uint8_t* data) {
  std::array<uint8_t, kSize> bytes;
  std::memcpy(bytes.data(), data, kSize);
  return SiteId(bytes);
}

bool SiteId::is_nil() const {
  for (uint8_t b : bytes_) {
    if (b != 0) return false;
  }
  return true;
}

std::string SiteId::ToString() const {
  boost::uuids::uuid u;
  std::memcpy(u.data, bytes_.data(), kSize);
  return boost::uuids::to_string(u);
}

Status ValidateSiteName(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return Status::InvalidInput("site name must be 1 to 128 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidInput("site name '" + std::string(name) +
                                  "' may only use letters, digits, '.', '_' and '-'");
    }
  }
  return Status::Ok();
}

}  // namespace reconcile
