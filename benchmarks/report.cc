#include "benchmarks/report.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <rocksdb/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <vector>

#ifndef RECONCILE_BENCH_BUILD_TYPE
#define RECONCILE_BENCH_BUILD_TYPE "unknown"
#endif

namespace bench {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr char kBegin[] = "<!-- BEGIN GENERATED RESULTS (failback_bench render; do not edit) -->";
constexpr char kEnd[] = "<!-- END GENERATED RESULTS -->";
constexpr uint64_t kMillion = 1000000;
constexpr double kGiBInMiB = 1024.0;

std::string FirstMatch(const std::string& file, const std::string& prefix) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

std::string Trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t:"));
  s.erase(s.find_last_not_of(" \t\r\n") + 1);
  return s;
}

// The mount that holds `dir`: its device and filesystem type (from /proc/mounts).
json DescribeDisk(const std::string& dir) {
  json disk = json::object();
  std::error_code ec;
  const std::string path = fs::weakly_canonical(dir, ec).string();
  std::ifstream mounts("/proc/mounts");
  std::string device, mount, type, rest;
  size_t best = 0;
  while (mounts >> device >> mount >> type && std::getline(mounts, rest)) {
    if (path.rfind(mount, 0) == 0 && mount.size() >= best) {
      best = mount.size();
      disk["device"] = device;
      disk["mount"] = mount;
      disk["filesystem"] = type;
    }
  }
  struct statvfs vfs {};
  if (statvfs(dir.c_str(), &vfs) == 0) {
    disk["sizeGiB"] = static_cast<double>(vfs.f_blocks) * vfs.f_frsize / (1u << 30);
    disk["freeGiB"] = static_cast<double>(vfs.f_bavail) * vfs.f_frsize / (1u << 30);
  }
  if (disk.contains("device")) {
    const std::string name = fs::path(disk["device"].get<std::string>()).filename().string();
    std::ifstream rot("/sys/block/" + name + "/queue/rotational");
    int r = -1;
    if (rot >> r) disk["rotational"] = r == 1;
  }
  return disk;
}

std::string Num(double v, int decimals = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  // Thousands separators on the integer part.
  const std::string s(buf);
  const size_t sign = s[0] == '-' ? 1 : 0;
  const size_t int_end = std::min(s.find('.'), s.size());
  std::string out = s.substr(0, sign);
  for (size_t i = sign; i < int_end; ++i) {
    if (i > sign && (int_end - i) % 3 == 0) out.push_back(',');
    out.push_back(s[i]);
  }
  out.append(s, int_end, std::string::npos);
  return out;
}

double Get(const json& j, const json::json_pointer& p, double fallback = NAN) {
  return j.contains(p) && j.at(p).is_number() ? j.at(p).get<double>() : fallback;
}

std::string Ratio(double v) {
  if (std::isnan(v)) return "—";
  return Num(v, v < 10 ? 2 : 0) + "×";
}

std::string Status(bool met) { return met ? "met" : "**not met**"; }

}  // namespace

json DescribeMachine(const std::string& dir) {
  json m = json::object();
  m["nproc"] = sysconf(_SC_NPROCESSORS_ONLN);
  m["cpu"] = Trim(FirstMatch("/proc/cpuinfo", "model name").substr(10));
  const std::string mem = FirstMatch("/proc/meminfo", "MemTotal:");
  m["memTotalGiB"] = mem.empty() ? 0.0 : std::atof(mem.c_str() + 9) / (1024.0 * 1024.0);
  m["disk"] = DescribeDisk(dir);
  utsname u{};
  if (uname(&u) == 0) m["kernel"] = std::string(u.sysname) + " " + u.release;
  m["compiler"] = std::string(__VERSION__);
  m["buildType"] = RECONCILE_BENCH_BUILD_TYPE;
  m["rocksdb"] = std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
                 std::to_string(ROCKSDB_PATCH);
  return m;
}

json LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  return json::array({a, b, c});
}

