// The internal 64-bit hash (lib/core/hash.h): its values are pinned, because they reach disk and
// reports; Hash64Pair gives exactly the two values Hash64 gives for its two seeds.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>

#include "lib/core/hash.h"

namespace {

using reconcile::internal::Hash64;
using reconcile::internal::Hash64Pair;

TEST(Hash64, ValuesArePinned) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes.push_back(static_cast<char>(i * 7));
  EXPECT_EQ(Hash64("", 0), 0xefd01f60ba992926ULL);
  EXPECT_EQ(Hash64("abc", 1), 0xcbed446a455bcbaaULL);
  EXPECT_EQ(Hash64("{\"id\":\"dev-1\"}", 0x9e3779b97f4a7c15ULL), 0x2301a94189ba1f53ULL);
  EXPECT_EQ(Hash64(bytes, 2), 0x53c6a844f7596ef5ULL);
}

RC_GTEST_PROP(Hash64, PairIsTheTwoSeedsHashes, (const std::string& text, uint64_t a, uint64_t b)) {
  const reconcile::internal::HashPair pair = Hash64Pair(text, a, b);
  RC_ASSERT(pair.a == Hash64(text, a));
  RC_ASSERT(pair.b == Hash64(text, b));
}

}  // namespace
