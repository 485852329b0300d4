// The verify step's projections made from canonical text (lib/failback/projection_text) held to
// the reference: ProjectRecord on a parsed document, over the whole store (MakeStoreSource's
// documents) and the whole export (ParseExportDevice on every line), as the verify step did
// before it read text. Checked per record on generated documents and export lines (key order,
// blanks, escapes, 1 vs 1.0, nulls, odd types), per file on the fixtures and the bad-input corpus,
// and end to end on a generated store and its export, equal and then differing in a few records.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lib/core/hash.h"
#include "lib/failback/projection.h"
#include "lib/failback/projection_text.h"
#include "lib/failback/store_source.h"
#include "lib/iothub/device_doc.h"
#include "lib/iothub/export_line.h"
#include "reconcile/operations.h"
#include "reconcile/store.h"
#include "tests/failback/test_util.h"

namespace reconcile::failback_test {
namespace {

using failback::Projection;
using nlohmann::json;

std::string DataDir() {
  const char* env = std::getenv("RECONCILE_TEST_DATA");
  return env != nullptr ? env : RECONCILE_FAILBACK_DEFAULT_TEST_DATA;
}

// ---- the reference: the verify step's projections as they were, document by document ---------

// A digest built as the verify step built it: Hash64 of key + "\n" + projection, seeds 1 and 2,
// summed; the per-key hashes in a map (of a key seen twice, the last).
struct Reference {
  uint64_t hi = 0;
  uint64_t lo = 0;
  uint64_t records = 0;
  std::map<std::string, uint64_t> per_key;

