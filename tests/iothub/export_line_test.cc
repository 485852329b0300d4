// The fast export line reader (lib/iothub/export_line) held to the exact path (ParseExportDevice +
// FullWriteDelta): on every line it reads it gives the exact path's key and delta, byte for byte
// once encoded, and every line the exact path rejects it declines. Checked on the fixtures, on the
// bad-input corpus and on generated lines built to sit on every rule's edge.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "lib/iothub/device_doc.h"
#include "lib/iothub/export_line.h"
#include "reconcile/codec.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile {
namespace {

const Stamp kStamp{MakeHlc(1'700'000'000'000, 3), SiteId::FromName("fast")};

struct Read {
  Key key;
  std::string encoded;
};

std::optional<Read> Exact(std::string_view line, bool keys_excluded) {
  iothub::ExportDevice dev;
  if (iothub::ParseExportDevice(line, &dev)) return std::nullopt;
  Result<RecordState> delta = iothub::FullWriteDelta(dev, kStamp, keys_excluded);
  if (!delta.ok()) return std::nullopt;
  return Read{*dev.key, EncodeRecord(*delta)};
}

// Whether the fast path read `line`; fails the test when it disagrees with the exact path.
bool Agrees(iothub::ExportLineReader& fast, std::string_view line, bool keys_excluded,
            std::string* why) {
  std::optional<Key> key;
  RecordState delta;
  const bool read = fast.FullWrite(line, kStamp, keys_excluded, &key, &delta);
  if (!read) return true;
  std::optional<Read> exact = Exact(line, keys_excluded);
  if (!exact) {
    *why = "the fast path read a line the exact path rejects";
    return false;
  }
  if (!(exact->key == *key)) {
    *why = "keys differ: " + exact->key.ToString() + " vs " + key->ToString();
    return false;
  }
  if (exact->encoded != EncodeRecord(delta)) {
    *why = "deltas differ";
    return false;
  }
  return true;
}

TEST(ExportLine, ReadsTheFixturesAsTheExactPathDoes) {
  iothub::ExportLineReader fast;
  size_t valid = 0, read = 0;
  for (const char* name : {"base.txt", "primary.txt", "primary_fresh.txt", "secondary.txt"}) {
    for (const std::string& line : testing::NonBlankLines(testing::DataPath(name))) {
      for (bool keys_excluded : {false, true}) {
        std::string why;
        ASSERT_TRUE(Agrees(fast, line, keys_excluded, &why)) << name << ": " << why << "\n" << line;
      }
      if (!Exact(line, false)) continue;
      ++valid;
      std::optional<Key> key;
      RecordState delta;
      read += fast.FullWrite(line, kStamp, false, &key, &delta);
    }
  }
  ASSERT_GT(valid, 0u);
  // The fixtures are hub exports: the fast path must be what reads them, not the fallback.
  EXPECT_EQ(read, valid) << read << " of " << valid << " valid fixture lines read fast";
}

TEST(ExportLine, DeclinesEveryLineOfTheBadCorpus) {
  const std::string dir = testing::DataDir() + "/../bad/export";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  iothub::ExportLineReader fast;
  size_t lines = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    for (const std::string& line : testing::NonBlankLines(entry.path().string())) {
      ++lines;
      for (bool keys_excluded : {false, true}) {
        std::string why;
        ASSERT_TRUE(Agrees(fast, line, keys_excluded, &why)) << entry.path() << ": " << why << "\n"
                                                             << line.substr(0, 400);
      }
    }
  }
  EXPECT_GT(lines, 100u);
}

// ---- generated lines on the rules' edges ---------------------------------------------------

// Wild lines draw odd names, strings and members freely; tame ones mostly valid ones, so that
// both paths' acceptance is exercised (edge numbers and lengths still appear in both).
bool wild = false;

std::string GenKey() {
  if (!wild || *rc::gen::inRange(0, 4) != 0) {
    return *rc::gen::element<std::string>("a", "b", "zone", "rate", "x1", "firmware", "version",
                                          "Z", "é", "naïve", "日本", "k-1", "k_2");
  }
  return *rc::gen::oneOf(
      rc::gen::element<std::string>("a", "b", "zone", "rate", "x1", "firmware", "version", "Z", "é",
                                    "naïve", "日本", "k-1", "k_2"),
      rc::gen::element<std::string>("", "$metadata", "$version", "a.b", "a b", "$x", "\xc2\x85",
                                    "\x7f", "a\\\"b", "\\u0041", "\\ud800"),
      rc::gen::map(rc::gen::inRange<size_t>(1020, 1030),
                   [](size_t n) { return std::string(n, 'k'); }));
}

