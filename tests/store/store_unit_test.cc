// Store behaviour, one concern per test: opening (locked store, format version, site identity),
// Apply with meta, scans, watermarks, digests (order independence, cache), Diff on divergent
// pairs, tombstone GC (materialization unchanged, horizon rejects), concurrent writers, backups,
// stats, and the xxHash64 reference vectors the digest depends on.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include <rocksdb/db.h>

#include "lib/store/encoding.h"
#include "lib/store/xxhash64.h"
#include "reconcile/codec.h"
#include "tests/store/store_test_util.h"

namespace reconcile_test {
namespace {

using reconcile::Code;
using reconcile::Hlc;
using reconcile::MakeHlc;
using reconcile::MergeView;
using reconcile::MetaPut;
using reconcile::PolicyTable;
using reconcile::Status;

Delta CreateOf(const Key& key, const Json& doc, Hlc hlc, const SiteId& site) {
  auto r = reconcile::CreateDelta(doc, Stamp{hlc, site},
                                  key.kind() == KeyKind::kMeta ? PathRules::kMeta : PathRules::kTwin);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return Delta{key, std::move(r).value()};
}

// ---------------------------------------------------------------------------------------------
// Hashing

TEST(StoreHash, XxHash64MatchesReferenceVectors) {
  using reconcile::store::XxHash64;
  // Reference values from libxxhash 0.8.1 (XXH64).
  EXPECT_EQ(XxHash64("", 0), 0xef46db3751d8e999ULL);
  EXPECT_EQ(XxHash64("a", 0), 0xd24ec4f1a98c6e5bULL);
  EXPECT_EQ(XxHash64("abc", 0), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(XxHash64("Nobody inspects the spammish repetition", 0), 0xfbcea83c8a378bf1ULL);
  EXPECT_EQ(XxHash64("xxhash", 20141025), 0xb559b98d844e0635ULL);
  std::string bytes;
  for (int r = 0; r < 3; ++r) {
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  }
  EXPECT_EQ(XxHash64(bytes, 1), 0xa80257374b99ade3ULL);
  EXPECT_EQ(XxHash64(bytes.substr(0, 100), 0x9E3779B185EBCA87ULL), 0x278bda0ee3f586ULL);
}

TEST(StoreHash, DigestIsIndependentOfInsertionOrderAndSensitiveToContent) {
  reconcile::store::DigestBuilder a, b, c;
  a.Add("k1", "{\"x\":1}");
  a.Add("k2", "{}");
  b.Add("k2", "{}");
  b.Add("k1", "{\"x\":1}");
  c.Add("k1", "{\"x\":2}");
  c.Add("k2", "{}");
  EXPECT_EQ(a.Finish().root, b.Finish().root);
  EXPECT_NE(a.Finish().root, c.Finish().root);
  EXPECT_EQ(a.Finish().records, 2u);
  EXPECT_EQ(a.Finish().buckets.size(), reconcile::kDigestBuckets);
  // The key and the value are delimited: moving bytes between them changes the hash.
  EXPECT_NE(reconcile::store::RecordHash("ab", "c"), reconcile::store::RecordHash("a", "bc"));
}

TEST(StoreHash, KeyEncodingPrefixesUsedByKindScans) {
  // Scan(kind) seeks by these first bytes (lib/core/key.cc grammar); this test guards them.
  EXPECT_EQ(Key::Device("d")->Encode()[0], '\x01');
  EXPECT_EQ(Key::Module("d", "m")->Encode()[0], '\x01');
  EXPECT_EQ(Key::Meta("n", "k")->Encode()[0], '\x03');
}

// ---------------------------------------------------------------------------------------------
// Opening

TEST(StoreOpen, CreateNeedsASiteAndRecordsIt) {
  TempDir dir;
  StoreOptions o = TestOptions("");
  auto r = Store::Open(dir.Sub("s"), o);
  EXPECT_EQ(r.status().code(), Code::kInvalidInput) << r.status().ToString();
  o.site_name = "bad name!";
  EXPECT_EQ(Store::Open(dir.Sub("s2"), o).status().code(), Code::kInvalidInput);
  {
    auto s = MustOpen(dir.Sub("s"), TestOptions("eus-dr"));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->site_name(), "eus-dr");
    EXPECT_EQ(s->site_id(), SiteId::FromName("eus-dr"));
    EXPECT_EQ(s->policy_table().ToJson(), PolicyTable::Default().ToJson());
  }
  // Reopening without a name accepts the recorded one; another name is a conflict.
  {
    auto s = MustOpen(dir.Sub("s"), TestOptions(""));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->site_name(), "eus-dr");
  }
  auto other = Store::Open(dir.Sub("s"), TestOptions("weu-primary"));
  EXPECT_EQ(other.status().code(), Code::kConflict) << other.status().ToString();
  StoreOptions exclusive = TestOptions("eus-dr");
  exclusive.error_if_exists = true;
  EXPECT_EQ(Store::Open(dir.Sub("s"), exclusive).status().code(), Code::kConflict);
  StoreOptions no_create = TestOptions("eus-dr");
  no_create.create_if_missing = false;
  EXPECT_EQ(Store::Open(dir.Sub("missing"), no_create).status().code(), Code::kNotFound);
  StoreOptions bad_policy = TestOptions("eus-dr");
  bad_policy.policy_table_json = "{not json";
  EXPECT_EQ(Store::Open(dir.Sub("p"), bad_policy).status().code(), Code::kInvalidInput);
}

TEST(StoreOpen, SecondOpenInTheSameProcessIsLocked) {
  TempDir dir;
  auto first = MustOpen(dir.Sub("s"), TestOptions());
  ASSERT_NE(first, nullptr);
  auto second = Store::Open(dir.Sub("s"), TestOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kConflict);
  EXPECT_NE(second.status().message().find("store is locked"), std::string::npos)
      << second.status().ToString();
  first.reset();
  EXPECT_TRUE(Store::Open(dir.Sub("s"), TestOptions()).ok());
}

TEST(StoreOpen, OpenWhileAnotherProcessHoldsItIsLocked) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  { ASSERT_NE(MustOpen(path, TestOptions()), nullptr); }
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    execl(RECONCILE_CRASH_CHILD, RECONCILE_CRASH_CHILD, "hold", path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char buf[16] = {};
  ssize_t n = read(fds[0], buf, sizeof buf - 1);  // "ready\n" once the child holds the store
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, 5), "ready");
  auto r = Store::Open(path, TestOptions());
  EXPECT_EQ(r.status().code(), Code::kConflict) << r.status().ToString();
  EXPECT_NE(r.status().message().find("store is locked"), std::string::npos);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  EXPECT_TRUE(Store::Open(path, TestOptions()).ok());
}

