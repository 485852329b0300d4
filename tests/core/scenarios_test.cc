// tests/core/scenarios_test.cc — named scenarios of the record lattice and its building blocks.
//
// Each test is one situation from DESIGN §2 (or a header's contract) with a small hand-computed
// expectation. Lattice scenarios are checked in every delivery order of their deltas, since the
// answer must not depend on it.
#include <algorithm>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reconcile/clock.h"
#include "reconcile/codec.h"
#include "reconcile/conflict.h"
#include "reconcile/key.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"
#include "reconcile/path.h"
#include "reconcile/policy.h"
#include "reconcile/record.h"
#include "reconcile/site.h"
#include "reconcile/stamp.h"
#include "reconcile/status.h"

namespace reconcile {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;

const SiteId kPrimary = SiteId::FromName("weu-primary");
const SiteId kSecondary = SiteId::FromName("neu-secondary");
const SiteId kThird = SiteId::FromName("eus-dr");

constexpr uint64_t kBase = 1'650'000'000'000;  // 2022-04-15, in ms
Hlc T(uint64_t ms, uint64_t logical = 0) { return MakeHlc(kBase + ms, logical); }
Stamp At(uint64_t ms, const SiteId& site) { return Stamp{T(ms), site}; }

RecordState Must(Result<RecordState> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : RecordState();
}
RecordState Create(const char* doc, Stamp s) { return Must(CreateDelta(Json::parse(doc), s)); }
RecordState Patch(const char* doc, Stamp s) { return Must(PatchDelta(Json::parse(doc), s)); }
RecordState Set(const char* path, const char* value, Stamp s) {
  return Must(SetDelta(*Path::Parse(path), Json::parse(value), s));
}
RecordState Remove(const char* path, Stamp s) { return RemoveDelta(*Path::Parse(path), s); }

// The bytes a state shows, "<absent>" for no record, "<error: ...>" on failure.
std::string Show(const RecordState& s, const MergeView& view, KeyKind kind = KeyKind::kDevice) {
  auto r = Materialize(kind, s, view);
  if (!r.ok()) return "<error: " + r.status().ToString() + ">";
  return r->has_value() ? **r : "<absent>";
}

const PolicyTable& Lww() {
  static const PolicyTable table;
  return table;
}
MergeView LwwView(Hlc fork = 0) { return MergeView{&Lww(), fork}; }

// Joins `deltas` in every order (and each order once more with a duplicate and pruning) and
// expects every one of them to show `expected`.
void ExpectInEveryOrder(const std::vector<RecordState>& deltas, const std::string& expected,
                        const MergeView& view, KeyKind kind = KeyKind::kDevice) {
  std::vector<size_t> order(deltas.size());
  std::iota(order.begin(), order.end(), 0);
  do {
    RecordState s;
    for (size_t i : order) s.Join(deltas[i]);
    std::string where;
    for (size_t i : order) where += std::to_string(i) + " ";
    EXPECT_EQ(Show(s, view, kind), expected) << "order " << where;
    s.Join(deltas[order.front()]);
    s.Prune();
    EXPECT_EQ(Show(s, view, kind), expected) << "order " << where << "+ duplicate, pruned";
  } while (std::next_permutation(order.begin(), order.end()));
}

// ---------------------------------------------------------------------------------------------
// Status and Result

TEST(StatusTest, OkIsEmpty) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.code(), Code::kOk);
  EXPECT_EQ(ok.message(), "");
  EXPECT_EQ(ok.ToString(), "ok");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, ErrorsCarryTheirCodeAndMessage) {
  EXPECT_TRUE(Status::NotFound("x").IsNotFound());
  EXPECT_TRUE(Status::InvalidInput("x").IsInvalidInput());
  EXPECT_TRUE(Status::Corruption("x").IsCorruption());
  EXPECT_TRUE(Status::Conflict("x").IsConflict());
  EXPECT_EQ(Status::IoError("x").code(), Code::kIoError);
  EXPECT_EQ(Status::Unsupported("x").code(), Code::kUnsupported);
  EXPECT_EQ(Status::Internal("x").code(), Code::kInternal);
  EXPECT_FALSE(Status::NotFound("x").ok());
  EXPECT_FALSE(Status::NotFound("x").IsInvalidInput());

  const Status s = Status::InvalidInput("bad id");
  EXPECT_EQ(s.message(), "bad id");
  EXPECT_EQ(s.ToString(), "invalid input: bad id");
  const Status wrapped = s.WithContext("devices.txt:3");
  EXPECT_EQ(wrapped.code(), Code::kInvalidInput);
  EXPECT_EQ(wrapped.message(), "devices.txt:3: bad id");
}