json JudgeRun(const json& run) {
  json out = json::array();
  const uint64_t n = run.value("devices", uint64_t{0});
  const json& s = run["sections"];
  auto add = [&](const std::string& target, const std::string& measured,
                 const std::string& status) {
    out.push_back({{"target", target}, {"measured", measured}, {"status", status}});
  };
  const double ratio = Get(run, "/ratios/ingestVsRocksdbPut"_json_pointer);
  const double cpu_ratio = Get(run, "/ratios/ingestVsRocksdbPutCpu"_json_pointer);
  if (!std::isnan(ratio)) {
    add("ingest >= 0.6x raw RocksDB WriteBatch Put of the same lines",
        Ratio(ratio) + " (per CPU second: " + Ratio(cpu_ratio) + ") at " + Num(n) + " devices",
        ratio >= 0.6 && !(cpu_ratio < 0.6) ? "met" : "not met");
  }
  const bool at_1m = n == kMillion;
  const double merge = Get(s, "/merge/seconds"_json_pointer);
  if (!std::isnan(merge)) {
    add("merge of two 1M-device stores <= 20 s", Num(merge, 1) + " s at " + Num(n) + " devices",
        at_1m ? (merge <= 20 ? "met" : "not met") : "not measured at this size");
  }
  const double failback = Get(s, "/failback/wallSeconds"_json_pointer);
  const double rss = Get(s, "/failback/maxRssMiB"_json_pointer);
  if (!std::isnan(failback)) {
    add("whole 1M-device failback <= 20 s wall", Num(failback, 1) + " s at " + Num(n) + " devices",
        at_1m ? (failback <= 20 ? "met" : "not met") : "not measured at this size");
    add("peak RSS <= 1 GiB at 1M devices (failback)", Num(rss) + " MiB at " + Num(n) + " devices",
        at_1m ? (rss <= kGiBInMiB ? "met" : "not met") : "not measured at this size");
  }
  if (s.contains("peer") && s["peer"].contains("sizes")) {
    double worst = NAN;
    std::string where;
    for (const json& size : s["peer"]["sizes"]) {
      if (!size.contains("ratio")) continue;
      const double r = std::min(size["ratio"].get<double>(),
                                size.value("cpuRatio", size["ratio"].get<double>()));
      if (std::isnan(worst) || r < worst) {
        worst = r;
        where = Num(size["docs"].get<double>()) + " docs";
      }
    }
    if (!std::isnan(worst)) {
      add(">= 100x Automerge's docs/s on the shared workload",
          Ratio(worst) + " (lowest, " + where + ")", worst >= 100 ? "met" : "not met");
    }
  }
  return out;
}