  void Add(const std::string& key, const std::string& projection) {
    const std::string text = key + "\n" + projection;
    const uint64_t a = internal::Hash64(text, 1);
    hi += a;
    lo += internal::Hash64(text, 2);
    ++records;
    per_key[key] = a;
  }
  Projection AsProjection() const {
    Projection p;
    p.hi = hi;
    p.lo = lo;
    p.records = records;
    p.per_key.assign(per_key.begin(), per_key.end());
    return p;
  }
};

Projection ReferenceStore(const Store& store, bool no_keys) {
  Reference out;
  std::unique_ptr<MergedSource> source = failback::MakeStoreSource(store);
  MergedRecord rec{Key::Device("x").value(), std::nullopt, 0};
  std::string device;
  bool device_exists = false;
  while (true) {
    Result<bool> got = source->Next(&rec);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok() || !*got) break;
    if (rec.key.kind() == KeyKind::kDevice) {
      device = rec.key.device_id();
      device_exists = rec.doc.has_value();
    }
    if (!rec.doc) continue;
    if (rec.key.kind() == KeyKind::kModule && (!device_exists || device != rec.key.device_id())) {
      continue;
    }
    std::optional<std::string> p = failback::ProjectRecord(rec.key, *rec.doc, no_keys);
    if (p) out.Add(rec.key.ToString(), *p);
  }
  return out.AsProjection();
}

Projection ReferenceExport(const std::string& path, bool no_keys, RejectSink* rejects,
                           uint64_t* rejected) {
  uint64_t ignored = 0;
  if (rejected == nullptr) rejected = &ignored;
  Reference out;
  Result<std::unique_ptr<LineReader>> reader = LineReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out.AsProjection();
  Status s = iothub::ForEachLine(
      **reader, rejects, rejected,
      [&](const Line& line, std::optional<iothub::Invalid>* invalid) -> Status {
        iothub::ExportDevice dev;
        if ((*invalid = iothub::ParseExportDevice(line.text, &dev))) return Status::Ok();
        std::optional<std::string> p = failback::ProjectRecord(*dev.key, dev.doc, no_keys);
        if (p) out.Add(dev.key->ToString(), *p);
        return Status::Ok();
      });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out.AsProjection();
}

// The projection from canonical document text, or "(declined)".
std::string FromText(const Key& key, const std::string& doc, bool no_keys) {
  failback::ProjectedMembers members;
  if (!failback::MembersOfCanonicalText(doc, &members)) return "(declined)";
  std::string out;
  failback::AppendProjection(key, members, no_keys, &out);
  return out;
}

// The projection of an export line through the fast reader, or nullopt when it declines.
std::optional<std::string> FromFastReader(iothub::ExportLineReader& reader, const std::string& line,
                                          bool no_keys, std::optional<Key>* key) {
  static const Stamp kStamp{MakeHlc(1, 0), SiteId()};
  RecordState delta;
  if (!reader.FullWrite(line, kStamp, false, key, &delta)) return std::nullopt;
  std::string storage;
  failback::ProjectedMembers members;
  if (!failback::MembersOfFullWrite(delta, &storage, &members)) return "(cells declined)";
  std::string out;
  failback::AppendProjection(**key, members, no_keys, &out);
  return out;
}

void ExpectSame(const Projection& got, const Projection& want, const std::string& what) {
  EXPECT_EQ(got.Hex(), want.Hex()) << what;
  EXPECT_EQ(got.per_key, want.per_key) << what;
}

// Both ways the export is projected (inline and on two workers) against the reference, also for
// the rejects each sends and counts.
void ExpectExportAsReference(const std::string& path, bool no_keys) {
  RejectCollector want_rejects;
  uint64_t want_rejected = 0;
  const Projection want = ReferenceExport(path, no_keys, &want_rejects, &want_rejected);
  for (size_t workers : {1, 2}) {
    const std::string what =
        path + (no_keys ? " (no keys)" : "") + ", " + std::to_string(workers) + " workers";
    RejectCollector rejects;
    uint64_t rejected = 0;
    Result<Projection> got =
        failback::ProjectExport(path, no_keys, true, &rejects, &rejected, workers);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectSame(*got, want, what);
    EXPECT_EQ(rejected, want_rejected) << what;
    ASSERT_EQ(rejects.rejects().size(), want_rejects.rejects().size()) << what;
    for (size_t i = 0; i < rejects.rejects().size(); ++i) {
      EXPECT_EQ(rejects.rejects()[i].ToString(), want_rejects.rejects()[i].ToString()) << what;
    }
  }
}

std::vector<std::string> FileLines(const std::string& path) {
  std::vector<std::string> out;
  for (std::string line : Lines(ReadAll(path))) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// ---- fixtures -----------------------------------------------------------------------------

TEST(Projection, FixtureLinesProjectThroughTheFastReaderAsTheReference) {
  iothub::ExportLineReader reader;
  size_t valid = 0, fast = 0;
  for (const char* name : {"base.txt", "primary.txt", "primary_fresh.txt", "secondary.txt"}) {
    for (const std::string& line : FileLines(DataDir() + "/iothub/" + name)) {
      iothub::ExportDevice dev;
      if (iothub::ParseExportDevice(line, &dev)) continue;
      ++valid;
      for (bool no_keys : {false, true}) {
        std::optional<Key> key;
        std::optional<std::string> got = FromFastReader(reader, line, no_keys, &key);
        if (!got) continue;
        fast += no_keys ? 0 : 1;
        ASSERT_EQ(*key, *dev.key) << line;
        if (iothub::IsSystemModule(*key)) continue;
        EXPECT_EQ(*got, *failback::ProjectRecord(*dev.key, dev.doc, no_keys)) << line;
      }
    }
  }
  ASSERT_GT(valid, 10u);
  // The fixtures are hub exports: the fast reader reads all of them.
  EXPECT_EQ(fast, valid);
}

TEST(Projection, FixtureAndBadExportsProjectAsTheReference) {
  std::vector<std::string> files;
  for (const char* name : {"base.txt", "primary.txt", "primary_fresh.txt", "secondary.txt"}) {
    files.push_back(DataDir() + "/iothub/" + name);
  }
  for (const auto& entry : std::filesystem::directory_iterator(DataDir() + "/bad/export")) {
    files.push_back(entry.path().string());
  }
  ASSERT_GT(files.size(), 20u);
  for (const std::string& path : files) {
    for (bool no_keys : {false, true}) ExpectExportAsReference(path, no_keys);
  }
}

// ---- generated documents and lines ---------------------------------------------------------

const std::vector<std::string> kStrings = {"",
                                           "x",
                                           "on",
                                           "é",
                                           "日本語",
                                           "quote\"d",
                                           "back\\slash",
                                           "a\nb",
                                           "tab\tb",
                                           "\x01ctl",
                                           "\x7f",
                                           "A",
                                           "enabled",
                                           "Disabled",
                                           "ms-azure-iot-edge://gw-1-637000000000000000",
                                           "ms-azure-iot-edge://g\xc3\xa9-1-2",
                                           "ms-azure-iot-edge://bad"};

json GenScalar() {
  switch (*rc::gen::inRange(0, 7)) {
    case 0:
      return *rc::gen::inRange<int64_t>(-1000, 1000);
    case 1:
      return *rc::gen::element<double>(1.0, -1.0, 0.0, -0.0, 2.5, 0.1, 1e300, 5e-324, 100.0, -20.5);
    case 2:
      return *rc::gen::element<int64_t>(0, 1, -1, 4503599627370495, -4503599627370496);
    case 3:
      return *rc::gen::arbitrary<bool>();
    case 4:
      return nullptr;
    default:
      return *rc::gen::elementOf(kStrings);
  }
}

json GenValue(int depth);

json GenObject(int depth) {
  json out = json::object();
  const int n = *rc::gen::inRange(0, depth > 3 ? 1 : 4);
  for (int i = 0; i < n; ++i) {
    out[*rc::gen::element<std::string>("a", "b", "zone", "rate", "é", "k-1", "x1", "$x",
                                       "symmetricKey", "iotEdge", "desired", "tags")] =
        GenValue(depth + 1);
  }
  return out;
}

json GenValue(int depth) {
  switch (*rc::gen::inRange(0, depth > 3 ? 1 : 5)) {
    case 1: {
      json out = json::array();
      const int n = *rc::gen::inRange(0, 3);
      for (int i = 0; i < n; ++i) out.push_back(GenValue(depth + 1));
      return out;
    }
    case 2:
    case 3:
      return GenObject(depth);
    default:
      return GenScalar();
  }
}

const std::string kScope = "ms-azure-iot-edge://";

json GenScope() {
  return *rc::gen::element<json>(kScope + "gw-1-637000000000000000", kScope + "gw-2-1",
                                 kScope + "gé-3-1", kScope + "bad", "", "x", 7, nullptr,
                                 kScope + "g\"w-1-2");
}

// A record document as a store may hold it: mostly the members the projection reads, each
// absent, null, as the hub writes it, or of any other type.
json GenDocument() {
  json doc = json::object();
  auto maybe = [&](const std::string& name, const json& usual) {
    switch (*rc::gen::inRange(0, 6)) {
      case 0:
        return;
      case 1:
        doc[name] = nullptr;
        return;
      case 2:
        doc[name] = GenValue(1);
        return;
      default:
        doc[name] = usual;
        return;
    }
  };
  maybe("status", *rc::gen::element<json>("enabled", "disabled", "", 1));
  maybe("statusReason", *rc::gen::element<json>("", "maintenance", "é", 3));
  maybe("authentication",
        *rc::gen::element<json>(
            json{{"type", "sas"},
                 {"symmetricKey", {{"primaryKey", "cA=="}, {"secondaryKey", "cB=="}}}},
            json{{"type", "selfSigned"}, {"x509Thumbprint", {{"primaryThumbprint", "AB"}}}},
            json{{"symmetricKey", nullptr}}, json::object(), json("sas")));
  maybe("capabilities", *rc::gen::element<json>(json{{"iotEdge", true}}, json{{"iotEdge", false}},
                                                json{{"iotEdge", "true"}}, json::object(),
                                                json{{"iotEdge", nullptr}, {"x", 1}}));
  maybe("deviceScope", GenScope());
  {
    json parents = json::array();
    const int n = *rc::gen::inRange(0, 3);
    for (int i = 0; i < n; ++i) parents.push_back(GenScope());
    maybe("parentScopes", parents);
  }
  maybe("tags", GenObject(1));
  {
    json props = json::object();
    if (*rc::gen::arbitrary<bool>()) props["desired"] = GenObject(1);
    if (*rc::gen::arbitrary<bool>()) props["reported"] = GenObject(1);
    if (*rc::gen::inRange(0, 4) == 0) props["desired"] = GenValue(1);
    maybe("properties", props);
  }
  if (*rc::gen::inRange(0, 4) == 0) doc["eTag"] = "AAAA";
  return doc;
}

Key GenKey() {
  const std::string id = *rc::gen::element<std::string>("dev-1", "gw-1", "d:2", "a.b", "x%y");
  if (*rc::gen::arbitrary<bool>()) return Key::Device(id).value();
  return Key::Module(id, *rc::gen::element<std::string>("m1", "mod-2", "$edgeAgent")).value();
}

// A store's record: CanonicalJson of the document; the reference reads the document parsed back
// (what MaterializeJson gives for that text).
RC_GTEST_PROP(ProjectionProperty, CanonicalDocumentsProjectAsTheReference, ()) {
  const Key key = GenKey();
  const json doc = GenDocument();
  const std::string text = CanonicalJson(doc);
  for (bool no_keys : {false, true}) {
    std::optional<std::string> want = failback::ProjectRecord(key, json::parse(text), no_keys);
    if (!want) {
      RC_ASSERT(iothub::IsSystemModule(key));
      continue;
    }
    RC_ASSERT(FromText(key, text, no_keys) == *want);
  }
}

// ---- export lines as a hub (or a hand) might write them ------------------------------------

// How Wild writes: `escapes`: characters of strings written as \u escapes now and then (the fast
// reader declines lines with escapes: without, it reads them); `retype`: whole numbers written
// now and then as 1.0 or 1e0 (a double: another value to the reader, which both paths must see
// alike).
struct Style {
  bool escapes = false;
  bool retype = false;
};

// JSON text of `value` with members in a random order and blanks here and there, as `style` says.
std::string Wild(const json& value, std::mt19937& rng, Style style) {
  auto coin = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng) == 0; };
  auto blank = [&] { return coin(4) ? std::string(coin(2) ? " " : "\t") : std::string(); };
  auto string = [&](const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"' || c == '\\' || c < 0x20 || (style.escapes && c < 0x80 && coin(8))) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    return out + "\"";
  };
  switch (value.type()) {
    case json::value_t::object: {
      std::vector<std::string> members;
      for (const auto& [name, member] : value.items()) {
        members.push_back(string(name) + blank() + ":" + blank() + Wild(member, rng, style));
      }
      std::shuffle(members.begin(), members.end(), rng);
      std::string out = "{" + blank();
      for (size_t i = 0; i < members.size(); ++i) out += (i ? "," + blank() : "") + members[i];
      return out + blank() + "}";
    }
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < value.size(); ++i) out += (i ? "," : "") + Wild(value[i], rng, style);
      return out + "]";
    }
    case json::value_t::string:
      return string(value.get<std::string>());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      if (style.retype && coin(6)) return value.dump() + (coin(2) ? ".0" : "e0");
      return value.dump();
    default:
      return value.dump();
  }
}

