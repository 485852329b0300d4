// reconcile/digest.h — digests of a store's materialized state, and the differences between two.
//
// A store digest is a hash tree. Every record that exists contributes one 128-bit record hash,
//   H(r) = (xxHash64(b, seed 1), xxHash64(b, seed 2)),  b = varint32(len(key)) key materialized,
// where key is the record's encoded Key and materialized its canonical JSON (Materialize). Deleted
// and never-created records contribute nothing. The record goes to one of kDigestBuckets buckets
// chosen by the top bits of xxHash64(key, seed 0) — buckets are ranges of the key-hash space, so a
// skewed id space (every id "dev-...") still spreads evenly. A bucket's hash is the sum, lane by
// lane modulo 2^64, of its records' hashes (a multiset hash: independent of order). The buckets are
// the leaves of a complete binary tree; an inner node is (xxHash64(l || r, seed 1),
// xxHash64(l || r, seed 2)) over the 32 bytes of its children; the root is the store digest.
//
// Collisions and false negatives: equal materialized states (same policy table and fork point)
// always give equal digests, so a digest difference is never a false alarm. Different states give
// equal digests only on a hash collision: for data nobody chose to collide, the chance is about
// 2^-64 per differing bucket or less (two 64-bit lanes; xxHash64 is not cryptographic, so a party
// that chooses record contents can construct collisions — digests prove convergence between
// cooperating sites, they do not authenticate). A collision is a false negative: Diff does not
// descend into a bucket whose hashes are equal, so it would miss the keys in it.
//
// Thread safety: value types.
#ifndef RECONCILE_DIGEST_H_
#define RECONCILE_DIGEST_H_

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reconcile/key.h"

namespace reconcile {

// Leaves of the digest tree. A power of two; part of the digest definition: never change it
// without changing kDigestVersion.
constexpr size_t kDigestBuckets = 4096;
constexpr uint32_t kDigestVersion = 1;

struct Hash128 {
  uint64_t hi = 0;
  uint64_t lo = 0;

  // 32 lower-case hex digits, hi first.
  std::string ToHex() const;

  friend auto operator<=>(const Hash128&, const Hash128&) = default;
  friend bool operator==(const Hash128&, const Hash128&) = default;
};

struct StoreDigest {
  // The root of the tree: equal for equal materialized states.
  Hash128 root;
  // Number of records that exist (contribute to the digest).
  uint64_t records = 0;
  // The kDigestBuckets leaf hashes, bucket 0 first.
  std::vector<Hash128> buckets;
};

// How a key differs between store a and store b (the arguments of Store::Diff).
enum class DiffKind : uint8_t {
  kOnlyInA = 1,    // the record exists in a only
  kOnlyInB = 2,    // the record exists in b only
  kDifferent = 3,  // it exists in both, materialized differently
};

struct KeyDiff {
  Key key;
  DiffKind kind = DiffKind::kDifferent;
  std::optional<std::string> a_json;  // a's materialized record, when it exists in a
  std::optional<std::string> b_json;  // b's materialized record, when it exists in b
};

}  // namespace reconcile

#endif  // RECONCILE_DIGEST_H_