TEST(StoreOpen, UnknownFormatVersionIsUnsupported) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  { ASSERT_NE(MustOpen(path, TestOptions()), nullptr); }
  {
    RawDb raw(path);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    std::string v;
    reconcile::store::PutU32(&v, 99);
    ASSERT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), raw.family(reconcile::store::kMetaFamily),
                              std::string(reconcile::store::kMetaFormatVersion), v).ok());
  }
  auto r = Store::Open(path, TestOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_NE(r.status().message().find("format version 99"), std::string::npos)
      << r.status().ToString();
  // The failed open released the lock.
  EXPECT_EQ(Store::Open(path, TestOptions()).status().code(), Code::kUnsupported);
}

TEST(StoreOpen, ForeignRocksDbIsNotTakenOver) {
  TempDir dir;
  const std::string path = dir.Sub("foreign");
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, path, &raw).ok());
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), "k", "v").ok());
    ASSERT_TRUE(raw->Close().ok());
    delete raw;
  }
  auto r = Store::Open(path, TestOptions());
  EXPECT_EQ(r.status().code(), Code::kInvalidInput) << r.status().ToString();
}

// ---------------------------------------------------------------------------------------------
// Writes and reads

TEST(StoreApply, BatchWithMetaWatermarksScansAndStats) {
  TempDir dir;
  auto store = MustOpen(dir.Sub("s"), TestOptions());
  ASSERT_NE(store, nullptr);
  const SiteId s0 = Sites()[0], s1 = Sites()[1], s2 = Sites()[2];
  Key d1 = *Key::Device("d1"), d2 = *Key::Device("d2"), m1 = *Key::Module("d1", "m1");
  Key meta = *Key::Meta("ns", "k");
  Key d0 = *Key::Device("d0");
  std::vector<Delta> batch{CreateOf(d1, {{"status", "enabled"}}, 100, s0),
                           CreateOf(m1, {{"x", 1}}, 150, s1),
                           CreateOf(meta, {{"a.b", true}}, 90, s2),
                           CreateOf(d2, {{"y", 2}}, 120, s1),
                           Delta{d2, reconcile::DeleteDelta(Stamp{130, s2})},
                           Delta{d1, RecordState()}};
  std::vector<MetaPut> metas{{"step", "3 done"}, {"offset/p0", "42"}};
  auto r = store->Apply(batch, metas);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->applied, batch.size());
  EXPECT_TRUE(r->rejected.empty());
  EXPECT_EQ(*store->GetMeta("step"), "3 done");
  EXPECT_EQ(*store->GetMeta("offset/p0"), "42");
  EXPECT_TRUE(store->GetMeta("nothing").status().IsNotFound());
  EXPECT_EQ(store->Apply({}, std::vector<MetaPut>{{"", "x"}}).status().code(), Code::kInvalidInput);

  EXPECT_EQ(*store->Get(d1), "{\"status\":\"enabled\"}");
  EXPECT_EQ(*store->Get(m1), "{\"x\":1}");
  EXPECT_EQ(*store->Get(meta), "{\"a.b\":true}");
  EXPECT_TRUE(store->Get(d2).status().IsNotFound());        // deleted
  EXPECT_TRUE(store->GetState(d2).ok());                    // but its state is there
  EXPECT_TRUE(store->Get(*Key::Device("zz")).status().IsNotFound());
  EXPECT_TRUE(store->GetState(*Key::Device("zz")).status().IsNotFound());

  // Watermarks: the greatest hlc per origin site.
  std::map<SiteId, Hlc> marks;
  for (const auto& w : store->Watermarks()) marks[w.site] = w.hlc;
  EXPECT_EQ(marks, (std::map<SiteId, Hlc>{{s0, 100}, {s1, 150}, {s2, 130}}));

  // Scans in key order, per kind.
  std::vector<Key> all, modules, metas_seen;
  ASSERT_TRUE(store->Scan(std::nullopt, [&](const Key& k, const RecordState&) {
    all.push_back(k);
    return Status::Ok();
  }).ok());
  EXPECT_EQ(all, (std::vector<Key>{d1, m1, d2, meta}));
  ASSERT_TRUE(store->Scan(KeyKind::kModule, [&](const Key& k, const RecordState&) {
    modules.push_back(k);
    return Status::Ok();
  }).ok());
  EXPECT_EQ(modules, std::vector<Key>{m1});
  ASSERT_TRUE(store->Scan(KeyKind::kMeta, [&](const Key& k, const RecordState&) {
    metas_seen.push_back(k);
    return Status::Ok();
  }).ok());
  EXPECT_EQ(metas_seen, std::vector<Key>{meta});
  // The encoded scan gives the bytes each state decodes from, for the same keys.
  std::vector<Key> encoded_keys;
  ASSERT_TRUE(store->ScanEncoded(KeyKind::kDevice, [&](const Key& k, std::string_view bytes) {
    encoded_keys.push_back(k);
    auto decoded = reconcile::DecodeRecord(bytes);
    EXPECT_TRUE(decoded.ok() && *decoded == *store->GetState(k)) << k.ToString();
    return Status::Ok();
  }).ok());
  EXPECT_EQ(encoded_keys, (std::vector<Key>{d1, d2}));
  std::vector<Key> existing;
  ASSERT_TRUE(store->ScanMaterialized(KeyKind::kDevice, [&](const Key& k, const std::string&) {
    existing.push_back(k);
    return Status::Ok();
  }).ok());
  EXPECT_EQ(existing, std::vector<Key>{d1});
  // The pull-style cursor walks the same records, from a snapshot taken when it is made.
  auto cursor = store->NewCursor();
  ASSERT_TRUE(store->Apply(std::vector<Delta>{CreateOf(d0, {{"late", 1}}, 500, s0)}).ok());
  std::vector<Key> walked;
  for (; cursor->Valid(); cursor->Next()) {
    walked.push_back(cursor->key());
    EXPECT_TRUE(cursor->state() == *store->GetState(cursor->key()));
    auto json = cursor->Materialized();
    ASSERT_TRUE(json.ok());
    EXPECT_EQ(json->has_value(), cursor->key() != d2);
  }
  EXPECT_TRUE(cursor->status().ok());
  EXPECT_EQ(walked, (std::vector<Key>{d1, m1, d2, meta}));  // not d0: written after the snapshot
  auto meta_cursor = store->NewCursor(KeyKind::kMeta);
  ASSERT_TRUE(meta_cursor->Valid());
  EXPECT_EQ(meta_cursor->key(), meta);
  meta_cursor->Next();
  EXPECT_FALSE(meta_cursor->Valid());
  EXPECT_TRUE(meta_cursor->status().ok());

  // A visitor's error stops the scan and comes back.
  int visits = 0;
  Status stop = store->Scan(std::nullopt, [&](const Key&, const RecordState&) {
    ++visits;
    return Status::Conflict("stop");
  });
  EXPECT_TRUE(stop.IsConflict());
  EXPECT_EQ(visits, 1);

  auto stats = store->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->devices.records, 3u);  // d0, d1, d2 (deleted)
  EXPECT_EQ(stats->devices.existing, 2u);
  EXPECT_EQ(stats->modules.records, 1u);
  EXPECT_EQ(stats->meta_records.existing, 1u);
  EXPECT_GT(stats->devices.encoded_bytes, 0u);
  EXPECT_GT(stats->devices.covers, 0u);
  EXPECT_EQ(stats->watermarks.size(), 3u);
  EXPECT_EQ(stats->rejected_below_horizon, 0u);
}

