// Secrets scan: the drill and every mergetool subcommand run on inputs that carry device keys,
// and everything they print or leave behind is searched for key material (SecretScanner: the
// base64 key, its base64url/JSON-escaped spellings, the decoded bytes and their hex, whole or in
// 16-character pieces). There must be none, except in the files that hold keys by design:
//   - the hubs' own registries and exports (inputs, and copies of them kept as evidence);
//   - the import plan for the primary hub (DECISIONS I14: create/update lines carry the merged
//     keys unless --no-keys), including the retry plan and the failed lines it re-plans;
//   - `mergetool export --keys` (asked for by name; without --keys export writes fingerprints);
//   - the store's data files (SST, WAL, backups): the merged state holds the keys the plan needs.
// X.509 thumbprints are fingerprints of public certificates, not secrets: not searched.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "tests/hardening/cli_runner.h"
#include "tests/hardening/secret_scanner.h"

namespace reconcile::hardening {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kMergetool = MERGETOOL;

// Files that hold keys by design (relative paths, '/'-separated).
bool IsStoreDataFile(const std::string& rel) {
  // RocksDB's tables, write-ahead logs and blobs, and their copies in backups
  // (000031_s..._1850.sst).
  static const std::regex kData(R"re((^|/)[0-9]+(_[A-Za-z0-9_]+)?\.(sst|log|blob)$)re");
  return std::regex_search(rel, kData);
}

struct Leak {
  std::string where;
  std::string what;
};

class Scan {
 public:
  explicit Scan(const SecretScanner& scanner) : scanner_(scanner) {}

  void Text(const std::string& where, const std::string& bytes) {
    ++scanned_;
    std::string found = scanner_.Find(bytes);
    if (!found.empty()) leaks_.push_back({where, found});
  }
  void Command(const CliResult& r) {
    Text("stdout of '" + r.command + "'", r.out);
    Text("stderr of '" + r.command + "'", r.err);
  }
  // Every file under `root` but those `exempt` says hold keys by design.
  template <typename Exempt>
  void Tree(const std::string& root, Exempt exempt) {
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (!e.is_regular_file()) continue;
      const std::string rel = fs::relative(e.path(), root).string();
      if (exempt(rel)) {
        exempt_.push_back(rel);
        continue;
      }
      Text(e.path().string(), ReadFile(e.path().string()));
    }
  }
  // True when `path` holds key material (used to show the exempt files are not vacuous).
  bool HoldsKeys(const std::string& path) const { return !scanner_.Find(ReadFile(path)).empty(); }

  void ExpectClean() const {
    for (const Leak& l : leaks_) ADD_FAILURE() << "key material in " << l.where << ": " << l.what;
    std::printf("secrets scan: %zu outputs and files scanned, %zu exempt, %zu leaks\n", scanned_,
                exempt_.size(), leaks_.size());
  }

 private:
  const SecretScanner& scanner_;
  size_t scanned_ = 0;
  std::vector<std::string> exempt_;
  std::vector<Leak> leaks_;
};

// ---- the drill --------------------------------------------------------------------------------

bool DrillExempt(const std::string& rel) {
  static const std::regex kExempt(
      "^(backup/devices\\.txt"                                 // the backup export (an input)
      "|(primary|secondary)-hub/snapshot\\.jsonl"              // the simulated hubs' registries
      "|failback/exports/.*"                                   // the hubs' exports (inputs)
      "|failback/retry-[0-9]+/(before|changed|primary)\\.txt"  // fresh exports of the primary
      "|failback/verify/.*"                                    // the primary's export after import
      "|failback/plan/devices-[0-9]+\\.txt"                    // the import plan (I14)
      "|failback/retry-[0-9]+/plan/retry-[0-9]+\\.txt"         // the retry plan (I14)
      "|failback/retry-[0-9]+/failed-lines\\.txt"              // plan lines the hub failed (I14)
      ")$");
  return std::regex_match(rel, kExempt) || IsStoreDataFile(rel);
}

