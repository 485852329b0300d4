// StoreWriter: batches written on a thread of their own end as Store::Apply of the same deltas
// ends (the same digest, the same records), meta goes with the batch it was given to, and a
// store error stops the writes and comes back from every later call.
#include "reconcile/store_writer.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "reconcile/operations.h"
#include "tests/store/store_test_util.h"

namespace reconcile {
namespace {

// Deltas for `n` writes to 300 devices (most written several times, at rising stamps, from two
// sites), so that batches hold repeats of one key and the joins matter.
std::vector<Delta> Writes(int n) {
  std::vector<Delta> out;
  const SiteId sites[] = {SiteId::FromName("weu-primary"), SiteId::FromName("neu-secondary")};
  for (int i = 0; i < n; ++i) {
    const Key key = Key::Device("dev-" + std::to_string(i * 7 % 300)).value();
    const Stamp stamp{MakeHlc(1'700'000'000'000 + static_cast<uint64_t>(i), 0), sites[i % 2]};
    nlohmann::json doc = {{"status", i % 3 == 0 ? "disabled" : "enabled"},
                          {"tags", {{"wave", i % 5}, {"site", i % 2 ? "neu" : "weu"}}}};
    Result<RecordState> delta =
        i % 11 == 0 ? Result<RecordState>(DeleteDelta(stamp)) : CreateDelta(doc, stamp);
    EXPECT_TRUE(delta.ok());
    out.push_back(Delta{key, std::move(*delta)});
  }
  return out;
}

std::map<std::string, std::string> Records(const Store& store) {
  std::map<std::string, std::string> out;
  Status s = store.ScanMaterialized(std::nullopt, [&](const Key& key, const std::string& json) {
    out[key.ToString()] = json;
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(StoreWriter, EndsAsApplyOfTheSameDeltas) {
  const std::vector<Delta> writes = Writes(2500);
  reconcile_test::TempDir dir;
  auto direct = reconcile_test::MustOpen(dir.Sub("direct"), reconcile_test::TestOptions());
  ASSERT_TRUE(direct);
  ASSERT_TRUE(direct->Apply(writes).ok());
  const auto want = Records(*direct);
  const auto want_digest = direct->Digest();
  ASSERT_TRUE(want_digest.ok());
  ASSERT_GT(want.size(), 250u);

  for (size_t batch : {size_t{1}, size_t{7}, size_t{1000}, size_t{5000}}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    auto store = reconcile_test::MustOpen(dir.Sub("b" + std::to_string(batch)),
                                          reconcile_test::TestOptions());
    ASSERT_TRUE(store);
    StoreWriter writer(*store, batch);
    writer.AddMeta({"reader/first", "with the first batch"});
    for (const Delta& d : writes) ASSERT_TRUE(writer.Add(d.key, d.state).ok());
    ASSERT_TRUE(writer.Flush({{"reader/done", "yes"}}).ok());
    EXPECT_EQ(writer.written(), writes.size());
    EXPECT_EQ(writer.below_horizon(), 0u);
    EXPECT_EQ(Records(*store), want);
    auto digest = store->Digest();
    ASSERT_TRUE(digest.ok());
    EXPECT_EQ(digest->root, want_digest->root);
    EXPECT_EQ(*store->GetMeta("reader/first"), "with the first batch");
    EXPECT_EQ(*store->GetMeta("reader/done"), "yes");
  }
}

// A batch the writer hands over is written whole: with a batch of 2, each batch writes one record
// and deletes it, and the store, read while batches are in flight, never shows a record.
TEST(StoreWriter, BatchesAreWrittenWhole) {
  reconcile_test::TempDir dir;
  auto store = reconcile_test::MustOpen(dir.Sub("s"), reconcile_test::TestOptions());
  ASSERT_TRUE(store);
  StoreWriter writer(*store, 2);
  const SiteId site = SiteId::FromName("weu-primary");
  for (int i = 0; i < 200; ++i) {
    const Key key = Key::Device("dev-" + std::to_string(i)).value();
    ASSERT_TRUE(
        writer.Add(key, *CreateDelta({{"status", "enabled"}}, Stamp{MakeHlc(1000 + i, 0), site}))
            .ok());
    ASSERT_TRUE(writer.Add(key, DeleteDelta(Stamp{MakeHlc(1000 + i, 1), site})).ok());
    // Every record written so far is deleted: no batch was seen half written.
    EXPECT_TRUE(Records(*store).empty()) << "after " << i;
    EXPECT_LE(writer.written(), static_cast<uint64_t>(2 * (i + 1)));
  }
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(writer.written(), 400u);
  EXPECT_TRUE(Records(*store).empty());
}

TEST(StoreWriter, AStoreErrorStopsTheWritesAndComesBackFromEveryCall) {
  reconcile_test::TempDir dir;
  {
    auto created = reconcile_test::MustOpen(dir.Sub("s"), reconcile_test::TestOptions());
    ASSERT_TRUE(created);
  }
  StoreOptions read_only = reconcile_test::TestOptions();
  read_only.read_only = true;
  auto store = reconcile_test::MustOpen(dir.Sub("s"), read_only);
  ASSERT_TRUE(store);
  const std::vector<Delta> writes = Writes(10);
  StoreWriter writer(*store, 3);
  std::vector<Status> got;
  for (const Delta& d : writes) got.push_back(writer.Add(d.key, d.state));
  // The first batch is handed over at the third Add; its error surfaces when the second batch is
  // handed over (the sixth), and from every call after it.
  for (size_t i = 0; i < 5; ++i) EXPECT_TRUE(got[i].ok()) << i;
  for (size_t i = 5; i < got.size(); ++i) {
    EXPECT_EQ(got[i].code(), Code::kUnsupported) << i << ": " << got[i].ToString();
  }
  const Status flushed = writer.Flush({{"reader/done", "yes"}});
  EXPECT_EQ(flushed.code(), Code::kUnsupported);
  EXPECT_EQ(writer.written(), 0u);
  EXPECT_TRUE(Records(*store).empty());
}

}  // namespace
}  // namespace reconcile