// An ExportImportDevice line for `key`: the document's members, eTags, a connection state, and
// $metadata/$version in the twin sections now and then.
json ExportObject(const Key& key, json doc, bool with_meta) {
  json line = std::move(doc);
  line["id"] = key.device_id();
  if (key.kind() == KeyKind::kModule) line["moduleId"] = key.module_id();
  line["eTag"] = "AAAAAAAAAAE=";
  line["connectionState"] = "Disconnected";
  if (with_meta && line.contains("properties") && line["properties"].is_object()) {
    for (const char* section : {"desired", "reported"}) {
      json& s = line["properties"][section];
      if (!s.is_object()) continue;
      s["$metadata"] = {{"$lastUpdated", "2024-01-01T00:00:00Z"}};
      s["$version"] = 3;
    }
  }
  return line;
}

RC_GTEST_PROP(ProjectionProperty, ExportLinesProjectAsTheReference, ()) {
  static iothub::ExportLineReader reader;
  std::mt19937 rng(*rc::gen::arbitrary<uint32_t>());
  const Key key = GenKey();
  const Style style{*rc::gen::arbitrary<bool>(), *rc::gen::arbitrary<bool>()};
  const std::string line =
      Wild(ExportObject(key, GenDocument(), *rc::gen::arbitrary<bool>()), rng, style);
  iothub::ExportDevice dev;
  const bool valid = !iothub::ParseExportDevice(line, &dev);
  bool read_fast = false;
  for (bool no_keys : {false, true}) {
    std::optional<Key> fast_key;
    std::optional<std::string> fast = FromFastReader(reader, line, no_keys, &fast_key);
    if (!fast) continue;
    read_fast = true;
    RC_ASSERT(valid);
    RC_ASSERT(*fast_key == *dev.key);
    std::optional<std::string> want = failback::ProjectRecord(*dev.key, dev.doc, no_keys);
    if (!want) continue;
    RC_ASSERT(*fast == *want);
  }
  RC_TAG(!valid ? "invalid" : read_fast ? "valid, read fast" : "valid, exact path");
}