TEST(Secrets, DrillLeaksNoKey) {
  TempDir dir("secrets-drill");
  for (const bool as_json : {false, true}) {
    const std::string work = dir / (as_json ? "json" : "text");
    std::vector<std::string> argv = {kMergetool, "drill", "--devices", "2000", "--work", work};
    if (as_json) argv.push_back("--json");
    CliResult r = RunCli(argv, dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.command << "\n" << r.err << r.out;

    SecretScanner scanner;
    for (const char* input :
         {"backup/devices.txt", "primary-hub/snapshot.jsonl", "secondary-hub/snapshot.jsonl",
          "failback/exports/primary.txt", "failback/exports/secondary.txt"}) {
      scanner.AddKeysInLines(ReadFile(work + "/" + input));
    }
    ASSERT_GT(scanner.keys(), 2000u) << "the drill's fleet carries keys";
    Scan scan(scanner);
    scan.Command(r);
    scan.Tree(work, DrillExempt);
    scan.ExpectClean();
    // The exemptions are real: the plan does carry keys, and the scanner finds them.
    EXPECT_TRUE(scan.HoldsKeys(work + "/failback/plan/devices-00001.txt"));
  }
}

// ---- every subcommand -------------------------------------------------------------------------

// Random 32-byte keys, base64, from a fixed seed: distinctive and not guessable from ids.
class Keys {
 public:
  std::string Next() {
    std::string raw;
    for (int i = 0; i < 32; ++i) raw += static_cast<char>(rng_() & 0xFF);
    static const char* kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < raw.size(); i += 3) {
      uint32_t n = static_cast<unsigned char>(raw[i]) << 16;
      if (i + 1 < raw.size()) n |= static_cast<unsigned char>(raw[i + 1]) << 8;
      if (i + 2 < raw.size()) n |= static_cast<unsigned char>(raw[i + 2]);
      out += kAlphabet[(n >> 18) & 63];
      out += kAlphabet[(n >> 12) & 63];
      out += i + 1 < raw.size() ? kAlphabet[(n >> 6) & 63] : '=';
      out += i + 2 < raw.size() ? kAlphabet[n & 63] : '=';
    }
    return out;
  }

 private:
  std::mt19937_64 rng_{20261126};
};

json Device(const std::string& id, const std::string& k1, const std::string& k2,
            const std::string& status = "enabled", const std::string& etag = "MQ==") {
  return {{"id", id},
          {"eTag", etag},
          {"status", status},
          {"authentication",
           {{"type", "sas"}, {"symmetricKey", {{"primaryKey", k1}, {"secondaryKey", k2}}}}},
          {"twinETag", "AAAAAAAAAAE="},
          {"tags", {{"room", id}}},
          {"properties", {{"desired", {{"rate", 1}}}, {"reported", json::object()}}},
          {"capabilities", {{"iotEdge", false}}}};
}

std::string Lines(const std::vector<json>& v) {
  std::string out;
  for (const json& j : v) out += j.dump() + "\n";
  return out;
}