namespace {

std::string MachineTable(const json& run) {
  const json& m = run["machine"];
  std::ostringstream o;
  const json& disk = m.value("disk", json::object());
  o << "| machine | |\n|---|---|\n";
  o << "| CPU | " << m.value("cpu", "?") << ", " << m.value("nproc", 0) << " cores (nproc) |\n";
  o << "| RAM | " << Num(m.value("memTotalGiB", 0.0), 1) << " GiB |\n";
  o << "| disk | " << disk.value("device", "?") << " (" << disk.value("filesystem", "?") << ", "
    << Num(disk.value("sizeGiB", 0.0)) << " GiB, "
    << (disk.contains("rotational")
            ? (disk["rotational"].get<bool>() ? "rotational, as the kernel reports it"
                                              : "non-rotational")
            : "?")
    << ") |\n";
  o << "| system | " << m.value("kernel", "?") << ", " << m.value("compiler", "?") << ", "
    << m.value("buildType", "?") << ", RocksDB " << m.value("rocksdb", "?") << " |\n";
  return o.str();
}

std::string Load(const json& load) {
  if (!load.is_array() || load.size() < 3) return "?";
  return Num(load[0].get<double>(), 2) + " / " + Num(load[1].get<double>(), 2) + " / " +
         Num(load[2].get<double>(), 2);
}

std::string RunSection(const json& run) {
  const json& s = run["sections"];
  std::ostringstream o;
  const uint64_t n = run["devices"].get<uint64_t>();
  o << "### " << Num(n) << " devices — " << run.value("date", "?") << "\n\n";
  o << "Command: `" << run.value("command", "?") << "`";
  const std::string source = run.value("source", "");
  if (!source.empty() && run.value("command", "").find("--source") == std::string::npos) {
    o << " on " << source;
  }
  o << "  \n";
  o << "Load average (1/5/15 min) at the start: " << Load(run["load"]["start"])
    << "; at the end: " << Load(run["load"]["end"]) << ".  \n";
  if (run.contains("fleet") && run["fleet"].contains("base")) {
    const json& f = run["fleet"];
    o << "Fleet: " << Num(f["base"]["devices"].get<double>()) << " devices, "
      << Num(f["base"]["modules"].get<double>()) << " modules, "
      << Num(f["base"]["edgeDevices"].get<double>()) << " IoT Edge gateways ("
      << Num(f["base"]["edgeChildren"].get<double>()) << " children); "
      << Num(f["base"]["bytesPerLine"].get<double>()) << " bytes a line; each side changed "
      << Num(f["primary"]["changed"].get<double>()) << " / "
      << Num(f["secondary"]["changed"].get<double>()) << " devices and created "
      << Num(f["primary"]["created"].get<double>()) << " / "
      << Num(f["secondary"]["created"].get<double>()) << "."
      << (f.value("kept", false) ? " (Generated by an earlier run in the same work folder.)" : "")
      << "\n";
  }
  o << "\n";
  o << "| figure | measured | baseline (same run) | ratio | CPU s | peak RSS |\n"
       "|---|---|---|---|---|---|\n";
  // The section's CPU seconds (user + system) and peak RSS, as the OS reported them.
  auto rss = [&](const char* section) {
    const double cpu = Get(s, json::json_pointer(std::string("/") + section + "/os/userSeconds")) +
                       Get(s, json::json_pointer(std::string("/") + section + "/os/systemSeconds"));
    const double v = Get(s, json::json_pointer(std::string("/") + section + "/os/maxRssMiB"));
    return (std::isnan(cpu) ? std::string("—") : Num(cpu, 1)) + " | " +
           (std::isnan(v) ? std::string("—") : Num(v) + " MiB");
  };
  const double ingest = Get(s, "/ingest/recordsPerSecond"_json_pointer);
  const double put = Get(s, "/rocksdbPut/recordsPerSecond"_json_pointer);
  const double parse = Get(s, "/parse/recordsPerSecond"_json_pointer);
  if (!std::isnan(ingest)) {
    o << "| ingest (export → store) | " << Num(ingest)
      << " records/s | raw RocksDB Put: " << Num(put) << " records/s | " << Ratio(ingest / put)
      << " | " << rss("ingest") << " |\n";
    o << "| ingest (export → store) | " << Num(ingest)
      << " records/s | JSON parse alone: " << Num(parse) << " records/s | " << Ratio(ingest / parse)
      << " | " << rss("ingest") << " |\n";
    o << "| baseline: raw RocksDB Put | " << Num(put) << " records/s | | | " << rss("rocksdbPut")
      << " |\n";
    o << "| baseline: JSON parse alone (simdjson, the reader's parser) | " << Num(parse)
      << " records/s | | | " << rss("parse") << " |\n";
    const double nlohmann = Get(s, json::json_pointer("/parse/nlohmannRecordsPerSecond"));
    if (!std::isnan(nlohmann)) {
      o << "| baseline: JSON parse alone (nlohmann DOM, the exact reader's) | " << Num(nlohmann)
        << " records/s | | | |\n";
    }
  }
  for (const char* side : {"ingest3wayPrimary", "ingest3waySecondary"}) {
    const double v = Get(s, json::json_pointer(std::string("/") + side + "/linesPerSecond"));
    if (!std::isnan(v)) {
      o << "| 3-way ingest ("
        << (std::string(side).find("Primary") != std::string::npos ? "primary" : "secondary")
        << " vs base) | " << Num(v) << " lines/s | | | " << rss(side) << " |\n";
    }
  }
  const double merge = Get(s, "/merge/recordsPerSecond"_json_pointer);
  if (!std::isnan(merge)) {
    o << "| merge (MergeFrom) | " << Num(merge) << " records/s ("
      << Num(Get(s, "/merge/seconds"_json_pointer), 1) << " s) | | | " << rss("merge") << " |\n";
  }
  const double compact = Get(s, "/compact/seconds"_json_pointer);
  if (!std::isnan(compact))
    o << "| compact merged store | " << Num(compact, 1) << " s | | | " << rss("compact") << " |\n";
  const double plan = Get(s, "/plan/recordsPerSecond"_json_pointer);
  if (!std::isnan(plan)) {
    o << "| plan (vs primary export) | " << Num(plan) << " records/s ("
      << Num(Get(s, "/plan/seconds"_json_pointer), 1) << " s, "
      << Num(Get(s, "/plan/importLines"_json_pointer)) << " import lines) | | | " << rss("plan")
      << " |\n";
  }
  if (s.contains("failback") && s["failback"].contains("wallSeconds")) {
    const json& f = s["failback"];
    o << "| failback end to end | " << Num(f["wallSeconds"].get<double>(), 1) << " s wall, "
      << Num(f["cpuSeconds"].get<double>(), 1) << " s CPU, " << f["runs"].size()
      << " runs, verified: " << (f["verified"].get<bool>() ? "yes" : "**no**") << " | | | "
      << Num(f["cpuSeconds"].get<double>(), 1) << " | " << Num(f["maxRssMiB"].get<double>())
      << " MiB |\n";
  }
  o << "\n";
  if (s.contains("failback") && s["failback"].contains("runs")) {
    const json& f = s["failback"];
    o << "Failback steps (seconds, per timed run): ";
    bool first = true;
    for (const json& r : f["runs"]) {
      o << (first ? "" : "; ") << "[";
      first = false;
      bool first_step = true;
      // In the orchestrator's order (the JSON object keeps them sorted by name).
      for (const char* step : {"ingest-primary", "ingest-secondary", "ingest-events", "plan",
                               "apply", "retry", "verify"}) {
        if (!r["steps"].contains(step)) continue;
        o << (first_step ? "" : ", ") << step << " " << Num(r["steps"][step].get<double>(), 1);
        first_step = false;
      }
      o << "]";
    }
    o << ". Drill preparation (not timed): " << Num(Get(f, "/prepare/os/wallSeconds"_json_pointer))
      << " s; the hub's import jobs (not timed): ";
    double jobs = 0;
    for (const json& j : f["hubJobs"]) jobs += j["os"]["wallSeconds"].get<double>();
    o << Num(jobs) << " s.\n\n";
  }
  if (s.contains("peer") && s["peer"].contains("sizes") && !s["peer"]["sizes"].empty()) {
    const json& p = s["peer"];
    o << "Peer workload (create N device documents at A, fork to B, change 10% on each side, 1% on "
         "both, merge B into A):\n\n";
    if (p.contains("automergeSkipped"))
      o << "Automerge was **skipped**: " << p["automergeSkipped"].get<std::string>() << ".\n\n";
    o << "| docs | reconcile docs/s (per CPU s) | reconcile RSS | Automerge docs/s (per CPU s) | "
         "Automerge RSS | ratio (CPU ratio) |\n|---|---|---|---|---|---|\n";
    for (const json& size : p["sizes"]) {
      o << "| " << Num(size["docs"].get<double>()) << " | "
        << Num(Get(size, "/reconcile/docsPerSecond"_json_pointer)) << " ("
        << Num(Get(size, "/reconcile/docsPerCpuSecond"_json_pointer)) << ") | "
        << Num(Get(size, "/reconcile/os/maxRssMiB"_json_pointer)) << " MiB | ";
      if (size.contains("automerge") && size["automerge"].contains("docsPerSecond")) {
        o << Num(Get(size, "/automerge/docsPerSecond"_json_pointer)) << " ("
          << Num(Get(size, "/automerge/docsPerCpuSecond"_json_pointer)) << ") | "
          << Num(Get(size, "/automerge/os/maxRssMiB"_json_pointer)) << " MiB | "
          << Ratio(size.value("ratio", NAN)) << " (" << Ratio(size.value("cpuRatio", NAN))
          << ") |\n";
      } else {
        o << "— | — | — |\n";
      }
    }
    o << "\n";
  }
  return o.str();
}

// One micro benchmark's figures: with repetitions (scripts/bench runs five), the median of its
// repetitions and their spread; a result file without them gives its single run.
struct MicroRow {
  std::string name;
  double ns = 0;      // CPU time per item (the median)
  double items = -1;  // items per CPU second (the median), -1: none
  double ns_min = 0, ns_max = 0;
  int repetitions = 0;
};

double CpuNs(const json& b) {
  const std::string unit = b.value("time_unit", "ns");
  const double scale = unit == "us" ? 1e3 : unit == "ms" ? 1e6 : unit == "s" ? 1e9 : 1.0;
  return b.value("cpu_time", 0.0) * scale;
}

std::vector<MicroRow> MicroRows(const json& micro) {
  std::vector<MicroRow> rows;
  std::map<std::string, size_t> at;
  auto row = [&](const std::string& name) -> MicroRow& {
    auto [it, fresh] = at.emplace(name, rows.size());
    if (fresh) rows.push_back(MicroRow{name});
    return rows[it->second];
  };
  for (const json& b : micro["benchmarks"]) {
    const std::string name = b.value("run_name", b.value("name", "?"));
    MicroRow& r = row(name);
    if (b.value("run_type", "iteration") == "aggregate") {
      if (b.value("aggregate_name", "") != "median") continue;
      r.ns = CpuNs(b);
      r.items = b.contains("items_per_second") ? b["items_per_second"].get<double>() : -1;
      continue;
    }
    const double ns = CpuNs(b);
    r.ns_min = r.repetitions == 0 ? ns : std::min(r.ns_min, ns);
    r.ns_max = r.repetitions == 0 ? ns : std::max(r.ns_max, ns);
    if (r.repetitions++ == 0 || r.ns == 0) {  // no median (yet): the run itself
      r.ns = ns;
      r.items = b.contains("items_per_second") ? b["items_per_second"].get<double>() : -1;
    }
  }
  return rows;
}

std::string MicroSection(const json& micro) {
  std::ostringstream o;
  o << "### Micro benchmarks — " << micro["context"].value("date", "?") << "\n\n";
  o << "CPU time per item (the machine is shared: wall time is longer under load; items/s are "
       "per CPU second, i.e. on one core); with repetitions, their median and, beside it, the "
       "fastest and slowest. Load average when it ran: "
    << micro["context"].value("load_avg", json::array()).dump() << ".\n\n";
  o << "| benchmark | CPU time per item | items/s | repetitions (fastest – slowest) |\n"
       "|---|---|---|---|\n";
  for (const MicroRow& r : MicroRows(micro)) {
    o << "| " << r.name << " | " << Num(r.ns, r.ns < 100 ? 1 : 0) << " ns | "
      << (r.items >= 0 ? Num(r.items) : "—") << " | ";
    if (r.repetitions > 1) {
      o << r.repetitions << " (" << Num(r.ns_min, r.ns_min < 100 ? 1 : 0) << " – "
        << Num(r.ns_max, r.ns_max < 100 ? 1 : 0) << " ns)";
    } else {
      o << "1";
    }
    o << " |\n";
  }
  o << "\n";
  return o.str();
}

// The largest peak RSS of a run's store sections (each measured in a process of its own), or NaN
// when it ran none of them.
double StoreStepsRss(const json& run) {
  double most = std::nan("");
  for (const char* name :
       {"ingest", "ingest3wayPrimary", "ingest3waySecondary", "merge", "compact", "plan"}) {
    const double v = Get(run, json::json_pointer("/sections/" + std::string(name) + "/os/maxRssMiB"));
    if (!std::isnan(v) && (std::isnan(most) || v > most)) most = v;
  }
  return most;
}

}  // namespace

