// Writers: canonical export (round trip through the readers), twin export, meta export.
#include <gtest/gtest.h>

#include <sstream>

#include "reconcile/iothub.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile {
namespace {

using nlohmann::json;
using testing::Dev;
using testing::ExpectGolden;
using testing::Model;
using testing::OpenData;
using testing::Time;

const PolicyTable& Table() {
  static const PolicyTable table = PolicyTable::Default();
  return table;
}

std::string CanonicalExport(const Model& model, WriteStats* stats = nullptr) {
  MergeView view{&Table(), 0};
  auto source = MakeMergedSource(model.states, view);
  std::ostringstream out;
  Result<WriteStats> s = WriteCanonicalExport(*source, out);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (stats && s.ok()) *stats = *s;
  return out.str();
}

TEST(CanonicalExport, GoldenForTheFleet) {
  Model model;
  testing::IngestFleet(&model);
  WriteStats stats;
  std::string text = CanonicalExport(model, &stats);
  EXPECT_EQ(stats.absent, 1u);  // sensor-03
  ExpectGolden("fleet.canonical.txt", text);
  // Devices directly followed by their modules, in key order.
  EXPECT_LT(text.find(R"("id":"edge-gw-01","moduleId":"filter")"),
            text.find(R"("id":"edge-gw-02")"));
}

TEST(CanonicalExport, RoundTripThroughTheExportReader) {
  // export -> deltas -> join -> canonical export -> deltas (another site, later) -> join ->
  // canonical export: the same bytes.
  Model first;
  auto in = OpenData("secondary.txt");
  ASSERT_TRUE(
      ReadExport(*in, {"neu-secondary", Time("2026-11-22T12:00:00Z"), false}, nullptr, first.Sink())
          .ok());
  const std::string once = CanonicalExport(first);
  ASSERT_FALSE(once.empty());

  Model second;
  auto again = LineReader::FromString("canonical.txt", once);
  ASSERT_TRUE(
      ReadExport(*again, {"audit", Time("2026-11-24T00:00:00Z"), false}, nullptr, second.Sink())
          .ok());
  EXPECT_EQ(CanonicalExport(second), once);

  // And joined over the original, the newer identical snapshot changes nothing visible.
  for (auto& [key, state] : second.states) first.states[key].Join(state);
  EXPECT_EQ(CanonicalExport(first), once);
}

TEST(CanonicalExport, SameStateSameBytesWhateverTheIngestOrder) {
  Model model;
  testing::IngestFleet(&model);
  Model reversed;
  for (auto it = model.deltas.rbegin(); it != model.deltas.rend(); ++it) {
    reversed.states[it->first].Join(it->second);
  }
  EXPECT_EQ(CanonicalExport(model), CanonicalExport(reversed));
}

TEST(CanonicalExport, OrphanModulesAreNotWritten) {
  std::vector<MergedRecord> records;
  records.push_back({Dev("a"), std::nullopt, 0});
  records.push_back({Key::Module("a", "m").value(), json::object(), 0});
  records.push_back({Key::Module("b", "m").value(), json::object(), 0});
  auto source = MakeMergedSource(std::move(records));
  std::ostringstream out;
  Result<WriteStats> stats = WriteCanonicalExport(*source, out);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->orphan_modules, 2u);
  EXPECT_EQ(stats->written, 0u);
  EXPECT_EQ(out.str(), "");
}

TEST(TwinExport, Golden) {
  Model model;
  testing::IngestFleet(&model);
  MergeView view{&Table(), 0};
  auto source = MakeMergedSource(model.states, view);
  std::ostringstream out;
  ASSERT_TRUE(WriteTwinExport(*source, out).ok());
  ExpectGolden("fleet.twins.jsonl", out.str());
  // A twin export reads back as twins.
  Model back;
  auto in = LineReader::FromString("twins", out.str());
  RejectCollector rejects;
  ASSERT_TRUE(ReadTwins(*in, {"audit", Time("2026-11-24T00:00:00Z"), TwinTagsStamp::kObservedAt},
                        &rejects, back.Sink())
                  .ok());
  EXPECT_TRUE(rejects.rejects().empty());
}

TEST(MetaExport, GoldenAndRoundTrip) {
  Model model;
  auto in = OpenData("meta.jsonl");
  ASSERT_TRUE(ReadMeta(*in, {"weu-primary"}, nullptr, model.Sink()).ok());
  MergeView view{&Table(), 0};
  auto source = MakeMergedSource(model.states, view);
  std::ostringstream out;
  Result<WriteStats> stats = WriteMetaExport(*source, out);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->written, 2u);
  EXPECT_EQ(stats->absent, 1u);
  ExpectGolden("meta.export.jsonl", out.str());

  Model back;
  auto again = LineReader::FromString("meta-export", out.str());
  ASSERT_TRUE(ReadMeta(*again, {"weu-primary"}, nullptr, back.Sink()).ok());
  auto source2 = MakeMergedSource(back.states, view);
  std::ostringstream out2;
  ASSERT_TRUE(WriteMetaExport(*source2, out2).ok());
  EXPECT_EQ(out2.str(), out.str());
}

}  // namespace
}  // namespace reconcile