// Whole files of generated lines (some invalid, some keys twice): ProjectExport as the reference.
// Inline mostly: a file this small is one chunk of the pipeline, and every hand-over to a worker
// costs a wake-up on a busy machine (ManyChunks below runs the workers on many chunks).
RC_GTEST_PROP(ProjectionProperty, ExportFilesProjectAsTheReference, ()) {
  std::mt19937 rng(*rc::gen::arbitrary<uint32_t>());
  const int n = *rc::gen::inRange(0, 12);
  std::string text;
  for (int i = 0; i < n; ++i) {
    const Style style{*rc::gen::arbitrary<bool>(), *rc::gen::arbitrary<bool>()};
    text += Wild(ExportObject(GenKey(), GenDocument(), *rc::gen::arbitrary<bool>()), rng, style);
    text += *rc::gen::element<std::string>("\n", "\r\n", "\n\n");
  }
  static TempDir dir;  // one for every case: cheaper than a folder each
  const std::string path = dir / "devices.txt";
  WriteAll(path, text);
  const size_t workers = *rc::gen::inRange(0, 8) == 0 ? 2 : 1;
  for (bool no_keys : {false, true}) {
    RejectCollector want_rejects;
    uint64_t want_rejected = 0;
    const Projection want = ReferenceExport(path, no_keys, &want_rejects, &want_rejected);
    {
      RejectCollector rejects;
      uint64_t rejected = 0;
      Result<Projection> got =
          failback::ProjectExport(path, no_keys, true, &rejects, &rejected, workers);
      RC_ASSERT(got.ok());
      RC_ASSERT(got->Hex() == want.Hex());
      RC_ASSERT(got->per_key == want.per_key);
      RC_ASSERT(rejected == want_rejected);
      RC_ASSERT(rejects.rejects().size() == want_rejects.rejects().size());
    }
  }
}

