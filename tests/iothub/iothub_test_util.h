// Test helpers for the IoT Hub layer: fixture paths, golden files, an in-memory model of the store
// (std::map<Key, RecordState> joined delta by delta), temporary directories.
#ifndef RECONCILE_TESTS_IOTHUB_IOTHUB_TEST_UTIL_H_
#define RECONCILE_TESTS_IOTHUB_IOTHUB_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "reconcile/iothub.h"
#include "reconcile/iothub_plan.h"
#include "reconcile/materialize.h"
#include "reconcile/operations.h"
#include "reconcile/policy.h"

namespace reconcile::testing {

inline std::string DataDir() {
  const char* env = std::getenv("RECONCILE_TEST_DATA");
#ifdef RECONCILE_IOTHUB_DEFAULT_TEST_DATA
  std::string base = env ? env : RECONCILE_IOTHUB_DEFAULT_TEST_DATA;
#else
  std::string base = env ? env : "tests/data";
#endif
  return base + "/iothub";
}

inline std::string DataPath(const std::string& name) { return DataDir() + "/" + name; }

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The non-blank lines of a file, without their line endings.
inline std::vector<std::string> NonBlankLines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(ReadFile(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Compares `actual` with tests/data/iothub/golden/<name>; with RECONCILE_UPDATE_GOLDEN=1 set,
// rewrites the golden file instead (review the diff before committing it).
inline void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = DataPath("golden/" + name);
  if (std::getenv("RECONCILE_UPDATE_GOLDEN") != nullptr) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    WriteFile(path, actual);
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(path)) << "missing golden file " << path;
  EXPECT_EQ(ReadFile(path), actual) << "golden file " << path << " differs";
}

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = (std::filesystem::temp_directory_path() /
             ("reconcile-iothub-" + std::to_string(rd()) + "-" + std::to_string(rd())))
                .string();
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The store, modelled: deltas joined per key.
struct Model {
  std::map<Key, RecordState> states;
  std::vector<std::pair<Key, RecordState>> deltas;  // every delta, in arrival order

  DeltaSink Sink() {
    return [this](const Key& key, RecordState delta) -> Status {
      deltas.emplace_back(key, delta);
      states[key].Join(std::move(delta));
      return Status::Ok();
    };
  }
};

inline Hlc Time(const char* iso) {
  Result<Hlc> h = ParseIso8601(iso);
  EXPECT_TRUE(h.ok()) << iso;
  return h.ok() ? *h : 0;
}

inline std::unique_ptr<LineReader> OpenData(const std::string& name) {
  Result<std::unique_ptr<LineReader>> r = LineReader::Open(DataPath(name));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : nullptr;
}

// The materialized record of `key` in `model` (nullopt: absent or deleted).
inline std::optional<nlohmann::json> Doc(const Model& model, const Key& key,
                                         const PolicyTable& table) {
  auto it = model.states.find(key);
  if (it == model.states.end()) return std::nullopt;
  MergeView view{&table, 0};
  Result<std::optional<nlohmann::json>> doc = MaterializeJson(key.kind(), it->second, view);
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  return doc.ok() ? *doc : std::nullopt;
}

inline Key Dev(const char* id) { return Key::Device(id).value(); }
inline Key Mod(const char* id, const char* module) { return Key::Module(id, module).value(); }

// The fleet of the fixtures: the backup (base), the secondary's export against it, and the
// primary's export against it, joined.
inline void IngestFleet(Model* model, RejectSink* rejects = nullptr) {
  auto base = OpenData("base.txt");
  ExportReadOptions backup{"backup", Time("2026-11-20T00:00:00Z"), false};
  ASSERT_TRUE(ReadExport(*base, backup, rejects, model->Sink()).ok());
  auto secondary = OpenData("secondary.txt");
  auto base2 = OpenData("base.txt");
  ExportReadOptions sec{"neu-secondary", Time("2026-11-22T12:00:00Z"), false};
  Result<ReadStats> s = ReadExportWithBase(*secondary, *base2, sec, rejects, model->Sink());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto primary = OpenData("primary.txt");
  auto base3 = OpenData("base.txt");
  ExportReadOptions pri{"weu-primary", Time("2026-11-23T06:00:00Z"), false};
  Result<ReadStats> p = ReadExportWithBase(*primary, *base3, pri, rejects, model->Sink());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
}

// Every file a plan wrote, concatenated with their names (for byte comparisons).
inline std::string PlanBytes(const PlanSummary& summary) {
  std::string out;
  for (const std::string& f : summary.files) {
    out += "== " + std::filesystem::path(f).filename().string() + "\n" + ReadFile(f);
  }
  out += "== manifest.json\n" + ReadFile(summary.manifest_path);
  out += "== plan-report.jsonl\n" + ReadFile(summary.report_path);
  return out;
}

}  // namespace reconcile::testing

#endif  // RECONCILE_TESTS_IOTHUB_IOTHUB_TEST_UTIL_H_
