// The plan's fast reading of the primary's export lines (lib/iothub/plan_primary) held to the exact
// one: on every line it reads it gives the exact reading's record (key, hashes, edge, parent, own
// scope), with and without no_keys, and the text it hashes is CanonicalJson of the exact path's
// document. Checked on the fixtures, the bad-input corpus and generated lines. rapidcheck prints
// its seed; RC_PARAMS="seed=N" replays a run.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "lib/iothub/device_doc.h"
#include "lib/iothub/plan_primary.h"
#include "reconcile/operations.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile {
namespace {

using iothub::PrimaryLineReader;
using iothub::PrimaryRecord;

std::string Describe(const PrimaryRecord& r) {
  std::ostringstream out;
  out << (r.key ? r.key->ToString() : "(no key)") << " edge=" << r.edge << " parent=" << r.parent
      << " own_scope=" << r.own_scope.value_or("-") << " identity=" << r.identity.a << "/"
      << r.identity.b << " no_auth=" << r.identity_no_auth.a << " twin=" << r.twin.a
      << " reported=" << r.reported.a;
  return out.str();
}

// How one line went: read fast (and agreed), declined, or a disagreement in *why.
enum class Outcome { kFast, kDeclined, kDisagree };

Outcome Compare(PrimaryLineReader& fast, std::string_view line, bool no_keys, std::string* why) {
  PrimaryRecord got;
  if (!fast.ReadFast(line, &got)) return Outcome::kDeclined;
  PrimaryRecord want;
  if (auto invalid = iothub::ReadPrimaryLineExact(line, no_keys, &want)) {
    *why = "the fast reading read a line the exact one rejects: " + invalid->detail;
    return Outcome::kDisagree;
  }
  if (!(got == want)) {
    *why = "records differ:\n  fast  " + Describe(got) + "\n  exact " + Describe(want);
    return Outcome::kDisagree;
  }
  // The text the fast reading hashed is the exact document's canonical text.
  iothub::ExportDevice dev;
  (void)iothub::ParseExportDevice(line, &dev);
  Result<RecordState> delta = iothub::FullWriteDelta(dev, Stamp{7, SiteId::FromName("x")}, false);
  std::string text;
  if (!delta.ok() || !iothub::FullWriteText(*delta, &text) || text != CanonicalJson(dev.doc)) {
    *why = "FullWriteText is not the document's canonical text:\n  " + text + "\n  " +
           CanonicalJson(dev.doc);
    return Outcome::kDisagree;
  }
  return Outcome::kFast;
}

TEST(PlanPrimary, ReadsTheFixturesAsTheExactReadingDoes) {
  size_t valid = 0, fast_reads = 0;
  for (bool no_keys : {false, true}) {
    PrimaryLineReader fast(no_keys);
    for (const char* name : {"base.txt", "primary.txt", "primary_fresh.txt", "secondary.txt"}) {
      for (const std::string& line : testing::NonBlankLines(testing::DataPath(name))) {
        std::string why;
        const Outcome outcome = Compare(fast, line, no_keys, &why);
        ASSERT_NE(outcome, Outcome::kDisagree) << name << ": " << why << "\n" << line;
        PrimaryRecord exact;
        if (iothub::ReadPrimaryLineExact(line, no_keys, &exact)) continue;
        ++valid;
        fast_reads += outcome == Outcome::kFast;
        // Read(), the plan's entry point, gives the exact record whichever reading it took.
        PrimaryRecord read;
        ASSERT_FALSE(fast.Read(line, &read).has_value());
        EXPECT_EQ(read, exact) << line;
      }
    }
  }
  ASSERT_GT(valid, 0u);
  // The fixtures are hub exports: the fast reading must be what reads them.
  EXPECT_EQ(fast_reads, valid) << fast_reads << " of " << valid << " valid lines read fast";
}

TEST(PlanPrimary, RejectsTheBadCorpusAsTheExactReadingDoes) {
  const std::string dir = testing::DataDir() + "/../bad/export";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  PrimaryLineReader fast(false);
  size_t lines = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    for (const std::string& line : testing::NonBlankLines(entry.path().string())) {
      ++lines;
      std::string why;
      ASSERT_NE(Compare(fast, line, false, &why), Outcome::kDisagree)
          << entry.path() << ": " << why << "\n"
          << line.substr(0, 400);
      // Read() rejects exactly what the exact reading rejects, for the same reason.
      PrimaryRecord a, b;
      std::optional<iothub::Invalid> got = fast.Read(line, &a);
      std::optional<iothub::Invalid> want = iothub::ReadPrimaryLineExact(line, false, &b);
      ASSERT_EQ(got.has_value(), want.has_value()) << entry.path() << "\n" << line.substr(0, 400);
      if (got) {
        EXPECT_EQ(got->reason, want->reason) << line.substr(0, 400);
      }
    }
  }
  EXPECT_GT(lines, 100u);
}