TEST(StoreApply, PolicyTableAndForkPointAreStoredAndUsed) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  Key d = *Key::Device("d");
  const SiteId a = Sites()[0], b = Sites()[1];
  {
    auto store = MustOpen(path, TestOptions());
    ASSERT_NE(store, nullptr);
    // Default table: "disabled" beats "enabled" after the fork point, even when older.
    std::vector<Delta> batch{CreateOf(d, {{"status", "enabled"}}, 10, a)};
    // Patches (no covers, unlike a set): both sites' values stay visible to the policy.
    auto dis = reconcile::PatchDelta(Json{{"status", "disabled"}}, Stamp{20, b});
    auto en = reconcile::PatchDelta(Json{{"status", "enabled"}}, Stamp{30, a});
    batch.push_back({d, *dis});
    batch.push_back({d, *en});
    ASSERT_TRUE(store->Apply(batch).ok());
    EXPECT_EQ(*store->Get(d), "{\"status\":\"disabled\"}");
    auto before = store->Digest();
    // With the fork point after the disable, only the enable counts.
    ASSERT_TRUE(store->SetForkPoint(25).ok());
    EXPECT_EQ(store->fork_point(), 25u);
    EXPECT_EQ(*store->Get(d), "{\"status\":\"enabled\"}");
    ASSERT_TRUE(store->SetForkPoint(5).ok());  // never goes back
    EXPECT_EQ(store->fork_point(), 25u);
    EXPECT_NE(store->Digest()->root, before->root);
    ASSERT_TRUE(store->SetPolicyTable(PolicyTable()).ok());  // lww everywhere
    EXPECT_EQ(*store->Get(d), "{\"status\":\"enabled\"}");
  }
  auto store = MustOpen(path, TestOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->fork_point(), 25u);
  EXPECT_EQ(store->policy_table().ToJson(), PolicyTable().ToJson());
}

