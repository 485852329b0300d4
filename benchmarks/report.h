// What a benchmark run records beside its figures (the machine, the load), the targets of issue 6
// judged on the figures, and the generated tables of docs/BENCHMARKS.md.
//
// Thread safety: plain functions.
#ifndef RECONCILE_BENCHMARKS_REPORT_H_
#define RECONCILE_BENCHMARKS_REPORT_H_

#include <string>

#include <nlohmann/json.hpp>

namespace bench {

// {"nproc", "cpu", "memTotalGiB", "disk": {...}, "kernel", "compiler", "buildType", "rocksdb"}.
// `dir` is where the benchmark writes (its disk is the one described).
nlohmann::json DescribeMachine(const std::string& dir);

// The 1, 5 and 15 minute load averages.
nlohmann::json LoadAverage();

// The targets that one run's figures can decide: [{"target", "measured", "status"}], status
// "met", "not met" or "not measured at this size".
nlohmann::json JudgeRun(const nlohmann::json& run);

// Rewrites the generated block of `doc_path` (between the BEGIN/END GENERATED markers) from the
// newest run per fleet size and the newest micro benchmark file (*-micro.json) in `results_dir`.
// Returns an error message, or empty on success.
std::string RenderDoc(const std::string& results_dir, const std::string& doc_path);

}  // namespace bench

#endif  // RECONCILE_BENCHMARKS_REPORT_H_
