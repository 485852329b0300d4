// The bad-input corpus (tests/data/bad, described in its README and cases.json) run through the
// real mergetool binary: for every class the exit code, a "mergetool: error: FILE:LINE: reason"
// line naming the right file and line, the line in the rejects file (keys redacted), and every
// valid line around it applied — counted by exporting the store and compared, byte for byte,
// with a store that ingested the same file with the bad lines blanked out.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/hardening/cli_runner.h"

namespace reconcile::hardening {
namespace {

using nlohmann::json;

const std::string kMergetool = MERGETOOL;
const std::string kBad = BAD_DATA_DIR;

struct Case {
  std::string name;           // the class
  std::string format;         // export | twin | events | meta
  std::string file;           // relative to tests/data/bad (or to the generated folder)
  std::vector<size_t> lines;  // the bad lines, 1-based
  std::string reason;
  int exit = 3;
  bool generated = false;
  bool whole_file = false;   // every line is bad (binary files): no valid lines to count
  bool raw_omitted = false;  // the rejects file cannot hold the line (too long)
  std::string warning;       // a warning stderr must carry
  std::string seed;          // an export ingested first (twins patch existing records)
  std::vector<std::string> args;
  long max_rss_growth_mb = 0;  // peak memory over the control run's, when set
};

std::vector<Case> LoadCases() {
  std::vector<Case> cases;
  json all = json::parse(ReadFile(kBad + "/cases.json"));
  for (const json& c : all) {
    Case k;
    k.name = c.at("class");
    k.format = c.at("format");
    k.file = c.at("file");
    k.lines = c.at("lines").get<std::vector<size_t>>();
    k.reason = c.value("reason", "");
    k.exit = c.at("exit");
    k.generated = c.value("generated", false);
    k.whole_file = c.value("whole_file", false);
    k.raw_omitted = c.value("raw_omitted", false);
    k.warning = c.value("warning", "");
    k.seed = c.value("seed", "");
    k.args = c.value("args", std::vector<std::string>{});
    k.max_rss_growth_mb = c.value("max_rss_growth_mb", 0L);
    cases.push_back(k);
  }
  return cases;
}

// What the rejects file should hold for a raw line: primaryKey/secondaryKey string values
// replaced by "redacted" (written here independently of the library's RedactKeysInLine).
std::string Redacted(const std::string& line) {
  static const std::regex kKey(
      R"re(("(?:primaryKey|secondaryKey)"[ \t]*:[ \t]*)"(?:[^"\\]|\\.)*")re");
  return std::regex_replace(line, kKey, "$1\"redacted\"");
}

std::vector<std::string> KeysIn(const std::string& line) {
  static const std::regex kKey(
      R"re("(?:primaryKey|secondaryKey)"[ \t]*:[ \t]*"((?:[^"\\]|\\.)+)")re");
  std::vector<std::string> keys;
  for (auto it = std::sregex_iterator(line.begin(), line.end(), kKey); it != std::sregex_iterator();
       ++it) {
    keys.push_back((*it)[1]);
  }
  return keys;
}

// The record key a valid input line writes, as "id/moduleId" or "namespace|key".
std::string KeyOfInputLine(const std::string& format, const json& obj) {
  auto id_of = [](const json& o, const char* id, const char* module) {
    std::string k = o.at(id).get<std::string>();
    if (o.contains(module) && o.at(module).is_string()) k += "/" + o.at(module).get<std::string>();
    return k;
  };
  if (format == "export") return id_of(obj, "id", "moduleId");
  if (format == "twin") return id_of(obj, "deviceId", "moduleId");
  if (format == "events") {
    const json& p = obj.contains("properties") ? obj.at("properties") : obj.at("application");
    return id_of(p, "deviceId", "moduleId");
  }
  return obj.at("namespace").get<std::string>() + "|" + obj.at("key").get<std::string>();
}

// The keys a store export shows as applied. Twin reads never create records, so for them a
// record counts once its desired section holds what a twin line wrote.
std::multiset<std::string> AppliedKeys(const std::string& format, const std::string& exported) {
  std::multiset<std::string> keys;
  for (const std::string& line : SplitLines(exported)) {
    if (line.empty()) continue;
    json o = json::parse(line);
    if (o.contains("namespace")) {
      if (!o.value("deleted", false)) {
        keys.insert(o.at("namespace").get<std::string>() + "|" + o.at("key").get<std::string>());
      }
      continue;
    }
    const char* id = o.contains("deviceId") ? "deviceId" : "id";
    if (format == "twin") {
      const json desired = o["properties"].value("desired", json::object());
      if (desired.empty()) continue;
    }
    std::string k = o.at(id).get<std::string>();
    if (o.contains("moduleId")) k += "/" + o.at("moduleId").get<std::string>();
    keys.insert(k);
  }
  return keys;
}

class BadInput : public testing::TestWithParam<Case> {
 protected:
  // init, seed, ingest `input`; returns the ingest's result. Fails the test on setup errors.
  CliResult Ingest(const TempDir& dir, const std::string& store, const std::string& input,
                   const std::string& rejects) {
    const Case& c = GetParam();
    CliResult init = RunCli({kMergetool, "init", store, "--site", "weu-primary"}, dir.path());
    EXPECT_EQ(init.exit_code, 0) << init.command << "\n" << init.err;
    if (!c.seed.empty()) {
      CliResult seed = RunCli({kMergetool, "ingest", store, "--format", "export", "--observed-at",
                               "2026-01-01T00:00:00Z", kBad + "/" + c.seed},
                              dir.path());
      EXPECT_EQ(seed.exit_code, 0) << seed.command << "\n" << seed.err;
    }
    std::vector<std::string> argv = {kMergetool, "ingest",    store,  "--format",
                                     c.format,   "--rejects", rejects};
    if (c.format == "export" || c.format == "twin") {
      argv.insert(argv.end(), {"--observed-at", "2026-11-20T12:00:00Z"});
    }
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    argv.push_back(input);
    return RunCli(argv, dir.path());
  }

  std::string Export(const TempDir& dir, const std::string& store) {
    const Case& c = GetParam();
    std::vector<std::string> argv = {kMergetool, "export", store, "--kind", "all"};
    if (c.format == "twin") argv.insert(argv.end(), {"--format", "twin"});
    CliResult r = RunCli(argv, dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.command << "\n" << r.err;
    return r.out;
  }
};

TEST_P(BadInput, RejectedWithFileAndLineAndTheRestApplied) {
  const Case& c = GetParam();
  TempDir dir("bad-input");
  std::string input = kBad + "/" + c.file;
  if (c.generated) {
    CliResult gen = RunCli({"/bin/bash", kBad + "/generate.sh", dir / "gen", c.file}, dir.path());
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    input = dir / ("gen/" + c.file);
  }
  // The ingest under test runs before this process reads the file: a forked child starts with
  // its parent's resident pages, which would count in its peak memory.
  const std::string rejects = dir / "rejects.txt";
  CliResult run = Ingest(dir, dir / "store", input, rejects);
  std::string bytes = ReadFile(input);
  std::vector<std::string> lines = SplitLines(bytes);
  const std::set<size_t> bad(c.lines.begin(), c.lines.end());
  EXPECT_EQ(run.exit_code, c.exit) << run.command << "\n" << run.err;
  if (!c.warning.empty()) {
    EXPECT_NE(run.err.find(c.warning), std::string::npos) << run.err;
  }

  // stderr names the file and each bad line, with the reason.
  for (size_t n : c.lines) {
    const std::string want =
        "mergetool: error: " + input + ":" + std::to_string(n) + ": " + c.reason + ":";
    EXPECT_NE(run.err.find(want), std::string::npos) << "want '" << want << "' in\n" << run.err;
  }

  // The rejects file: exactly the bad lines, raw bytes with keys redacted.
  if (c.lines.empty()) {
    EXPECT_FALSE(std::filesystem::exists(rejects)) << ReadFile(rejects);
  } else {
    const std::vector<std::string> entries = SplitLines(ReadFile(rejects));
    std::map<size_t, std::pair<std::string, std::string>> seen;  // line -> (header, raw)
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string& header = entries[i];
      ASSERT_EQ(header.rfind("# reject file=" + input + " line=", 0), 0u) << header;
      const size_t at = header.find(" line=") + 6;
      const size_t line_no = std::stoul(header.substr(at));
      const bool omitted = header.ends_with(" raw=omitted");
      std::string raw;
      if (!omitted) {
        ASSERT_LT(i + 1, entries.size()) << "no raw line after " << header;
        raw = entries[++i];
      }
      seen[line_no] = {header, raw};
    }
    if (c.whole_file) {
      EXPECT_GE(seen.size(), c.lines.size());
    } else {
      EXPECT_EQ(seen.size(), c.lines.size()) << ReadFile(rejects);
    }
    for (size_t n : c.lines) {
      ASSERT_TRUE(seen.count(n)) << "line " << n << " is not in the rejects file";
      const auto& [header, raw] = seen[n];
      EXPECT_NE(header.find(" reason=" + c.reason + " "), std::string::npos) << header;
      if (c.raw_omitted) {
        EXPECT_TRUE(header.ends_with(" raw=omitted")) << header.substr(0, 300);
        continue;
      }
      std::string original = lines.at(n - 1);
      if (original.ends_with('\r')) original.pop_back();
      if (n == 1 && original.rfind("\xEF\xBB\xBF", 0) == 0) original.erase(0, 3);
      EXPECT_EQ(raw, Redacted(original));
      for (const std::string& key : KeysIn(original)) {
        EXPECT_EQ(ReadFile(rejects).find(key), std::string::npos) << "a device key in rejects";
        EXPECT_EQ(run.err.find(key), std::string::npos) << "a device key on stderr";
      }
    }
  }

  // Every valid line was applied, and nothing of the bad ones: the store equals one that read
  // the file with the bad lines blanked (line numbers kept), and shows each valid line's key.
  std::string control_bytes;
  std::multiset<std::string> expected;
  if (!c.whole_file) {
    for (size_t i = 0; i < lines.size(); ++i) {
      const bool is_bad = bad.count(i + 1) > 0;
      if (!is_bad) control_bytes += lines[i];
      control_bytes += '\n';
      if (is_bad || lines[i].empty() || lines[i][0] != '{') continue;
      expected.insert(KeyOfInputLine(c.format, json::parse(lines[i])));
    }
  }
  const std::string control_input = dir / "control.txt";
  WriteFile(control_input, control_bytes);
  // Give the big buffers back before the control run, whose peak memory is the baseline.
  const size_t file_size = bytes.size();
  std::string().swap(bytes);
  std::string().swap(control_bytes);
  std::vector<std::string>().swap(lines);
  CliResult control = Ingest(dir, dir / "control", control_input, dir / "control-rejects.txt");
  EXPECT_EQ(control.exit_code, 0) << control.command << "\n" << control.err;

  const std::string got = Export(dir, dir / "store");
  EXPECT_EQ(got, Export(dir, dir / "control"));
  EXPECT_EQ(AppliedKeys(c.format, got), expected) << got;
  if (!c.whole_file && !c.lines.empty()) {
    EXPECT_EQ(expected.size(), 4u) << "valid lines counted";
  }

  if (c.max_rss_growth_mb > 0) {
    const long growth_kb = run.max_rss_kb - control.max_rss_kb;
    std::printf("peak RSS: %ld KiB with the bad line, %ld KiB without (file of %zu bytes)\n",
                run.max_rss_kb, control.max_rss_kb, file_size);
    EXPECT_LT(growth_kb, c.max_rss_growth_mb * 1024) << "memory grew with the line";
  }
}

std::string CaseName(const testing::TestParamInfo<Case>& info) {
  std::string name = info.param.name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInput, testing::ValuesIn(LoadCases()), CaseName);

// Every file of the corpus is a case (or a frame/seed the cases use), and every case's file
// exists: the corpus and its manifest cannot drift apart.
TEST(BadInputCorpus, ManifestCoversEveryFile) {
  std::set<std::string> listed;
  std::set<std::string> formats;
  for (const Case& c : LoadCases()) {
    EXPECT_TRUE(listed.insert(c.file).second) << c.file << " listed twice";
    formats.insert(c.format);
    if (!c.generated) {
      EXPECT_TRUE(std::filesystem::exists(kBad + "/" + c.file)) << c.file;
    }
  }
  EXPECT_EQ(formats, (std::set<std::string>{"events", "export", "meta", "twin"}));
  EXPECT_GE(listed.size(), 30u);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kBad)) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = std::filesystem::relative(entry.path(), kBad).string();
    if (rel.find('/') == std::string::npos) continue;  // README, cases.json, generate.sh
    if (entry.path().filename().string().starts_with("_")) continue;  // frames and seeds
    EXPECT_TRUE(listed.count(rel)) << rel << " is not in cases.json";
  }
}

// ---- 3-way exports (--base): a bad snapshot line must never become a delete --------------------

class ThreeWay : public testing::Test {
 protected:
  ThreeWay() : dir_("three-way") {
    std::string base;
    for (const char* id : {"d1", "d2", "d3", "d4"}) {
      base += json{{"id", id}, {"status", "enabled"}, {"tags", {{"room", id}}}}.dump() + "\n";
    }
    WriteFile(dir_ / "base.txt", base);
  }

  // A store holding the base (as site "backup"), then the secondary's snapshot read 3-way.
  CliResult Ingest(const std::string& store, const std::string& snapshot) {
    WriteFile(dir_ / (store + ".txt"), snapshot);
    EXPECT_EQ(Run({"init", store, "--site", "neu-secondary"}).exit_code, 0);
    EXPECT_EQ(Run({"ingest", store, "--format", "export", "--site", "backup", "--observed-at",
                   "2026-11-01T00:00:00Z", "base.txt"})
                  .exit_code,
              0);
    return Run({"ingest", store, "--format", "export", "--base", "base.txt", "--observed-at",
                "2026-11-20T00:00:00Z", store + ".txt"});
  }
  std::set<std::string> Ids(const std::string& store) {
    std::set<std::string> ids;
    for (const std::string& line : SplitLines(Run({"export", store}).out)) {
      ids.insert(json::parse(line).at("id").get<std::string>());
    }
    return ids;
  }
  CliResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), kMergetool);
    return RunCli(args, dir_.path(), dir_.path());
  }