// ---------------------------------------------------------------------------------------------
// Digests and Diff

// Two stores fed the same deltas in different orders (with repeats, in different batches)
// have equal digests.
TEST(StoreDigest, SameDeltasInAnyOrderGiveEqualDigests) {
  // Each case opens two stores (~20 ms): capped at 100 cases.
  CheckCapped(100, [] {
    TempDir dir;
    auto a = MustOpen(dir.Sub("a"), TestOptions("weu-primary"));
    auto b = MustOpen(dir.Sub("b"), TestOptions("neu-secondary"));
    RC_ASSERT(a && b);
    std::vector<Delta> deltas = *rc::gen::container<std::vector<Delta>>(
        static_cast<size_t>(Pick(1, 20)), GenDelta());
    std::vector<size_t> order = *GenDeliveryOrder(deltas.size());
    RC_ASSERT(a->Apply(deltas).ok());
    std::vector<Delta> batch;
    for (size_t i : order) {
      batch.push_back(deltas[i]);
      if (Chance(30)) {
        RC_ASSERT(b->Apply(batch).ok());
        batch.clear();
      }
    }
    RC_ASSERT(b->Apply(batch).ok());
    if (Chance(50)) RC_ASSERT(b->Flush().ok() && b->Compact().ok());
    auto da = a->Digest();
    auto db = b->Digest();
    RC_ASSERT(da.ok() && db.ok());
    RC_ASSERT(da->root == db->root);
    RC_ASSERT(da->records == db->records);
    RC_ASSERT(Store::Diff(*a, *b)->empty());
  });
}

