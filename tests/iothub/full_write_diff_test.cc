// The 3-way diff from two full writes (lib/iothub/full_write_diff) held to DiffDelta on the two
// parsed documents: wherever it does not decline, the same delta byte for byte once encoded.
// Checked on the fixtures' lines of one record at two times and on generated pairs of documents
// that share some parts and differ in others (values changed, members added and removed, objects
// turned into scalars, sections and authentication appearing and going, numbers written two ways).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "lib/iothub/device_doc.h"
#include "lib/iothub/export_line.h"
#include "lib/iothub/full_write_diff.h"
#include "reconcile/codec.h"
#include "reconcile/path.h"
#include "tests/iothub/iothub_test_util.h"

namespace reconcile {
namespace {

const Stamp kRead{MakeHlc(1, 0), SiteId()};
const Stamp kStamp{MakeHlc(1'700'000'000'000, 7), SiteId::FromName("secondary")};

// The cells of a delta, one line each: path (segments joined by '/'), cover and value.
std::string Describe(const RecordState& state) {
  std::string out;
  for (const Cell& c : state.cells()) {
    std::string path = c.path.str();
    for (char& ch : path) ch = ch == kPathSeparator ? '/' : ch;
    out += "\n    /" + path + (c.has_cover ? " cover" : "") +
           (c.has_value ? " value " + c.value.str() : "") + (c.has_below_cover ? " below-cover" : "");
  }
  return out;
}

enum class Outcome { kSame, kDeclined, kUnread };

// Compares the two diffs of base -> snap; *why says how they differ.
Outcome Compare(iothub::ExportLineReader& fast, const std::string& base, const std::string& snap,
                std::string* why) {
  std::optional<Key> kb, ks;
  RecordState fb, fs;
  if (!fast.FullWrite(base, kRead, false, &kb, &fb) ||
      !fast.FullWrite(snap, kRead, false, &ks, &fs)) {
    return Outcome::kUnread;
  }
  RecordState from_cells;
  if (!iothub::DiffFullWrites(fb, fs, kStamp, &from_cells)) return Outcome::kDeclined;
  iothub::ExportDevice db, ds;
  if (iothub::ParseExportDevice(base, &db) || iothub::ParseExportDevice(snap, &ds)) {
    *why = "the exact path rejects a line the fast path read";
    return Outcome::kSame;
  }
  Result<RecordState> exact = iothub::DiffDelta(db, ds, kStamp, false);
  if (!exact.ok()) {
    *why = "DiffDelta failed: " + exact.status().ToString();
  } else if (EncodeRecord(*exact) != EncodeRecord(from_cells)) {
    *why = "the deltas differ:\n  exact" + Describe(*exact) + "\n  cells" + Describe(from_cells);
  }
  return Outcome::kSame;
}

std::map<std::string, std::string> LinesById(const std::string& name) {
  std::map<std::string, std::string> out;
  std::istringstream in(testing::ReadFile(testing::DataPath(name)));
  std::string line;
  while (std::getline(in, line)) {
    iothub::ExportDevice dev;
    if (line.empty() || iothub::ParseExportDevice(line, &dev)) continue;
    out[dev.key->ToString()] = line;
  }
  return out;
}

TEST(FullWriteDiff, AgreesWithDiffDeltaOnTheFixtures) {
  iothub::ExportLineReader fast;
  const std::pair<const char*, const char*> pairs[] = {{"base.txt", "primary.txt"},
                                                       {"base.txt", "secondary.txt"},
                                                       {"primary.txt", "primary_fresh.txt"},
                                                       {"secondary.txt", "primary.txt"}};
  int compared = 0, declined = 0, differing = 0;
  for (const auto& [from, to] : pairs) {
    const auto before = LinesById(from);
    const auto after = LinesById(to);
    for (const auto& [id, line] : after) {
      auto it = before.find(id);
      if (it == before.end()) continue;
      for (const auto& [b, s] : {std::pair{it->second, line}, std::pair{line, it->second}}) {
        std::string why;
        const Outcome o = Compare(fast, b, s, &why);
        EXPECT_EQ(why, "") << from << " -> " << to << ", " << id;
        compared += o == Outcome::kSame;
        declined += o == Outcome::kDeclined;
        differing += o == Outcome::kSame && b != s;
      }
    }
  }
  // The fixtures change strings, integers, objects and members: nothing to decline.
  EXPECT_EQ(declined, 0);
  EXPECT_GT(compared, 40);
  EXPECT_GT(differing, 20);
}

// ---- generated pairs ---------------------------------------------------------------------

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

std::string GenScalar() {
  return *rc::gen::oneOf(
      rc::gen::element<std::string>(
          "1", "1.0", "2", "2.0", "-3", "-3.0", "0.5", "0.50", "1e2", "100", "100.0",
          "9007199254740993", "9007199254740992.0", "18446744073709551615", "1.8446744073709552e19",
          "true", "false", "[1.5]", "[1,2.0]", "[1,2]", "\"x\"", "\"y\"", "\"1\"", "\"\"", "[]",
          "[1]", "[1.0]", "[\"a\"]", "[\"a\",\"b\"]", "[\"b\",\"a\"]", "[true,1]", "[[1],\"a\"]"),
      rc::gen::map(rc::gen::inRange(-50, 50), [](int v) { return std::to_string(v); }));
}

// A pair of objects, each member the same on both sides, changed, on one side only, null on
// one side, or an object on both (recursively) or on one.
std::pair<std::string, std::string> GenObjectPair(int depth) {
  const int n = *rc::gen::inRange(0, depth > 4 ? 2 : 5);
  std::vector<std::string> names = {"a", "b", "rate", "zone", "x1", "é", "k-1"};
  std::string a = "{", b = "{";
  auto add = [](std::string* to, const std::string& member) {
    if (to->size() > 1) *to += ",";
    *to += member;
  };
  for (int i = 0; i < n && !names.empty(); ++i) {
    const size_t at = *rc::gen::inRange<size_t>(0, names.size());
    const std::string name = Quote(names[at]);
    names.erase(names.begin() + static_cast<long>(at));
    switch (*rc::gen::inRange(0, 9)) {
      case 0: {
        const std::string v = GenScalar();
        add(&a, name + ":" + v);
        add(&b, name + ":" + v);
        break;
      }
      case 1:
        add(&a, name + ":" + GenScalar());
        add(&b, name + ":" + GenScalar());
        break;
      case 2:
        add(*rc::gen::arbitrary<bool>() ? &a : &b, name + ":" + GenScalar());
        break;
      case 3:
        add(&a, name + ":null");
        add(&b, name + ":" + GenScalar());
        break;
      case 7: {
        // One number written two ways (equal to DiffDelta), or two close ones (not equal).
        static const std::vector<std::pair<std::string, std::string>> kNumbers = {
            {"1", "1.0"},         {"100", "1e2"},
            {"-3", "-3.0"},       {"9007199254740993", "9007199254740992.0"},
            {"2", "2.5"},         {"0.5", "0.50"},
            {"[1,2]", "[1,2.0]"}, {"7", "8"}};
        const auto [x, y] = *rc::gen::elementOf(kNumbers);
        add(&a, name + ":" + x);
        add(&b, name + ":" + y);
        break;
      }
      case 4: {
        auto [x, y] = GenObjectPair(depth + 1);
        add(&a, name + ":" + x);
        add(&b, name + ":" + GenScalar());
        break;
      }
      default: {
        auto [x, y] = GenObjectPair(depth + 1);
        add(&a, name + ":" + x);
        add(&b, name + ":" + y);
        break;
      }
    }
  }
  a += "}";
  b += "}";
  if (*rc::gen::arbitrary<bool>()) std::swap(a, b);
  return {a, b};
}

// One member of a pair of export lines: the same value, a value each, or absent/null on a side.
void Member(const std::string& name, const std::vector<std::string>& values,
            std::vector<std::string>* a, std::vector<std::string>* b) {
  auto pick = [&] { return *rc::gen::elementOf(values); };
  switch (*rc::gen::inRange(0, 5)) {
    case 0: {
      const std::string v = pick();
      a->push_back(Quote(name) + ":" + v);
      b->push_back(Quote(name) + ":" + v);
      return;
    }
    case 1:
      a->push_back(Quote(name) + ":" + pick());
      b->push_back(Quote(name) + ":" + pick());
      return;
    case 2:
      a->push_back(Quote(name) + ":" + pick());
      if (*rc::gen::arbitrary<bool>()) b->push_back(Quote(name) + ":null");
      return;
    case 3:
      b->push_back(Quote(name) + ":" + pick());
      return;
    default:
      return;
  }
}

std::string Section(const std::string& body, bool meta) {
  if (!meta || body == "{}") return body;
  return R"({"$metadata":{"$lastUpdated":"2024-01-01T00:00:00Z"},"$version":4,)" + body.substr(1);
}

std::pair<std::string, std::string> GenLinePair() {
  std::vector<std::string> a, b;
  const std::string id = R"("id":"dev-1")";
  a.push_back(id);
  b.push_back(id);
  if (*rc::gen::inRange(0, 4) == 0) {
    a.push_back(R"("moduleId":"m1")");
    b.push_back(R"("moduleId":"m1")");
  }
  // eTags always differ (they are per hub), as after a failover.
  a.push_back(R"("eTag":"AAAAAAAAAAE=","twinETag":"AAAAAAAAAAI=")");
  b.push_back(R"("eTag":"AAAAAAAAAAM=","twinETag":"AAAAAAAAAAQ=")");
  Member("status", {Quote("enabled"), Quote("disabled"), Quote("Disabled")}, &a, &b);
  Member("statusReason", {Quote(""), Quote("maintenance"), Quote("é")}, &a, &b);
  Member(
      "authentication",
      {R"({"type":"sas","symmetricKey":{"primaryKey":"cHJpbWFyeQ==","secondaryKey":"c2Vj"}})",
       R"({"type":"sas","symmetricKey":{"primaryKey":"bmV3","secondaryKey":"c2Vj"}})",
       R"({"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"AB","secondaryThumbprint":null}})",
       R"({"type":"none"})", "{}"},
      &a, &b);
  Member("capabilities", {R"({"iotEdge":true})", R"({"iotEdge":false})", "{}"}, &a, &b);
  Member("deviceScope",
         {Quote("ms-azure-iot-edge://gw-1-637000000000000000"),
          Quote("ms-azure-iot-edge://gw-1-638000000000000000"), Quote("")},
         &a, &b);
  Member("parentScopes",
         {R"(["ms-azure-iot-edge://gw-1-637000000000000000"])",
          R"(["ms-azure-iot-edge://gw-2-637000000000000000"])", "[]"},
         &a, &b);
  auto [ta, tb] = GenObjectPair(1);
  Member("tags", {ta, tb, "{}"}, &a, &b);
  // properties: each section on its own, the whole object now and then absent or null.
  {
    auto [da, db] = GenObjectPair(1);
    auto [ra, rb] = GenObjectPair(1);
    std::vector<std::string> pa, pb;
    Member("desired", {Section(da, true), Section(db, true)}, &pa, &pb);
    Member("reported", {Section(ra, true), Section(rb, false)}, &pa, &pb);
    auto object = [](const std::vector<std::string>& members) {
      std::string out = "{";
      for (size_t i = 0; i < members.size(); ++i) out += (i ? "," : "") + members[i];
      return out + "}";
    };
    const int shape = *rc::gen::inRange(0, 6);
    if (shape != 0) a.push_back(R"("properties":)" + (shape == 1 ? "null" : object(pa)));
    if (shape != 2) b.push_back(R"("properties":)" + object(pb));
  }
  auto line = [](const std::vector<std::string>& members) {
    std::string out = "{";
    for (size_t i = 0; i < members.size(); ++i) out += (i ? "," : "") + members[i];
    return out + "}";
  };
  return {line(a), line(b)};
}

// Ten pairs a case, so the default 1,000 cases check 10,000 pairs.
RC_GTEST_PROP(FullWriteDiffProperty, AgreesWithDiffDelta, ()) {
  static iothub::ExportLineReader fast;
  int same = 0, declined = 0;
  for (int i = 0; i < 10; ++i) {
    const auto [base, snap] = GenLinePair();
    std::string why;
    const Outcome o = Compare(fast, base, snap, &why);
    if (!why.empty()) RC_FAIL(why + "\nbase " + base + "\nsnap " + snap);
    same += o == Outcome::kSame;
    declined += o == Outcome::kDeclined;
  }
  RC_TAG(std::to_string(same) + " compared, " + std::to_string(declined) + " declined");
}

}  // namespace
}  // namespace reconcile