TEST(StatusTest, CodeNamesAreDistinct) {
  EXPECT_EQ(CodeName(Code::kInvalidInput), "invalid input");
  std::vector<std::string> names;
  for (int c = 0; c <= 7; ++c) {
    std::string name(CodeName(static_cast<Code>(c)));
    EXPECT_FALSE(name.empty());
    // status.h says lower-case; "I/O error" keeps the usual spelling of I/O (reported as a nit).
    if (static_cast<Code>(c) != Code::kIoError) {
      for (char ch : name) EXPECT_FALSE(ch >= 'A' && ch <= 'Z') << name;
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
}

Status FailsAtSecond(int* reached) {
  *reached = 1;
  RECONCILE_RETURN_IF_ERROR(Status::Ok());
  *reached = 2;
  RECONCILE_RETURN_IF_ERROR(Status::NotFound("second"));
  *reached = 3;
  return Status::Ok();
}

// Out of line: GCC 12 at -O2 warns (falsely, -Wmaybe-uninitialized) about the Status member of
// an inlined std::variant<int, Status> destructor.
[[gnu::noinline]] void ExpectFive(Result<int> five) {
  ASSERT_TRUE(five.ok());
  EXPECT_EQ(*five, 5);
}

TEST(StatusTest, ResultHoldsAValueOrAnError) {
  ExpectFive(5);
  Result<std::string> missing = Status::NotFound("no such device");
  EXPECT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_EQ(missing.status().message(), "no such device");
  Result<std::string> text = std::string("abc");
  EXPECT_TRUE(text.status().ok());  // a value holds an OK status
  EXPECT_EQ(text->size(), 3u);
  std::string moved = std::move(text).value();
  EXPECT_EQ(moved, "abc");

  int reached = 0;
  Status s = FailsAtSecond(&reached);
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(reached, 2);
}

// ---------------------------------------------------------------------------------------------
// Sites and stamps

TEST(SiteTest, IdsAreNameBasedUuids) {
  EXPECT_EQ(SiteId::FromName("weu-primary"), kPrimary);
  EXPECT_NE(kPrimary, kSecondary);
  EXPECT_FALSE(kPrimary.is_nil());
  EXPECT_TRUE(SiteId().is_nil());
  EXPECT_LT(SiteId(), kPrimary);  // nil is the smallest id
  // RFC 4122 version 5 (name-based, SHA-1), variant 10xx.
  EXPECT_EQ(kPrimary.bytes()[6] >> 4, 5);
  EXPECT_EQ(kPrimary.bytes()[8] & 0xC0, 0x80);
  const std::string text = kPrimary.ToString();
  EXPECT_THAT(text,
              MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  auto parsed = SiteId::Parse(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, kPrimary);
  EXPECT_EQ(SiteId::FromBytes(kPrimary.bytes().data()), kPrimary);
  EXPECT_FALSE(SiteId::Parse("not-a-uuid").ok());
  EXPECT_FALSE(SiteId::Parse("").ok());
  EXPECT_FALSE(SiteId::Parse(text + "0").ok());
  EXPECT_FALSE(SiteId::Parse("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz").ok());
}

TEST(SiteTest, NamesAreValidated) {
  EXPECT_TRUE(ValidateSiteName("weu-primary").ok());
  EXPECT_TRUE(ValidateSiteName("a.b_c-9").ok());
  EXPECT_TRUE(ValidateSiteName(std::string(128, 'a')).ok());
  EXPECT_TRUE(ValidateSiteName("").IsInvalidInput());
  EXPECT_TRUE(ValidateSiteName(std::string(129, 'a')).IsInvalidInput());
  EXPECT_TRUE(ValidateSiteName("weu primary").IsInvalidInput());
  EXPECT_TRUE(ValidateSiteName("weu/primary").IsInvalidInput());
}

TEST(StampTest, OrderedByHlcThenSite) {
  const SiteId lo = std::min(kPrimary, kSecondary);
  const SiteId hi = std::max(kPrimary, kSecondary);
  EXPECT_LT((Stamp{T(1), hi}), (Stamp{T(2), lo}));  // the hlc decides first
  EXPECT_LT((Stamp{T(1), lo}), (Stamp{T(1), hi}));  // then the site
  EXPECT_EQ((Stamp{T(1), lo}), (Stamp{T(1), lo}));
  EXPECT_EQ(HlcMillis(MakeHlc(123, 7)), 123u);
  EXPECT_EQ(HlcLogical(MakeHlc(123, 7)), 7u);
  EXPECT_LT(MakeHlc(1, kHlcLogicalMask), MakeHlc(2, 0));
  EXPECT_THAT(Stamp(At(0, kPrimary)).ToString(), HasSubstr("@" + kPrimary.ToString()));
}

TEST(Iso8601Test, KeepsHundredNanosecondOrder) {
  // 2022-05-27T18:49:38Z is 1653677378 s after the epoch (date -u -d ... +%s); .4904785 s is
  // 490 ms and 4785 ticks of 100 ns.
  auto a = ParseIso8601("2022-05-27T18:49:38.4904785Z");
  auto b = ParseIso8601("2022-05-27T18:49:38.4904786Z");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*a, MakeHlc(1653677378490, 4785));
  EXPECT_LT(*a, *b);
  EXPECT_EQ(*b - *a, 1u);
  // Across a millisecond boundary the order holds too.
  auto c = ParseIso8601("2022-05-27T18:49:38.4909999Z");
  auto d = ParseIso8601("2022-05-27T18:49:38.4910000Z");
  ASSERT_TRUE(c.ok() && d.ok());
  EXPECT_LT(*c, *d);
  EXPECT_EQ(HlcMillis(*d), 1653677378491u);
  EXPECT_EQ(HlcLogical(*d), 0u);
}

TEST(Iso8601Test, FractionDigitsAndOffsets) {
  EXPECT_EQ(*ParseIso8601("2022-05-27T18:49:38Z"), MakeHlc(1653677378000, 0));
  EXPECT_EQ(*ParseIso8601("2022-05-27T18:49:38.4Z"), MakeHlc(1653677378400, 0));
  EXPECT_EQ(*ParseIso8601("2022-05-27T18:49:38.49Z"), MakeHlc(1653677378490, 0));
  EXPECT_EQ(*ParseIso8601("2022-05-27T18:49:38.4904Z"), MakeHlc(1653677378490, 4000));
  // The same instant written with offsets.
  const Hlc utc = *ParseIso8601("2022-05-27T18:49:38.4904785Z");
  EXPECT_EQ(*ParseIso8601("2022-05-27T19:49:38.4904785+01:00"), utc);
  EXPECT_EQ(*ParseIso8601("2022-05-27T13:19:38.4904785-05:30"), utc);
  EXPECT_EQ(*ParseIso8601("2022-05-28T00:19:38.4904785+05:30"), utc);  // across midnight
  EXPECT_EQ(*ParseIso8601("1970-01-01T00:00:00Z"), 0u);
  EXPECT_EQ(*ParseIso8601("2024-02-29T00:00:00Z"), MakeHlc(1709164800000, 0));  // leap day
}

TEST(Iso8601Test, BadInputsAreRejected) {
  for (const char* bad :
       {"", "abc", "2022-05-27", "2022-05-27T18:49:38", "2022-05-27T18:49:38.Z",
        "2022-05-27T18:49:38.49047851Z", "2022-13-27T18:49:38Z", "2022-05-32T18:49:38Z",
        "2022-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2022-05-27T24:00:00Z",
        "2022-05-27T18:60:38Z", "2022-05-27T18:49:38Zjunk", "2022-05-27 18:49:38Z",
        "2022-05-27T18:49:38+0100", "1969-12-31T23:59:59Z", "2022-5-27T18:49:38Z",
        "+2022-05-27T18:49:38Z"}) {
    auto r = ParseIso8601(bad);
    EXPECT_FALSE(r.ok()) << "'" << bad << "' parsed as " << (r.ok() ? *r : 0);
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsInvalidInput()) << bad;
    }
  }
}

TEST(Iso8601Test, FormatIsTheInverse) {
  for (const char* text : {"2022-05-27T18:49:38.4904785Z", "1970-01-01T00:00:00.0000000Z",
                           "2024-02-29T23:59:59.9999999Z", "2000-01-01T00:00:00.0000001Z"}) {
    auto hlc = ParseIso8601(text);
    ASSERT_TRUE(hlc.ok()) << text;
    EXPECT_EQ(FormatIso8601(*hlc), text);
  }
  // Fewer digits and offsets come back in the canonical form.
  EXPECT_EQ(FormatIso8601(*ParseIso8601("2022-05-27T19:49:38.49+01:00")),
            "2022-05-27T18:49:38.4900000Z");
}

// ---------------------------------------------------------------------------------------------
// The clock

struct FakeClock {
  std::shared_ptr<uint64_t> ms = std::make_shared<uint64_t>(kBase);
  ClockOptions Options(uint64_t max_offset_ms) const {
    ClockOptions o;
    o.max_offset_ms = max_offset_ms;
    auto p = ms;
    o.physical_ms = [p] { return *p; };
    return o;
  }
};

TEST(ClockTest, NowIsMonotonic) {
  FakeClock pt;
  HlcClock clock(pt.Options(1000));
  EXPECT_EQ(clock.Last(), 0u);
  const Hlc a = clock.Now();
  EXPECT_EQ(a, MakeHlc(kBase, 0));  // l' = pt, c' = 0
  const Hlc b = clock.Now();
  EXPECT_EQ(b, MakeHlc(kBase, 1));  // same millisecond: the counter ticks
  *pt.ms = kBase - 50;              // the physical clock steps back
  const Hlc c = clock.Now();
  EXPECT_EQ(c, MakeHlc(kBase, 2));
  *pt.ms = kBase + 7;
  EXPECT_EQ(clock.Now(), MakeHlc(kBase + 7, 0));
  EXPECT_EQ(clock.Last(), MakeHlc(kBase + 7, 0));
}