TEST(StoreDigest, CacheSurvivesReopenAndFollowsWrites) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  reconcile::Hash128 first;
  {
    auto store = MustOpen(path, TestOptions());
    ASSERT_NE(store, nullptr);
    std::vector<Delta> batch;
    for (int i = 0; i < 500; ++i) {
      batch.push_back(CreateOf(*Key::Device("dev-" + std::to_string(i)), {{"n", i}}, 1000 + i, Sites()[i % 3]));
    }
    ASSERT_TRUE(store->Apply(batch).ok());
    auto d = store->Digest();
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->records, 500u);
    first = d->root;
  }
  {
    // The cache stored at close claims the database's latest sequence number, so the next open
    // uses it instead of rescanning.
    RawDb raw(path);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    std::string cache;
    ASSERT_TRUE(raw.db()->Get(rocksdb::ReadOptions(), raw.family(reconcile::store::kMetaFamily),
                              std::string(reconcile::store::kMetaDigestCache), &cache).ok());
    size_t pos = 0;
    uint32_t version = 0;
    uint64_t sequence = 0;
    ASSERT_TRUE(reconcile::store::ReadU32(cache, &pos, &version));
    ASSERT_TRUE(reconcile::store::ReadU64(cache, &pos, &sequence));
    EXPECT_EQ(version, reconcile::kDigestVersion);
    EXPECT_EQ(sequence, raw.db()->GetLatestSequenceNumber());
    EXPECT_EQ(cache.size(), 16 + reconcile::kDigestBuckets * 24);
  }
  auto store = MustOpen(path, TestOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Digest()->root, first);
  // One changed record changes the root and exactly one bucket.
  auto before = store->Digest();
  std::vector<Delta> one{CreateOf(*Key::Device("dev-7"), {{"n", -1}}, 5000, Sites()[0])};
  ASSERT_TRUE(store->Apply(one).ok());
  auto after = store->Digest();
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->root, first);
  size_t changed = 0;
  for (size_t i = 0; i < reconcile::kDigestBuckets; ++i) changed += before->buckets[i] != after->buckets[i];
  EXPECT_EQ(changed, 1u);
  // Writing the same thing again changes nothing.
  ASSERT_TRUE(store->Apply(one).ok());
  EXPECT_EQ(store->Digest()->root, after->root);
}

// Random divergent pairs over many keys: Diff reports exactly the keys that differ, and how.
TEST(StoreDiff, FindsExactlyTheDifferingKeys) {
  // Each case opens two stores and writes up to ~600 records: capped at 60 cases.
  CheckCapped(60, [] {
    TempDir dir;
    auto a = MustOpen(dir.Sub("a"), TestOptions("weu-primary"));
    auto b = MustOpen(dir.Sub("b"), TestOptions("neu-secondary"));
    RC_ASSERT(a && b);
    const int n = Pick(1, 400);
    std::vector<Delta> common;
    for (int i = 0; i < n; ++i) {
      common.push_back(CreateOf(*Key::Device("dev-" + std::to_string(i)), {{"n", i}}, 1000, Sites()[0]));
    }
    RC_ASSERT(a->Apply(common).ok());
    RC_ASSERT(b->Apply(common).ok());
    std::map<Key, reconcile::DiffKind> expected;
    const int changes = Pick(0, 12);
    for (int c = 0; c < changes; ++c) {
      const bool in_a = Chance(50);
      Store& target = in_a ? *a : *b;
      const int what = Pick(0, 2);
      const int i = Pick(0, n + 20);  // past n: a key the other store does not have
      Key key = *Key::Device("dev-" + std::to_string(i));
      std::vector<Delta> d;
      if (what == 0 && i < n) {
        d.push_back(Delta{key, reconcile::DeleteDelta(Stamp{Hlc(2000 + c), Sites()[1]})});
      } else {
        d.push_back(CreateOf(key, {{"n", -c - 1}}, Hlc(2000 + c), Sites()[2]));
      }
      RC_ASSERT(target.Apply(d).ok());
    }
    // The expectation, from what the stores show (checked against the model elsewhere).
    std::map<Key, std::string> ma = MaterializeStore(*a), mb = MaterializeStore(*b);
    for (const auto& [k, j] : ma) {
      auto it = mb.find(k);
      if (it == mb.end()) expected.emplace(k, reconcile::DiffKind::kOnlyInA);
      else if (it->second != j) expected.emplace(k, reconcile::DiffKind::kDifferent);
    }
    for (const auto& [k, j] : mb) {
      if (!ma.count(k)) expected.emplace(k, reconcile::DiffKind::kOnlyInB);
    }
    auto diff = Store::Diff(*a, *b);
    RC_ASSERT(diff.ok());
    std::map<Key, reconcile::DiffKind> actual;
    for (const auto& d : *diff) actual.emplace(d.key, d.kind);
    RC_ASSERT(actual == expected);
    RC_ASSERT((a->Digest()->root == b->Digest()->root) == expected.empty());
    // After merging both ways the stores converge: equal digests, no differences.
    RC_ASSERT(a->MergeFrom(*b).ok());
    RC_ASSERT(b->MergeFrom(*a).ok());
    RC_ASSERT(a->Digest()->root == b->Digest()->root);
    RC_ASSERT(Store::Diff(*a, *b)->empty());
  });
}