std::string GenNumber() {
  if (*rc::gen::inRange(0, wild ? 2 : 6) != 0) {
    return *rc::gen::oneOf(rc::gen::map(rc::gen::inRange<int64_t>(-100000, 100000),
                                        [](int64_t v) { return std::to_string(v); }),
                           rc::gen::map(rc::gen::inRange(-100000, 100000),
                                        [](int v) { return std::to_string(v / 8.0); }));
  }
  return *rc::gen::oneOf(
      rc::gen::element<std::string>(
          "0", "-0", "-0.0", "0.0", "1", "-1", "1.0", "1E2", "1e-7", "2.5", "20.5", "1e300",
          "1e400", "5e-324", "0.1", "4503599627370495", "4503599627370496", "-4503599627370496",
          "-4503599627370497", "9223372036854775807", "9223372036854775808", "18446744073709551615",
          "18446744073709551616", "123456789012345678901234567890"),
      rc::gen::map(rc::gen::arbitrary<int64_t>(), [](int64_t v) { return std::to_string(v); }),
      rc::gen::map(rc::gen::arbitrary<double>(), [](double v) {
        std::ostringstream s;
        s.precision(17);
        s << v;
        std::string t = s.str();
        return t == "inf" || t == "-inf" || t == "nan" || t == "-nan" ? std::string("1.5") : t;
      }));
}

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

std::string GenString() {
  if (!wild && *rc::gen::inRange(0, 4) != 0) {
    return Quote(*rc::gen::element<std::string>("x", "on", "eu-west", "é", "日本語", "v1.2"));
  }
  return Quote(*rc::gen::oneOf(
      rc::gen::element<std::string>("", "x", "enabled", "Disabled", "sas", "SelfSigned",
                                    "certificateAuthority", "none", "bogus", "é", "日本語",
                                    "ms-azure-iot-edge://gw-1-637000000000000000",
                                    "ms-azure-iot-edge://gw-2-abc", "ms-azure-iot-edge://bad",
                                    "line\\nbreak", "tab\\t", "\\u00e9", "quote\\\"", "\x7f"),
      rc::gen::map(rc::gen::inRange<size_t>(4090, 4100),
                   [](size_t n) { return std::string(n, 's'); }),
      rc::gen::map(rc::gen::inRange<size_t>(125, 132), [](size_t n) {
        std::string s;
        for (size_t i = 0; i < n; ++i) s += "é";
        return s;
      })));
}

std::string GenValue(int depth);

std::string GenObject(int depth) {
  const int n = *rc::gen::inRange(0, depth > 10 ? 1 : 4);
  std::string out = "{";
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    std::string name = GenKey();
    // Now and then the same name twice in one object.
    if (wild && !names.empty() && *rc::gen::inRange(0, 10) == 0) name = names.front();
    names.push_back(name);
    if (i > 0) out += *rc::gen::element<std::string>(",", " , ", ",\n");
    out += Quote(name) + ":" + GenValue(depth + 1);
  }
  return out + "}";
}

std::string GenArray(int depth) {
  const int n = *rc::gen::inRange(0, 4);
  std::string out = "[";
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ",";
    out += *rc::gen::inRange(0, 6) == 0 ? GenObject(depth + 1) : GenValue(depth + 1);
  }
  return out + "]";
}

std::string GenValue(int depth) {
  switch (*rc::gen::inRange(0, depth > 12 ? 5 : 8)) {
    case 0:
      return GenNumber();
    case 1:
      return GenString();
    case 2:
      return *rc::gen::element<std::string>("true", "false");
    case 3:
      return "null";
    case 4:
      return GenNumber();
    case 5:
      return GenArray(depth);
    default:
      return GenObject(depth);
  }
}

// A twin section: usually well formed, nested, with $metadata and $version now and then.
std::string GenSection(bool with_meta) {
  std::string body = GenObject(1);
  if (with_meta && *rc::gen::arbitrary<bool>()) {
    std::string meta = R"("$metadata":{"$lastUpdated":"2024-01-01T00:00:00Z"},"$version":3)";
    body = body == "{}" ? "{" + meta + "}" : "{" + meta + "," + body.substr(1);
  }
  return body;
}

// A tame draw from `tame`, a wild one from both lists.
std::string Pick(std::vector<std::string> tame, const std::vector<std::string>& odd) {
  if (wild) tame.insert(tame.end(), odd.begin(), odd.end());
  return *rc::gen::elementOf(tame);
}