TEST(ClockTest, ReceiveFollowsKulkarni) {
  FakeClock pt;
  HlcClock clock(pt.Options(1000));
  ASSERT_EQ(clock.Now(), MakeHlc(kBase, 0));
  // Remote ahead (within the offset): l' = m.l, c' = m.c + 1.
  auto r1 = clock.Receive(MakeHlc(kBase + 10, 4));
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(*r1, MakeHlc(kBase + 10, 5));
  // Remote behind: l' = l, c' = c + 1.
  auto r2 = clock.Receive(MakeHlc(kBase + 2, 9));
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(*r2, MakeHlc(kBase + 10, 6));
  // Same wall part: c' = max(c, m.c) + 1.
  auto r3 = clock.Receive(MakeHlc(kBase + 10, 20));
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(*r3, MakeHlc(kBase + 10, 21));
  // Physical clock ahead of both: l' = pt, c' = 0.
  *pt.ms = kBase + 50;
  auto r4 = clock.Receive(MakeHlc(kBase + 20, 3));
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(*r4, MakeHlc(kBase + 50, 0));
  EXPECT_GT(clock.Now(), *r4);
}

TEST(ClockTest, FutureStampBeyondMaxOffsetIsRefused) {
  FakeClock pt;
  HlcClock clock(pt.Options(1000));
  const Hlc before = clock.Now();
  const Hlc too_far = MakeHlc(kBase + 1001, 0);
  EXPECT_TRUE(clock.Check(too_far).IsConflict());
  auto refused = clock.Receive(too_far);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsConflict());
  EXPECT_EQ(clock.Last(), before);  // the clock did not move
  EXPECT_EQ(clock.Now(), MakeHlc(kBase, 1));
  // Exactly max_offset ahead is still accepted.
  const Hlc at_limit = MakeHlc(kBase + 1000, 0);
  EXPECT_TRUE(clock.Check(at_limit).ok());
  auto accepted = clock.Receive(at_limit);
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(*accepted, MakeHlc(kBase + 1000, 1));
  // Once the physical clock catches up, the same stamp is fine.
  *pt.ms = kBase + 2000;
  EXPECT_TRUE(clock.Receive(too_far).ok());
}

// ---------------------------------------------------------------------------------------------
// Keys

TEST(KeyTest, DeviceIdRules) {
  EXPECT_TRUE(Key::Device(std::string(128, 'd')).ok());
  EXPECT_TRUE(Key::Device(std::string(129, 'd')).status().IsInvalidInput());
  EXPECT_TRUE(Key::Device("").status().IsInvalidInput());
  // Every special character the header allows.
  EXPECT_TRUE(Key::Device("a-:.+%_#*?!(),=@;$'Z9").ok());
  for (const char* bad : {"a b", "a/b", "a&b", "a\"b", "a\nb", "é", "a<b", "a\\b", "a{b}"}) {
    auto r = Key::Device(bad);
    EXPECT_TRUE(r.status().IsInvalidInput()) << bad;
  }
  EXPECT_TRUE(ValidateDeviceId("thermostat-01").ok());
  EXPECT_TRUE(ValidateDeviceId(std::string("a\0b", 3)).IsInvalidInput());
}

TEST(KeyTest, ModuleIdRules) {
  EXPECT_TRUE(Key::Module("dev", "$edgeAgent").ok());
  EXPECT_TRUE(Key::Module("dev", "$edgeHub").ok());
  EXPECT_TRUE(Key::Module("dev", "$edgeSomething").status().IsInvalidInput());
  EXPECT_TRUE(Key::Module("dev", "$").status().IsInvalidInput());
  EXPECT_TRUE(Key::Module("dev", "tempSensor").ok());
  EXPECT_TRUE(Key::Module("dev", "").status().IsInvalidInput());
  EXPECT_TRUE(Key::Module("dev", std::string(129, 'm')).status().IsInvalidInput());
  EXPECT_TRUE(Key::Module("bad id", "m").status().IsInvalidInput());
  EXPECT_TRUE(ValidateModuleId("a$b").ok());  // '$' only matters first
}

TEST(KeyTest, MetaKeyRules) {
  EXPECT_TRUE(Key::Meta("ns", "a key/with.anything$").ok());
  EXPECT_TRUE(Key::Meta("ключ", "キー").ok());
  EXPECT_TRUE(Key::Meta(std::string(256, 'n'), std::string(256, 'k')).ok());
  EXPECT_TRUE(Key::Meta(std::string(257, 'n'), "k").status().IsInvalidInput());
  EXPECT_TRUE(Key::Meta("ns", std::string(257, 'k')).status().IsInvalidInput());
  EXPECT_TRUE(Key::Meta("", "k").status().IsInvalidInput());
  EXPECT_TRUE(Key::Meta("ns", "").status().IsInvalidInput());
  EXPECT_TRUE(Key::Meta("ns", "a\tb").status().IsInvalidInput());
}

TEST(KeyTest, EncodingSortsDevicesThenModulesThenMeta) {
  // '!' (0x21) is the smallest id character: "a!" is the device id right after "a".
  const Key dev_a = *Key::Device("a");
  const Key mod_a_edge = *Key::Module("a", "$edgeAgent");
  const Key mod_a_z = *Key::Module("a", "zzzz");
  const Key dev_a_bang = *Key::Device("a!");
  const Key dev_b = *Key::Device("b");
  const Key meta_0 = *Key::Meta("0", "0");  // "0" sorts before every letter, still after devices
  const std::vector<Key> in_order = {dev_a, mod_a_edge, mod_a_z, dev_a_bang, dev_b, meta_0};
  for (size_t i = 0; i + 1 < in_order.size(); ++i) {
    EXPECT_LT(in_order[i].Encode(), in_order[i + 1].Encode())
        << in_order[i].ToString() << " vs " << in_order[i + 1].ToString();
    EXPECT_LT(in_order[i], in_order[i + 1]);
  }
  for (const Key& k : in_order) {
    auto back = Key::Decode(k.Encode());
    ASSERT_TRUE(back.ok()) << k.ToString();
    EXPECT_EQ(*back, k);
    EXPECT_EQ(back->kind(), k.kind());
  }
  EXPECT_EQ(dev_a.kind(), KeyKind::kDevice);
  EXPECT_EQ(mod_a_z.kind(), KeyKind::kModule);
  EXPECT_EQ(mod_a_z.device_id(), "a");
  EXPECT_EQ(mod_a_z.module_id(), "zzzz");
  EXPECT_EQ(meta_0.kind(), KeyKind::kMeta);
  EXPECT_EQ(dev_a.ToString(), "device:a");
  EXPECT_EQ(mod_a_z.ToString(), "module:a/zzzz");
}

