#include "lib/failback/store_source.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/iothub/plan_internal.h"
#include "reconcile/materialize.h"

namespace reconcile::failback {
namespace {

constexpr size_t kChunk = 256;     // records handed over at once
constexpr size_t kMaxChunks = 16;  // chunks queued at most

// False when no cell can make capabilities.iotEdge show true, so the record is not an edge
// device. A shown value is a cell's value (or, union, made of cells' values), and an object is
// written as a marker with cells below it, so only these cells can show `true` there.
bool MayBeEdge(const RecordState& state) {
  static const std::string kCaps = "capabilities";
  static const std::string kEdge = kCaps + kPathSeparator + "iotEdge";
  for (const Cell& cell : state.cells()) {
    if (!cell.has_value) continue;
    if (cell.path == kEdge) {
      if (cell.value != "false") return true;
    } else if ((cell.path.empty() || cell.path == kCaps) && cell.value != kObjectMarker) {
      return true;
    }
  }
  return false;
}

class StoreSource final : public MergedSource,
                          public iothub::EdgeScanFilter,
                          public iothub::CanonicalTextSource {
 public:
  explicit StoreSource(const Store& store) : store_(store), table_(store.policy_table()) {
    view_.policies = &table_;
    view_.fork_point = store.fork_point();
  }

  ~StoreSource() override {
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  void OnlyPossibleEdges() override { edges_only_ = true; }
  void YieldText() override { text_ = true; }

  Result<bool> Next(MergedRecord* out) override {
    Result<bool> got = Take();
    if (!got.ok() || !*got) return got;
    *out = std::move(current_[pos_++].rec);
    return true;
  }

  Result<bool> NextText(Key* key, std::optional<std::string>* text) override {
    Result<bool> got = Take();
    if (!got.ok() || !*got) return got;
    Item& item = current_[pos_++];
    *key = std::move(item.rec.key);
    *text = std::move(item.text);
    return true;
  }

 private:
  // One record as the worker hands it over: the document, or (text_) its canonical text.
  struct Item {
    MergedRecord rec;
    std::optional<std::string> text;
  };

  // Makes current_[pos_] the next item; false at the end.
  Result<bool> Take() {
    // The scan starts with the first read, so the modes set before it apply to every record.
    if (!worker_.joinable()) worker_ = std::thread([this] { Produce(); });
    if (pos_ == current_.size()) {
      current_.clear();
      pos_ = 0;
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || done_; });
      if (queue_.empty()) {
        if (!status_.ok()) return status_;
        return false;
      }
      current_ = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      cv_.notify_all();
    }
    return true;
  }

  void Produce() {
    std::vector<Item> chunk;
    chunk.reserve(kChunk);
    auto hand_over = [&]() -> Status {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return queue_.size() < kMaxChunks || cancelled_; });
      if (cancelled_) return Status::Conflict("cancelled");
      queue_.push_back(std::move(chunk));
      chunk = {};
      chunk.reserve(kChunk);
      lock.unlock();
      cv_.notify_all();
      return Status::Ok();
    };
    const std::optional<KeyKind> kind =
        edges_only_ ? std::optional<KeyKind>(KeyKind::kDevice) : std::nullopt;
    Status s = store_.Scan(kind, [&](const Key& key, const RecordState& state) -> Status {
      if (edges_only_ && !MayBeEdge(state)) return Status::Ok();
      if (text_) {
        Result<std::optional<std::string>> text = Materialize(key.kind(), state, view_);
        if (!text.ok()) return text.status().WithContext(key.ToString());
        chunk.push_back(Item{MergedRecord{key, std::nullopt, state.MaxHlc()}, std::move(*text)});
      } else {
        Result<std::optional<nlohmann::json>> doc = MaterializeJson(key.kind(), state, view_);
        if (!doc.ok()) return doc.status().WithContext(key.ToString());
        chunk.push_back(Item{MergedRecord{key, std::move(*doc), state.MaxHlc()}, std::nullopt});
      }
      if (chunk.size() == kChunk) return hand_over();
      return Status::Ok();
    });
    if (s.ok() && !chunk.empty()) s = hand_over();
    std::lock_guard<std::mutex> lock(mu_);
    if (!cancelled_) status_ = s;
    done_ = true;
    cv_.notify_all();
  }

  const Store& store_;
  PolicyTable table_;
  MergeView view_;
  bool edges_only_ = false;  // set before the worker starts, read by it
  bool text_ = false;        // the same
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<Item>> queue_;
  bool cancelled_ = false;
  bool done_ = false;
  Status status_;
  std::vector<Item> current_;
  size_t pos_ = 0;
};

class KeysSource final : public MergedSource {
 public:
  KeysSource(const Store& store, std::shared_ptr<const std::set<Key>> keys)
      : store_(store), table_(store.policy_table()), keys_(std::move(keys)), it_(keys_->begin()) {
    view_.policies = &table_;
    view_.fork_point = store.fork_point();
  }

  Result<bool> Next(MergedRecord* out) override {
    for (; it_ != keys_->end(); ++it_) {
      Result<RecordState> state = store_.GetState(*it_);
      if (!state.ok()) {
        if (state.status().IsNotFound()) continue;
        return state.status();
      }
      Result<std::optional<nlohmann::json>> doc = MaterializeJson(it_->kind(), *state, view_);
      if (!doc.ok()) return doc.status().WithContext(it_->ToString());
      *out = MergedRecord{*it_, std::move(*doc), state->MaxHlc()};
      ++it_;
      return true;
    }
    return false;
  }

 private:
  const Store& store_;
  PolicyTable table_;
  MergeView view_;
  std::shared_ptr<const std::set<Key>> keys_;
  std::set<Key>::const_iterator it_;
};

}  // namespace

std::unique_ptr<MergedSource> MakeStoreSource(const Store& store) {
  return std::make_unique<StoreSource>(store);
}

MergedSourceFactory StoreSourceFactory(const Store& store) {
  const Store* s = &store;
  return [s]() -> Result<std::unique_ptr<MergedSource>> { return MakeStoreSource(*s); };
}

}  // namespace reconcile::failback

namespace reconcile::failback {

MergedSourceFactory KeysSourceFactory(const Store& store, std::set<Key> keys) {
  std::set<Key> all = keys;
  for (const Key& k : keys) {
    if (k.kind() == KeyKind::kModule) all.insert(Key::Device(k.device_id()).value());
  }
  auto shared = std::make_shared<const std::set<Key>>(std::move(all));
  const Store* s = &store;
  return [s, shared]() -> Result<std::unique_ptr<MergedSource>> {
    return std::unique_ptr<MergedSource>(std::make_unique<KeysSource>(*s, shared));
  };
}

}  // namespace reconcile::failback
