// failback_bench — the macro benchmark: a realistic fleet at a given size, measured in one run as
// ratios against baselines measured in the same run (docs/BENCHMARKS.md says what each figure
// means). Every section runs in its own child process (peak RSS as the OS reports it).
//
//   failback_bench [--devices N] [--seed S] [--work DIR] [--out FILE | --results-dir DIR]
//                  [--sections LIST] [--peer-sizes N,N...] [--peers-dir DIR] [--keep] [--quiet]
//                  [--no-fork] [--source TEXT]
//   failback_bench render --results-dir DIR --doc docs/BENCHMARKS.md
//
// --sections: a comma list of generate, parse, rocksdb, ingest, merge, compact, plan, failback,
// peer (default: all but peer; each needs the files of the ones before it in a --work folder;
// --peer-sizes adds peer). --no-fork runs the sections in this process (for callgrind).
// Exit: 0 when every section ran (targets met or not: they are reported, not enforced), 1 when a
// section failed, 2 on a usage error.
#include <malloc.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "benchmarks/child.h"
#include "benchmarks/report.h"
#include "benchmarks/sections.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

int Usage(const std::string& why) {
  std::cerr << "failback_bench: error: " << why << "\n"
            << "usage: failback_bench [--devices N] [--seed S] [--work DIR] [--out FILE | "
               "--results-dir DIR]\n"
               "                      [--sections LIST] [--peer-sizes N,N...] [--peers-dir DIR] "
               "[--keep] [--quiet] [--no-fork]\n"
               "       failback_bench render --results-dir DIR --doc FILE\n";
  return 2;
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string UtcNow(const char* format) {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, format, std::gmtime(&t));
  return buf;
}

// Runs one section in a child and files its figures (with the OS's) under `name`.
bool RunSection(const bench::BenchConfig& c, json* run, const std::string& name,
                const std::function<json()>& body) {
  bench::Say(c, name + " ...");
  const json load = bench::LoadAverage();
  bench::ChildRun child = bench::Fork(body);
  json figures = child.result;
  figures["os"] = child.Os();
  figures["loadBefore"] = load;
  if (!child.ok) figures["failed"] = child.error;
  (*run)["sections"][name] = figures;
  if (!child.ok) {
    std::cerr << "failback_bench: error: section " << name << " failed: " << child.error << "\n";
    return false;
  }
  // The same rate per CPU second (user + system of the whole child, background threads
  // included): on a shared machine the wall-clock rate depends on what else runs.
  const double cpu = child.user_seconds + child.system_seconds;
  if (figures.contains("records") && cpu > 0) {
    figures["recordsPerCpuSecond"] = figures["records"].get<double>() / cpu;
    (*run)["sections"][name] = figures;
  }
  if (figures.contains("recordsPerSecond")) {
    bench::Say(
        c, name + ": " +
               std::to_string(static_cast<long long>(figures["recordsPerSecond"].get<double>())) +
               " records/s, " + std::to_string(child.max_rss_kib / 1024) + " MiB peak RSS");
  }
  return true;
}