// ---------------------------------------------------------------------------------------------
// Tombstone GC

// Deltas are applied, every site acknowledges a horizon H inside the generated stamp range, GC
// runs, and then more deltas (all newer than H) arrive, directly and by MergeFrom from a store
// that never collected. At every point the GC'd store materializes exactly what the model (the
// plain join of every delta, never collected) materializes.
TEST(StoreGc, NeverChangesMaterializationWhenStable) {
  // Each case opens two stores: capped at 100 cases.
  CheckCapped(100, [] {
    TempDir dir;
    auto a = MustOpen(dir.Sub("a"), TestOptions("weu-primary"));
    auto b = MustOpen(dir.Sub("b"), TestOptions("neu-secondary"));
    RC_ASSERT(a && b);
    Model model;
    std::vector<Delta> early = *rc::gen::container<std::vector<Delta>>(
        static_cast<size_t>(Pick(1, 25)), GenDelta());
    RC_ASSERT(a->Apply(early).ok());
    RC_ASSERT(b->Apply(early).ok());
    ApplyToModel(&model, early);

    PolicyTable table = a->policy_table();
    MergeView view{&table, 0};
    auto before = MaterializeStore(*a);
    RC_ASSERT(before == MaterializeModel(model, view));
    auto digest_before = a->Digest();

    const Hlc horizon = MakeHlc(kBaseMillis + static_cast<uint64_t>(Pick(0, 4)), static_cast<uint64_t>(Pick(0, 2)));
    for (const SiteId& s : Sites()) RC_ASSERT(a->Acknowledge(s, horizon).ok());
    auto gc = a->CollectGarbage();
    RC_ASSERT(gc.ok());
    RC_ASSERT(gc->horizon == horizon);
    RC_ASSERT(a->gc_horizon() == horizon);
    RC_TAG(gc->covers_dropped > 0 ? "covers dropped" : "no cover dropped");
    RC_TAG(gc->records_removed > 0 ? "records removed" : "no record removed");
    RC_ASSERT(MaterializeStore(*a) == before);
    RC_ASSERT(a->Digest()->root == digest_before->root);

    // Later writes, all newer than the horizon.
    std::vector<Delta> late;
    const int n = Pick(0, 15);
    for (int i = 0; i < n; ++i) {
      const Key& key = KeyPool()[static_cast<size_t>(Pick(0, static_cast<int>(KeyPool().size()) - 1))];
      Universe u = UniverseOf(key.kind());
      late.push_back(Delta{key, DeltaOf(*GenOp(u, GenStampAbove(horizon)), u)});
    }
    size_t split = static_cast<size_t>(Pick(0, n));
    std::vector<Delta> direct(late.begin(), late.begin() + split);
    std::vector<Delta> via_b(late.begin() + split, late.end());
    auto r = a->Apply(direct);
    RC_ASSERT(r.ok() && r->rejected.empty());
    RC_ASSERT(b->Apply(via_b).ok());
    RC_ASSERT(a->MergeFrom(*b).ok());
    ApplyToModel(&model, late);
    auto after = MaterializeStore(*a);
    if (after != MaterializeModel(model, view)) {
      RC_FAIL("after GC and later writes\nexpected:\n" + DescribeMaterialized(MaterializeModel(model, view)) +
              "actual:\n" + DescribeMaterialized(after));
    }
    // Collecting again (nothing new is stable) changes nothing either.
    auto again = a->CollectGarbage();
    RC_ASSERT(again.ok());
    RC_ASSERT(MaterializeStore(*a) == after);
  });
}

