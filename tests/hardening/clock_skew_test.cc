// The clock guard (DESIGN §2, DECISIONS I22): a stamp more than max-offset ahead of the ingesting
// site's clock is quarantined — not applied, written to the quarantine file with FILE:LINE, the
// writing site and the skew — so a secondary whose clock runs an hour ahead cannot win conflicts
// with its future stamps. Library tests with an injected clock, then the real mergetool binary.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "lib/iothub/device_doc.h"
#include "reconcile/iothub.h"
#include "reconcile/line_reader.h"
#include "tests/hardening/cli_runner.h"

namespace reconcile::hardening {
namespace {

using nlohmann::json;

const std::string kMergetool = MERGETOOL;

// ---- the readers, with an injected clock --------------------------------------------------------

constexpr uint64_t kNowMs = 1795262400000;  // 2026-11-21T12:00:00Z
constexpr uint64_t kHourMs = 3'600'000;

ClockGuard Guard(RejectSink* quarantine) {
  ClockGuard g;
  g.max_offset_ms = 5 * 60 * 1000;
  g.now_ms = [] { return kNowMs; };
  g.ingesting_site = "weu-primary";
  g.quarantine = quarantine;
  return g;
}

std::string Iso(uint64_t ms) { return FormatIso8601(MakeHlc(ms, 0)); }

std::string Event(const std::string& device, uint64_t at_ms) {
  return json{{"properties",
               {{"hubName", "contoso-neu"},
                {"deviceId", device},
                {"opType", "updateTwin"},
                {"iothub-message-schema", "twinChangeNotification"},
                {"operationTimestamp", Iso(at_ms)}}},
              {"body", {{"properties", {{"desired", {{"rate", 99}}}}}}}}
      .dump();
}

struct Collected {
  std::map<std::string, int> applied;  // device id -> deltas
  DeltaSink Sink() {
    return [this](const Key& key, RecordState) {
      ++applied[key.device_id()];
      return Status::Ok();
    };
  }
};

TEST(ClockGuard, NotificationsAheadAreQuarantinedNamingSiteAndSkew) {
  RejectCollector rejects;
  RejectCollector quarantine;
  NotificationReadOptions options;
  options.hub_sites["contoso-neu"] = "neu-secondary";
  options.clock_guard = Guard(&quarantine);
  auto in = LineReader::FromString(
      "events.jsonl", Event("a", kNowMs - 1000) + "\n" + Event("b", kNowMs + kHourMs) + "\n" +
                          Event("c", kNowMs + 5 * 60 * 1000) + "\n" +  // exactly the offset: kept
                          Event("d", kNowMs + 5 * 60 * 1000 + 1) + "\n");
  Collected got;
  Result<ReadStats> stats = ReadNotifications(*in, options, &rejects, got.Sink());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->quarantined, 2u);
  EXPECT_EQ(stats->rejected, 0u);
  EXPECT_TRUE(rejects.rejects().empty());
  EXPECT_EQ(got.applied, (std::map<std::string, int>{{"a", 1}, {"c", 1}}));
  ASSERT_EQ(quarantine.rejects().size(), 2u);
  const Reject& q = quarantine.rejects()[0];
  EXPECT_EQ(q.file, "events.jsonl");
  EXPECT_EQ(q.line, 2u);
  EXPECT_EQ(q.reason, RejectReason::kClockSkew);
  EXPECT_EQ(q.detail,
            "site 'neu-secondary' stamped 2026-11-21T13:00:00.0000000Z, 1h 0m 0s ahead "
            "of the clock of 'weu-primary' (max offset 5m 0s)");
  EXPECT_EQ(quarantine.rejects()[1].line, 4u);
  EXPECT_NE(quarantine.rejects()[1].detail.find("5m 0.001s ahead"), std::string::npos);

  // Without a quarantine sink the line goes to the rejects sink, still counted as quarantined.
  options.clock_guard.quarantine = nullptr;
  in = LineReader::FromString("events.jsonl", Event("b", kNowMs + kHourMs));
  stats = ReadNotifications(*in, options, &rejects, got.Sink());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->quarantined, 1u);
  ASSERT_EQ(rejects.Count(RejectReason::kClockSkew), 1u);

