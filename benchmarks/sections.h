// The sections of the macro benchmark (benchmarks/failback_bench.cc). Each runs in a child
// process (child.h) and returns one JSON object of its figures; the parent adds what the OS saw.
//
//   generate      the fleet's exports (base, primary, secondary) as files
//   parse         baseline: every base line parsed by the JSON parser the readers use
//   rocksdbPut    baseline: every base line written with plain RocksDB Put, same batch size
//   ingest        the base export into a store through ReadExport + Store::Apply (mergetool ingest)
//   ingest3way    each site's export 3-way against the base into its own store (setup of merge)
//   merge         Store::MergeFrom of the secondary's store into the primary's
//   compact       Store::Compact of the merged store (the failback's plan step does it first)
//   plan          BuildFailbackPlan of the merged store against the primary's export
//   failback      RunFailback end to end on drill-prepared hubs (failback_section.cc)
//   peer          the CRDT peer workload, reconcile and Automerge side by side (peer_section.cc)
//
// Thread safety: run one section at a time (they share the work folder).
#ifndef RECONCILE_BENCHMARKS_SECTIONS_H_
#define RECONCILE_BENCHMARKS_SECTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bench {

struct BenchConfig {
  uint64_t devices = 100000;  // fleet size N
  uint64_t seed = 1;
  std::string work_dir;              // scratch folder (exports, stores, plans); REQUIRED
  size_t batch = 1000;               // records per write batch (mergetool ingest's default)
  std::string peers_dir;             // benchmarks/peers (the Automerge script and node_modules)
  std::vector<uint64_t> peer_sizes;  // documents per peer run; empty: no peer section
  bool failback = true;              // run the end-to-end failback section
  bool verbose = true;               // progress lines on stderr
};

// Paths inside the work folder.
std::string WorkPath(const BenchConfig& c, const std::string& rel);

// The figures of the fleet generated earlier in the work folder (fleet.json), for a run that
// reuses it; null when there is none.
nlohmann::json KeptFleet(const BenchConfig& c);

// Each returns the section's figures (a JSON object); they throw std::runtime_error on failure.
nlohmann::json GenerateFleet(const BenchConfig& c);
nlohmann::json ParseBaseline(const BenchConfig& c);
nlohmann::json RocksDbPutBaseline(const BenchConfig& c);
nlohmann::json IngestExport(const BenchConfig& c);
nlohmann::json IngestThreeWay(const BenchConfig& c, bool primary);
nlohmann::json MergeStores(const BenchConfig& c);
nlohmann::json CompactMerged(const BenchConfig& c);
nlohmann::json PlanMerged(const BenchConfig& c);

// The end-to-end failback: prepares two simulated hubs with the drill (in a child), then runs
// RunFailback over directory hubs in children while other children play the hub's import jobs.
// Returns the section's JSON (timed runs, totals, verified).
nlohmann::json RunFailbackSection(const BenchConfig& c);

// The peer comparison at every size of c.peer_sizes (empty JSON with "skipped" when none).
nlohmann::json RunPeerSection(const BenchConfig& c);

// Progress line on stderr (when verbose).
void Say(const BenchConfig& c, const std::string& text);

}  // namespace bench

#endif  // RECONCILE_BENCHMARKS_SECTIONS_H_