// ---- generated lines ------------------------------------------------------------------------
// Mostly valid hub lines (the fast reading reads them), with the parts the hashes and the text
// depend on drawn widely: nested sections with members in any order, nulls inside them, arrays,
// floats, escaped and non-ASCII text, $metadata, every authentication shape, scopes.

std::string Quote(const std::string& s) { return CanonicalJson(nlohmann::json(s)); }

std::string GenName() {
  return *rc::gen::element<std::string>("a", "b", "zone", "rate", "Z", "a0", "é", "日本", "x-1",
                                        "mode", "aa", "A");
}

std::string GenScalar() {
  switch (*rc::gen::inRange(0, 9)) {
    case 0:
      return "null";
    case 1:
      return *rc::gen::element<std::string>("true", "false");
    case 2:
      return std::to_string(*rc::gen::inRange<int64_t>(-1000000, 1000000));
    case 3:
      return *rc::gen::element<std::string>("1.5", "-0.25", "1e3", "2.0", "0.1", "1E-7");
    case 4:
      return Quote(*rc::gen::element<std::string>("é", "日本語", "x y", "a/b"));
    case 5:  // escapes: the fast reading declines the whole line, the exact one reads it
      if (*rc::gen::inRange(0, 20) == 0) {
        return *rc::gen::element<std::string>(R"("\u00e9\n")", R"("a\"b")", R"("\\")");
      }
      return "0";
    case 6:
      return "[" + std::to_string(*rc::gen::inRange(0, 9)) + ",\"x\",null]";
    default:
      return Quote(*rc::gen::element<std::string>("on", "off", "eu-west", "", "v1.2"));
  }
}

std::string GenObject(int depth) {
  std::string out = "{";
  const int n = *rc::gen::inRange(0, depth > 3 ? 2 : 5);
  std::vector<std::string> used;
  for (int i = 0; i < n; ++i) {
    std::string name = GenName();
    if (std::find(used.begin(), used.end(), name) != used.end()) continue;
    used.push_back(name);
    if (out.size() > 1) out += *rc::gen::element<std::string>(",", " , ");
    out += Quote(name) + ":";
    out += *rc::gen::inRange(0, 4) == 0 && depth < 4 ? GenObject(depth + 1) : GenScalar();
  }
  return out + "}";
}

std::string GenSection(bool with_meta) {
  std::string body = GenObject(1);
  if (with_meta && *rc::gen::arbitrary<bool>()) {
    body.pop_back();
    body += std::string(body.size() > 1 ? "," : "") +
            R"("$metadata":{"$lastUpdated":"2024-01-01T00:00:00Z"},"$version":4})";
  }
  return body;
}