  // The guard off (max offset 0): the future stamp is applied.
  options.clock_guard.max_offset_ms = 0;
  in = LineReader::FromString("events.jsonl", Event("b", kNowMs + kHourMs));
  stats = ReadNotifications(*in, options, &rejects, got.Sink());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->quarantined, 0u);
  EXPECT_EQ(got.applied["b"], 1);
}

TEST(ClockGuard, TwinWithOneLeafAheadIsQuarantinedWhole) {
  RejectCollector quarantine;
  TwinReadOptions options;
  options.site = "neu-secondary";
  options.observed_at = MakeHlc(kNowMs - 1000, 0);
  options.clock_guard = Guard(&quarantine);
  json twin = {{"deviceId", "a"},
               {"properties",
                {{"desired",
                  {{"rate", 5},
                   {"mode", "eco"},
                   {"$metadata",
                    {{"$lastUpdated", Iso(kNowMs - 60000)},
                     {"mode", {{"$lastUpdated", Iso(kNowMs + 2 * kHourMs)}}}}}}}}}};
  auto in = LineReader::FromString("twins.jsonl", twin.dump());
  Collected got;
  Result<ReadStats> stats = ReadTwins(*in, options, nullptr, got.Sink());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->quarantined, 1u);
  EXPECT_TRUE(got.applied.empty());
  ASSERT_EQ(quarantine.rejects().size(), 1u);
  EXPECT_NE(quarantine.rejects()[0].detail.find("2h 0m 0s ahead"), std::string::npos);

  // An observed-at that far ahead fails the read before anything is applied.
  options.observed_at = MakeHlc(kNowMs + kHourMs, 0);
  in = LineReader::FromString("twins.jsonl", twin.dump());
  stats = ReadTwins(*in, options, nullptr, got.Sink());
  EXPECT_TRUE(stats.status().IsInvalidInput());
  EXPECT_NE(stats.status().message().find("1h 0m 0s ahead"), std::string::npos);
}

TEST(ClockGuard, MetaAndExportAhead) {
  RejectCollector quarantine;
  MetaReadOptions meta;
  meta.site = "neu-secondary";
  meta.clock_guard = Guard(&quarantine);
  auto in = LineReader::FromString(
      "meta.jsonl",
      json{
          {"namespace", "n"}, {"key", "k"}, {"updatedAt", Iso(kNowMs + kHourMs)}, {"deleted", true}}
          .dump());
  Collected got;
  Result<ReadStats> stats = ReadMeta(*in, meta, nullptr, got.Sink());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->quarantined, 1u);
  EXPECT_EQ(stats->records, 0u);
  EXPECT_TRUE(got.applied.empty());

  ExportReadOptions ex;
  ex.site = "neu-secondary";
  ex.observed_at = MakeHlc(kNowMs + kHourMs, 0);
  ex.clock_guard = Guard(nullptr);
  in = LineReader::FromString("devices.txt", R"({"id":"a"})");
  EXPECT_TRUE(ReadExport(*in, ex, nullptr, got.Sink()).status().IsInvalidInput());
  ex.observed_at = MakeHlc(kNowMs, 0);
  in = LineReader::FromString("devices.txt", R"({"id":"a"})");
  EXPECT_TRUE(ReadExport(*in, ex, nullptr, got.Sink()).ok());
}