std::string GenAuth() {
  std::vector<std::string> members;
  if (*rc::gen::arbitrary<bool>()) {
    members.push_back(R"("type":)" + Pick({Quote("sas"), Quote("SelfSigned"),
                                           Quote("certificateAuthority"), Quote("none")},
                                          {GenString(), "3"}));
  }
  if (*rc::gen::arbitrary<bool>()) {
    members.push_back(
        Pick({R"("symmetricKey":{"primaryKey":"cHJpbWFyeQ==","secondaryKey":"c2Vjb25kYXJ5"})",
              R"("symmetricKey":{"primaryKey":"","secondaryKey":null})", R"("symmetricKey":null)",
              R"("symmetricKey":{"primaryKey":"a","other":1})"},
             {R"("symmetricKey":{"primaryKey":3})", R"("symmetricKey":"x")"}));
  }
  if (*rc::gen::arbitrary<bool>()) {
    members.push_back(
        Pick({R"("x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null})",
              R"("x509Thumbprint":{"primaryThumbprint":"AB12","secondaryThumbprint":"CD34"})",
              R"("x509Thumbprint":{})"},
             {R"("x509Thumbprint":[1])"}));
  }
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) out += (i ? "," : "") + members[i];
  return out + "}";
}

// One ExportImportDevice line: each member absent, null or present (an odd value when wild).
std::string GenExportLine() {
  std::vector<std::string> members;
  auto maybe = [&](const std::string& name, const std::string& value) {
    switch (*rc::gen::inRange(0, 6)) {
      case 0:
        return;  // absent
      case 1:
        members.push_back(Quote(name) + ":null");
        return;
      case 2:
        if (wild) {
          members.push_back(Quote(name) + ":" + GenValue(1));
          return;
        }
        [[fallthrough]];
      default:
        members.push_back(Quote(name) + ":" + value);
        return;
    }
  };
  const std::string id = Pick({"dev-1", "gw-1", "d:2"}, {"bad id", ""});
  members.push_back(R"("id":)" + Quote(id));
  if (*rc::gen::arbitrary<bool>()) {
    maybe("moduleId", Quote(Pick({"m1", "$edgeAgent", ""}, {"bad/x"})));
  }
  maybe("eTag", Quote("AAAAAAAAAAE="));
  maybe("twinETag", Quote("AAAAAAAAAAI="));
  maybe("importMode", Quote(Pick({"createOrUpdate", "delete"}, {"nope"})));
  maybe("status", Pick({Quote("enabled"), Quote("Disabled"), Quote("DISABLED")}, {GenString()}));
  maybe("statusReason", Pick({Quote(""), Quote("maintenance"), Quote("é")}, {GenString()}));
  maybe("authentication", GenAuth());
  maybe("capabilities",
        Pick({R"({"iotEdge":true})", R"({"iotEdge":false})", "{}", R"({"iotEdge":null,"x":1})"},
             {R"({"iotEdge":"yes"})"}));
  maybe("deviceScope",
        Pick({Quote("ms-azure-iot-edge://gw-1-637000000000000000"), Quote("")}, {GenString()}));
  maybe("parentScopes", Pick({R"(["ms-azure-iot-edge://gw-1-637000000000000000"])", "[]"},
                             {R"(["ms-azure-iot-edge://bad"])", R"([1])", GenArray(1)}));
  maybe("tags", GenSection(false));
  maybe("properties", "{\"desired\":" + GenSection(true) + ",\"reported\":" + GenSection(true) +
                          (*rc::gen::arbitrary<bool>() ? ",\"other\":1}" : "}"));
  maybe("connectionState", Quote("Disconnected"));
  // Shuffle the members; now and then repeat one.
  for (size_t i = members.size(); i > 1; --i) {
    std::swap(members[i - 1], members[*rc::gen::inRange<size_t>(0, i)]);
  }
  if (wild && *rc::gen::inRange(0, 5) == 0) members.push_back(members.front());
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) out += (i ? "," : "") + members[i];
  out += "}";
  if (wild && *rc::gen::inRange(0, 10) == 0) out += " x";  // trailing garbage
  return out;
}

// Ten lines a case (they are cheap), so the default 1,000 cases check 10,000 lines.
RC_GTEST_PROP(ExportLineProperty, AgreesWithTheExactPath, ()) {
  static iothub::ExportLineReader fast;
  int read_fast = 0;
  for (int i = 0; i < 10; ++i) {
    wild = *rc::gen::arbitrary<bool>();
    const std::string line = GenExportLine();
    std::optional<Key> key;
    RecordState delta;
    read_fast += fast.FullWrite(line, kStamp, false, &key, &delta);
    for (bool keys_excluded : {false, true}) {
      std::string why;
      if (!Agrees(fast, line, keys_excluded, &why)) {
        RC_FAIL(why + (keys_excluded ? " (keys excluded)" : "") + "\n" + line.substr(0, 2000));
      }
    }
  }
  RC_TAG(std::to_string(read_fast) + " of 10 read fast");
}

}  // namespace
}  // namespace reconcile