  TempDir dir_;
};

// d4 is gone from the snapshot, d3 changed, and d2's line is cut off: its key is unknown, so the
// cut line may be d4's. No delete is written until the snapshot reads cleanly.
TEST_F(ThreeWay, UnreadableLineHoldsEveryDeleteBack) {
  const std::string snapshot = R"({"id":"d1","status":"enabled","tags":{"room":"d1"}})"
                               "\n"
                               R"({"id":"d2","status":"enab)"
                               "\n"
                               R"({"id":"d3","status":"disabled","tags":{"room":"d3"}})"
                               "\n";
  CliResult r = Ingest("s", snapshot);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("s.txt:2: invalid-json"), std::string::npos) << r.err;
  EXPECT_NE(
      r.err.find("2 records of the base are missing from s.txt; their deletes were held back"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(Ids("s"), (std::set<std::string>{"d1", "d2", "d3", "d4"}));
  EXPECT_NE(Run({"export", "s"}).out.find(R"("id":"d3","status":"disabled")"), std::string::npos);

  // The same snapshot read cleanly deletes d4: the held delete was real.
  CliResult clean = Ingest("c", R"({"id":"d1","status":"enabled","tags":{"room":"d1"}})"
                                "\n"
                                R"({"id":"d2","status":"enabled","tags":{"room":"d2"}})"
                                "\n"
                                R"({"id":"d3","status":"disabled","tags":{"room":"d3"}})"
                                "\n");
  EXPECT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_EQ(Ids("c"), (std::set<std::string>{"d1", "d2", "d3"}));
}

// A rejected line whose key is known keeps that record as it was; other deletes go on.
TEST_F(ThreeWay, RejectedLineWithAKnownKeyKeepsItsRecord) {
  CliResult r = Ingest("s", R"({"id":"d1","status":"enabled","tags":{"room":"d1"}})"
                            "\n"
                            R"({"id":"d2","status":"sideways","tags":{"room":"d2"}})"
                            "\n"
                            R"({"id":"d3","status":"enabled","tags":{"room":"d3"}})"
                            "\n");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("s.txt:2: invalid-enum"), std::string::npos) << r.err;
  EXPECT_EQ(Ids("s"), (std::set<std::string>{"d1", "d2", "d3"}));  // d4 deleted, d2 kept
}