// Thousands of lines (many chunks for the workers), keys repeated across chunks with other
// projections each time, invalid lines among them: the workers' results are added in line order.
TEST(Projection, ManyChunksWithRepeatedKeysProjectAsTheReference) {
  const uint32_t seed = std::random_device()();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::vector<json> lines;
  for (const std::string& line : FileLines(DataDir() + "/iothub/primary.txt")) {
    json parsed = json::parse(line, nullptr, false);
    if (parsed.is_object()) lines.push_back(std::move(parsed));
  }
  ASSERT_FALSE(lines.empty());
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    json line = lines[std::uniform_int_distribution<size_t>(0, lines.size() - 1)(rng)];
    if (line.contains("tags") && line["tags"].is_object()) line["tags"]["n"] = i % 7;
    if (i % 97 == 0) line["status"] = "bogus";  // invalid
    text += Wild(line, rng, Style{i % 5 == 0, false}) + "\n";
  }
  TempDir dir;
  const std::string path = dir / "devices.txt";
  WriteAll(path, text);
  for (bool no_keys : {false, true}) ExpectExportAsReference(path, no_keys);
}

// ---- a store and its export ----------------------------------------------------------------

// A device or module document the hub could export (normalized), drawn from `rng`.
json FleetDocument(std::mt19937& rng, bool module) {
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  json doc = {{"status", pick(5) == 0 ? "disabled" : "enabled"},
              {"authentication",
               {{"type", "sas"},
                {"symmetricKey",
                 {{"primaryKey", "k" + std::to_string(pick(1000))}, {"secondaryKey", "s"}}}}},
              {"tags",
               {{"site", pick(2) ? "plant-é" : "plant-1"},
                {"floor", pick(10)},
                {"ratio", pick(4) / 2.0},
                {"labels", json::array({"prod", pick(3)})},
                {"empty", json::object()}}},
              {"properties",
               {{"desired", {{"rate", pick(100)}, {"fw", {{"v", "1." + std::to_string(pick(9))}}}}},
                {"reported", {{"battery", pick(100)}}}}}};
  if (pick(4) == 0) doc["statusReason"] = pick(2) ? "maintenance" : "";
  if (!module) {
    doc["capabilities"] = {{"iotEdge", pick(6) == 0}};
    if (pick(3) == 0) {
      const std::string scope = kScope + "gw-" + std::to_string(pick(5)) + "-" +
                                std::to_string(637000000000000000 + pick(1000));
      doc["deviceScope"] = scope;
      doc["parentScopes"] = json::array({scope});
    }
  }
  return doc;
}