int Render(int argc, char** argv) {
  std::string results, doc;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--results-dir" && i + 1 < argc) {
      results = argv[++i];
    } else if (a == "--doc" && i + 1 < argc) {
      doc = argv[++i];
    } else {
      return Usage("render: unknown argument " + a);
    }
  }
  if (results.empty() || doc.empty()) return Usage("render needs --results-dir and --doc");
  const std::string error = bench::RenderDoc(results, doc);
  if (!error.empty()) {
    std::cerr << "failback_bench: error: " << error << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "render") return Render(argc, argv);
  // As mergetool's main does (DECISIONS P14): the sections measure the tool's own settings.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  bench::BenchConfig c;
  std::string out_file, results_dir;
  std::set<std::string> sections = {"generate", "parse",   "rocksdb", "ingest",
                                    "merge",    "compact", "plan",    "failback"};
  bool keep = false;
  std::string source;  // what was measured, e.g. a commit id (scripts/bench passes it)
  std::string command = "failback_bench";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    command += " " + a;
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) return "";
      command += " " + std::string(argv[i + 1]);
      return argv[++i];
    };
    if (a == "--devices") {
      c.devices = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--seed") {
      c.seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--work") {
      c.work_dir = value();
    } else if (a == "--out") {
      out_file = value();
    } else if (a == "--results-dir") {
      results_dir = value();
    } else if (a == "--sections") {
      auto list = Split(value());
      sections = std::set<std::string>(list.begin(), list.end());
    } else if (a == "--peer-sizes") {
      for (const std::string& n : Split(value()))
        c.peer_sizes.push_back(std::strtoull(n.c_str(), nullptr, 10));
      sections.insert("peer");
    } else if (a == "--peers-dir") {
      c.peers_dir = value();
    } else if (a == "--source") {
      source = value();
    } else if (a == "--no-fork") {
      bench::SetInProcess(true);
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--quiet") {
      c.verbose = false;
    } else {
      return Usage("unknown argument " + a);
    }
  }
  if (c.devices < 100) return Usage("--devices must be at least 100");
  for (const std::string& s : sections) {
    static const std::set<std::string> kKnown = {"generate", "parse", "rocksdb",  "ingest", "merge",
                                                 "compact",  "plan",  "failback", "peer"};
    if (!kKnown.count(s)) return Usage("unknown section " + s);
  }
  bool own_work = false;
  if (c.work_dir.empty()) {
    c.work_dir =
        (fs::temp_directory_path() / ("failback_bench-" + std::to_string(getpid()))).string();
    own_work = true;
  }
  fs::create_directories(c.work_dir);
  if (c.peers_dir.empty()) c.peers_dir = (fs::path(argv[0]).parent_path() / "peers").string();
  if (!results_dir.empty() && out_file.empty()) {
    fs::create_directories(results_dir);
    out_file =
        (fs::path(results_dir) / (UtcNow("%Y-%m-%d") + "-" + std::to_string(c.devices) + ".json"))
            .string();
  }

  json run = {{"kind", "failback_bench"},
              {"schema", 1},
              {"date", UtcNow("%Y-%m-%dT%H:%M:%SZ")},
              {"command", command},
              {"source", source},
              {"devices", c.devices},
              {"seed", c.seed},
              {"batch", c.batch},
              {"machine", bench::DescribeMachine(c.work_dir)},
              {"load", {{"start", bench::LoadAverage()}}},
              {"sections", json::object()}};
  bool ok = true;
  auto want = [&](const char* s) { return ok && sections.count(s) > 0; };
  if (want("generate")) {
    bench::Say(c, "generating " + std::to_string(c.devices) + " devices' exports");
    bench::ChildRun gen = bench::Fork([&] { return bench::GenerateFleet(c); });
    run["fleet"] = gen.result;
    run["fleet"]["os"] = gen.Os();
    if (!gen.ok) {
      std::cerr << "failback_bench: error: generate failed: " << gen.error << "\n";
      ok = false;
    }  } else if (json kept = bench::KeptFleet(c); kept.is_object()) {
    run["fleet"] = std::move(kept);
    run["fleet"]["kept"] = true;  // generated by an earlier run in this work folder
  }
  if (want("parse")) ok = RunSection(c, &run, "parse", [&] { return bench::ParseBaseline(c); });
  if (want("rocksdb"))
    ok = RunSection(c, &run, "rocksdbPut", [&] { return bench::RocksDbPutBaseline(c); });
  if (want("ingest")) ok = RunSection(c, &run, "ingest", [&] { return bench::IngestExport(c); });
  if (want("merge")) {
    ok = RunSection(c, &run, "ingest3wayPrimary", [&] { return bench::IngestThreeWay(c, true); }) &&
         RunSection(c, &run, "ingest3waySecondary",
                    [&] { return bench::IngestThreeWay(c, false); }) &&
         RunSection(c, &run, "merge", [&] { return bench::MergeStores(c); });
  }
  if (want("compact")) ok = RunSection(c, &run, "compact", [&] { return bench::CompactMerged(c); });
  if (want("plan")) ok = RunSection(c, &run, "plan", [&] { return bench::PlanMerged(c); });
  if (want("failback")) {
    ok = RunSection(c, &run, "failback", [&] { return bench::RunFailbackSection(c); });
  }
  if (want("peer")) ok = RunSection(c, &run, "peer", [&] { return bench::RunPeerSection(c); });

  const json& s = run["sections"];
  json ratios = json::object();
  auto rate = [&](const char* name) {
    return s.contains(name) && s[name].contains("recordsPerSecond")
               ? s[name]["recordsPerSecond"].get<double>()
               : 0.0;
  };
  if (rate("ingest") > 0 && rate("rocksdbPut") > 0) {
    ratios["ingestVsRocksdbPut"] = rate("ingest") / rate("rocksdbPut");
  }
  if (rate("ingest") > 0 && rate("parse") > 0) {
    ratios["ingestVsParse"] = rate("ingest") / rate("parse");
  }
  auto cpu_rate = [&](const char* name) {
    return s.contains(name) && s[name].contains("recordsPerCpuSecond")
               ? s[name]["recordsPerCpuSecond"].get<double>()
               : 0.0;
  };
  if (cpu_rate("ingest") > 0 && cpu_rate("rocksdbPut") > 0) {
    ratios["ingestVsRocksdbPutCpu"] = cpu_rate("ingest") / cpu_rate("rocksdbPut");
  }
  if (cpu_rate("ingest") > 0 && cpu_rate("parse") > 0) {
    ratios["ingestVsParseCpu"] = cpu_rate("ingest") / cpu_rate("parse");
  }
  run["ratios"] = ratios;
  run["load"]["end"] = bench::LoadAverage();
  run["ok"] = ok;
  run["targets"] = bench::JudgeRun(run);

  const std::string text = run.dump(2) + "\n";
  if (!out_file.empty()) {
    std::ofstream out(out_file);
    out << text;
    if (!out) {
      std::cerr << "failback_bench: error: cannot write " << out_file << "\n";
      ok = false;
    } else {
      bench::Say(c, "results: " + out_file);
    }
  } else {
    std::cout << text;
  }
  for (const json& t : run["targets"]) {
    bench::Say(c, "target: " + t["target"].get<std::string>() + ": " +
                      t["measured"].get<std::string>() + " — " + t["status"].get<std::string>());
  }
  if (own_work && !keep) fs::remove_all(c.work_dir);
  return ok ? 0 : 1;
}
