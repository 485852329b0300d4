// The peer comparison (sections.h): the same CRDT workload on reconcile's record lattice and on
// Automerge (benchmarks/peers/automerge_fleet.mjs, run with node), each in its own process.
// Workload: N device documents created at site A, forked to site B, 10% changed on each side
// (1% on both, the same path), B merged into A. Figures: docs/s over create + fork + change +
// merge, and the process's peak RSS as the OS reports it.
#include <time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "benchmarks/child.h"
#include "benchmarks/fleet.h"
#include "benchmarks/sections.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"
#include "reconcile/policy.h"
#include "reconcile/stamp.h"

namespace bench {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The process's CPU seconds so far (the machine is shared: CPU time is what a phase cost).
double CpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Wall and CPU seconds of consecutive phases.
class Phases {
 public:
  void End(const char* name) {
    wall_[name] = Since(t_);
    cpu_[name] = CpuNow() - c_;
    t_ = Clock::now();
    c_ = CpuNow();
  }
  json& wall() { return wall_; }
  json& cpu() { return cpu_; }

 private:
  json wall_ = json::object(), cpu_ = json::object();
  Clock::time_point t_ = Clock::now();
  double c_ = CpuNow();
};

struct Item {
  json doc, a, b;
};

json ReconcileSide(const std::string& path) {
  std::vector<Item> items;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line);
      items.push_back({std::move(j["doc"]), std::move(j["a"]), std::move(j["b"])});
    }
  }
  const reconcile::SiteId site_a = reconcile::SiteId::FromName("site-a");
  const reconcile::SiteId site_b = reconcile::SiteId::FromName("site-b");
  const reconcile::Hlc t0 = reconcile::ParseIso8601("2026-11-01T00:00:00Z").value();
  Phases phases;
  std::vector<reconcile::RecordState> docs;
  docs.reserve(items.size());
  for (const Item& item : items) {
    auto delta = reconcile::CreateDelta(item.doc, {t0, site_a});
    if (!delta.ok()) throw std::runtime_error("CreateDelta: " + delta.status().ToString());
    docs.push_back(std::move(delta).value());
  }
  phases.End("create");
  std::vector<reconcile::RecordState> forks = docs;  // site B starts from A's state
  phases.End("fork");
  uint64_t changed = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    // Patches are stamped apart per side (a later hlc for B), as two sites' clocks would.
    if (!items[i].a.is_null()) {
      auto d = reconcile::PatchDelta(items[i].a, {t0 + (1000 << 16), site_a});
      if (!d.ok()) throw std::runtime_error("PatchDelta: " + d.status().ToString());
      docs[i].Join(std::move(d).value());
      ++changed;
    }
    if (!items[i].b.is_null()) {
      auto d = reconcile::PatchDelta(items[i].b, {t0 + (2000 << 16), site_b});
      if (!d.ok()) throw std::runtime_error("PatchDelta: " + d.status().ToString());
      forks[i].Join(std::move(d).value());
      ++changed;
    }
  }
  phases.End("change");
  for (size_t i = 0; i < items.size(); ++i) docs[i].Join(forks[i]);
  phases.End("merge");
  const reconcile::PolicyTable table = reconcile::PolicyTable::Default();
  const reconcile::MergeView view{&table, t0};
  uint64_t disabled = 0;
  for (const reconcile::RecordState& state : docs) {
    auto doc = reconcile::MaterializeJson(reconcile::KeyKind::kDevice, state, view);
    if (doc.ok() && doc->has_value() && (**doc).value("status", "") == "disabled") ++disabled;
  }
  phases.End("read");
  auto total = [](json& j) {
    const double t = j["create"].get<double>() + j["fork"].get<double>() +
                     j["change"].get<double>() + j["merge"].get<double>();
    j["total"] = t;
    return t;
  };
  const double wall = total(phases.wall()), cpu = total(phases.cpu());
  return {{"peer", "reconcile"},
          {"docs", items.size()},
          {"changes", changed},
          {"disabledAfterMerge", disabled},
          {"seconds", phases.wall()},
          {"cpuSeconds", phases.cpu()},
          {"docsPerSecond", wall > 0 ? items.size() / wall : 0.0},
          {"docsPerCpuSecond", cpu > 0 ? items.size() / cpu : 0.0}};
}

bool FileExists(const std::string& path) { return fs::exists(path); }

}  // namespace

json RunPeerSection(const BenchConfig& c) {
  json out = {{"sizes", json::array()}};
  if (c.peer_sizes.empty()) {
    out["skipped"] = "no peer sizes asked for";
    return out;
  }
  const std::string script = (fs::path(c.peers_dir) / "automerge_fleet.mjs").string();
  std::string skip;
  ChildRun node = Spawn({"node", "--version"});
  if (!node.ok) {
    skip = "node is not installed";
  } else if (!FileExists((fs::path(c.peers_dir) / "node_modules/@automerge/automerge").string())) {
    skip = "@automerge/automerge is not installed (run benchmarks/peers/install)";
  } else if (!FileExists(script)) {
    skip = script + " is missing";
  }
  if (!skip.empty()) {
    out["automergeSkipped"] = skip;
    Say(c, "peer: Automerge skipped: " + skip);
  } else {
    out["node"] = node.output.substr(0, node.output.find_last_not_of("\r\n") + 1);
  }
  for (uint64_t n : c.peer_sizes) {
    const std::string path = WorkPath(c, "peer-" + std::to_string(n) + ".jsonl");
    ChildRun gen = Fork([&] {
      std::ofstream file(path);
      WritePeerWorkload(file, n, c.seed);
      return json{{"docs", n}};
    });
    if (!gen.ok) throw std::runtime_error("peer workload: " + gen.error);
    json size = {{"docs", n}};
    Say(c, "peer: reconcile, " + std::to_string(n) + " documents");
    ChildRun mine = Fork([&] { return ReconcileSide(path); });
    if (!mine.ok) throw std::runtime_error("peer (reconcile): " + mine.error);
    size["reconcile"] = mine.result;
    size["reconcile"]["os"] = mine.Os();
    if (skip.empty()) {
      Say(c, "peer: Automerge, " + std::to_string(n) + " documents");
      // A heap large enough for the biggest sizes; the RSS the OS reports is what counts.
      ChildRun theirs = Spawn({"node", "--max-old-space-size=16384", script, path});
      if (theirs.ok && theirs.result.is_object() && theirs.result.contains("docsPerSecond")) {
        size["automerge"] = theirs.result;
        size["automerge"]["os"] = theirs.Os();
        size["ratio"] = mine.result["docsPerSecond"].get<double>() /
                        theirs.result["docsPerSecond"].get<double>();
        size["cpuRatio"] = mine.result["docsPerCpuSecond"].get<double>() /
                           theirs.result["docsPerCpuSecond"].get<double>();
      } else {
        size["automerge"] = {{"failed", theirs.error}, {"os", theirs.Os()}};
      }
    }
    fs::remove(path);
    out["sizes"].push_back(size);
  }
  return out;
}

}  // namespace bench
