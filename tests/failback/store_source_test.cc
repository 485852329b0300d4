// The store source's edge filter: the plan's first pass may skip, before materializing, every
// record that cannot be an edge device. A plan read through the store source must be the plan
// read through a source with no filter (the same records, materialized in memory), byte for byte,
// also when sites disagree on capabilities.iotEdge and children point at scopes only the merged
// state knows.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lib/failback/store_source.h"
#include "lib/iothub/plan_internal.h"
#include "reconcile/codec.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"
#include "reconcile/store.h"
#include "tests/failback/test_util.h"
#include "tests/store/store_test_util.h"

namespace reconcile::failback_test {
namespace {

using failback::MakeStoreSource;
using failback::StoreObserver;
using failback::StoreSourceFactory;
using nlohmann::json;

Key Dev(const std::string& id) { return Key::Device(id).value(); }

Delta Create(const Key& key, const json& doc, Hlc hlc, const SiteId& site) {
  Result<RecordState> r = CreateDelta(doc, Stamp{hlc, site});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return Delta{key, r.ok() ? std::move(*r) : RecordState()};
}

Delta SetEdge(const Key& key, bool edge, Hlc hlc, const SiteId& site) {
  Result<Path> path = Path::FromSegments({"capabilities", "iotEdge"});
  Result<RecordState> r = SetDelta(*path, edge, Stamp{hlc, site});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return Delta{key, r.ok() ? std::move(*r) : RecordState()};
}

json Device(bool edge, const std::string& scope, const std::vector<std::string>& parents) {
  json doc = {{"status", "enabled"},
              {"authentication", {{"type", "sas"}}},
              {"capabilities", {{"iotEdge", edge}}},
              {"tags", {{"site", "a"}}},
              {"properties", {{"desired", {{"rate", 5}}}}}};
  if (!scope.empty()) doc["deviceScope"] = scope;
  if (!parents.empty()) doc["parentScopes"] = parents;
  return doc;
}

StoreOptions Options() {
  StoreOptions options;
  options.site_name = "site-a";
  return options;
}

// Every file of a plan folder, by name.
std::map<std::string, std::string> Folder(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    out[entry.path().filename().string()] = ReadAll(entry.path().string());
  }
  return out;
}

// Fills a store whose edge devices only the merged state knows (the primary export is empty but
// for one plain device), with sites that disagree on which devices are edge devices.
void Fill(Store& store) {
  const SiteId a = SiteId::FromName("site-a");
  const SiteId b = SiteId::FromName("site-b");
  const std::string kScope = "ms-azure-iot-edge://";
  std::vector<Delta> deltas;
  // zz-edge: an edge device whose scope its child (sorted before it) names, below nn-late.
  deltas.push_back(Create(Dev("zz-edge"),
                          Device(true, kScope + "zz-edge-111", {kScope + "nn-late-333"}), 1000, a));
  deltas.push_back(Create(
      Dev("aa-child"), Device(false, kScope + "zz-edge-111", {kScope + "zz-edge-111"}), 1000, a));
  // mm-flip: an edge device on one site, made a plain device later on the other.
  deltas.push_back(Create(Dev("mm-flip"), Device(true, kScope + "mm-flip-222", {}), 1000, a));
  deltas.push_back(SetEdge(Dev("mm-flip"), false, 2000, b));
  // nn-late: a plain device, made an edge device later (the parent of zz-edge).
  deltas.push_back(Create(Dev("nn-late"), Device(false, kScope + "nn-late-333", {}), 1000, a));
  deltas.push_back(SetEdge(Dev("nn-late"), true, 2000, b));
  deltas.push_back(Create(Dev("ab-grandchild"),
                          Device(false, kScope + "nn-late-333", {kScope + "nn-late-333"}), 1000,
                          b));
  // A module of an edge device, a plain device, and a deleted edge device.
  Result<Key> module = Key::Module("zz-edge", "filter");
  deltas.push_back(Create(*module, {{"authentication", {{"type", "sas"}}}}, 1000, a));
  deltas.push_back(Create(Dev("plain"), Device(false, "", {}), 1000, a));
  deltas.push_back(Create(Dev("gone-edge"), Device(true, kScope + "gone-edge-444", {}), 1000, a));
  deltas.push_back(Delta{Dev("gone-edge"), DeleteDelta(Stamp{3000, b})});
  Result<ApplyResult> applied = store.Apply(deltas);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
}

// A store at `path` holding Fill's records; an error when it cannot be opened or filled.
Result<std::unique_ptr<Store>> OpenFilled(const std::filesystem::path& path) {
  Result<std::unique_ptr<Store>> store = Store::Open(path, Options());
  if (!store.ok()) return store.status();
  Fill(**store);
  if (::testing::Test::HasFailure()) return Status::Internal("filling the store failed");
  return store;
}

// Every record of the store as (key, encoded state), in key order; empty on an error.
std::vector<std::pair<std::string, std::string>> EveryRecord(const Store& store) {
  std::vector<std::pair<std::string, std::string>> out;
  Status scanned = store.Scan(std::nullopt, [&](const Key& key, const RecordState& state) {
    out.emplace_back(key.ToString(), EncodeRecord(state));
    return Status::Ok();
  });
  if (!scanned.ok()) out.clear();
  return out;
}

// Reads a source to its end: its error, if any.
Status Drain(MergedSource& src) {
  MergedRecord rec{Dev("x"), std::nullopt, 0};
  while (true) {
    Result<bool> got = src.Next(&rec);
    if (!got.ok()) return got.status();
    if (!*got) return Status::Ok();
  }
}

TEST(StoreSource, EdgeFilterKeepsEveryEdgeDeviceAndSkipsModules) {
  TempDir dir;
  const int rc = InChild([&]() -> int {
    Result<std::unique_ptr<Store>> store = OpenFilled(dir / "store");
    if (!store.ok()) return 2;
    std::unique_ptr<MergedSource> src = MakeStoreSource(**store);
    auto* filter = dynamic_cast<iothub::EdgeScanFilter*>(src.get());
    if (filter == nullptr) return 4;
    filter->OnlyPossibleEdges();
    std::set<std::string> seen;
    MergedRecord rec{Dev("x"), std::nullopt, 0};
    while (true) {
      Result<bool> got = src->Next(&rec);
      if (!got.ok()) return 5;
      if (!*got) break;
      if (rec.key.kind() != KeyKind::kDevice) return 6;  // modules and meta are skipped
      seen.insert(rec.key.device_id());
    }
    for (const std::string& id : seen) std::fprintf(stderr, "seen %s\n", id.c_str());
    // Every device where some site says iotEdge true comes by (the filter does not decide which
    // site wins: mm-flip); the ones where no site does are skipped. (gone-edge may come or not:
    // it depends on whether the store pruned its hidden cells.)
    for (const char* id : {"mm-flip", "nn-late", "zz-edge"}) {
      if (seen.count(id) == 0) return 7;
    }
    for (const char* id : {"aa-child", "ab-grandchild", "plain"}) {
      if (seen.count(id) != 0) return 8;
    }
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(StoreSource, PlanThroughTheFilterEqualsThePlanWithoutIt) {
  TempDir dir;
  const int rc = InChild([&]() -> int {
    Result<std::unique_ptr<Store>> store = OpenFilled(dir / "store");
    if (!store.ok()) return 2;
    // The same records, materialized up front: a source the planner cannot filter.
    std::vector<MergedRecord> records;
    {
      std::unique_ptr<MergedSource> src = MakeStoreSource(**store);
      MergedRecord rec{Dev("x"), std::nullopt, 0};
      while (true) {
        Result<bool> got = src->Next(&rec);
        if (!got.ok()) return 4;
        if (!*got) break;
        records.push_back(rec);
      }
    }
    const MergedSourceFactory plain = [&]() -> Result<std::unique_ptr<MergedSource>> {
      return MakeMergedSource(records);
    };
    WriteAll(dir / "primary.txt",
             R"({"id":"plain","eTag":"e1","status":"enabled","authentication":{"type":"sas"},)"
             R"("capabilities":{"iotEdge":false},"tags":{},"properties":{"desired":{}}})"
             "\n"
             R"({"id":"mm-flip","eTag":"e2","status":"enabled","authentication":{"type":"sas"},)"
             R"("capabilities":{"iotEdge":false},"deviceScope":"ms-azure-iot-edge://mm-flip-222",)"
             R"("tags":{"site":"a"},"properties":{"desired":{"rate":5}}})"
             "\n");
    auto plan = [&](const MergedSourceFactory& merged, const std::string& out) -> int {
      Result<std::unique_ptr<LineReader>> primary = LineReader::Open(dir / "primary.txt");
      if (!primary.ok()) return 5;
      PlanOptions options;
      options.out_dir = out;
      options.created_at = "2026-11-26T00:00:00Z";
      Result<PlanSummary> summary = BuildFailbackPlan(merged, **primary, options, nullptr);
      if (!summary.ok()) {
        std::fprintf(stderr, "%s\n", summary.status().ToString().c_str());
        return 6;
      }
      return 0;
    };
    if (int r = plan(StoreSourceFactory(**store), dir / "filtered"); r != 0) return r;
    if (int r = plan(plain, dir / "plain"); r != 0) return r;
    const auto filtered = Folder(dir / "filtered");
    if (filtered != Folder(dir / "plain")) return 7;
    // The children's scopes are the merged edge devices' own (not derived ones), and the edge
    // devices come parents first: nn-late, then zz-edge (its child), then the plain devices.
    const std::string lines = filtered.at("devices-00001.txt");
    if (lines.find(R"("parentScopes":["ms-azure-iot-edge://zz-edge-111"])") == std::string::npos)
      return 8;
    if (lines.find(R"("parentScopes":["ms-azure-iot-edge://nn-late-333"])") == std::string::npos)
      return 9;
    const size_t late = lines.find(R"("id":"nn-late")");
    const size_t edge = lines.find(R"("id":"zz-edge")");
    const size_t child = lines.find(R"("id":"aa-child")");
    if (late == std::string::npos || edge == std::string::npos || child == std::string::npos)
      return 10;
    if (!(late < edge && edge < child)) return 11;
    // mm-flip is the same on both sides (nothing planned); plain's twin differs.
    if (lines.find(R"("id":"mm-flip")") != std::string::npos) return 12;
    if (lines.find(R"("id":"plain","importMode":"updateTwinIfMatchETag")") == std::string::npos)
      return 13;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

// The observer of the first scan (the failback's conflicts): `before` runs first, then it sees
// every record once, in key order, with its state, during the plan's first pass only; the plan is
// the plan made without it.
TEST(StoreSource, ObserverSeesEveryRecordOnceDuringTheFirstPass) {
  TempDir dir;
  const int rc = InChild([&]() -> int {
    Result<std::unique_ptr<Store>> store = OpenFilled(dir / "store");
    if (!store.ok()) return 2;
    const std::vector<std::pair<std::string, std::string>> want = EveryRecord(**store);
    if (want.size() < 8) return 4;

    std::vector<std::pair<std::string, std::string>> seen;
    int before_calls = 0;
    size_t seen_at_before = 99;
    StoreObserver observer;
    observer.before = [&] {
      ++before_calls;
      seen_at_before = seen.size();
      return (*store)->Compact();
    };
    observer.record = [&](const Key& key, const RecordState& state) {
      seen.emplace_back(key.ToString(), EncodeRecord(state));
      return Status::Ok();
    };
    WriteAll(dir / "primary.txt",
             R"({"id":"plain","eTag":"e1","status":"enabled","authentication":{"type":"sas"},)"
             R"("capabilities":{"iotEdge":false},"tags":{},"properties":{"desired":{}}})"
             "\n");
    auto plan = [&](const MergedSourceFactory& merged, const std::string& out) -> int {
      Result<std::unique_ptr<LineReader>> primary = LineReader::Open(dir / "primary.txt");
      if (!primary.ok()) return 5;
      PlanOptions options;
      options.out_dir = out;
      options.created_at = "2026-11-26T00:00:00Z";
      Result<PlanSummary> summary = BuildFailbackPlan(merged, **primary, options, nullptr);
      return summary.ok() ? 0 : 6;
    };
    if (int r = plan(StoreSourceFactory(**store, &observer), dir / "observed"); r != 0) return r;
    if (!observer.finished) return 7;
    if (before_calls != 1 || seen_at_before != 0) return 8;
    if (seen != want) return 9;  // every record once, in key order, with its state
    if (int r = plan(StoreSourceFactory(**store), dir / "plain"); r != 0) return r;
    if (Folder(dir / "observed") != Folder(dir / "plain")) return 10;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

// An observer's error (or its `before`'s) is the source's error and leaves `finished` unset. Only
// the factory's first source calls the observer, also when its reader stopped early.
TEST(StoreSource, ObserverErrorsEndTheScan) {
  TempDir dir;
  const int rc = InChild([&]() -> int {
    Result<std::unique_ptr<Store>> store = OpenFilled(dir / "store");
    if (!store.ok()) return 2;
    {
      int calls = 0;
      StoreObserver observer;
      observer.record = [&](const Key&, const RecordState&) {
        return ++calls == 3 ? Status::Corruption("third") : Status::Ok();
      };
      Result<std::unique_ptr<MergedSource>> src = StoreSourceFactory(**store, &observer)();
      if (!src.ok()) return 4;
      Status s = Drain(**src);
      if (!s.IsCorruption() || s.message().find("third") == std::string::npos) return 5;
      if (observer.finished || calls != 3) return 6;
    }
    {
      int calls = 0;
      StoreObserver observer;
      observer.before = [] { return Status::IoError("before"); };
      observer.record = [&](const Key&, const RecordState&) {
        ++calls;
        return Status::Ok();
      };
      Result<std::unique_ptr<MergedSource>> src = StoreSourceFactory(**store, &observer)();
      if (!src.ok()) return 7;
      if (Drain(**src).code() != Code::kIoError || observer.finished || calls != 0) return 8;
    }
    {
      StoreObserver observer;
      observer.record = [](const Key&, const RecordState&) { return Status::Ok(); };
      const MergedSourceFactory factory = StoreSourceFactory(**store, &observer);
      {
        Result<std::unique_ptr<MergedSource>> src = factory();
        MergedRecord rec{Dev("x"), std::nullopt, 0};
        if (!src.ok() || !(*src)->Next(&rec).ok()) return 9;
      }  // destroyed after one record
      // A later source of the factory does not call the observer.
      observer.record = [](const Key&, const RecordState&) { return Status::Internal("again"); };
      Result<std::unique_ptr<MergedSource>> again = factory();
      if (!again.ok() || !Drain(**again).ok()) return 11;
    }
    return 0;
  });
  EXPECT_EQ(rc, 0);
}


// An observer with `wants` judges every record from its encoded state, which decodes to the
// record's state, and sees only the ones it wants (the failback's conflicts skip the records no
// two sites wrote to); an error from `wants` ends the scan like one from `record`.
TEST(StoreSource, ObserverSeesOnlyTheRecordsItWants) {
  TempDir dir;
  const int rc = InChild([&]() -> int {
    Result<std::unique_ptr<Store>> store = OpenFilled(dir / "store");
    if (!store.ok()) return 2;
    const std::vector<std::pair<std::string, std::string>> all = EveryRecord(**store);
    if (all.size() < 8) return 4;
    {
      std::vector<std::pair<std::string, std::string>> judged, seen;
      StoreObserver observer;
      observer.wants = [&](const Key& key, std::string_view encoded) -> Result<bool> {
        Result<RecordState> state = DecodeRecord(encoded);
        if (!state.ok()) return state.status();
        judged.emplace_back(key.ToString(), EncodeRecord(*state));
        return judged.size() % 2 == 1;  // every other record
      };
      observer.record = [&](const Key& key, const RecordState& state) {
        seen.emplace_back(key.ToString(), EncodeRecord(state));
        return Status::Ok();
      };
      Result<std::unique_ptr<MergedSource>> src = StoreSourceFactory(**store, &observer)();
      if (!src.ok()) return 5;
      auto* filter = dynamic_cast<iothub::EdgeScanFilter*>(src->get());
      if (filter == nullptr) return 6;
      filter->OnlyPossibleEdges();  // as in the plan's first pass
      if (!Drain(**src).ok() || !observer.finished) return 7;
      if (judged != all) return 8;  // every record judged once, in key order
      std::vector<std::pair<std::string, std::string>> want;
      for (size_t i = 0; i < all.size(); i += 2) want.push_back(all[i]);
      if (seen != want) return 9;
    }
    {
      int calls = 0;
      StoreObserver observer;
      observer.wants = [&](const Key&, std::string_view) -> Result<bool> {
        if (++calls == 2) return Status::Corruption("second");
        return true;
      };
      observer.record = [](const Key&, const RecordState&) { return Status::Ok(); };
      Result<std::unique_ptr<MergedSource>> src = StoreSourceFactory(**store, &observer)();
      if (!src.ok()) return 10;
      Status s = Drain(**src);
      if (!s.IsCorruption() || s.message().find("second") == std::string::npos) return 11;
      if (observer.finished || calls != 2) return 12;
    }
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

// A store of many records: more chunks than the text mode keeps on its workers at once, with
// deleted devices (no text) and modules among them.
constexpr int kManyDevices = 6000;

std::string ManyId(int i) {
  char id[16];
  std::snprintf(id, sizeof id, "dev-%05d", i);
  return id;
}

Status FillMany(Store& store) {
  const SiteId a = SiteId::FromName("site-a");
  const SiteId b = SiteId::FromName("site-b");
  std::vector<Delta> deltas;
  for (int i = 0; i < kManyDevices; ++i) {
    deltas.push_back(Create(Dev(ManyId(i)), Device(i % 20 == 0, "", {}), 1000 + i, a));
    if (i % 3 == 0) deltas.push_back(SetEdge(Dev(ManyId(i)), i % 2 == 0, 5000 + i, b));
    if (i % 7 == 0) deltas.push_back(Delta{Dev(ManyId(i)), DeleteDelta(Stamp{9000, b})});
    if (i % 10 == 0) {
      deltas.push_back(Create(*Key::Module(ManyId(i), "m"), {{"tags", {{"n", i}}}}, 2000, b));
    }
    if (deltas.size() >= 1000) {
      Result<ApplyResult> r = store.Apply(deltas);
      if (!r.ok()) return r.status();
      deltas.clear();
    }
  }
  Result<ApplyResult> r = store.Apply(deltas);
  return r.status();
}

using TextRecords = std::vector<std::pair<std::string, std::optional<std::string>>>;

// What the text mode must yield: every record in key order, with the store's materialized text.
Result<TextRecords> ExpectedText(const Store& store) {
  TextRecords want;
  Status s = store.Scan(std::nullopt, [&](const Key& key, const RecordState& state) -> Status {
    Result<std::optional<std::string>> text = store.Materialize(key.kind(), state);
    if (!text.ok()) return text.status();
    want.emplace_back(key.ToString(), std::move(*text));
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return want;
}

// Reads a text source to its end or its first error, keeping what came before the error.
Status ReadText(MergedSource& src, TextRecords* got) {
  auto* text_source = dynamic_cast<iothub::CanonicalTextSource*>(&src);
  if (text_source == nullptr) return Status::Internal("not a text source");
  text_source->YieldText();
  Key key = Dev("x");
  std::optional<std::string> text;
  while (true) {
    Result<bool> more = text_source->NextText(&key, &text);
    if (!more.ok()) return more.status();
    if (!*more) return Status::Ok();
    got->emplace_back(key.ToString(), std::move(text));
  }
}

// The text mode decodes and materializes on workers, a chunk each: the records still come whole,
// once each and in key order, each with the text the store materializes for it. A source
// destroyed while its workers are busy stops them.
TEST(StoreSource, TextModeYieldsEveryRecordInKeyOrderFromItsWorkers) {
  TempDir dir;
  const int rc = InChild([&]() -> int {
    Result<std::unique_ptr<Store>> store = Store::Open(dir / "store", Options());
    if (!store.ok() || !FillMany(**store).ok()) return 2;
    Result<TextRecords> want = ExpectedText(**store);
    if (!want.ok() || want->size() < kManyDevices) return 3;
    size_t absent = 0;
    for (const auto& [key, text] : *want) absent += text ? 0 : 1;
    if (absent == 0) return 4;  // deleted devices come too, without text
    for (int pass = 0; pass < 2; ++pass) {
      TextRecords got;
      std::unique_ptr<MergedSource> src = MakeStoreSource(**store);
      if (!ReadText(*src, &got).ok()) return 5;
      if (got != *want) return 6;
    }
    for (int taken : {0, 1, 700}) {
      std::unique_ptr<MergedSource> src = MakeStoreSource(**store);
      auto* text_source = dynamic_cast<iothub::CanonicalTextSource*>(src.get());
      text_source->YieldText();
      Key key = Dev("x");
      std::optional<std::string> text;
      for (int i = 0; i < taken; ++i) {
        Result<bool> more = text_source->NextText(&key, &text);
        if (!more.ok() || !*more || key.ToString() != (*want)[i].first) return 7;
      }
    }  // destroyed with the rest unread
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

// A record whose stored bytes do not decode ends the text mode's read with an error naming it,
// after every record before it, and none after it.
TEST(StoreSource, TextModeStopsAtACorruptRecordAfterTheRecordsBeforeIt) {
  TempDir dir;
  const int rc = InChild([&]() -> int {
    TextRecords want;
    {
      Result<std::unique_ptr<Store>> store = Store::Open(dir / "store", Options());
      if (!store.ok() || !FillMany(**store).ok()) return 2;
      Result<TextRecords> all = ExpectedText(**store);
      if (!all.ok()) return 3;
      want = std::move(*all);
    }
    const std::string bad = ManyId(kManyDevices / 2 + 1);
    {
      reconcile_test::RawDb raw(dir / "store");
      if (!raw.status().ok()) return 4;
      rocksdb::ColumnFamilyHandle* records = raw.family(store::kRecordsFamily);
      if (records == nullptr) return 5;
      if (!raw.db()->Put(rocksdb::WriteOptions(), records, Dev(bad).Encode(), "\x01not a state").ok()) {
        return 6;
      }
    }
    Result<std::unique_ptr<Store>> store = Store::Open(dir / "store", Options());
    if (!store.ok()) return 7;
    TextRecords got;
    std::unique_ptr<MergedSource> src = MakeStoreSource(**store);
    Status s = ReadText(*src, &got);
    if (s.ok() || s.message().find(bad) == std::string::npos) return 8;
    size_t before = 0;
    while (before < want.size() && want[before].first != Dev(bad).ToString()) ++before;
    want.resize(before);
    if (got != want) return 9;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace reconcile::failback_test
