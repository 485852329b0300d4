// tests/core/generators.h — adversarial rapidcheck generators for the record lattice.
//
// Everything here is built to make the hard cases common rather than rare (DESIGN §2, "Laws the
// tests must check"):
//   - a pool of four sites (histories span three or more of them in most cases; the convergence
//     property forces three);
//   - hlcs from a tiny range (five milliseconds times three logical ticks, plus hlc 0), so equal
//     hlcs across sites, and equal stamps within a site, happen in most cases;
//   - paths from a small tree with colliding siblings ("a", "a!", "a0": the separator 0x01 sorts
//     below every key byte), unicode keys ("ключ", "キー"), keys that JSON must escape ('q"k'),
//     chains down to the depth limit (12 for twin records (docs/DECISIONS.md D2), deeper for
//     metadata), and metadata keys with '.', '$' and spaces (PathRules::kMeta);
//   - JSON values of every type: null, bools, small and extreme integers, doubles (1 and 1.0 are
//     distinct bytes), strings with escapes, arrays (atomic, with duplicates and nested objects),
//     nested and empty objects;
//   - operations (create, replace, patch with nulls, delete, set, remove) turned into deltas
//     through operations.h, and raw cells (value, cover and below-cover at one path, at one
//     stamp, markers, and covers alone) through RecordState::FromCells.
// Generated sizes stay small so a property runs 1000 cases in seconds.
//
// Failing cases are shown through RC_LOG (Describe* below), since the library types have no
// stream operators; rapidcheck prints its seed ("Using configuration: seed=...") itself.
//
// Thread safety: the generators are used from one test thread.
#ifndef RECONCILE_TESTS_CORE_GENERATORS_H_
#define RECONCILE_TESTS_CORE_GENERATORS_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <rapidcheck.h>
#include <nlohmann/json.hpp>

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