std::string GenAuth() {
  const std::string type = Quote(
      *rc::gen::element<std::string>("sas", "SAS", "selfSigned", "certificateAuthority", "none"));
  std::vector<std::string> parts;
  if (*rc::gen::arbitrary<bool>()) parts.push_back("\"type\":" + type);
  if (*rc::gen::arbitrary<bool>()) {
    parts.push_back(*rc::gen::element<std::string>(
        R"("symmetricKey":{"primaryKey":"cGs=","secondaryKey":"c2s="})",
        R"("symmetricKey":{"primaryKey":"","secondaryKey":null})",
        R"("symmetricKey":{"primaryKey":"cGs="})", R"("symmetricKey":null)"));
  }
  if (*rc::gen::arbitrary<bool>()) {
    parts.push_back(*rc::gen::element<std::string>(
        R"("x509Thumbprint":{"primaryThumbprint":"AB12","secondaryThumbprint":null})",
        R"("x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null})",
        R"("x509Thumbprint":null)"));
  }
  std::string out = "{";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + parts[i];
  return out + "}";
}

std::string GenExportLine() {
  std::vector<std::string> members;
  auto maybe = [&](const std::string& name, const std::string& value) {
    switch (*rc::gen::inRange(0, 5)) {
      case 0:
        return;
      case 1:
        members.push_back(Quote(name) + ":null");
        return;
      default:
        members.push_back(Quote(name) + ":" + value);
        return;
    }
  };
  const std::string id = *rc::gen::element<std::string>("dev-1", "gw-1", "d:2", "gw-2");
  members.push_back(R"("id":)" + Quote(id));
  if (*rc::gen::inRange(0, 3) == 0) {
    maybe("moduleId", Quote(*rc::gen::element<std::string>("m1", "$edgeAgent", "")));
  }
  maybe("eTag", Quote("AAAAAAAAAAE="));
  maybe("twinETag", Quote("AAAAAAAAAAI="));
  maybe("status", Quote(*rc::gen::element<std::string>("enabled", "Disabled", "DISABLED")));
  maybe("statusReason", Quote(*rc::gen::element<std::string>("", "maintenance", "é")));
  maybe("authentication", GenAuth());
  maybe("capabilities",
        *rc::gen::element<std::string>(R"({"iotEdge":true})", R"({"iotEdge":false})", "{}",
                                       R"({"iotEdge":null,"x":1})"));
  const std::string scope_owner = *rc::gen::element<std::string>("gw-1", "gw-2", "dev-1");
  maybe("deviceScope", *rc::gen::element<std::string>(
                           Quote("ms-azure-iot-edge://" + scope_owner + "-6370001"), Quote("")));
  maybe("parentScopes", *rc::gen::element<std::string>(
                            R"(["ms-azure-iot-edge://gw-1-637000000000000000"])", "[]",
                            R"(["ms-azure-iot-edge://gw-2-1","ms-azure-iot-edge://gw-1-2"])"));
  maybe("tags", GenObject(1));
  maybe("properties", "{\"desired\":" + GenSection(true) + ",\"reported\":" + GenSection(true) +
                          (*rc::gen::arbitrary<bool>() ? ",\"other\":1}" : "}"));
  maybe("connectionState", Quote("Disconnected"));
  for (size_t i = members.size(); i > 1; --i) {
    std::swap(members[i - 1], members[*rc::gen::inRange<size_t>(0, i)]);
  }
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) out += (i ? "," : "") + members[i];
  return out + "}";
}

// Ten lines a case, so the default 1,000 cases check 10,000 lines.
RC_GTEST_PROP(PlanPrimaryProperty, AgreesWithTheExactReading, ()) {
  static PrimaryLineReader fast_keys(false);
  static PrimaryLineReader fast_no_keys(true);
  int read_fast = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string line = GenExportLine();
    for (bool no_keys : {false, true}) {
      std::string why;
      const Outcome outcome = Compare(no_keys ? fast_no_keys : fast_keys, line, no_keys, &why);
      if (outcome == Outcome::kDisagree) {
        RC_FAIL(why + (no_keys ? " (no_keys)" : "") + "\n" + line);
      }
      read_fast += outcome == Outcome::kFast && !no_keys;
    }
  }
  RC_TAG(std::to_string(read_fast) + " of 10 read fast");
}

}  // namespace
}  // namespace reconcile
