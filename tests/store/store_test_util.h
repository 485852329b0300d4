// tests/store/store_test_util.h — helpers of the store tests: scratch directories, opening
// stores, generators of keyed deltas (built on tests/core/generators.h), the in-memory model, and a
// capped rapidcheck runner for properties whose every case opens RocksDB stores, and raw access
// to a store's database.
//
// Thread safety: test helpers, used from the test thread (TempDir is safe to use from many).
#ifndef RECONCILE_TESTS_STORE_STORE_TEST_UTIL_H_
#define RECONCILE_TESTS_STORE_STORE_TEST_UTIL_H_

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <rocksdb/db.h>

#include "lib/store/digest.h"
#include "lib/store/encoding.h"
#include "lib/store/merge_operators.h"
#include "reconcile/key.h"
#include "reconcile/materialize.h"
#include "reconcile/store.h"
#include "tests/core/generators.h"

namespace reconcile_test {

using reconcile::Delta;
using reconcile::Key;
using reconcile::Store;
using reconcile::StoreOptions;

// A fresh directory, removed with everything in it when the object dies. On tmpfs (/dev/shm)
// when there is one: the tests open many stores and need no durability across machine crashes.
class TempDir {
 public:
  TempDir() {
    namespace fs = std::filesystem;
    static std::atomic<int> counter{0};
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    path_ = (base / ("reconcile-store-test-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter++)))
                .string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Small-footprint options for tests (many stores open at once).
inline StoreOptions TestOptions(const std::string& site = "weu-primary") {
  StoreOptions o;
  o.site_name = site;
  o.write_buffer_size = 1u << 20;
  o.block_cache_bytes = 1u << 20;
  o.max_background_jobs = 1;
  o.batch_bytes = 4096;  // many MergeFrom batches even for small stores
  return o;
}

// Opens a store or fails the current gtest / rapidcheck case.
inline std::unique_ptr<Store> MustOpen(const std::string& dir, const StoreOptions& options) {
  auto r = Store::Open(dir, options);
  if (!r.ok()) {
    ADD_FAILURE() << "opening " << dir << ": " << r.status().ToString();
    return nullptr;
  }
  return std::move(r).value();
}

// A store's database opened directly with RocksDB (for tests that write bytes behind the store's
// back or inspect them), with the store's merge operators: without them RocksDB's point-in-time
// WAL recovery would stop at the first merge operand and drop the rest of the log.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    rocksdb::DBOptions dbo;
    dbo.atomic_flush = true;
    std::vector<std::string> names;
    status_ = rocksdb::DB::ListColumnFamilies(dbo, path, &names);
    if (!status_.ok()) return;
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const std::string& n : names) {
      rocksdb::ColumnFamilyOptions cfo;
      if (n == reconcile::store::kRecordsFamily) {
        cfo.merge_operator = std::make_shared<reconcile::store::RecordJoinOperator>(false);
      } else if (n == reconcile::store::kWatermarksFamily || n == reconcile::store::kAcksFamily) {
        cfo.merge_operator = std::make_shared<reconcile::store::U64MaxOperator>();
      } else if (n == reconcile::store::kMetaFamily) {
        cfo.merge_operator = std::make_shared<reconcile::store::MetaOperator>();
      }
      descs.push_back({n, cfo});
    }
    rocksdb::DB* raw = nullptr;
    status_ = rocksdb::DB::Open(dbo, path, descs, &handles_, &raw);
    db_.reset(raw);
    names_ = names;
  }
  ~RawDb() {
    if (!db_) return;
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  const rocksdb::Status& status() const { return status_; }
  rocksdb::DB* db() { return db_.get(); }
  // The handle of family `name`, or nullptr.
  rocksdb::ColumnFamilyHandle* family(const std::string& name) {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return handles_[i];
    }
    return nullptr;
  }

 private:
  rocksdb::Status status_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<std::string> names_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// ---------------------------------------------------------------------------------------------
// Keys and keyed deltas

// A small pool: devices, a device's modules, and metadata records.
inline const std::vector<Key>& KeyPool() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> k;
    k.push_back(*Key::Device("dev-1"));
    k.push_back(*Key::Device("dev-2"));
    k.push_back(*Key::Module("dev-1", "mod-a"));
    k.push_back(*Key::Module("dev-1", "$edgeAgent"));
    k.push_back(*Key::Meta("app", "config"));
    k.push_back(*Key::Meta("app", "ключ"));
    return k;
  }();
  return keys;
}

inline Universe UniverseOf(reconcile::KeyKind kind) {
  switch (kind) {
    case reconcile::KeyKind::kDevice:
      return Universe{kind, reconcile::PathRules::kTwin, reconcile::kMaxTwinDepth};
    case reconcile::KeyKind::kModule:
      return Universe{kind, reconcile::PathRules::kTwin, reconcile::kMaxTwinDepth};
    case reconcile::KeyKind::kMeta: return Universe{kind, reconcile::PathRules::kMeta, 6};
  }
  return {};
}

// The delta of one generated operation (create/replace/patch/delete/set/remove, from the site
// pool of four with colliding stamps) on a key of the pool (or the first `keys` keys).
inline rc::Gen<Delta> GenDelta(size_t keys = 0) {
  return rc::gen::exec([keys] {
    const auto& pool = KeyPool();
    size_t n = keys == 0 ? pool.size() : std::min(keys, pool.size());
    const Key& key = pool[static_cast<size_t>(Pick(0, static_cast<int>(n) - 1))];
    Universe u = UniverseOf(key.kind());
    Op op = *GenOp(u);
    return Delta{key, DeltaOf(op, u)};
  });
}

// A stamp from the pool strictly above `floor` (stamps near the top of the range when floor is).
inline rc::Gen<Stamp> GenStampAbove(reconcile::Hlc floor) {
  return rc::gen::exec([floor] {
    Stamp s = *GenStamp();
    if (s.hlc <= floor) s.hlc = floor + 1 + static_cast<reconcile::Hlc>(Pick(0, 4));
    return s;
  });
}

inline rc::Gen<std::vector<Delta>> GenBatch(int max = 6, size_t keys = 0) {
  return rc::gen::exec([max, keys] {
    std::vector<Delta> out;
    int n = Pick(1, max);
    for (int i = 0; i < n; ++i) out.push_back(*GenDelta(keys));
    return out;
  });
}

inline std::string DescribeBatch(const std::vector<Delta>& batch) {
  std::ostringstream os;
  for (const Delta& d : batch) os << "  " << d.key.ToString() << " " << Describe(d.state) << "\n";
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// The model: a map from key to joined state.

using Model = std::map<Key, reconcile::RecordState>;

inline void ApplyToModel(Model* model, const std::vector<Delta>& batch) {
  for (const Delta& d : batch) {
    if (d.state.empty()) continue;
    (*model)[d.key].Join(d.state);
  }
}

// key -> materialized JSON of every record that exists.
inline std::map<Key, std::string> MaterializeModel(const Model& model,
                                                   const reconcile::MergeView& view) {
  std::map<Key, std::string> out;
  for (const auto& [key, state] : model) {
    auto json = reconcile::Materialize(key.kind(), state, view);
    if (!json.ok()) {
      ADD_FAILURE() << "model materialize " << key.ToString() << ": " << json.status().ToString();
      continue;
    }
    if (json->has_value()) out.emplace(key, **json);
  }
  return out;
}

inline reconcile::StoreDigest ModelDigest(const std::map<Key, std::string>& materialized) {
  reconcile::store::DigestBuilder builder;
  for (const auto& [key, json] : materialized) builder.Add(key.Encode(), json);
  return builder.Finish();
}

// key -> materialized JSON of every existing record of a store.
inline std::map<Key, std::string> MaterializeStore(const Store& store) {
  std::map<Key, std::string> out;
  reconcile::Status s = store.ScanMaterialized(std::nullopt, [&](const Key& k, const std::string& j) {
    out.emplace(k, j);
    return reconcile::Status::Ok();
  });
  if (!s.ok()) ADD_FAILURE() << "scan: " << s.ToString();
  return out;
}

inline std::string DescribeMaterialized(const std::map<Key, std::string>& m) {
  std::ostringstream os;
  for (const auto& [k, j] : m) os << "  " << k.ToString() << " = " << j << "\n";
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// Running properties with a capped number of cases

// Runs `property` like RC_GTEST_PROP, but with at most `max_cases` cases (rapidcheck's
// configured max_success otherwise, e.g. from RC_PARAMS), and sizes up to `max_size` (the
// length of state-machine sequences grows with it). Store properties open RocksDB
// databases in every case (tens of milliseconds each); the cap keeps the suite within its time
// budget while the pure properties keep the full count. The seed comes from RC_PARAMS and is
// printed on failure (and at the start by rapidcheck), so a failure reproduces.
template <typename Testable>
void CheckCapped(int max_cases, Testable&& property, int max_size = 100) {
  using namespace rc::detail;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  TestParams params = configuration().testParams;
  params.maxSuccess = std::min(params.maxSuccess, max_cases);
  params.maxSize = std::min(params.maxSize, max_size);
  const auto result = checkProperty(toProperty(std::forward<Testable>(property)), metadata, params);
  std::ostringstream ss;
  printResultMessage(result, ss);
  if (!result.template is<SuccessResult>()) {
    FAIL() << "seed=" << params.seed << " max_success=" << params.maxSuccess << "\n" << ss.str();
  } else {
    std::cout << metadata.id << ": " << ss.str() << " (seed=" << params.seed << ")\n";
  }
}

}  // namespace reconcile_test

#endif  // RECONCILE_TESTS_STORE_STORE_TEST_UTIL_H_
