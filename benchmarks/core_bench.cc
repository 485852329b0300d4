// Micro benchmarks of the record lattice: join, codec, materialize, parsing, and the store's merge
// operator on encoded operands as RocksDB hands them over.
// Run: build/benchmarks/core_bench  (see docs/BENCHMARKS.md for figures and the machine).
#include <benchmark/benchmark.h>

#include <sstream>
#include <vector>

#include <rocksdb/merge_operator.h>

#include "benchmarks/fleet.h"
#include "lib/iothub/device_doc.h"
#include "lib/iothub/plan_text.h"
#include "lib/store/merge_operators.h"
#include "reconcile/codec.h"
#include "reconcile/key.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"
#include "reconcile/path.h"
#include "reconcile/stamp.h"

namespace {

using reconcile::RecordState;

constexpr int kRecords = 1024;

const reconcile::SiteId& Site(int i) {
  static const reconcile::SiteId kSites[] = {reconcile::SiteId::FromName("weu-primary"),
                                             reconcile::SiteId::FromName("neu-secondary"),
                                             reconcile::SiteId::FromName("eus-tertiary")};
  return kSites[i];
}

// Typical states: a device created at the primary (about 40 cells) with the secondary's outage
// patch joined in; and the matching state at the other site (created there from the backup,
// with its own patch).
struct Pair {
  RecordState a;
  RecordState b;
};

const std::vector<Pair>& Pairs() {
  static const std::vector<Pair> kPairs = [] {
    std::vector<Pair> out;
    const reconcile::Hlc t0 = *reconcile::ParseIso8601("2026-11-01T00:00:00Z");
    for (int i = 0; i < kRecords; ++i) {
      RecordState base = *reconcile::CreateDelta(bench::DeviceDoc(i), {t0, Site(0)});
      Pair p{base, base};
      p.a.Join(*reconcile::PatchDelta(bench::OutagePatch(i, 1), {t0 + (1000 << 16), Site(0)}));
      p.b.Join(*reconcile::PatchDelta(bench::OutagePatch(i, 2), {t0 + (2000 << 16), Site(1)}));
      p.b.Join(*reconcile::PatchDelta(bench::OutagePatch(i, 3), {t0 + (3000 << 16), Site(2)}));
      out.push_back(std::move(p));
    }
    return out;
  }();
  return kPairs;
}

void BM_JoinDeviceRecords(benchmark::State& state) {
  const auto& pairs = Pairs();
  size_t i = 0;
  for (auto _ : state) {
    RecordState joined = pairs[i].a;
    joined.Join(pairs[i].b);
    benchmark::DoNotOptimize(joined);
    i = (i + 1) % pairs.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["cells"] = static_cast<double>(pairs[0].a.cells().size());
}
BENCHMARK(BM_JoinDeviceRecords);

// The join alone, as the readers and the pruning merge run it (an accumulator joined with a state
// it does not own): BM_JoinDeviceRecords times a copy of `a` with each join, which is no part of
// a join and costs about as much as one. Here the copies are made with the clock stopped, a
// batch at a time (copies fresh from the allocator, as an accumulator's cells are). Arg 0: fresh
// copies, with no spare capacity; arg 1: accumulators reused, which kept the capacity of an
// earlier join.
void BM_JoinIntoCopy(benchmark::State& state) {
  const auto& pairs = Pairs();
  const bool reuse = state.range(0) != 0;
  std::vector<RecordState> batch(pairs.size());
  if (reuse) {
    for (size_t j = 0; j < pairs.size(); ++j)
      batch[j] = RecordState::Joined(pairs[j].a, pairs[j].b);
  }
  size_t at = pairs.size();
  for (auto _ : state) {
    if (at == pairs.size()) {
      state.PauseTiming();
      if (!reuse) batch = std::vector<RecordState>(pairs.size());
      // Copy-assignment keeps the capacity a reused accumulator has.
      for (size_t j = 0; j < pairs.size(); ++j) batch[j] = pairs[j].a;
      at = 0;
      state.ResumeTiming();
    }
    batch[at].Join(pairs[at].b);
    benchmark::DoNotOptimize(batch[at]);
    ++at;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JoinIntoCopy)->Arg(0)->Arg(1);

// The copy the join above includes, measured alone: the join's own cost is the difference.
void BM_CopyDeviceRecord(benchmark::State& state) {
  const auto& pairs = Pairs();
  size_t i = 0;
  for (auto _ : state) {
    RecordState copy = pairs[i].a;
    benchmark::DoNotOptimize(copy);
    i = (i + 1) % pairs.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CopyDeviceRecord);

void BM_Encode(benchmark::State& state) {
  const auto& pairs = Pairs();
  size_t i = 0, bytes = 0;
  std::string out;
  for (auto _ : state) {
    out.clear();
    reconcile::EncodeRecordTo(pairs[i].b, &out);
    bytes += out.size();
    benchmark::DoNotOptimize(out);
    i = (i + 1) % pairs.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Encode);

void BM_Decode(benchmark::State& state) {
  std::vector<std::string> encoded;
  for (const Pair& p : Pairs()) encoded.push_back(reconcile::EncodeRecord(p.b));
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    auto decoded = reconcile::DecodeRecord(encoded[i]);
    bytes += encoded[i].size();
    benchmark::DoNotOptimize(decoded);
    i = (i + 1) % encoded.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Decode);

void BM_Materialize(benchmark::State& state) {
  const auto& pairs = Pairs();
  reconcile::PolicyTable table = reconcile::PolicyTable::Default();
  reconcile::MergeView view{&table, 0};
  size_t i = 0;
  for (auto _ : state) {
    auto doc = reconcile::Materialize(reconcile::KeyKind::kDevice, pairs[i].b, view);
    benchmark::DoNotOptimize(doc);
    i = (i + 1) % pairs.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Materialize);

void BM_CreateDeltaFromDoc(benchmark::State& state) {
  std::vector<nlohmann::json> docs;
  for (int i = 0; i < 64; ++i) docs.push_back(bench::DeviceDoc(i));
  const reconcile::Stamp stamp{12345, Site(0)};
  size_t i = 0;
  for (auto _ : state) {
    auto delta = reconcile::CreateDelta(docs[i], stamp);
    benchmark::DoNotOptimize(delta);
    i = (i + 1) % docs.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CreateDeltaFromDoc);

void BM_ParseIso8601(benchmark::State& state) {
  for (auto _ : state) {
    auto hlc = reconcile::ParseIso8601("2022-05-27T18:49:38.4904785Z");
    benchmark::DoNotOptimize(hlc);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseIso8601);

void BM_ParsePath(benchmark::State& state) {
  for (auto _ : state) {
    auto path = reconcile::Path::Parse("properties/desired/firmware/version");
    benchmark::DoNotOptimize(path);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParsePath);

void BM_KeyEncode(benchmark::State& state) {
  const reconcile::Key key = *reconcile::Key::Module("dev-00001234", "telemetry");
  for (auto _ : state) {
    std::string encoded = key.Encode();
    benchmark::DoNotOptimize(encoded);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyEncode);

void BM_FormatIso8601(benchmark::State& state) {
  const reconcile::Hlc hlc = *reconcile::ParseIso8601("2022-05-27T18:49:38.4904785Z");
  for (auto _ : state) {
    std::string text = reconcile::FormatIso8601(hlc);
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FormatIso8601);

// ---- the store's merge operator, on encoded records ------------------------------------------

// Encoded operands: a device's whole record (what MergeFrom and ingest write) and the small
// patch deltas a notification or a 3-way read writes.
struct Operands {
  std::vector<std::string> record_a, record_b, patch_1, patch_2;
};

const Operands& EncodedOperands() {
  static const Operands kOperands = [] {
    Operands o;
    const reconcile::Hlc t0 = *reconcile::ParseIso8601("2026-11-01T00:00:00Z");
    int i = 0;
    for (const Pair& p : Pairs()) {
      o.record_a.push_back(reconcile::EncodeRecord(p.a));
      o.record_b.push_back(reconcile::EncodeRecord(p.b));
      o.patch_1.push_back(reconcile::EncodeRecord(
          *reconcile::PatchDelta(bench::OutagePatch(i, 4), {t0 + (4000 << 16), Site(1)})));
      o.patch_2.push_back(reconcile::EncodeRecord(
          *reconcile::PatchDelta(bench::OutagePatch(i, 5), {t0 + (5000 << 16), Site(2)})));
      ++i;
    }
    return o;
  }();
  return kOperands;
}

// FullMergeV2 of an existing record with operands; true when the merge succeeded.
bool FullMerge(const reconcile::store::RecordJoinOperator& op, const std::string& existing,
               const std::vector<rocksdb::Slice>& operands, std::string* out) {
  const rocksdb::Slice key("dev-00000001");
  const rocksdb::Slice existing_slice(existing);
  rocksdb::MergeOperator::MergeOperationInput in(key, &existing_slice, operands, nullptr);
  rocksdb::Slice existing_operand(nullptr, 0);
  rocksdb::MergeOperator::MergeOperationOutput result(*out, existing_operand);
  return op.FullMergeV2(in, &result);
}

// A stored record joined with another site's whole record (a MergeFrom operand).
void BM_MergeOperatorFullRecord(benchmark::State& state) {
  const Operands& o = EncodedOperands();
  const reconcile::store::RecordJoinOperator op(/*prune=*/false);
  size_t i = 0;
  std::string out;
  for (auto _ : state) {
    out.clear();
    const std::vector<rocksdb::Slice> operands{o.record_b[i]};
    if (!FullMerge(op, o.record_a[i], operands, &out)) state.SkipWithError("merge failed");
    benchmark::DoNotOptimize(out);
    i = (i + 1) % o.record_a.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MergeOperatorFullRecord);

// A stored record with two small patch operands (notifications, 3-way reads).
void BM_MergeOperatorFullPatches(benchmark::State& state) {
  const Operands& o = EncodedOperands();
  const reconcile::store::RecordJoinOperator op(/*prune=*/false);
  size_t i = 0;
  std::string out;
  for (auto _ : state) {
    out.clear();
    const std::vector<rocksdb::Slice> operands{o.patch_1[i], o.patch_2[i]};
    if (!FullMerge(op, o.record_a[i], operands, &out)) state.SkipWithError("merge failed");
    benchmark::DoNotOptimize(out);
    i = (i + 1) % o.record_a.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MergeOperatorFullPatches);

// Two patch operands joined into one (RocksDB's partial merge in the memtable and compaction).
void BM_MergeOperatorPartial(benchmark::State& state) {
  const Operands& o = EncodedOperands();
  const reconcile::store::RecordJoinOperator op(/*prune=*/false);
  const rocksdb::Slice key("dev-00000001");
  size_t i = 0;
  std::string out;
  for (auto _ : state) {
    out.clear();
    if (!op.PartialMerge(key, o.patch_1[i], o.patch_2[i], &out, nullptr)) {
      state.SkipWithError("merge failed");
    }
    benchmark::DoNotOptimize(out);
    i = (i + 1) % o.patch_1.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MergeOperatorPartial);

// ---- export lines --------------------------------------------------------------------------

// The JSON parse of one export line (about 600 bytes), the readers' first step.
void BM_ParseExportLine(benchmark::State& state) {
  std::ostringstream text;
  bench::WriteExport(text, 64, bench::Side::kBase);
  std::vector<std::string> lines;
  std::istringstream in(text.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    auto doc = nlohmann::json::parse(lines[i], nullptr, false);
    benchmark::DoNotOptimize(doc);
    bytes += lines[i].size();
    i = (i + 1) % lines.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ParseExportLine);

// ---- the plan's identity comparison --------------------------------------------------------

// The identity hash the plan compares a merged record with the primary's line by, from the
// record's canonical text (export lines of the fleet, edge devices and scopes included):
// Arg(0) the document path (IdentityDoc, RewriteScopes, IdentityMembers, IdentityHash), Arg(1)
// the text path (IdentityOfText, DECISIONS P26). The scope lookup is a plain function here.
void BM_PlanIdentity(benchmark::State& state) {
  namespace iothub = reconcile::iothub;
  std::ostringstream text;
  bench::WriteExport(text, 256, bench::Side::kBase);
  std::vector<iothub::DocText> records;
  std::istringstream in(text.str());
  for (std::string line; std::getline(in, line);) {
    iothub::DocText record;
    record.text = reconcile::CanonicalJson(nlohmann::json::parse(line));
    if (!iothub::ScanDocText(&record)) {
      state.SkipWithError("a record does not scan");
      return;
    }
    records.push_back(std::move(record));
  }
  // ScanDocText's views point into each record's own text, which the moves above kept in place
  // only for long strings: scan again where they now lie.
  for (iothub::DocText& r : records) iothub::ScanDocText(&r);
  const iothub::PrimaryScopeFn scope_for =
      [](const std::string& id) -> reconcile::Result<std::string> {
    return "ms-azure-iot-edge://" + id + "-637000000000000001";
  };
  const bool from_text = state.range(0) == 1;
  size_t i = 0;
  uint64_t declined = 0;
  for (auto _ : state) {
    const iothub::DocText& r = records[i];
    i = (i + 1) % records.size();
    if (from_text) {
      auto hash = iothub::IdentityOfText(r, false, false, "device", scope_for);
      if (!hash.ok() || !*hash) ++declined;
      benchmark::DoNotOptimize(hash);
      continue;
    }
    nlohmann::json doc;
    if (!iothub::IdentityDoc(r, &doc) || !iothub::RewriteScopes("device", scope_for, doc).ok()) {
      ++declined;
      continue;
    }
    const std::string members = iothub::IdentityMembers(doc, false);
    const nlohmann::json* auth = iothub::PresentMember(doc, "authentication");
    auto hash = auth ? iothub::IdentityHash(members, *auth, false)
                     : iothub::IdentityNoAuthHash(members);
    benchmark::DoNotOptimize(hash);
  }
  // Every record of the fleet is plain: a declined one means the figure is not what it says.
  if (declined > 0) state.SkipWithError("a fleet record was declined");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PlanIdentity)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