namespace reconcile_test {

using reconcile::Cell;
using reconcile::Hlc;
using reconcile::KeyKind;
using reconcile::Path;
using reconcile::PathRules;
using reconcile::RecordState;
using reconcile::SiteId;
using reconcile::Stamp;
using Json = nlohmann::json;

// An integer in [lo, hi] (both inclusive), drawn inside a rapidcheck generation context.
inline int Pick(int lo, int hi) { return *rc::gen::inRange(lo, hi + 1); }
inline bool Chance(int percent) { return Pick(0, 99) < percent; }

// ---------------------------------------------------------------------------------------------
// Sites and stamps

inline const std::vector<std::string>& SiteNames() {
  static const std::vector<std::string> names = {"weu-primary", "neu-secondary", "eus-dr",
                                                 "sea-edge"};
  return names;
}

inline const std::vector<SiteId>& Sites() {
  static const std::vector<SiteId> sites = [] {
    std::vector<SiteId> out;
    for (const auto& name : SiteNames()) out.push_back(SiteId::FromName(name));
    return out;
  }();
  return sites;
}

// A short readable name for a site of the pool (the uuid otherwise).
inline std::string SiteLabel(const SiteId& site) {
  for (size_t i = 0; i < Sites().size(); ++i) {
    if (Sites()[i] == site) return SiteNames()[i];
  }
  return site.ToString();
}

inline rc::Gen<SiteId> GenSite() { return rc::gen::elementOf(Sites()); }

// The wall part of every generated hlc: 2022-04-15, far from 0 so Format/Parse make sense.
constexpr uint64_t kBaseMillis = 1'650'000'000'000;

// hlc 0 (rare), or one of 5 x 3 values close together.
inline rc::Gen<Hlc> GenHlc() {
  return rc::gen::exec([] {
    if (Chance(3)) return Hlc{0};
    return reconcile::MakeHlc(kBaseMillis + Pick(0, 4), Pick(0, 2));
  });
}

inline rc::Gen<Stamp> GenStamp() {
  return rc::gen::exec([] { return Stamp{*GenHlc(), *GenSite()}; });
}

// A fork point: none (0), or one inside the generated range.
inline rc::Gen<Hlc> GenForkPoint() {
  return rc::gen::exec([] {
    if (Chance(25)) return Hlc{0};
    return reconcile::MakeHlc(kBaseMillis + Pick(0, 4), Pick(0, 2));
  });
}

// ---------------------------------------------------------------------------------------------
// Record kinds and paths

// What kind of record a generated history is about, and the path rules that go with it.
struct Universe {
  KeyKind kind = KeyKind::kDevice;
  PathRules rules = PathRules::kTwin;
  size_t max_depth = reconcile::kMaxRecordDepth;
};

inline std::string Describe(const Universe& u) {
  switch (u.kind) {
    case KeyKind::kDevice:
      return "device/twin rules";
    case KeyKind::kModule:
      return "module/twin rules";
    case KeyKind::kMeta:
      return "meta/meta rules";
  }
  return "?";
}

inline rc::Gen<Universe> GenUniverse() {
  return rc::gen::exec([] {
    switch (Pick(0, 3)) {
      case 0:
      case 1:
        return Universe{KeyKind::kDevice, PathRules::kTwin, reconcile::kMaxRecordDepth};
      case 2:
        return Universe{KeyKind::kModule, PathRules::kTwin, reconcile::kMaxRecordDepth};
      default:
        // Metadata may be 32 deep; 14 is enough to go past the twin limit without slowing down.
        return Universe{KeyKind::kMeta, PathRules::kMeta, 14};
    }
  });
}

// Keys at the top of the tree: colliding siblings, unicode, names the policies look at.
inline const std::vector<std::string>& TwinTopKeys() {
  // 'q"k' and 'b\\s' need escaping in JSON output; '!' (0x21) sorts right after the separator.
  static const std::vector<std::string> keys = {"a",    "a!",   "a0",   "b",   "status",
                                                "ключ", "キー", "q\"k", "b\\s"};
  return keys;
}
// Metadata keys may hold '.', '$' and spaces; "a b" sorts between "a" and "a!".
inline const std::vector<std::string>& MetaTopKeys() {
  static const std::vector<std::string> keys = {"a", "a b", "a.b", "$ref", "b", "status", "ключ"};
  return keys;
}
// Keys further down: a small pool so paths collide.
inline const std::vector<std::string>& InnerKeys(const Universe& u) {
  static const std::vector<std::string> twin = {"a", "b", "x", "キー"};
  static const std::vector<std::string> meta = {"a", "b", "x y", "$v"};
  return u.rules == PathRules::kTwin ? twin : meta;
}

inline std::string GenKeyAt(const Universe& u, size_t depth) {
  if (depth == 0) {
    return *rc::gen::elementOf(u.rules == PathRules::kTwin ? TwinTopKeys() : MetaTopKeys());
  }
  // Deep levels use two keys only, so deep chains share prefixes.
  if (depth >= 3) return Chance(50) ? "a" : "b";
  return *rc::gen::elementOf(InnerKeys(u));
}

// A path: mostly shallow, sometimes the root, sometimes a deep chain up to u.max_depth.
inline rc::Gen<Path> GenPath(const Universe& u, bool allow_root = true) {
  return rc::gen::exec([u, allow_root] {
    int depth;
    const int roll = Pick(0, 99);
    if (roll < 10)
      depth = 0;
    else if (roll < 40)
      depth = 1;
    else if (roll < 70)
      depth = 2;
    else if (roll < 85)
      depth = 3;
    else
      depth = Pick(4, static_cast<int>(u.max_depth));
    if (depth == 0 && !allow_root) depth = 1;
    Path p;
    for (int i = 0; i < depth; ++i) p = p.Child(GenKeyAt(u, static_cast<size_t>(i)));
    return p;
  });
}

// ---------------------------------------------------------------------------------------------
// JSON values

// Strings: empty, policy values, unicode, escapes, an embedded NUL, DEL, an emoji.
inline const std::vector<std::string>& StringPool() {
  static const std::vector<std::string> pool = {
      "",     "x", "disabled", "enabled", "ключ", "キー", "a\"b\\c\n", std::string("nul\0byte", 8),
      "\x7f", "😀"};
  return pool;
}

inline rc::Gen<Json> GenScalar(bool allow_null) {
  return rc::gen::exec([allow_null] {
    switch (Pick(0, allow_null ? 9 : 8)) {
      case 0:
        return Json(Chance(50));
      case 1:
      case 2:
        return Json(Pick(-2, 2));
      case 3:
        return *rc::gen::element(Json(std::numeric_limits<int64_t>::max()),
                                 Json(std::numeric_limits<int64_t>::min()),
                                 Json(std::numeric_limits<uint64_t>::max()), Json(uint64_t{0}));
      case 4:
        // 1.0 and 1 are different bytes; -0.0 keeps its sign in JSON text.
        return *rc::gen::element(Json(1.0), Json(0.5), Json(-1.25), Json(1e300), Json(-0.0));
      case 5:
      case 6:
      case 7:
        return Json(*rc::gen::elementOf(StringPool()));
      case 8:
        return Json(Chance(50) ? "disabled" : "enabled");
      default:
        return Json(nullptr);
    }
  });
}

// An array (an atomic value): scalars, duplicates, nested arrays and objects, nulls.
inline rc::Gen<Json> GenArray() {
  return rc::gen::exec([] {
    Json arr = Json::array();
    const int n = Pick(0, 3);
    for (int i = 0; i < n; ++i) {
      const int roll = Pick(0, 9);
      if (roll < 7) {
        arr.push_back(*GenScalar(true));
      } else if (roll < 8) {
        arr.push_back(Json::array({Pick(0, 2), "x"}));
      } else {
        arr.push_back(Json::object({{"k", Pick(0, 2)}}));
      }
    }
    if (n > 0 && Chance(30)) arr.push_back(arr.front());  // a duplicate element
    return arr;
  });
}

// A JSON object meant as a document whose root sits at path depth `depth` (its keys are at
// depth + 1). Leaves may be null only when `allow_null` (patch documents). Never deeper than
// u.max_depth, so every generated document is valid under u.rules.
inline Json GenObjectAt(const Universe& u, size_t depth, bool allow_null, int budget);

inline Json GenValueAt(const Universe& u, size_t depth, bool allow_null, int budget) {
  // `depth` is the depth of the path the value sits at.
  const bool can_nest = depth < u.max_depth && budget > 0;
  const int roll = Pick(0, 99);
  if (roll < 55) return *GenScalar(allow_null);
  if (roll < 70) return *GenArray();
  if (roll < 78 || !can_nest) return Json::object();  // an empty object (a marker alone)
  return GenObjectAt(u, depth, allow_null, budget - 1);
}

inline Json GenObjectAt(const Universe& u, size_t depth, bool allow_null, int budget) {
  Json obj = Json::object();
  if (depth >= u.max_depth) return obj;
  // Sometimes a chain straight down to the depth limit.
  if (Chance(8)) {
    Json leaf = *GenScalar(allow_null);
    Json node = leaf;
    for (size_t d = u.max_depth; d > depth + 1; --d)
      node = Json::object({{GenKeyAt(u, d - 1), node}});
    obj[GenKeyAt(u, depth)] = node;
    return obj;
  }
  const int n = Pick(0, depth == 0 ? 4 : 2);
  for (int i = 0; i < n; ++i) {
    obj[GenKeyAt(u, depth)] = GenValueAt(u, depth + 1, allow_null, budget);
  }
  return obj;
}

// A document for create/replace (no nulls) or patch (nulls delete), rooted at the record.
inline rc::Gen<Json> GenDocument(const Universe& u, bool allow_null) {
  return rc::gen::exec([u, allow_null] { return GenObjectAt(u, 0, allow_null, 3); });
}

// Canonical JSON bytes of a cell value: a scalar, an array, or the object marker (record.h: a
// value is never any other object).
inline rc::Gen<std::string> GenCanonicalValue() {
  return rc::gen::exec([] {
    const int roll = Pick(0, 99);
    if (roll < 35) return std::string(reconcile::kObjectMarker);
    if (roll < 85) return reconcile::CanonicalJson(*GenScalar(true));
    return reconcile::CanonicalJson(*GenArray());
  });
}

// ---------------------------------------------------------------------------------------------
// Operations

enum class OpKind { kCreate, kReplace, kPatch, kDelete, kSet, kRemove };

inline const char* OpName(OpKind k) {
  switch (k) {
    case OpKind::kCreate:
      return "create";
    case OpKind::kReplace:
      return "replace";
    case OpKind::kPatch:
      return "patch";
    case OpKind::kDelete:
      return "delete";
    case OpKind::kSet:
      return "set";
    case OpKind::kRemove:
      return "remove";
  }
  return "?";
}

struct Op {
  OpKind kind = OpKind::kCreate;
  Stamp stamp;
  Json doc;   // create/replace/patch: the document; set: the value (null removes)
  Path path;  // set/remove
};

inline std::string DescribeStamp(const Stamp& s) {
  std::ostringstream os;
  if (s.hlc >= reconcile::MakeHlc(kBaseMillis, 0)) {
    os << "+" << (reconcile::HlcMillis(s.hlc) - kBaseMillis) << "ms."
       << reconcile::HlcLogical(s.hlc);
  } else {
    os << "hlc" << s.hlc;
  }
  os << "@" << SiteLabel(s.site);
  return os.str();
}

inline std::string DescribePath(std::string_view joined) {
  return "/" + Path::FromJoined(std::string(joined)).ToString();
}

inline std::string Describe(const Op& op) {
  std::ostringstream os;
  os << OpName(op.kind) << " " << DescribeStamp(op.stamp);
  if (op.kind == OpKind::kSet || op.kind == OpKind::kRemove)
    os << " " << DescribePath(op.path.joined());
  if (op.kind != OpKind::kDelete && op.kind != OpKind::kRemove) os << " " << op.doc.dump();
  return os.str();
}

inline std::string Describe(const std::vector<Op>& ops) {
  std::string out;
  for (size_t i = 0; i < ops.size(); ++i)
    out += "  [" + std::to_string(i) + "] " + Describe(ops[i]) + "\n";
  return out;
}

// An operation with the given stamp generator.
inline rc::Gen<Op> GenOp(const Universe& u, rc::Gen<Stamp> stamps) {
  return rc::gen::exec([u, stamps] {
    Op op;
    op.stamp = *stamps;
    const int roll = Pick(0, 99);
    if (roll < 25) {
      op.kind = OpKind::kCreate;
    } else if (roll < 32) {
      op.kind = OpKind::kReplace;
    } else if (roll < 62) {
      op.kind = OpKind::kPatch;
    } else if (roll < 70) {
      op.kind = OpKind::kDelete;
    } else if (roll < 90) {
      op.kind = OpKind::kSet;
    } else {
      op.kind = OpKind::kRemove;
    }
    switch (op.kind) {
      case OpKind::kCreate:
      case OpKind::kReplace:
        op.doc = *GenDocument(u, false);
        break;
      case OpKind::kPatch:
        op.doc = *GenDocument(u, true);
        break;
      case OpKind::kDelete:
        break;
      case OpKind::kSet:
        op.path = *GenPath(u, /*allow_root=*/false);
        op.doc = Chance(10) ? Json(nullptr) : GenValueAt(u, op.path.depth(), false, 2);
        break;
      case OpKind::kRemove:
        op.path = *GenPath(u, /*allow_root=*/false);
        break;
    }
    return op;
  });
}

inline rc::Gen<Op> GenOp(const Universe& u) { return GenOp(u, GenStamp()); }

// The delta of one operation. Generated operations are always valid, so an error fails the test.
inline RecordState DeltaOf(const Op& op, const Universe& u) {
  reconcile::Result<RecordState> r = RecordState();
  switch (op.kind) {
    case OpKind::kCreate:
      r = reconcile::CreateDelta(op.doc, op.stamp, u.rules);
      break;
    case OpKind::kReplace:
      r = reconcile::ReplaceDelta(op.doc, op.stamp, u.rules);
      break;
    case OpKind::kPatch:
      r = reconcile::PatchDelta(op.doc, op.stamp, u.rules);
      break;
    case OpKind::kDelete:
      r = reconcile::DeleteDelta(op.stamp);
      break;
    case OpKind::kSet:
      r = reconcile::SetDelta(op.path, op.doc, op.stamp, u.rules);
      break;
    case OpKind::kRemove:
      r = reconcile::RemoveDelta(op.path, op.stamp);
      break;
  }
  if (!r.ok()) {
    RC_FAIL("a generated operation was refused: " + Describe(op) + " -> " + r.status().ToString());
  }
  return std::move(r).value();
}

inline std::vector<RecordState> DeltasOf(const std::vector<Op>& ops, const Universe& u) {
  std::vector<RecordState> out;
  out.reserve(ops.size());
  for (const auto& op : ops) out.push_back(DeltaOf(op, u));
  return out;
}

// A history: 1..max_ops operations from the site pool, creates likely early.
inline rc::Gen<std::vector<Op>> GenHistory(const Universe& u, int max_ops = 8) {
  return rc::gen::exec([u, max_ops] {
    std::vector<Op> ops;
    const int n = Pick(1, max_ops);
    for (int i = 0; i < n; ++i) ops.push_back(*GenOp(u));
    return ops;
  });
}

inline RecordState JoinAll(const std::vector<RecordState>& states) {
  RecordState out;
  for (const auto& s : states) out.Join(s);
  return out;
}

// Operations aimed at the paths the policy tests care about ("status", "a", "b", "a/b"), with
// values the policies rank differently (status strings, numbers of both kinds, arrays as sets).
inline rc::Gen<Op> GenFocusedOp(const Universe& u) {
  return rc::gen::exec([u] {
    if (Chance(35)) return *GenOp(u);
    Op op;
    op.stamp = *GenStamp();
    static const std::vector<std::string> paths = {"status", "a", "b", "a/b"};
    const std::string where = *rc::gen::elementOf(paths);
    Json value;
    switch (Pick(0, 5)) {
      case 0:
      case 1:
        value = Chance(50) ? "disabled" : "enabled";
        break;
      case 2:
        value = *rc::gen::element(Json(1), Json(1.0), Json(7), Json(-3), Json(true), Json("x"));
        break;
      case 3:
        value = Json::array({Pick(0, 3), Pick(0, 3)});
        break;
      case 4:
        value = Json::array();
        break;
      default:
        value = *GenScalar(false);
        break;
    }
    if (Chance(50)) {
      op.kind = OpKind::kSet;
      op.path = *Path::Parse(where, u.rules);
      op.doc = value;
    } else {
      op.kind = OpKind::kPatch;
      Json doc = value;
      auto segs = Path::Parse(where, u.rules)->segments();
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) doc = Json::object({{*it, doc}});
      op.doc = doc;
    }
    return op;
  });
}

