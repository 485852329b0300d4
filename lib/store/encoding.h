// lib/store/encoding.h — the on-disk encoding of a store: column families, keys and values.
//
// These bytes reach disk: never change them; a change needs a new kStoreFormatVersion.
//
//   column family "records"
//     key    := Key::Encode()                        (grammar in lib/core/key.cc)
//     value  := EncodeRecord(RecordState)            (grammar in lib/core/codec.cc)
//     merge  := operands are EncodeRecord(delta); merged value = EncodeRecord(join of all)
//               ("reconcile.RecordJoin"; optionally pruned, StoreOptions::prune_in_merge)
//
//   column family "watermarks"  — the highest hlc applied per origin site
//     key    := site_id                              (16 bytes, SiteId::bytes())
//     value  := hlc                                  (8 bytes, big-endian)
//     merge  := max                                  ("reconcile.U64Max")
//
//   column family "acks"  — the hlc up to which each site acknowledged this store's state
//     key    := site_id                              (16 bytes)
//     value  := hlc                                  (8 bytes, big-endian)
//     merge  := max                                  ("reconcile.U64Max")
//
//   column family "digest_index"  — which keys were ever written, by digest bucket
//     key    := bucket key_bytes                     bucket: 2 bytes big-endian, < kDigestBuckets
//                                                    (top 12 bits of xxHash64(key_bytes, seed 0)),
//                                                    key_bytes: Key::Encode()
//     value  := ""                                   (empty)
//
//   column family "meta"  (merge operator "reconcile.Meta": per key, see below)
//     "reconcile/format_version"  := u32 big-endian   (kStoreFormatVersion)
//     "reconcile/site_name"       := the owning site's name (UTF-8)
//     "reconcile/site_id"         := 16 bytes (SiteId of the name)
//     "reconcile/policy_table"    := PolicyTable::ToJson() text
//     "reconcile/fork_point"      := u64 big-endian hlc           merge: max
//     "reconcile/gc_horizon"      := u64 big-endian hlc           merge: max
//     "reconcile/rejected"        := u64 big-endian count         merge: add (mod 2^64)
//     "reconcile/digest_cache"    := digest_cache (below)
//     "user/" name                := the caller's bytes (MetaPut; name is 1..256 bytes)
//
//   digest_cache := u32 kDigestVersion  u64 sequence  u32 bucket_count
//                   bucket_count * ( u64 hash_hi  u64 hash_lo  u64 records )   (all big-endian)
//   The cache is valid only while the database's latest sequence number equals `sequence` (the
//   sequence number of the write that stored it).
//
// The default column family is unused and stays empty.
#ifndef RECONCILE_LIB_STORE_ENCODING_H_
#define RECONCILE_LIB_STORE_ENCODING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reconcile::store {

inline constexpr char kRecordsFamily[] = "records";
inline constexpr char kWatermarksFamily[] = "watermarks";
inline constexpr char kAcksFamily[] = "acks";
inline constexpr char kDigestIndexFamily[] = "digest_index";
inline constexpr char kMetaFamily[] = "meta";

inline constexpr std::string_view kMetaFormatVersion = "reconcile/format_version";
inline constexpr std::string_view kMetaSiteName = "reconcile/site_name";
inline constexpr std::string_view kMetaSiteId = "reconcile/site_id";
inline constexpr std::string_view kMetaPolicyTable = "reconcile/policy_table";
inline constexpr std::string_view kMetaForkPoint = "reconcile/fork_point";
inline constexpr std::string_view kMetaGcHorizon = "reconcile/gc_horizon";
inline constexpr std::string_view kMetaRejected = "reconcile/rejected";
inline constexpr std::string_view kMetaBulkCommits = "reconcile/bulk_commits";
inline constexpr std::string_view kMetaDigestCache = "reconcile/digest_cache";
inline constexpr std::string_view kMetaUserPrefix = "user/";

constexpr size_t kMaxMetaNameBytes = 256;

void PutU32(std::string* out, uint32_t v);
void PutU64(std::string* out, uint64_t v);
std::string EncodeU64(uint64_t v);
// Reads a big-endian integer; nullopt unless `bytes` has exactly the right size.
std::optional<uint32_t> DecodeU32(std::string_view bytes);
std::optional<uint64_t> DecodeU64(std::string_view bytes);
// Reads a big-endian u64 at *pos and advances it; false when too short.
bool ReadU64(std::string_view bytes, size_t* pos, uint64_t* v);
bool ReadU32(std::string_view bytes, size_t* pos, uint32_t* v);

// The digest_index key of an encoded record key.
std::string DigestIndexKey(uint32_t bucket, std::string_view encoded_key);
// The 2-byte prefix of a bucket in digest_index.
std::string DigestBucketPrefix(uint32_t bucket);

}  // namespace reconcile::store

#endif  // RECONCILE_LIB_STORE_ENCODING_H_
