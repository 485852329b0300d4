// Internal: SHA-256 (FIPS 180-4) for the digests a plan's manifest records. Not for secrets.
#ifndef RECONCILE_LIB_IOTHUB_SHA256_H_
#define RECONCILE_LIB_IOTHUB_SHA256_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace reconcile::iothub {

class Sha256 {
 public:
  // `hardware`: use the CPU's SHA extensions when it has them (x86 SHA-NI; the result is the
  // same, about ten times sooner). False forces the portable code (tests compare the two).
  explicit Sha256(bool hardware = true);
  void Update(std::string_view data);
  // The digest as 64 lower-case hex digits. The object must not be updated afterwards.
  std::string HexDigest();

 private:
  void Block(const unsigned char* p);
  void Blocks(const unsigned char* p, size_t count);
  bool hardware_;
  std::array<uint32_t, 8> h_;
  unsigned char buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string Sha256Hex(std::string_view data);

}  // namespace reconcile::iothub

#endif  // RECONCILE_LIB_IOTHUB_SHA256_H_