TEST(ClockGuard, DurationsForPeople) {
  EXPECT_EQ(iothub::FormatDuration(0), "0s");
  EXPECT_EQ(iothub::FormatDuration(250), "0.25s");
  EXPECT_EQ(iothub::FormatDuration(61'500), "1m 1.5s");
  EXPECT_EQ(iothub::FormatDuration(300'000), "5m 0s");
  EXPECT_EQ(iothub::FormatDuration(3'600'000), "1h 0m 0s");
  EXPECT_EQ(iothub::FormatDuration(26 * 3'600'000 + 61'001), "26h 1m 1.001s");
}

// ---- mergetool: a secondary whose clock runs an hour ahead ------------------------------------

std::string IsoAt(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return Iso(static_cast<uint64_t>(ms));
}

json Notification(const std::string& hub, const std::string& device, const std::string& op,
                  const std::string& at, json body) {
  const bool twin = op == "updateTwin" || op == "replaceTwin";
  json msg = {
      {"properties",
       {{"hubName", hub},
        {"deviceId", device},
        {"opType", op},
        {"iothub-message-schema", twin ? "twinChangeNotification" : "deviceLifecycleNotification"},
        {"operationTimestamp", at}}}};
  if (!body.is_null()) msg["body"] = body;
  return msg;
}

json Desired(int rate, const std::string& at) {
  return {{"properties",
           {{"desired",
             {{"rate", rate},
              {"$metadata", {{"$lastUpdated", at}, {"rate", {{"$lastUpdated", at}}}}}}}}}};
}

// The desired rate of each device in an export.
std::map<std::string, json> Rates(const std::string& exported) {
  std::map<std::string, json> rates;
  for (const std::string& line : SplitLines(exported)) {
    if (line.empty()) continue;
    json o = json::parse(line);
    if (!o.contains("id") || o.contains("moduleId")) continue;
    rates[o["id"]] = o["properties"]["desired"].value("rate", json());
  }
  return rates;
}

TEST(ClockGuard, SecondaryAnHourAheadCannotWinConflicts) {
  TempDir dir("clock-skew");
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  const auto now = std::chrono::system_clock::now();
  const std::string past = IsoAt(now - hours(3));
  const std::string primary_at = IsoAt(now - seconds(60));
  const std::string in_window = IsoAt(now - seconds(120));
  const std::string ahead = IsoAt(now + hours(1) + seconds(30));  // the secondary's clock

  // Four devices, created long ago; the primary writes rate 10 on d1..d3 just now; the secondary,
  // an hour ahead, writes rate 99 on d1, deletes d2, re-tags d3, reads d3's twin with its own
  // clock, and writes meta; one of its messages, d4 at rate 44, is from before the clock jumped.
  std::string devices;
  for (const char* id : {"d1", "d2", "d3", "d4"}) {
    devices += json{{"id", id},
                    {"status", "enabled"},
                    {"tags", {{"owner", "ops"}}},
                    {"properties", {{"desired", {{"rate", 1}}}}}}
                   .dump() +
               "\n";
  }
  WriteFile(dir / "devices.txt", devices);
  std::string primary_events;
  for (const char* id : {"d1", "d2", "d3"}) {
    primary_events +=
        Notification("contoso-weu", id, "updateTwin", primary_at, Desired(10, primary_at)).dump() +
        "\n";
  }
  WriteFile(dir / "primary-events.jsonl", primary_events);
  WriteFile(
      dir / "secondary-events.jsonl",
      Notification("contoso-neu", "d1", "updateTwin", ahead, Desired(99, ahead)).dump() + "\n" +
          Notification("contoso-neu", "d2", "deleteDeviceIdentity", ahead, nullptr).dump() + "\n" +
          Notification("contoso-neu", "d3", "updateTwin", ahead, {{"tags", {{"owner", "neu"}}}})
              .dump() +
          "\n" +
          Notification("contoso-neu", "d4", "updateTwin", in_window, Desired(44, in_window))
              .dump() +
          "\n");
  WriteFile(
      dir / "secondary-twins.jsonl",
      json{{"deviceId", "d3"}, {"properties", Desired(98, ahead)["properties"]}}.dump() + "\n");
  WriteFile(
      dir / "secondary-meta.jsonl",
      json{{"namespace", "fleet"}, {"key", "wave-1"}, {"updatedAt", ahead}, {"doc", {{"a", 1}}}}
              .dump() +
          "\n");

  // Ingests the same inputs into a fresh store with `max_offset`; returns the secondary's results.
  auto scenario = [&](const std::string& store, const std::string& max_offset) {
    auto run = [&](std::vector<std::string> args) {
      args.insert(args.begin(), kMergetool);
      return RunCli(args, dir.path(), dir.path());
    };
    const std::string fork = IsoAt(now - hours(2));
    EXPECT_EQ(run({"init", store, "--site", "weu-primary", "--fork-point", fork}).exit_code, 0);
    EXPECT_EQ(run({"ingest", store, "--format", "export", "--observed-at", past, "devices.txt"})
                  .exit_code,
              0);
    EXPECT_EQ(run({"ingest", store, "--format", "events", "--hub-site", "contoso-weu=weu-primary",
                   "--max-offset", max_offset, "primary-events.jsonl"})
                  .exit_code,
              0);
    std::vector<CliResult> secondary;
    secondary.push_back(
        run({"ingest", store, "--format", "events", "--hub-site", "contoso-neu=neu-secondary",
             "--max-offset", max_offset, "secondary-events.jsonl"}));
    secondary.push_back(
        run({"ingest", store, "--format", "twin", "--site", "neu-secondary", "--max-offset",
             max_offset, "--quarantine", "twins-quarantine.txt", "secondary-twins.jsonl"}));
    secondary.push_back(
        run({"ingest", store, "--format", "meta", "--site", "neu-secondary", "--max-offset",
             max_offset, "--quarantine", "meta-quarantine.txt", "secondary-meta.jsonl"}));
    return secondary;
  };

  // With the guard (default 5 minutes): every future line is quarantined, exit 3.
  std::vector<CliResult> guarded = scenario("p", "5m");
  for (const CliResult& r : guarded) EXPECT_EQ(r.exit_code, 3) << r.command << "\n" << r.err;
  const std::regex skew(
      R"re(site 'neu-secondary' stamped \S+, (1h 0m [0-9.]+s|59m [0-9.]+s) ahead of the clock of 'weu-primary' \(max offset 5m 0s\))re");
  EXPECT_TRUE(std::regex_search(
      guarded[0].err, std::regex("mergetool: error: secondary-events.jsonl:1: clock-skew: ")))
      << guarded[0].err;
  EXPECT_TRUE(std::regex_search(guarded[0].err, skew)) << guarded[0].err;
  EXPECT_NE(guarded[0].err.find("3 quarantined lines written to p.quarantine.txt"),
            std::string::npos)
      << guarded[0].err;
  EXPECT_NE(guarded[0].err.find("0 rejected, 3 quarantined"), std::string::npos) << guarded[0].err;
  EXPECT_FALSE(std::filesystem::exists(dir / "p.rejects.txt"));

  // The quarantine report: each line with FILE:LINE, the site and the skew, and the raw line.
  const std::vector<std::string> report = SplitLines(ReadFile(dir / "p.quarantine.txt"));
  ASSERT_GE(report.size(), 4u);
  int headers = 0;
  for (size_t line : {1, 2, 3}) {
    const std::string want = "# reject file=secondary-events.jsonl line=" + std::to_string(line) +
                             " reason=clock-skew detail=";
    bool found = false;
    for (const std::string& r : report) {
      if (r.rfind(want, 0) == 0) {
        found = true;
        ++headers;
        EXPECT_TRUE(std::regex_search(r, skew)) << r;
      }
    }
    EXPECT_TRUE(found) << want;
  }
  EXPECT_EQ(headers, 3);
  EXPECT_NE(
      ReadFile(dir / "twins-quarantine.txt").find("secondary-twins.jsonl line=1 reason=clock-skew"),
      std::string::npos);

  // The primary's current writes stand: d1 keeps rate 10, d2 is not deleted, d3 keeps its tag and
  // rate; the in-window secondary write (d4) was applied.
  CliResult exported = RunCli({kMergetool, "export", "p"}, dir.path(), dir.path());
  ASSERT_EQ(exported.exit_code, 0);
  std::map<std::string, json> rates = Rates(exported.out);
  EXPECT_EQ(rates, (std::map<std::string, json>{{"d1", 10}, {"d2", 10}, {"d3", 10}, {"d4", 44}}))
      << exported.out;
  EXPECT_NE(
      exported.out.find(
          R"({"id":"d3","properties":{"desired":{"rate":10}},"status":"enabled","tags":{"owner":"ops"}})"),
      std::string::npos)
      << exported.out;
  CliResult conflicts = RunCli({kMergetool, "conflicts", "p", "--json"}, dir.path(), dir.path());
  ASSERT_EQ(conflicts.exit_code, 0);
  EXPECT_EQ(conflicts.out.find("neu-secondary"), std::string::npos) << conflicts.out;
  CliResult meta = RunCli({kMergetool, "export", "p", "--kind", "meta"}, dir.path(), dir.path());
  EXPECT_EQ(meta.out, "");

  // The same inputs with a guard wider than the skew: the future stamps win everything. This is
  // what the guard prevents (and shows the scenario can fail).
  std::vector<CliResult> unguarded = scenario("q", "2h");
  for (const CliResult& r : unguarded) EXPECT_EQ(r.exit_code, 0) << r.command << "\n" << r.err;
  exported = RunCli({kMergetool, "export", "q"}, dir.path(), dir.path());
  rates = Rates(exported.out);
  EXPECT_EQ(rates, (std::map<std::string, json>{{"d1", 99}, {"d3", 98}, {"d4", 44}}))
      << exported.out;
  conflicts = RunCli({kMergetool, "conflicts", "q", "--json"}, dir.path(), dir.path());
  EXPECT_NE(conflicts.out.find("neu-secondary"), std::string::npos) << conflicts.out;

  // Nothing is lost: once the clocks agree (here: a wider offset), the quarantine file is input
  // (but never while it is also this run's quarantine file: it would be cut while read).
  CliResult same = RunCli({kMergetool, "ingest", "p", "--format", "events", "--hub-site",
                           "contoso-neu=neu-secondary", "p.quarantine.txt"},
                          dir.path(), dir.path());
  EXPECT_EQ(same.exit_code, 2) << same.err;
  EXPECT_NE(ReadFile(dir / "p.quarantine.txt").find("line=3 reason=clock-skew"), std::string::npos);
  CliResult refeed = RunCli(
      {kMergetool, "ingest", "p", "--format", "events", "--hub-site", "contoso-neu=neu-secondary",
       "--max-offset", "2h", "--quarantine", "refeed-quarantine.txt", "p.quarantine.txt"},
      dir.path(), dir.path());
  EXPECT_EQ(refeed.exit_code, 0) << refeed.err;
  EXPECT_EQ(Rates(RunCli({kMergetool, "export", "p"}, dir.path(), dir.path()).out)["d1"], 99);
  EXPECT_NE(ReadFile(dir / "meta-quarantine.txt").find("line=1 reason=clock-skew"),
            std::string::npos);
}

TEST(ClockGuard, CommandLine) {
  TempDir dir("clock-flags");
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), kMergetool);
    return RunCli(args, dir.path(), dir.path());
  };
  WriteFile(dir / "d.txt", R"({"id":"a"})"
                           "\n");
  ASSERT_EQ(run({"init", "s", "--site", "weu-primary"}).exit_code, 0);
  EXPECT_EQ(run({"ingest", "s", "--format", "export", "--max-offset", "5x", "d.txt"}).exit_code, 2);
  EXPECT_EQ(run({"ingest", "s", "--format", "export", "--max-offset", "", "d.txt"}).exit_code, 2);
  const std::string ahead = IsoAt(std::chrono::system_clock::now() + std::chrono::hours(3));
  CliResult r = run({"ingest", "s", "--format", "export", "--observed-at", ahead, "d.txt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(std::regex_search(
      r.err,
      std::regex(
          R"re(observed-at \S+ is (3h 0m|2h 59m) [0-9.]+s ahead of the clock of 'weu-primary')re")))
      << r.err;
  EXPECT_EQ(run({"ingest", "s", "--format", "export", "--observed-at", ahead, "--max-offset", "4h",
                 "d.txt"})
                .exit_code,
            0);
  EXPECT_EQ(run({"ingest", "s", "--format", "export", "--observed-at", ahead, "--max-offset", "0",
                 "d.txt"})
                .exit_code,
            0);
  // The default quarantine file sits next to the rejects file.
  WriteFile(dir / "m.jsonl",
            json{{"namespace", "n"}, {"key", "k"}, {"updatedAt", ahead}, {"deleted", true}}.dump());
  r = run({"ingest", "s", "--format", "meta", "--rejects", "out/ingest-rejects.txt", "m.jsonl"});
  std::filesystem::create_directories(dir / "out");
  r = run({"ingest", "s", "--format", "meta", "--rejects", "out/ingest-rejects.txt", "m.jsonl"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(std::filesystem::exists(dir / "out/ingest-quarantine.txt")) << r.err;
}

}  // namespace
}  // namespace reconcile::hardening