TEST(StoreGc, WritesAtOrBelowTheHorizonAreRejectedAndCounted) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  auto store = MustOpen(path, TestOptions());
  ASSERT_NE(store, nullptr);
  const SiteId a = Sites()[0], b = Sites()[1], c = Sites()[2];
  Key d = *Key::Device("d"), e = *Key::Device("e");
  std::vector<Delta> batch{CreateOf(d, {{"x", 1}}, 100, a), CreateOf(e, {{"y", 1}}, 110, b),
                           Delta{e, reconcile::DeleteDelta(Stamp{120, c})}};
  ASSERT_TRUE(store->Apply(batch).ok());

  // Site c has written but not acknowledged: nothing is stable, nothing is collected.
  ASSERT_TRUE(store->Acknowledge(b, 200).ok());
  auto gc = store->CollectGarbage();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->horizon, 0u);
  EXPECT_EQ(gc->covers_dropped, 0u);

  ASSERT_TRUE(store->Acknowledge(c, 150).ok());
  gc = store->CollectGarbage();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->horizon, 150u);  // min over the acks of b (200) and c (150)
  EXPECT_EQ(gc->records_removed, 1u);  // e: deleted, its cover collected
  EXPECT_GE(gc->covers_dropped, 2u);
  EXPECT_TRUE(store->GetState(e).status().IsNotFound());
  EXPECT_EQ(*store->Get(d), "{\"x\":1}");

  // A late write below the horizon would bring e back: rejected, counted, not applied.
  std::vector<Delta> late{CreateOf(e, {{"y", 2}}, 115, b), CreateOf(d, {{"x", 2}}, 300, a),
                          CreateOf(d, {{"x", 3}}, 150, a)};
  auto r = store->Apply(late);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->applied, 1u);
  EXPECT_EQ(r->rejected, (std::vector<size_t>{0, 2}));
  EXPECT_TRUE(store->Get(e).status().IsNotFound());
  EXPECT_EQ(*store->Get(d), "{\"x\":2}");
  EXPECT_EQ(store->Stats()->rejected_below_horizon, 2u);
  EXPECT_EQ(store->Stats()->gc_horizon, 150u);

  // The horizon is persistent and replicated by MergeFrom.
  store.reset();
  store = MustOpen(path, TestOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->gc_horizon(), 150u);
  auto other = MustOpen(dir.Sub("o"), TestOptions("neu-secondary"));
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->MergeFrom(*store).ok());
  EXPECT_EQ(other->gc_horizon(), 150u);
  EXPECT_EQ(other->Apply(std::vector<Delta>{CreateOf(e, {{"y", 2}}, 115, b)})->rejected.size(), 1u);
  // up_to caps the horizon.
  ASSERT_TRUE(store->Acknowledge(b, 1000).ok());
  ASSERT_TRUE(store->Acknowledge(c, 1000).ok());
  reconcile::GcOptions capped;
  capped.up_to = 400;
  EXPECT_EQ(store->CollectGarbage(capped)->horizon, 400u);
}

// ---------------------------------------------------------------------------------------------
// Concurrency

TEST(StoreConcurrency, ThreadsConvergeToTheSingleThreadState) {
  // Pre-generated batches (rapidcheck generators, fixed seed) split over four threads, against
  // the same batches applied by one thread.
  std::vector<std::vector<Delta>> batches;
  rc::Random random(20261126);
  for (int i = 0; i < 400; ++i) {
    batches.push_back(GenBatch(6)(random.split(), 30).value());
  }
  TempDir dir;
  auto concurrent = MustOpen(dir.Sub("c"), TestOptions());
  auto single = MustOpen(dir.Sub("s"), TestOptions());
  ASSERT_TRUE(concurrent && single);
  for (const auto& b : batches) ASSERT_TRUE(single->Apply(b).ok());

  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < batches.size(); i += 4) {
        if (!concurrent->Apply(batches[i]).ok()) failed = true;
      }
    });
  }
  // Readers, digests and an ack run alongside the writers.
  threads.emplace_back([&] {
    for (int i = 0; i < 20; ++i) {
      if (!concurrent->Digest().ok()) failed = true;
      if (!concurrent->Acknowledge(Sites()[3], Hlc(i)).ok()) failed = true;
      for (const Key& k : KeyPool()) {
        auto r = concurrent->GetState(k);
        if (!r.ok() && !r.status().IsNotFound()) failed = true;
      }
    }
  });
  for (auto& th : threads) th.join();
  EXPECT_FALSE(failed);
  for (const Key& k : KeyPool()) {
    auto a = concurrent->GetState(k);
    auto b = single->GetState(k);
    ASSERT_EQ(a.ok(), b.ok()) << k.ToString();
    if (a.ok()) {
      EXPECT_TRUE(*a == *b) << k.ToString();
    }
  }
  EXPECT_EQ(concurrent->Digest()->root, single->Digest()->root);
  EXPECT_EQ(concurrent->Watermarks(), single->Watermarks());
}

// ---------------------------------------------------------------------------------------------
// Backups