// A history for the policy tests: usually starts with a create, then focused operations.
inline rc::Gen<std::vector<Op>> GenFocusedHistory(const Universe& u, int max_ops = 8) {
  return rc::gen::exec([u, max_ops] {
    std::vector<Op> ops;
    if (Chance(80)) {
      Op create;
      create.kind = OpKind::kCreate;
      create.stamp = *GenStamp();
      create.doc = *GenDocument(u, false);
      ops.push_back(create);
    }
    const int n = Pick(1, max_ops);
    for (int i = 0; i < n; ++i) ops.push_back(*GenFocusedOp(u));
    return ops;
  });
}

// ---------------------------------------------------------------------------------------------
// Raw cells and states

inline rc::Gen<Cell> GenRawCell(const Universe& u) {
  return rc::gen::exec([u] {
    Cell c;
    const Path p = *GenPath(u);
    c.path = p.joined();
    c.site = *GenSite();
    const int shape = Pick(0, 9);
    c.has_value = shape < 7;   // 0..6 value (3..6 with a cover too)
    c.has_cover = shape >= 3;  // 7..9 cover only
    if (c.has_value) {
      c.value_hlc = *GenHlc();
      // The root holds only the existence marker (RecordState::Validate).
      c.value = p.is_root() ? std::string(reconcile::kObjectMarker) : *GenCanonicalValue();
    }
    if (c.has_cover) {
      // Half the time the cover and the value share their stamp (one operation wrote both).
      c.cover_hlc = (c.has_value && Chance(50)) ? c.value_hlc : *GenHlc();
    }
    // A below-cover (never at the root, record.h), often with its value's stamp (a patch's
    // scalar writes both); sometimes alone.
    if (!p.is_root() && Chance(30)) {
      c.has_below_cover = true;
      c.below_cover_hlc = (c.has_value && Chance(60)) ? c.value_hlc : *GenHlc();
    }
    return c;
  });
}