Delta Write(const Key& key, const json& doc, Hlc hlc, const SiteId& site) {
  Result<RecordState> r = CreateDelta(doc, Stamp{hlc, site});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return Delta{key, r.ok() ? std::move(*r) : RecordState()};
}

Delta Set(const Key& key, const std::vector<std::string>& path, const json& value, Hlc hlc,
          const SiteId& site) {
  Result<RecordState> r = SetDelta(Path::FromSegments(path).value(), value, Stamp{hlc, site});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return Delta{key, r.ok() ? std::move(*r) : RecordState()};
}

TEST(Projection, StoreAndItsExportProjectAsTheReferenceAndDifferAlike) {
  const uint32_t seed = std::random_device()();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  TempDir dir;
  StoreOptions so;
  so.site_name = "site-a";
  Result<std::unique_ptr<Store>> store = Store::Open(dir / "store", so);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const SiteId a = SiteId::FromName("site-a");
  const SiteId b = SiteId::FromName("site-b");

  // Devices with modules (system modules among them), written by one site and changed by the
  // other before and after; a few deleted; modules whose device is gone or never was; meta.
  std::vector<Delta> deltas;
  std::vector<Key> keys;
  for (int d = 0; d < 120; ++d) {
    const Key dev = Key::Device("dev-" + std::to_string(d)).value();
    keys.push_back(dev);
    deltas.push_back(Write(dev, FleetDocument(rng, false), 1000 + pick(50), a));
    for (int m = 0; m < pick(3); ++m) {
      const std::string mid = m == 0 && pick(3) == 0 ? "$edgeAgent" : "mod-" + std::to_string(m);
      keys.push_back(Key::Module(dev.device_id(), mid).value());
      deltas.push_back(Write(keys.back(), FleetDocument(rng, true), 1000 + pick(50), a));
    }
  }
  for (const Key& key : keys) {
    switch (pick(8)) {
      case 0:
        deltas.push_back(Set(key, {"tags", "floor"}, pick(10), 1000 + pick(100), b));
        break;
      case 1:
        deltas.push_back(Set(key, {"properties", "desired", "rate"}, 2.5, 1000 + pick(100), b));
        break;
      case 2:
        deltas.push_back(Set(key, {"status"}, "disabled", 1000 + pick(100), b));
        break;
      case 3:
        if (key.kind() == KeyKind::kDevice && pick(3) == 0) {
          deltas.push_back(Delta{key, DeleteDelta(Stamp{MakeHlc(2000, 0), b})});
        }
        break;
      default:
        break;
    }
  }
  deltas.push_back(Write(Key::Module("gone", "mod-1").value(), FleetDocument(rng, true), 1000, a));
  deltas.push_back(Write(Key::Meta("ns", "k").value(), {{"x", 1}}, 1000, a));
  ASSERT_TRUE((*store)->Apply(deltas).ok());

  for (bool no_keys : {false, true}) {
    Result<Projection> got = failback::ProjectStore(**store, no_keys, true);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectSame(*got, ReferenceStore(**store, no_keys), no_keys ? "store (no keys)" : "store");
  }

  // The export the primary would give for the merged state: every record that exists (not the
  // orphan module), written wild; then the same with a few records changed in one field, and a
  // few only rewritten (other member order, escapes), which is no change.
  std::vector<std::pair<Key, json>> records;
  for (const Key& key : keys) {
    Result<std::string> text = (*store)->Get(key);
    if (text.status().IsNotFound()) continue;
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    if (key.kind() == KeyKind::kModule) {
      Result<std::string> device = (*store)->Get(Key::Device(key.device_id()).value());
      if (!device.ok()) continue;
    }
    records.emplace_back(key, json::parse(*text));
  }
  ASSERT_GT(records.size(), 100u);
  auto write_export = [&](const std::vector<std::pair<Key, json>>& rs) {
    std::string text;
    for (const auto& [key, doc] : rs) {
      text += Wild(ExportObject(key, doc, pick(2)), rng, Style{pick(2) == 0, false}) + "\n";
    }
    const std::string path = dir / "export.txt";
    WriteAll(path, text);
    return path;
  };
  const std::string same = write_export(records);
  for (bool no_keys : {false, true}) {
    Result<Projection> merged = failback::ProjectStore(**store, no_keys, true);
    Result<Projection> primary = failback::ProjectExport(same, no_keys, true, nullptr, nullptr);
    ASSERT_TRUE(merged.ok() && primary.ok());
    EXPECT_EQ(merged->Hex(), primary->Hex());
    ExpectExportAsReference(same, no_keys);
  }

  std::set<std::string> changed;
  std::vector<std::pair<Key, json>> altered = records;
  std::vector<size_t> order(altered.size() - 1);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i + 1;  // altered[0]: below
  std::shuffle(order.begin(), order.end(), rng);
  for (int i = 0; i < 8; ++i) {
    auto& [key, doc] = altered[order[i]];
    if (iothub::IsSystemModule(key)) continue;
    json& floor = doc["tags"]["floor"];
    switch (i % 4) {
      case 0:
        floor = floor.is_number_integer() ? json(floor.get<int64_t>() + 0.0) : json(1);
        break;
      case 1:
        floor = std::to_string(floor.is_number() ? floor.get<int64_t>() : 0);
        break;
      case 2:
        doc["properties"]["desired"]["added"] = true;
        break;
      default:
        doc["status"] = doc.value("status", "enabled") == "enabled" ? "disabled" : "enabled";
    }
    changed.insert(key.ToString());
  }
  std::vector<std::string> want_keys(changed.begin(), changed.end());
  // A key only rewritten (no change): the symmetric key's text is the one thing no_keys hides.
  auto& [key0, doc0] = altered[0];
  doc0["authentication"]["symmetricKey"]["primaryKey"] = "other";
  const std::string differ = write_export(altered);
  for (bool no_keys : {false, true}) {
    Result<Projection> merged = failback::ProjectStore(**store, no_keys, true);
    Result<Projection> primary = failback::ProjectExport(differ, no_keys, true, nullptr, nullptr);
    ASSERT_TRUE(merged.ok() && primary.ok());
    uint64_t total = 0, want_total = 0;
    const std::vector<std::string> got_keys =
        failback::DiffProjections(*merged, *primary, 1000, &total);
    const std::vector<std::string> reference_keys = failback::DiffProjections(
        ReferenceStore(**store, no_keys), ReferenceExport(differ, no_keys, nullptr, nullptr), 1000,
        &want_total);
    EXPECT_EQ(got_keys, reference_keys);
    EXPECT_EQ(total, want_total);
    std::vector<std::string> expected = want_keys;
    if (!no_keys && !iothub::IsSystemModule(key0)) {
      expected.push_back(key0.ToString());
      std::sort(expected.begin(), expected.end());
    }
    EXPECT_EQ(got_keys, expected) << (no_keys ? "no keys" : "keys");
    EXPECT_NE(merged->Hex(), primary->Hex());
  }
}

}  // namespace
}  // namespace reconcile::failback_test