TEST(KeyTest, DecodingGarbageIsCorruption) {
  for (std::string bad : {std::string(), std::string("x"), std::string("\x01", 1),
                          std::string("\x01"
                                      "a",
                                      2),
                          std::string("\x07"
                                      "a\0b",
                                      4),
                          std::string("\x01"
                                      "a b\0",
                                      5),
                          std::string("\x01"
                                      "a\0$nope",
                                      8),
                          std::string("\x03\0k", 3)}) {
    auto r = Key::Decode(bad);
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsCorruption());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Paths

TEST(PathTest, TwinKeyRules) {
  EXPECT_TRUE(Path::FromSegments({"properties", "desired", "ключ", "キー"}).ok());
  for (const std::string& bad : std::vector<std::string>{
           "a.b", "$metadata", "a b", "a\tb", std::string("a\0b", 3), "\x01", "\x7f", ""}) {
    auto r = Path::FromSegments({"properties", bad});
    EXPECT_TRUE(r.status().IsInvalidInput()) << "segment '" << bad << "'";
    EXPECT_TRUE(ValidateSegment(bad, PathRules::kTwin).IsInvalidInput());
  }
  // 1 KB per key, counted in bytes: 128 x "ключ" (8 bytes) is 1024 bytes.
  std::string kb;
  for (int i = 0; i < 128; ++i) kb += "ключ";
  ASSERT_EQ(kb.size(), 1024u);
  EXPECT_TRUE(Path::FromSegments({kb}).ok());
  EXPECT_TRUE(Path::FromSegments({kb + "a"}).status().IsInvalidInput());
}

TEST(PathTest, KeysMustBeUtf8) {
  // path.h: a segment is UTF-8. Invalid bytes would reach the canonical output as they are.
  for (const char* bad :
       {"\xff", "a\xc3", "\xc0\xaf" /* overlong '/' */, "\xed\xa0\x80" /* surrogate */,
        "\xf4\x90\x80\x80" /* above U+10FFFF */, "\x80"}) {
    EXPECT_TRUE(ValidateSegment(bad, PathRules::kTwin).IsInvalidInput()) << bad;
    EXPECT_TRUE(ValidateSegment(bad, PathRules::kMeta).IsInvalidInput()) << bad;
    EXPECT_TRUE(Key::Meta("ns", bad).status().IsInvalidInput()) << bad;
    Json doc = Json::object();
    doc[bad] = 1;
    EXPECT_TRUE(CreateDelta(doc, At(0, kPrimary)).status().IsInvalidInput()) << bad;
  }
  for (const char* good : {"é", "ключ", "キー", "😀", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(ValidateSegment(good, PathRules::kTwin).ok()) << good;
    EXPECT_TRUE(Key::Meta(good, good).ok()) << good;
  }
}

TEST(PathTest, TwinDepthLimit) {
  // docs/DECISIONS.md D2: a twin section is 10 deep below properties/desired, so a record path
  // may be 12 deep.
  std::vector<std::string> segs(kMaxRecordDepth, "a");
  EXPECT_TRUE(Path::FromSegments(segs).ok());
  segs.push_back("a");
  EXPECT_TRUE(Path::FromSegments(segs).status().IsInvalidInput());
  // The same document is refused by the operations, naming the path.
  Json doc = 1;
  for (size_t i = 0; i < kMaxRecordDepth + 1; ++i) doc = Json{{"a", doc}};
  auto r = CreateDelta(doc, At(0, kPrimary));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidInput());
  EXPECT_THAT(r.status().message(), HasSubstr("a/a/a"));
}

TEST(PathTest, MetaRulesAllowDotsDollarsAndSpaces) {
  EXPECT_TRUE(Path::FromSegments({"a.b", "$ref", "a b"}, PathRules::kMeta).ok());
  EXPECT_TRUE(Path::FromSegments({"a\nb"}, PathRules::kMeta).status().IsInvalidInput());
  std::vector<std::string> segs(kMaxMetaDepth, "m");
  EXPECT_TRUE(Path::FromSegments(segs, PathRules::kMeta).ok());
  segs.push_back("m");
  EXPECT_TRUE(Path::FromSegments(segs, PathRules::kMeta).status().IsInvalidInput());
  // A twin document with metadata keys is refused; the same under meta rules is fine.
  const Json doc = {{"a.b", 1}, {"$ref", "x"}, {"a b", true}};
  EXPECT_TRUE(CreateDelta(doc, At(0, kPrimary)).status().IsInvalidInput());
  auto meta = CreateDelta(doc, At(0, kPrimary), PathRules::kMeta);
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(Show(*meta, LwwView(), KeyKind::kMeta), R"({"$ref":"x","a b":true,"a.b":1})");
}

TEST(PathTest, ParseAndNavigate) {
  auto p = Path::Parse("properties/desired/x");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->depth(), 3u);
  EXPECT_EQ(p->segments(), (std::vector<std::string>{"properties", "desired", "x"}));
  EXPECT_EQ(p->last(), "x");
  EXPECT_EQ(p->ToString(), "properties/desired/x");
  EXPECT_EQ(p->parent().ToString(), "properties/desired");
  EXPECT_EQ(p->parent().Child("x"), *p);
  EXPECT_TRUE(p->IsWithin(*Path::Parse("properties")));
  EXPECT_TRUE(p->IsWithin(*p));
  EXPECT_TRUE(p->IsWithin(Path()));
  EXPECT_FALSE(Path::Parse("properties/desiredX")->IsWithin(*Path::Parse("properties/desired")));
  EXPECT_TRUE(Path::Parse("")->is_root());
  EXPECT_EQ(Path().depth(), 0u);
  EXPECT_FALSE(Path::Parse("a//b").ok());
  EXPECT_FALSE(Path::Parse("a/b.c").ok());
  // An ancestor sorts right before its subtree: "a" < "a/b" < "a!" (0x01 < '!').
  EXPECT_LT(*Path::Parse("a"), *Path::Parse("a/b"));
  EXPECT_LT(*Path::Parse("a/b"), *Path::Parse("a!"));
  EXPECT_LT(*Path::Parse("a/zzz"), *Path::Parse("a0"));
}

// ---------------------------------------------------------------------------------------------
// Record semantics (DESIGN §2)

TEST(Scenarios, CreateShowsCanonicalJson) {
  // Keys sorted by bytes at every level ("a" < "b" < "ключ" (0xD0..) < "キー" (0xE3..)), no
  // whitespace; arrays keep their order.
  const RecordState s =
      Create(R"({"キー": 1, "b": {"d": [3, 1], "c": null}, "ключ": "v", "a": {"z": {}, "y": 1.5}})",
             At(0, kPrimary));
  EXPECT_EQ(Show(s, LwwView()), R"({"a":{"y":1.5,"z":{}},"b":{"d":[3,1]},"ключ":"v","キー":1})");
  auto json = MaterializeJson(KeyKind::kDevice, s, LwwView());
  ASSERT_TRUE(json.ok());
  ASSERT_TRUE(json->has_value());
  EXPECT_EQ((**json)["a"]["y"], 1.5);
  EXPECT_EQ(Show(RecordState(), LwwView()), "<absent>");
}

TEST(Scenarios, PatchAfterDeleteStaysDeleted) {
  ExpectInEveryOrder(
      {Create(R"({"a": 1})", At(10, kPrimary)), RecordState(DeleteDelta(At(20, kPrimary))),
       Patch(R"({"b": 2})", At(30, kSecondary))},
      "<absent>", LwwView());
  // A set or a nested patch does not bring it back either.
  ExpectInEveryOrder(
      {Create(R"({"a": 1})", At(10, kPrimary)), RecordState(DeleteDelta(At(20, kSecondary))),
       Set("a", "5", At(30, kThird)), Patch(R"({"c": {"d": 1}})", At(40, kPrimary))},
      "<absent>", LwwView());
}