inline rc::Gen<std::vector<Cell>> GenRawCells(const Universe& u) {
  return rc::gen::exec([u] {
    std::vector<Cell> cells;
    const int n = Pick(0, 16);
    for (int i = 0; i < n; ++i) cells.push_back(*GenRawCell(u));
    return cells;
  });
}

// A state: the join of a random history's deltas, raw cells, or both; sometimes pruned.
inline rc::Gen<RecordState> GenState(const Universe& u) {
  return rc::gen::exec([u] {
    RecordState s;
    const int shape = Pick(0, 5);
    if (shape <= 2 || shape == 5) s = JoinAll(DeltasOf(*GenHistory(u, 12), u));
    if (shape >= 3) s.Join(RecordState::FromCells(*GenRawCells(u)));
    if (Chance(20)) s.Prune();
    return s;
  });
}

// ---------------------------------------------------------------------------------------------
// Policies

inline const std::vector<std::string>& PatternPool() {
  static const std::vector<std::string> patterns = {"status", "a",   "a/*",     "b/**", "**",
                                                    "*",      "*/x", "ключ/**", "a/b"};
  return patterns;
}

inline std::vector<std::string> SplitPattern(const std::string& slashed) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : slashed) {
    if (ch == '/') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

inline reconcile::Policy MakePolicy(reconcile::PolicyKind kind, int variant = 0) {
  reconcile::Policy p;
  p.kind = kind;
  if (kind == reconcile::PolicyKind::kOrder) {
    if (variant % 2 == 0) {
      p.order = {"\"disabled\"", "\"enabled\""};
    } else {
      p.order = {"1", "true", "\"x\"", "[]"};
    }
  }
  if (kind == reconcile::PolicyKind::kSitePriority) {
    p.priority_site_name = SiteNames()[static_cast<size_t>(variant) % SiteNames().size()];
    p.priority_site = SiteId::FromName(p.priority_site_name);
  }
  return p;
}

inline const std::vector<reconcile::PolicyKind>& AllPolicyKinds() {
  static const std::vector<reconcile::PolicyKind> kinds = {
      reconcile::PolicyKind::kLww,          reconcile::PolicyKind::kOrder,
      reconcile::PolicyKind::kMax,          reconcile::PolicyKind::kUnion,
      reconcile::PolicyKind::kSitePriority, reconcile::PolicyKind::kMulti};
  return kinds;
}

// A table where `kind` applies at every path of every record kind.
inline reconcile::PolicyTable Everywhere(reconcile::PolicyKind kind, int variant = 0) {
  reconcile::PolicyTable t;
  reconcile::PolicyRule r;
  r.pattern = {"**"};
  r.policy = MakePolicy(kind, variant);
  t.Add(r);
  return t;
}

inline rc::Gen<reconcile::PolicyTable> GenPolicyTable(const Universe& u) {
  return rc::gen::exec([u] {
    const int shape = Pick(0, 9);
    if (shape == 0) return reconcile::PolicyTable();
    if (shape <= 2) return reconcile::PolicyTable::Default();
    reconcile::PolicyTable t;
    const int n = Pick(1, 4);
    for (int i = 0; i < n; ++i) {
      reconcile::PolicyRule r;
      const int kinds = Pick(0, 3);
      if (kinds == 1) r.kinds = {u.kind};
      if (kinds == 2) r.kinds = {KeyKind::kMeta};
      if (kinds == 3) r.kinds = {KeyKind::kDevice, KeyKind::kModule};
      r.pattern = SplitPattern(*rc::gen::elementOf(PatternPool()));
      r.policy = MakePolicy(*rc::gen::elementOf(AllPolicyKinds()), Pick(0, 7));
      t.Add(r);
    }
    return t;
  });
}

// ---------------------------------------------------------------------------------------------
// Showing things in failure logs and comparing outcomes

inline std::string Describe(const RecordState& s) {
  std::ostringstream os;
  os << "{" << s.cells().size() << " cells";
  for (const Cell& c : s.cells()) {
    os << "\n    " << DescribePath(c.path) << " " << SiteLabel(c.site) << ":";
    if (c.has_value) os << " value=" << c.value << "@" << DescribeStamp(c.value_stamp());
    if (c.has_cover) os << " cover@" << DescribeStamp(c.cover_stamp());
    if (c.has_below_cover) os << " below-cover@" << DescribeStamp(c.below_cover_stamp());
  }
  os << "}";
  return os.str();
}

inline std::string Describe(const reconcile::PolicyTable& t) { return t.ToJson(); }

// Materialize as one comparable string: the bytes, "<absent>", or "<error: ...>".
inline std::string MaterializeText(KeyKind kind, const RecordState& s,
                                   const reconcile::MergeView& view) {
  auto r = reconcile::Materialize(kind, s, view);
  if (!r.ok()) return "<error: " + r.status().ToString() + ">";
  if (!r.value().has_value()) return "<absent>";
  return *r.value();
}

inline std::string Describe(const reconcile::ConflictWrite& w) {
  return DescribeStamp(w.stamp) + (w.is_cover ? " cover" : " " + w.value);
}

inline std::string ConflictsText(KeyKind kind, const RecordState& s,
                                 const reconcile::MergeView& view) {
  auto r = reconcile::FindConflicts(kind, s, view);
  if (!r.ok()) return "<error: " + r.status().ToString() + ">";
  std::ostringstream os;
  for (const auto& c : r.value()) {
    os << DescribePath(c.path.joined()) << " rule=" << c.rule << " winner=" << Describe(c.winner)
       << " losers=[";
    for (const auto& l : c.losers) os << Describe(l) << "; ";
    os << "]\n";
  }
  return os.str();
}

// A random order of `n` items in which every item appears at least once and some repeat.
inline rc::Gen<std::vector<size_t>> GenDeliveryOrder(size_t n) {
  return rc::gen::exec([n] {
    std::vector<size_t> order;
    for (size_t i = 0; i < n; ++i) order.push_back(i);
    const int dups = Pick(0, static_cast<int>(n) + 1);
    for (int i = 0; i < dups && n > 0; ++i)
      order.push_back(static_cast<size_t>(Pick(0, static_cast<int>(n) - 1)));
    // Fisher-Yates with rapidcheck's randomness, so the order shrinks and reproduces.
    for (size_t i = order.size(); i > 1; --i) {
      const size_t j = static_cast<size_t>(Pick(0, static_cast<int>(i) - 1));
      std::swap(order[i - 1], order[j]);
    }
    return order;
  });
}

}  // namespace reconcile_test

#endif  // RECONCILE_TESTS_CORE_GENERATORS_H_