std::string RenderDoc(const std::string& results_dir, const std::string& doc_path) {
  std::map<uint64_t, json> newest;  // devices -> newest run
  json micro;
  std::string micro_name;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(results_dir, ec)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    // Google Benchmark writes NaN and Infinity (the spread of a counter that never varies),
    // which JSON has no words for: they are read as null.
    const std::string read = std::regex_replace(
        text.str(), std::regex(R"((:\s*)-?(NaN|Infinity|nan|inf)\b)"), "$1null");
    json j = json::parse(read, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    const std::string name = entry.path().filename().string();
    if (j.value("kind", "") == "failback_bench" && j.contains("devices")) {
      const uint64_t n = j["devices"].get<uint64_t>();
      if (!newest.count(n) || newest[n].value("date", "") < j.value("date", "")) newest[n] = j;
    } else if (j.contains("benchmarks") && j.contains("context") && name > micro_name) {
      micro = j;
      micro_name = name;
    }
  }
  if (ec) return results_dir + ": " + ec.message();
  std::ostringstream o;
  o << kBegin << "\n\n";
  if (!newest.empty()) o << MachineTable(newest.rbegin()->second) << "\n";
  // Targets: each run's own, then the ones that need two runs or the micro benchmarks.
  o << "### Targets\n\n| target | measured | status |\n|---|---|---|\n";
  for (const auto& [n, run] : newest) {
    for (const json& t : JudgeRun(run)) {
      if (t["status"] == "not measured at this size") continue;
      const std::string status = t["status"].get<std::string>();
      o << "| " << t["target"].get<std::string>() << " | " << t["measured"].get<std::string>()
        << " | " << (status == "met" ? "met" : "**" + status + "**") << " |\n";
    }
  }
  if (newest.count(kMillion) && newest.count(4 * kMillion)) {
    const double a = Get(newest[kMillion], "/sections/failback/maxRssMiB"_json_pointer);
    const double b = Get(newest[4 * kMillion], "/sections/failback/maxRssMiB"_json_pointer);
    if (!std::isnan(a) && !std::isnan(b)) {
      o << "| peak RSS at 4M <= 1.2x the 1M figure | " << Num(b) << " MiB vs " << Num(a) << " MiB ("
        << Ratio(b / a) << ") | " << Status(b <= 1.2 * a) << " |\n";
    } else {
      // A 4M run without the failback (its simulated hubs hold the fleet in memory): the store's
      // own steps, the largest peak of each run.
      const double sa = StoreStepsRss(newest[kMillion]);
      const double sb = StoreStepsRss(newest[4 * kMillion]);
      if (!std::isnan(sa) && !std::isnan(sb)) {
        o << "| peak RSS at 4M <= 1.2x the 1M figure (the store steps: ingests, merge, compact, "
             "plan; no failback at 4M) | "
          << Num(sb) << " MiB vs " << Num(sa) << " MiB (" << Ratio(sb / sa) << ") | "
          << Status(sb <= 1.2 * sa) << " |\n";
      }
    }
  } else {
    o << "| peak RSS at 4M <= 1.2x the 1M figure | not run (`scripts/bench --full --large`) | — "
         "|\n";
  }
  if (!newest.count(kMillion)) {
    o << "| merge, failback and RSS at 1M devices | not run (`scripts/bench --full`) | — |\n";
  }
  if (!micro.is_null()) {
    for (const MicroRow& r : MicroRows(micro)) {
      if (r.name == "BM_JoinDeviceRecords" && r.items >= 0) {
        o << "| join >= 1M typical device records/s on one core | " << Num(r.items)
          << " records/s" << (r.repetitions > 1 ? " (median of repetitions)" : "") << " | "
          << Status(r.items >= 1e6) << " |\n";
      }
    }
  }
  o << "\n";
  for (auto it = newest.rbegin(); it != newest.rend(); ++it) o << RunSection(it->second);
  if (!micro.is_null()) o << MicroSection(micro);
  o << kEnd;

  std::ifstream in(doc_path);
  if (!in) return doc_path + ": cannot read";
  std::stringstream text;
  text << in.rdbuf();
  std::string doc = text.str();
  const size_t begin = doc.find(kBegin);
  const size_t end = doc.find(kEnd);
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    return doc_path + ": no generated-results markers";
  }
  doc.replace(begin, end + std::string(kEnd).size() - begin, o.str());
  std::ofstream out(doc_path + ".tmp");
  out << doc;
  out.close();
  if (!out) return doc_path + ": cannot write";
  fs::rename(doc_path + ".tmp", doc_path, ec);
  return ec ? ec.message() : "";
}

}  // namespace bench