TEST(Scenarios, CreateAfterDeleteRevivesWithOnlyTheCreatesFields) {
  ExpectInEveryOrder(
      {Create(R"({"a": 1, "b": {"c": 2}})", At(10, kPrimary)),
       RecordState(DeleteDelta(At(20, kSecondary))), Patch(R"({"d": 3})", At(30, kThird)),
       Create(R"({"e": 4})", At(40, kSecondary))},
      R"({"e":4})", LwwView());
  // A patch after the revival applies.
  ExpectInEveryOrder(
      {RecordState(DeleteDelta(At(20, kSecondary))), Create(R"({"e": 4})", At(40, kSecondary)),
       Patch(R"({"f": 5})", At(50, kPrimary))},
      R"({"e":4,"f":5})", LwwView());
}

TEST(Scenarios, EqualStampsFromTwoSitesResolveByTheSiteOrder) {
  // Same hlc, different sites: the stamp with the greater site id wins, in both orders.
  const RecordState base = Create(R"({})", At(0, kPrimary));
  const RecordState from_primary = Patch(R"({"x": "primary"})", At(10, kPrimary));
  const RecordState from_secondary = Patch(R"({"x": "secondary"})", At(10, kSecondary));
  const std::string expected =
      kPrimary < kSecondary ? R"({"x":"secondary"})" : R"({"x":"primary"})";
  ExpectInEveryOrder({base, from_primary, from_secondary}, expected, LwwView());
}

TEST(Scenarios, EqualStampsFromOneSiteResolveByTheValueBytes) {
  // One stamp, two values (two outside events at one instant): the greater bytes win
  // ("\"y\"" > "\"x\""), in both orders.
  ExpectInEveryOrder({Create(R"({})", At(0, kPrimary)), Patch(R"({"v": "x"})", At(10, kSecondary)),
                      Patch(R"({"v": "y"})", At(10, kSecondary))},
                     R"({"v":"y"})", LwwView());
}

TEST(Scenarios, DeleteAndWriteAtOneStampKeepTheWrite) {
  // A record delete and a create with the same stamp: the create's values stay visible.
  ExpectInEveryOrder(
      {Create(R"({"old": 1})", At(0, kPrimary)), RecordState(DeleteDelta(At(10, kPrimary))),
       Create(R"({"new": 2})", At(10, kPrimary))},
      R"({"new":2})", LwwView());
  // A remove and a patch of the same path with the same stamp: the patched value stays.
  ExpectInEveryOrder({Create(R"({"x": 1, "y": 2})", At(0, kPrimary)),
                      Remove("x", At(10, kSecondary)), Patch(R"({"x": 5})", At(10, kSecondary))},
                     R"({"x":5,"y":2})", LwwView());
}

TEST(Scenarios, DisableWinsOverAConcurrentEnable) {
  const PolicyTable defaults = PolicyTable::Default();
  const RecordState created = Create(R"({"status": "enabled"})", At(0, kPrimary));
  // Twin/identity updates arrive as patches: values without covers, so the policy sees both
  // sites' writes. (A set or replace also writes a cover, which hides the other site's older
  // value outright: see the report on policies against covers.)
  const RecordState disable = Patch(R"({"status": "disabled"})", At(20, kPrimary));
  const RecordState enable = Patch(R"({"status": "enabled"})", At(30, kSecondary));
  // Fork point before both writes: disabled wins although the enable is newer.
  ExpectInEveryOrder({created, disable, enable}, R"({"status":"disabled"})",
                     MergeView{&defaults, T(10)});
  ExpectInEveryOrder({created, disable, enable}, R"({"status":"disabled"})",
                     MergeView{&defaults, T(10)}, KeyKind::kModule);
  // Control: with the fork point after both, or without the policy, the newer enable wins.
  ExpectInEveryOrder({created, disable, enable}, R"({"status":"enabled"})",
                     MergeView{&defaults, T(30)});
  ExpectInEveryOrder({created, disable, enable}, R"({"status":"enabled"})", LwwView(T(10)));
  // The default table leaves metadata to lww.
  ExpectInEveryOrder({created, disable, enable}, R"({"status":"enabled"})",
                     MergeView{&defaults, T(10)}, KeyKind::kMeta);
  // Three sites: the disable from the third wins over enables from the other two.
  ExpectInEveryOrder({created, Patch(R"({"status": "disabled"})", At(20, kThird)), enable,
                      Patch(R"({"status": "enabled"})", At(40, kPrimary))},
                     R"({"status":"disabled"})", MergeView{&defaults, T(10)});
}

TEST(Scenarios, AScalarLaterWrittenBelowBecomesAnObject) {
  ExpectInEveryOrder({Create(R"({"a": 5})", At(0, kPrimary)), Set("a/b", "1", At(10, kSecondary))},
                     R"({"a":{"b":1}})", LwwView());
  ExpectInEveryOrder({Create(R"({"a": [1, 2]})", At(0, kPrimary)),
                      Patch(R"({"a": {"c": true}})", At(10, kSecondary))},
                     R"({"a":{"c":true}})", LwwView());
  // Older below, newer above: the scalar wins (the next test) — and newer below again: object.
  ExpectInEveryOrder({Create(R"({"a": {"b": 1}})", At(0, kPrimary)),
                      Set("a", "5", At(10, kSecondary)), Set("a/c", "2", At(20, kThird))},
                     R"({"a":{"c":2}})", LwwView());
}

TEST(Scenarios, AnOlderObjectBelowANewerScalarIsHidden) {
  // A patch writes no cover for its leaves (docs/DECISIONS.md D3): the newer scalar still hides
  // the object that was below it.
  ExpectInEveryOrder({Create(R"({"a": {"b": 1, "c": {"d": 2}}})", At(0, kPrimary)),
                      Patch(R"({"a": 5})", At(10, kSecondary))},
                     R"({"a":5})", LwwView());
  ExpectInEveryOrder(
      {Create(R"({"a": {"b": 1}})", At(0, kPrimary)), Patch(R"({"a": 5})", At(10, kPrimary))},
      R"({"a":5})", LwwView());
  // From another site, a newer object write after the scalar shows only what came after.
  ExpectInEveryOrder(
      {Create(R"({"a": {"b": 1}})", At(0, kPrimary)), Patch(R"({"a": 5})", At(10, kSecondary)),
       Patch(R"({"a": {"c": 2}})", At(20, kThird))},
      R"({"a":{"c":2}})", LwwView());
}

// The same as the last case above, but the scalar and the later object come from one site: the
// site's cell at "a" keeps only its newest value (the object marker), so only the patch's
// below-cover remembers that the scalar replaced "a/b" (record.h).
TEST(Scenarios, SameSitePatchScalarThenObjectHidesOldChildren) {
  ExpectInEveryOrder(
      {Create(R"({"a": {"b": 1}})", At(0, kPrimary)), Patch(R"({"a": 5})", At(10, kSecondary)),
       Patch(R"({"a": {"c": 2}})", At(20, kSecondary))},
      R"({"a":{"c":2}})", LwwView());
}