TEST(Secrets, EverySubcommandLeaksNoKey) {
  TempDir dir("secrets-cli");
  Keys keys;
  SecretScanner scanner;
  auto key = [&] {
    std::string k = keys.Next();
    scanner.AddKey(k);
    return k;
  };

  // A fleet: the base (backup), the primary's export (d-2 re-keyed, d-7 new), the secondary's
  // (d-3 re-keyed, d-4 disabled, d-5 gone, d-8 new, and a bad line that carries keys).
  std::vector<json> base;
  for (int i = 1; i <= 6; ++i) base.push_back(Device("d-" + std::to_string(i), key(), key()));
  json module = Device("d-1", key(), key());
  module["moduleId"] = "m-1";
  module.erase("capabilities");
  base.push_back(module);
  json x509 = Device("x-1", "", "");
  x509["authentication"] = {{"type", "selfSigned"},
                            {"x509Thumbprint",
                             {{"primaryThumbprint", "9A0B1C2D3E4F5061728394A5B6C7D8E9F0A1B2C3"},
                              {"secondaryThumbprint", nullptr}}}};
  base.push_back(x509);
  std::vector<json> primary = base;
  primary[1] = Device("d-2", key(), key(), "enabled", "Mg==");
  primary.push_back(Device("d-7", key(), key()));
  std::vector<json> secondary = base;
  secondary[2] = Device("d-3", key(), key());
  secondary[3]["status"] = "disabled";
  secondary.erase(secondary.begin() + 4);  // d-5
  secondary.push_back(Device("d-8", key(), key()));
  WriteFile(dir / "base.txt", Lines(base));
  WriteFile(dir / "primary.txt", Lines(primary));
  WriteFile(dir / "secondary.txt",
            Lines(secondary) + Device("d-9", key(), key(), "on").dump() + "\n");
  // Notifications: a create whose body carries keys (a tool that leaks them), a bad line too.
  json create = {{"properties",
                  {{"hubName", "contoso-neu"},
                   {"deviceId", "d-10"},
                   {"opType", "createDeviceIdentity"},
                   {"iothub-message-schema", "deviceLifecycleNotification"},
                   {"operationTimestamp", "2026-11-20T10:00:00Z"}}},
                 {"body",
                  {{"deviceId", "d-10"},
                   {"status", "enabled"},
                   {"authenticationType", "sas"},
                   {"authentication", {{"symmetricKey", {{"primaryKey", key()}}}}}}}};
  json bad_event = create;
  bad_event["properties"]["opType"] = "rekeyDevice";
  bad_event["body"]["authentication"]["symmetricKey"]["secondaryKey"] = key();
  WriteFile(dir / "events.jsonl", Lines({create, bad_event}));
  WriteFile(
      dir / "twins.jsonl",
      Lines({{{"deviceId", "d-1"},
              {"properties",
               {{"desired",
                 {{"rate", 5}, {"$metadata", {{"$lastUpdated", "2026-11-20T11:00:00Z"}}}}}}}}}));
  WriteFile(dir / "meta.jsonl", Lines({{{"namespace", "fleet"},
                                        {"key", "wave-1"},
                                        {"updatedAt", "2026-11-20T10:00:00Z"},
                                        {"doc", {{"devices", {"d-1", "d-2"}}}}}}));
  WriteFile(dir / "importErrors.log",
            Lines({{{"deviceId", "d-2"}, {"errorCode", 412001}, {"errorStatus", "ETag mismatch"}},
                   {{"deviceId", "d-8"}, {"errorCode", 409001}, {"errorStatus", "exists"}}}));
  // Directory hubs for `mergetool failback`.
  for (const char* hub : {"hubs/contoso-weu/export", "hubs/contoso-neu/export"}) {
    fs::create_directories(dir / hub);
  }
  fs::copy_file(dir / "primary.txt", dir / "hubs/contoso-weu/export/devices.txt");
  fs::copy_file(dir / "secondary.txt", dir / "hubs/contoso-neu/export/devices.txt");
  ASSERT_GE(scanner.keys(), 25u);

  Scan scan(scanner);
  auto run = [&](std::vector<std::string> args, std::vector<int> ok = {0}) {
    args.insert(args.begin(), kMergetool);
    CliResult r = RunCli(args, dir.path(), dir.path());
    EXPECT_NE(std::find(ok.begin(), ok.end(), r.exit_code), ok.end())
        << r.command << " exited " << r.exit_code << "\n"
        << r.err;
    scan.Command(r);
    return r;
  };
  const std::string fork = "2026-11-01T00:00:00Z";
  run({"init", "p", "--site", "weu-primary", "--fork-point", fork});
  run({"init", "s", "--site", "neu-secondary", "--fork-point", fork});
  run({"ingest", "p", "--format", "export", "--observed-at", "2026-11-20T00:00:00Z",
       "primary.txt"});
  run({"ingest", "s", "--format", "export", "--base", "base.txt", "--observed-at",
       "2026-11-20T01:00:00Z", "secondary.txt"},
      {3});
  run({"ingest", "s", "--format", "events", "--hub-site", "contoso-neu=neu-secondary", "--rejects",
       "events-rejects.txt", "events.jsonl"},
      {3});
  run({"ingest", "s", "--format", "twin", "--observed-at", "2026-11-20T12:00:00Z", "twins.jsonl"});
  run({"ingest", "s", "--format", "meta", "meta.jsonl"});
  run({"merge", "p", "s"});
  run({"export", "p", "--format", "twin"});
  run({"export", "p", "--kind", "meta"});
  run({"export", "p"});
  run({"export", "p", "-o", "export.txt"});
  // With --keys the export holds the keys as they are: the scan can see them.
  CliResult with_keys = RunCli({kMergetool, "export", "p", "--keys"}, dir.path(), dir.path());
  EXPECT_EQ(with_keys.exit_code, 0);
  EXPECT_FALSE(scanner.Find(with_keys.out).empty()) << "export --keys does not write the keys";
  scan.Text("stderr of 'mergetool export p --keys'", with_keys.err);
  run({"digest", "p"});
  run({"diff", "p", "s"});
  run({"diff", "p", "s", "--json"});
  run({"conflicts", "p"});
  run({"conflicts", "p", "--json"});
  run({"stats", "p"});
  run({"stats", "p", "--json"});
  run({"plan", "p", "--primary-export", "primary.txt", "-o", "plan", "--json"});
  run({"plan", "p", "--primary-export", "primary.txt", "-o", "plan-no-keys", "--no-keys"});
  run({"plan", "p", "--primary-export", "primary.txt", "-o", "retry", "--retry", "importErrors.log",
       "--previous-plan", "plan", "--json"});
  run({"backup", "p", "backups", "--verify"});
  run({"restore", "backups", "restored"});
  run({"stats", "restored", "--json"});
  // The orchestrated failback between directory hubs stops when the import job is handed over
  // (exit 1, "waiting for the import job"); everything up to there is written.
  for (const bool no_keys : {false, true}) {
    std::vector<std::string> args = {"failback",
                                     "--primary",
                                     "hubs/contoso-weu",
                                     "--secondary",
                                     "hubs/contoso-neu",
                                     "--work",
                                     no_keys ? "work-no-keys" : "work",
                                     "--base",
                                     "base.txt",
                                     "--fork-point",
                                     fork,
                                     "--json"};
    if (no_keys) args.push_back("--no-keys");
    run(args, {0, 1, 3});
    args.push_back("--resume");
    run(args, {0, 1, 3});
  }

  // The files. Exempt: inputs, the store's data, the import plans unless --no-keys.
  static const std::regex kExempt(
      "^((base|primary|secondary)\\.txt"                      // the hubs' exports (inputs)
      "|events\\.jsonl"                                       // the input with a key in a body
      "|hubs/contoso-(weu|neu)/export/devices\\.txt"          // the same, in the hub folders
      "|plan/devices-[0-9]+\\.txt"                            // the import plan (I14)
      "|retry/devices-[0-9]+\\.txt|retry/retry-[0-9]+\\.txt"  // the retry plan (I14)
      "|work/plan/devices-[0-9]+\\.txt"                       // the failback's import plan
      "|work/exports/.*"                                      // the failback's copies of exports
      "|hubs/contoso-weu/import/[^/]+/devices-[0-9]+\\.txt"   // the plan handed to the hub
      ")$");
  auto exempt = [](const std::string& rel) {
    if (rel.rfind("work-no-keys/exports/", 0) == 0) return true;  // inputs again
    return std::regex_match(rel, kExempt) || IsStoreDataFile(rel);
  };
  scan.Tree(dir.path(), exempt);
  scan.ExpectClean();

  // Not vacuous: keys are where they must be, and gone where --no-keys says.
  EXPECT_TRUE(scan.HoldsKeys(dir / "plan/devices-00001.txt"));
  EXPECT_FALSE(scan.HoldsKeys(dir / "export.txt"));  // fingerprints without --keys
  EXPECT_FALSE(scan.HoldsKeys(dir / "plan-no-keys/devices-00001.txt"));
  ASSERT_TRUE(fs::exists(dir / "work/plan/devices-00001.txt"));
  EXPECT_TRUE(scan.HoldsKeys(dir / "work/plan/devices-00001.txt"));
  ASSERT_TRUE(fs::exists(dir / "work-no-keys/plan/devices-00001.txt"));
  EXPECT_FALSE(scan.HoldsKeys(dir / "work-no-keys/plan/devices-00001.txt"));
  EXPECT_NE(ReadFile(dir / "s.rejects.txt").find("\"redacted\""), std::string::npos);
}

}  // namespace
}  // namespace reconcile::hardening