// A rejected line of a key does not make a later readable line of that key a duplicate: the
// readable line is applied, as the plain read applies it; a second readable line is the duplicate.
TEST_F(ThreeWay, RejectedLineBeforeAReadableOneOfItsKeyLosesNothing) {
  CliResult r = Ingest("s", R"({"id":"d1","status":"enabled","tags":{"room":"d1"}})"
                            "\n"
                            R"({"id":"d2","status":"sideways","tags":{"room":"d2"}})"
                            "\n"
                            R"({"id":"d2","status":"enabled","tags":{"room":"annex"}})"
                            "\n"
                            R"({"id":"d2","status":"disabled","tags":{"room":"attic"}})"
                            "\n"
                            R"({"id":"d3","status":"enabled","tags":{"room":"d3"}})"
                            "\n");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("s.txt:2: invalid-enum"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("s.txt:3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("s.txt:4: duplicate-record"), std::string::npos) << r.err;
  EXPECT_EQ(Ids("s"), (std::set<std::string>{"d1", "d2", "d3"}));  // d4 deleted
  const std::string out = Run({"export", "s"}).out;
  EXPECT_NE(out.find(R"("id":"d2","status":"enabled")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("tags":{"room":"annex"})"), std::string::npos) << out;
}

// An empty (or wholly unreadable) snapshot is not "every device deleted".
TEST_F(ThreeWay, EmptySnapshotDeletesNothing) {
  CliResult r = Ingest("s", "");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("4 records of the base are missing from s.txt, which holds no record: "
                       "nothing was deleted"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(Ids("s"), (std::set<std::string>{"d1", "d2", "d3", "d4"}));
  // A binary snapshot: every line rejected, exit 3, nothing deleted either.
  r = Ingest("b", std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\n\x01\x02", 11));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("b.txt:1: binary-data"), std::string::npos) << r.err;
  EXPECT_EQ(Ids("b"), (std::set<std::string>{"d1", "d2", "d3", "d4"}));
}

// A rejects file fed back as input is never rewritten while it is read.
TEST_F(ThreeWay, RejectsFileIsNotItsOwnInput) {
  EXPECT_EQ(Run({"init", "r", "--site", "neu-secondary"}).exit_code, 0);
  WriteFile(dir_ / "bad.txt", R"({"id":"x","status":"on"})"
                              "\n");
  EXPECT_EQ(Run({"ingest", "r", "--format", "export", "--rejects", "rej.txt", "bad.txt"}).exit_code,
            3);
  const std::string before = ReadFile(dir_ / "rej.txt");
  CliResult again = Run({"ingest", "r", "--format", "export", "--rejects", "rej.txt", "rej.txt"});
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("rej.txt is also where this run writes its rejects"), std::string::npos);
  EXPECT_EQ(ReadFile(dir_ / "rej.txt"), before);
}

}  // namespace
}  // namespace reconcile::hardening