TEST(Scenarios, EmptyObjectsSurvive) {
  ExpectInEveryOrder({Create(R"({"a": {}, "b": {"c": {}}})", At(0, kPrimary)),
                      Patch(R"({"d": {}})", At(10, kSecondary)), Set("e", "{}", At(20, kThird))},
                     R"({"a":{},"b":{"c":{}},"d":{},"e":{}})", LwwView());
  // Removing the only child of an object marker leaves the empty object.
  ExpectInEveryOrder(
      {Create(R"({"a": {"b": 1}})", At(0, kPrimary)), Remove("a/b", At(10, kSecondary))},
      R"({"a":{}})", LwwView());
  // An empty record exists.
  ExpectInEveryOrder({Create(R"({})", At(0, kPrimary))}, "{}", LwwView());
}

TEST(Scenarios, PatchNullRemovesAndArraysAreAtomic) {
  ExpectInEveryOrder({Create(R"({"a": 1, "b": [1, 2], "c": {"d": 1, "e": 2}})", At(0, kPrimary)),
                      Patch(R"({"a": null, "b": [3], "c": {"d": null}})", At(10, kSecondary))},
                     R"({"b":[3],"c":{"e":2}})", LwwView());
  // Create ignores nulls (docs/DECISIONS.md D7).
  ExpectInEveryOrder({Create(R"({"a": null, "b": 1})", At(0, kPrimary))}, R"({"b":1})", LwwView());
}

TEST(Scenarios, RemoveHidesOnlyOlderWrites) {
  ExpectInEveryOrder({Create(R"({"a": {"b": 1, "c": 2}})", At(0, kPrimary)),
                      Set("a/c", "3", At(20, kSecondary)), Remove("a", At(10, kThird))},
                     R"({"a":{"c":3}})", LwwView());
}

TEST(Scenarios, PruneKeepsWhatIsShownAndDropsWhatIsHidden) {
  RecordState s = Create(R"({"a": {"b": 1}, "k": 0})", At(0, kPrimary));
  s.Join(Remove("a", At(10, kSecondary)));
  s.Join(Set("a/b", "2", At(5, kThird)));  // older than the remove: hidden
  const std::string before = Show(s, LwwView());
  EXPECT_EQ(before, R"({"k":0})");
  const size_t cells_before = s.cells().size();
  s.Prune();
  EXPECT_EQ(Show(s, LwwView()), before);
  EXPECT_LT(s.cells().size(), cells_before);
  for (const Cell& c : s.cells()) {
    if (Path::IsWithin(c.path, Path::Parse("a")->joined())) {
      EXPECT_FALSE(c.has_value) << Path::FromJoined(c.path.str()).ToString();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Policies

TEST(PolicyScenarios, MaxUnionSitePriorityAndOrder) {
  PolicyTable table;
  auto rule = [](const char* path, Policy p) {
    PolicyRule r;
    r.pattern = {path};
    r.policy = std::move(p);
    return r;
  };
  table.Add(rule("version", Policy{PolicyKind::kMax, {}, "", {}}));
  table.Add(rule("labels", Policy{PolicyKind::kUnion, {}, "", {}}));
  table.Add(rule("owner", Policy{PolicyKind::kSitePriority, {}, "neu-secondary", kSecondary}));
  table.Add(rule("mode", Policy{PolicyKind::kOrder, {R"("safe")", R"("normal")"}, "", {}}));
  const MergeView view{&table, T(5)};
  // The writes are patches (values without covers), so each policy sees every site's value.
  const RecordState base = Create(R"({})", At(0, kPrimary));
  // max: 7 beats a newer 3; a number beats a newer string.
  ExpectInEveryOrder({base, Patch(R"({"version": 7})", At(10, kPrimary)),
                      Patch(R"({"version": 3})", At(20, kSecondary)),
                      Patch(R"({"version": "x"})", At(30, kThird))},
                     R"({"version":7})", view);
  // union: the sorted set of every site's elements.
  ExpectInEveryOrder({base, Patch(R"({"labels": ["b", "a"]})", At(10, kPrimary)),
                      Patch(R"({"labels": ["c", "b"]})", At(20, kSecondary))},
                     R"({"labels":["a","b","c"]})", view);
  // site-priority: the priority site's write after the fork point wins although older ...
  ExpectInEveryOrder({base, Patch(R"({"owner": "secondary"})", At(10, kSecondary)),
                      Patch(R"({"owner": "primary"})", At(20, kPrimary))},
                     R"({"owner":"secondary"})", view);
  // ... but not a write from before the fork point.
  ExpectInEveryOrder({base, Patch(R"({"owner": "secondary"})", At(3, kSecondary)),
                      Patch(R"({"owner": "primary"})", At(20, kPrimary))},
                     R"({"owner":"primary"})", view);
  // order: a listed value beats an unlisted newer one.
  ExpectInEveryOrder({base, Patch(R"({"mode": "normal"})", At(10, kPrimary)),
                      Patch(R"({"mode": "turbo"})", At(20, kSecondary))},
                     R"({"mode":"normal"})", view);
}

TEST(PolicyTableTest, ForPicksTheFirstMatchingRule) {
  auto parsed = PolicyTable::Parse(R"([
      {"kinds": ["device", "module"], "path": "status", "policy": "order",
       "order": ["disabled", "enabled"]},
      {"path": "properties/desired/**", "policy": "site-priority", "site": "weu-primary"},
      {"kinds": ["meta"], "path": "*/version", "policy": "max"},
      {"path": "tags/labels", "policy": "union"},
      {"path": "properties/reported/*", "policy": "multi"},
      {"path": "**", "policy": "lww"}])");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const PolicyTable& t = *parsed;
  auto kind_at = [&](KeyKind k, const char* path) {
    return t.For(k, Path::Parse(path, PathRules::kMeta)->joined()).kind;
  };
  EXPECT_EQ(kind_at(KeyKind::kDevice, "status"), PolicyKind::kOrder);
  EXPECT_EQ(t.For(KeyKind::kDevice, "status").order,
            (std::vector<std::string>{R"("disabled")", R"("enabled")"}));
  EXPECT_EQ(kind_at(KeyKind::kModule, "status"), PolicyKind::kOrder);
  EXPECT_EQ(kind_at(KeyKind::kMeta, "status"), PolicyKind::kLww);
  EXPECT_EQ(kind_at(KeyKind::kDevice, "properties/desired"),
            PolicyKind::kSitePriority);  // ** = none
  EXPECT_EQ(kind_at(KeyKind::kDevice, "properties/desired/a/b"), PolicyKind::kSitePriority);
  EXPECT_EQ(t.For(KeyKind::kDevice, Path::Parse("properties/desired/a")->joined()).priority_site,
            kPrimary);
  EXPECT_EQ(kind_at(KeyKind::kMeta, "x/version"), PolicyKind::kMax);
  EXPECT_EQ(kind_at(KeyKind::kDevice, "x/version"), PolicyKind::kLww);
  EXPECT_EQ(kind_at(KeyKind::kMeta, "x/y/version"), PolicyKind::kLww);  // * is one segment
  EXPECT_EQ(kind_at(KeyKind::kDevice, "tags/labels"), PolicyKind::kUnion);
  EXPECT_EQ(kind_at(KeyKind::kDevice, "tags/labels/x"), PolicyKind::kLww);
  EXPECT_EQ(kind_at(KeyKind::kDevice, "properties/reported/t"), PolicyKind::kMulti);
  EXPECT_EQ(kind_at(KeyKind::kDevice, "properties/reported"), PolicyKind::kLww);
  EXPECT_EQ(kind_at(KeyKind::kDevice, "properties/reported/t/u"), PolicyKind::kLww);
  // An empty table is lww everywhere.
  EXPECT_EQ(PolicyTable().For(KeyKind::kDevice, "status").kind, PolicyKind::kLww);
}

TEST(PolicyTableTest, ParseToJsonRoundTrip) {
  auto parsed = PolicyTable::Parse(R"([
      {"kinds": ["device"], "path": "status", "policy": "order", "order": ["disabled", 1, null]},
      {"path": "a/*/b", "policy": "site-priority", "site": "eus-dr"},
      {"path": "", "policy": "multi"},
      {"kinds": ["meta", "module"], "path": "**", "policy": "max"}])");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const std::string json = parsed->ToJson();
  auto again = PolicyTable::Parse(json);
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << json;
  EXPECT_EQ(again->ToJson(), json);
  ASSERT_EQ(again->rules().size(), parsed->rules().size());
  for (size_t i = 0; i < parsed->rules().size(); ++i) {
    const PolicyRule& a = parsed->rules()[i];
    const PolicyRule& b = again->rules()[i];
    EXPECT_EQ(a.kinds, b.kinds) << i;
    EXPECT_EQ(a.pattern, b.pattern) << i;
    EXPECT_EQ(a.policy.kind, b.policy.kind) << i;
    EXPECT_EQ(a.policy.order, b.policy.order) << i;
    EXPECT_EQ(a.policy.priority_site, b.policy.priority_site) << i;
  }
  EXPECT_EQ(parsed->rules()[0].policy.order,
            (std::vector<std::string>{R"("disabled")", "1", "null"}));
  EXPECT_EQ(parsed->rules()[1].policy.priority_site, kThird);
  // The default table round-trips too.
  const PolicyTable defaults = PolicyTable::Default();
  auto d = PolicyTable::Parse(defaults.ToJson());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ToJson(), defaults.ToJson());
  EXPECT_EQ(d->For(KeyKind::kDevice, "status").kind, PolicyKind::kOrder);
  // Policy names.
  for (PolicyKind k : {PolicyKind::kLww, PolicyKind::kOrder, PolicyKind::kMax, PolicyKind::kUnion,
                       PolicyKind::kSitePriority, PolicyKind::kMulti}) {
    auto back = ParsePolicyName(PolicyName(k));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, k);
  }
  EXPECT_TRUE(ParsePolicyName("newest").status().IsInvalidInput());
}