TEST(StoreBackup, CreateListVerifyRestoreAndDetectCorruption) {
  TempDir dir;
  const std::string path = dir.Sub("s"), backups = dir.Sub("backups");
  Key d = *Key::Device("d");
  auto store = MustOpen(path, TestOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(Store::ListBackups(backups).status().IsNotFound());
  ASSERT_TRUE(store->Apply(std::vector<Delta>{CreateOf(d, {{"v", 1}}, 100, Sites()[0])}).ok());
  auto b1 = store->CreateBackup(backups);
  ASSERT_TRUE(b1.ok()) << b1.status().ToString();
  ASSERT_TRUE(store->Apply(std::vector<Delta>{CreateOf(d, {{"v", 2}}, 200, Sites()[0])},
                           std::vector<MetaPut>{{"step", "2"}}).ok());
  auto b2 = store->CreateBackup(backups);
  ASSERT_TRUE(b2.ok());
  auto list = Store::ListBackups(backups);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, b1->id);
  EXPECT_EQ((*list)[1].id, b2->id);
  EXPECT_GT((*list)[1].files, 0u);
  EXPECT_TRUE(Store::VerifyBackup(backups, b1->id).ok());
  EXPECT_TRUE(Store::VerifyBackup(backups, 99).IsNotFound());

  ASSERT_TRUE(store->Apply(std::vector<Delta>{CreateOf(d, {{"v", 3}}, 300, Sites()[0])}).ok());
  EXPECT_TRUE(Store::RestoreBackup(backups, b1->id, path).IsConflict());  // open
  store.reset();
  ASSERT_TRUE(Store::RestoreBackup(backups, b1->id, path).ok());
  store = MustOpen(path, TestOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->Get(d), "{\"v\":1}");
  EXPECT_TRUE(store->GetMeta("step").status().IsNotFound());
  store.reset();
  ASSERT_TRUE(Store::RestoreBackup(backups, 0, dir.Sub("fresh")).ok());  // latest, new dir
  store = MustOpen(dir.Sub("fresh"), TestOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->Get(d), "{\"v\":2}");
  EXPECT_EQ(*store->GetMeta("step"), "2");

  // Damage a file of backup 2 (private files hold its table files): verification fails.
  bool damaged = false;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(backups)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".sst") continue;
    if (entry.path().string().find("shared") == std::string::npos &&
        entry.path().string().find("private") == std::string::npos) continue;
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x5a');
    f.put('\xa5');
    damaged = true;
  }
  ASSERT_TRUE(damaged);
  EXPECT_TRUE(Store::VerifyBackup(backups, b2->id).IsCorruption());
}

}  // namespace
}  // namespace reconcile_test

namespace reconcile_test {
namespace {

using namespace reconcile;  // NOLINT: the test below uses many of its names

// MergeFrom skips the records this store already holds byte for byte: merging a store into its
// own copy writes no record (only the site marks), and a changed record is still merged.
TEST(StoreMerge, ARecordHeldByteForByteIsNotWrittenAgain) {
  TempDir dir;
  auto a = MustOpen(dir.Sub("a"), TestOptions("site-a"));
  auto b = MustOpen(dir.Sub("b"), TestOptions("site-b"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const Stamp stamp{MakeHlc(1'700'000'000'000, 0), SiteId::FromName("site-a")};
  std::vector<Delta> deltas;
  for (int i = 0; i < 2000; ++i) {
    Result<Key> key = Key::Device("dev-" + std::to_string(i));
    ASSERT_TRUE(key.ok());
    nlohmann::json doc = {{"status", "enabled"}, {"tags", {{"n", i}, {"zone", "eu"}}}};
    Result<RecordState> state = CreateDelta(doc, stamp);
    ASSERT_TRUE(state.ok());
    deltas.push_back({*key, *state});
  }
  ASSERT_TRUE(a->Apply(deltas).ok());
  ASSERT_TRUE(b->MergeFrom(*a).ok());
  ASSERT_TRUE(b->Compact().ok());
  Result<StoreStats> before = b->Stats();
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(b->MergeFrom(*a).ok());
  Result<StoreStats> after = b->Stats();
  ASSERT_TRUE(after.ok());
  // 2,000 records of ~60 bytes would put well over 100 KB in the memtable.
  EXPECT_LT(after->memtable_bytes - before->memtable_bytes, 16u << 10)
      << before->memtable_bytes << " -> " << after->memtable_bytes;
  EXPECT_EQ(after->devices.records, 2000u);

  // One record changed at a: merged into b, and only it.
  Result<RecordState> patch =
      PatchDelta({{"tags", {{"zone", "us"}}}}, Stamp{stamp.hlc + 1, stamp.site});
  ASSERT_TRUE(patch.ok());
  ASSERT_TRUE(a->Apply({{Delta{deltas[7].key, *patch}}}).ok());
  ASSERT_TRUE(b->MergeFrom(*a).ok());
  Result<StoreDigest> da = a->Digest();
  Result<StoreDigest> db = b->Digest();
  ASSERT_TRUE(da.ok() && db.ok());
  EXPECT_TRUE(da->root == db->root);
  EXPECT_EQ(da->records, db->records);
}

}  // namespace
}  // namespace reconcile_test