TEST(PolicyTableTest, ParseErrorsNameTheRule) {
  for (const char* bad :
       {"", "not json", "{}", R"([1])", R"([{"policy": "lww"}])", R"([{"path": "a"}])",
        R"([{"path": "a", "policy": "newest"}])", R"([{"path": "a", "policy": "site-priority"}])",
        R"([{"path": "a", "policy": "site-priority", "site": "bad site"}])",
        R"([{"kinds": ["devices"], "path": "a", "policy": "lww"}])",
        R"([{"kinds": "device", "path": "a", "policy": "lww"}])",
        R"([{"path": "**/a", "policy": "lww"}])", R"([{"path": "a//b", "policy": "lww"}])"}) {
    auto r = PolicyTable::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsInvalidInput()) << bad;
    }
  }
  auto second =
      PolicyTable::Parse(R"([{"path": "a", "policy": "lww"}, {"path": "b", "policy": "?"}])");
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("1"));
}

// ---------------------------------------------------------------------------------------------
// Conflicts

std::vector<Conflict> ConflictsOf(const std::vector<RecordState>& deltas, const MergeView& view) {
  RecordState s;
  for (const auto& d : deltas) s.Join(d);
  auto r = FindConflicts(KeyKind::kDevice, s, view);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  // The report does not depend on the delivery order.
  RecordState reversed;
  for (auto it = deltas.rbegin(); it != deltas.rend(); ++it) reversed.Join(*it);
  auto again = FindConflicts(KeyKind::kDevice, reversed, view);
  EXPECT_TRUE(again.ok());
  if (r.ok() && again.ok()) {
    EXPECT_TRUE(*r == *again);
  }
  return r.ok() ? *r : std::vector<Conflict>();
}

TEST(ConflictTest, TwoSitesWritingDifferentValuesAfterTheForkPoint) {
  const RecordState created = Create(R"({"properties": {"desired": {"x": 0}}})", At(0, kPrimary));
  const RecordState mine = Patch(R"({"properties": {"desired": {"x": 1}}})", At(20, kPrimary));
  const RecordState theirs = Patch(R"({"properties": {"desired": {"x": 2}}})", At(30, kSecondary));
  const std::vector<Conflict> found = ConflictsOf({created, mine, theirs}, LwwView(T(10)));
  // The markers at properties and properties/desired are the same bytes ("{}"): no conflict.
  ASSERT_EQ(found.size(), 1u);
  const Conflict& c = found[0];
  EXPECT_EQ(c.path.ToString(), "properties/desired/x");
  EXPECT_EQ(c.rule, "lww");
  EXPECT_EQ(c.winner.stamp, At(30, kSecondary));
  EXPECT_FALSE(c.winner.is_cover);
  EXPECT_EQ(c.winner.value, "2");
  ASSERT_EQ(c.losers.size(), 1u);
  EXPECT_EQ(c.losers[0].stamp, At(20, kPrimary));
  EXPECT_FALSE(c.losers[0].is_cover);
  EXPECT_EQ(c.losers[0].value, "1");
  // With the fork point after both writes, the sites were in sync: no conflict.
  EXPECT_TRUE(ConflictsOf({created, mine, theirs}, LwwView(T(30))).empty());
}

TEST(ConflictTest, SameValueIsNoConflict) {
  const RecordState created = Create(R"({"properties": {"desired": {"x": 0}}})", At(0, kPrimary));
  EXPECT_TRUE(
      ConflictsOf({created, Patch(R"({"properties": {"desired": {"x": 7}}})", At(20, kPrimary)),
                   Patch(R"({"properties": {"desired": {"x": 7}}})", At(30, kSecondary))},
                  LwwView(T(10)))
          .empty());
}

TEST(ConflictTest, ThePolicyThatChoseIsTheRule) {
  const PolicyTable defaults = PolicyTable::Default();
  const std::vector<Conflict> found =
      ConflictsOf({Create(R"({"status": "enabled"})", At(0, kPrimary)),
                   Set("status", R"("disabled")", At(20, kPrimary)),
                   Patch(R"({"status": "enabled"})", At(30, kSecondary))},
                  MergeView{&defaults, T(10)});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].path.ToString(), "status");
  EXPECT_EQ(found[0].rule, "order");
  EXPECT_EQ(found[0].winner.value, R"("disabled")");
  EXPECT_EQ(found[0].winner.stamp, At(20, kPrimary));
  ASSERT_EQ(found[0].losers.size(), 1u);
  EXPECT_EQ(found[0].losers[0].value, R"("enabled")");
}

// A value a policy makes (here a union of arrays) may be exactly one site's write: that site is
// the winner, not also one of the losers.
TEST(ConflictTest, ASiteWhoseWriteIsThePolicysValueIsNotALoser) {
  const PolicyTable table = *PolicyTable::Parse(R"([{"path": "**", "policy": "union"}])");
  const std::vector<Conflict> found =
      ConflictsOf({Create(R"({"status": {"x": true}})", At(0, kSecondary)),
                   Set("status", "[]", At(20, kPrimary)),
                   Set("status", R"("disabled")", At(25, kSecondary)),
                   Patch(R"({"status": []})", At(30, kThird))},
                  MergeView{&table, T(10)});
  ASSERT_EQ(found.size(), 1u);
  const Conflict& c = found[0];
  EXPECT_EQ(c.path.ToString(), "status");
  EXPECT_EQ(c.rule, "union");
  EXPECT_EQ(c.winner.stamp, At(30, kThird));
  for (const ConflictWrite& l : c.losers) EXPECT_FALSE(l == c.winner) << l.value;
  ASSERT_EQ(c.losers.size(), 2u);
  EXPECT_EQ(c.losers[0].stamp, At(25, kSecondary));
  EXPECT_EQ(c.losers[1].stamp, At(20, kPrimary));
}

TEST(ConflictTest, ADeleteAgainstALaterPatchIsDecidedByTheCover) {
  const std::vector<Conflict> found =
      ConflictsOf({Create(R"({"properties": {"desired": {"x": 0}}})", At(0, kPrimary)),
                   RecordState(DeleteDelta(At(20, kPrimary))),
                   Patch(R"({"properties": {"desired": {"x": 1}}})", At(30, kSecondary))},
                  LwwView(T(10)));
  ASSERT_EQ(found.size(), 1u);
  const Conflict& c = found[0];
  EXPECT_TRUE(c.path.is_root());
  EXPECT_EQ(c.rule, "cover");
  EXPECT_TRUE(c.winner.is_cover);
  EXPECT_EQ(c.winner.stamp, At(20, kPrimary));
  ASSERT_FALSE(c.losers.empty());
  for (const ConflictWrite& l : c.losers) {
    EXPECT_EQ(l.stamp.site, kSecondary);
    EXPECT_FALSE(l.is_cover);
  }
  EXPECT_EQ(c.losers[0].value, "1");
}

TEST(ConflictTest, OneSiteAloneNeverConflicts) {
  EXPECT_TRUE(ConflictsOf({Create(R"({"a": 0})", At(0, kPrimary)), Set("a", "1", At(20, kPrimary)),
                           RecordState(DeleteDelta(At(25, kPrimary))),
                           Patch(R"({"a": 2})", At(30, kPrimary))},
                          LwwView(T(10)))
                  .empty());
}

TEST(ConflictTest, RedactionNeverShowsAKey) {
  const std::string key = "c2VjcmV0LXByaW1hcnkta2V5LTEyMzQ1Njc4OTA=";
  const std::string value = "\"" + key + "\"";
  for (const char* path :
       {"authentication/symmetricKey/primaryKey", "authentication/symmetricKey/secondaryKey"}) {
    const std::string shown = RedactForReport(*Path::Parse(path), value);
    EXPECT_THAT(shown, Not(HasSubstr(key))) << path;
    EXPECT_THAT(shown, Not(HasSubstr(key.substr(0, 12)))) << path;
    EXPECT_THAT(shown, HasSubstr("redacted:")) << path;
    EXPECT_THAT(shown, MatchesRegex(".*redacted:[0-9a-fA-F]{8}.*")) << path;
    // The same key gives the same fingerprint, another key another.
    EXPECT_EQ(RedactForReport(*Path::Parse(path), value), shown);
    EXPECT_NE(RedactForReport(*Path::Parse(path), "\"another-key\""), shown);
  }
  // A whole symmetricKey object is a secret too.
  const std::string object = R"({"primaryKey":")" + key + R"(","secondaryKey":"x"})";
  EXPECT_THAT(RedactForReport(*Path::Parse("authentication/symmetricKey"), object),
              Not(HasSubstr(key)));
  // Ordinary values are shown as they are.
  EXPECT_EQ(RedactForReport(*Path::Parse("properties/desired/x"), value), value);
  EXPECT_EQ(RedactForReport(*Path::Parse("status"), R"("enabled")"), R"("enabled")");
}

TEST(ConflictTest, ReportedSecretsAreRedactable) {
  // Two sites re-keyed one device during the outage: the conflict carries raw values; what a
  // report prints through RedactForReport never holds either key.
  const std::string k1 = "a2V5LW9uZS0xMTExMTExMTExMTExMTE=";
  const std::string k2 = "a2V5LXR3by0yMjIyMjIyMjIyMjIyMjI=";
  const std::vector<Conflict> found = ConflictsOf(
      {Create(R"({"authentication": {"type": "sas", "symmetricKey": {"primaryKey": "k0"}}})",
              At(0, kPrimary)),
       Must(PatchDelta(Json{{"authentication", {{"symmetricKey", {{"primaryKey", k1}}}}}},
                       At(20, kPrimary))),
       Must(PatchDelta(Json{{"authentication", {{"symmetricKey", {{"primaryKey", k2}}}}}},
                       At(30, kSecondary)))},
      LwwView(T(10)));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].path.ToString(), "authentication/symmetricKey/primaryKey");
  std::string report = RedactForReport(found[0].path, found[0].winner.value);
  for (const auto& l : found[0].losers) report += RedactForReport(found[0].path, l.value);
  EXPECT_THAT(report, Not(HasSubstr(k1)));
  EXPECT_THAT(report, Not(HasSubstr(k2)));
}

// ---------------------------------------------------------------------------------------------
// Codec and record basics

TEST(CodecTest, EmptyAndSmallStatesRoundTrip) {
  for (const RecordState& s :
       {RecordState(), RecordState(DeleteDelta(At(0, kPrimary))),
        Create(R"({"a": {"b": [1, {"c": null}]}, "ключ": "キー", "e": {}})", At(3, kSecondary))}) {
    const std::string bytes = EncodeRecord(s);
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(static_cast<uint8_t>(bytes[0]), kRecordCodecVersion);
    auto back = DecodeRecord(bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == s);
  }
  EXPECT_TRUE(DecodeRecord("").status().IsCorruption());
  EXPECT_EQ(DecodeRecord(std::string(1, '\x7f')).status().code(), Code::kUnsupported);
}

TEST(RecordTest, CellsKeepTheGreatestValueAndCoverPerSite) {
  RecordState s;
  const Path x = *Path::Parse("x");
  s.AddValue(x, At(10, kPrimary), "1");
  s.AddValue(x, At(5, kPrimary), "9");   // older: ignored
  s.AddValue(x, At(10, kPrimary), "0");  // same stamp, smaller bytes: ignored
  s.AddCover(x, At(7, kPrimary));
  s.AddCover(x, At(6, kPrimary));         // older: ignored
  s.AddValue(x, At(1, kSecondary), "2");  // another site: its own cell
  ASSERT_EQ(s.cells().size(), 2u);
  const Cell& mine = s.cells()[0].site == kPrimary ? s.cells()[0] : s.cells()[1];
  EXPECT_TRUE(mine.has_value);
  EXPECT_EQ(mine.value, "1");
  EXPECT_EQ(mine.value_hlc, T(10));
  EXPECT_TRUE(mine.has_cover);
  EXPECT_EQ(mine.cover_hlc, T(7));
  EXPECT_TRUE(s.Validate().ok());
  EXPECT_EQ(s.MaxStampPerSite().size(), 2u);
}

}  // namespace
}  // namespace reconcile
