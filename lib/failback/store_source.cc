#include "lib/failback/store_source.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "lib/core/encoded_cells.h"
#include "lib/core/run_beside.h"
#include "lib/iothub/line_pipeline.h"
#include "lib/iothub/plan_internal.h"
#include "reconcile/codec.h"
#include "reconcile/materialize.h"

namespace reconcile::failback {
namespace {

constexpr size_t kChunk = 256;     // records handed over at once
constexpr size_t kMaxChunks = 16;  // chunks queued at most, per queue
constexpr size_t kTextChunk = 512; // records a worker materializes at once (text mode)

// False when no cell can make capabilities.iotEdge show true, so the record is not an edge
// device. A shown value is a cell's value (or, union, made of cells' values), and an object is
// written as a marker with cells below it, so only these cells can show `true` there; cells come
// in path order, so the read stops past them (most of a device's cells are not read).
Result<bool> MayBeEdge(std::string_view encoded) {
  static const std::string kCaps = "capabilities";
  static const std::string kEdge = kCaps + kPathSeparator + "iotEdge";
  bool maybe = false;
  Status read = internal::VisitEncodedCells(encoded, [&](const internal::EncodedCell& cell) {
    if (cell.path > std::string_view(kEdge)) return false;
    if (!cell.has_value) return true;
    if (cell.path == kEdge) {
      maybe = cell.value != "false";
    } else if (cell.path.empty() || cell.path == kCaps) {
      maybe = cell.value != kObjectMarker;
    }
    return !maybe;
  });
  if (!read.ok()) return read;
  return maybe;
}

// A bounded queue of chunks from one thread to another. The writer closes it with its final
// status; Cancel (the reader is gone) wakes and stops both sides.
template <typename T>
class ChunkQueue {
 public:
  // Blocks while the queue is full; false when cancelled.
  bool Push(std::vector<T> chunk) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return chunks_.size() < kMaxChunks || cancelled_; });
    if (cancelled_) return false;
    chunks_.push_back(std::move(chunk));
    lock.unlock();
    cv_.notify_all();
    return true;
  }
  // Blocks while the queue is empty and open; false when closed and drained, or cancelled.
  bool Pop(std::vector<T>* chunk) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !chunks_.empty() || closed_ || cancelled_; });
    if (cancelled_ || chunks_.empty()) return false;
    *chunk = std::move(chunks_.front());
    chunks_.pop_front();
    lock.unlock();
    cv_.notify_all();
    return true;
  }
  void Close(Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      status_ = std::move(status);
    }
    cv_.notify_all();
  }
  void Cancel() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
  }
  // The writer's final status. REQUIRES: Pop returned false without a Cancel.
  Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<T>> chunks_;
  bool closed_ = false;
  bool cancelled_ = false;
  Status status_;
};

class StoreSource final : public MergedSource,
                          public iothub::EdgeScanFilter,
                          public iothub::CanonicalTextSource {
 public:
  StoreSource(const Store& store, StoreObserver* observer)
      : store_(store), table_(store.policy_table()), observer_(observer) {
    view_.policies = &table_;
    view_.fork_point = store.fork_point();
  }

  ~StoreSource() override {
    out_.Cancel();
    if (scanner_.joinable()) scanner_.join();
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
  // One record as it is handed over: the document, or (text_) its canonical text.
  struct Item {
    MergedRecord rec;
    std::optional<std::string> text;
  };
  // Makes current_[pos_] the next item; false at the end.
  Result<bool> Take() {
    // The scan starts with the first read, so the modes set before it apply to every record.
    // (The text mode hands workers the records' bytes, not decoded states: a state's cells
    // would be allocated on one thread and freed on another, which costs more than it saves.)
    if (!scanner_.joinable()) {
      try {
        scanner_ = std::thread([this] { Scan(); });
      } catch (const std::system_error& e) {
        return Status::Internal(std::string("no thread to read the store on: ") + e.what());
      }
    }
    if (pos_ == current_.size()) {
      current_.clear();
      pos_ = 0;
      if (!out_.Pop(&current_)) {
        Status status = out_.status();
        if (!status.ok()) return status;
        return false;
      }
    }
    return true;
  }

  void Scan() {
    std::vector<Item> items;
    items.reserve(kChunk);
    auto hand_over = [&]() -> Status {
      if (!out_.Push(std::move(items))) return Status::Conflict("cancelled");
      items = {};
      items.reserve(kChunk);
      return Status::Ok();
    };
    const bool observe = observer_ != nullptr && observer_->record;
    const std::optional<KeyKind> kind =
        edges_only_ && !observe ? std::optional<KeyKind>(KeyKind::kDevice) : std::nullopt;
    Status s = observer_ != nullptr && observer_->before ? observer_->before() : Status::Ok();
    if (s.ok() && text_ && !observe && !edges_only_) {
      s = ScanText();
    } else if (s.ok()) {
      // A record is decoded only when the observer wants it or it is to be yielded.
      s = store_.ScanEncoded(kind, [&](const Key& key, std::string_view encoded) -> Status {
        bool show = observe;
        if (show && observer_->wants) {
          Result<bool> wanted = observer_->wants(key, encoded);
          if (!wanted.ok()) return wanted.status().WithContext(key.ToString());
          show = *wanted;
        }
        bool yield = true;
        if (edges_only_) {
          yield = false;
          if (key.kind() == KeyKind::kDevice) {
            Result<bool> edge = MayBeEdge(encoded);
            if (!edge.ok()) return edge.status().WithContext("decoding " + key.ToString());
            yield = *edge;
          }
        }
        if (!show && !yield) return Status::Ok();
        Result<RecordState> state = DecodeRecord(encoded);
        if (!state.ok()) return state.status().WithContext("decoding " + key.ToString());
        if (show) RECONCILE_RETURN_IF_ERROR(observer_->record(key, *state));
        if (!yield) return Status::Ok();
        if (text_) {
          Result<std::optional<std::string>> text = Materialize(key.kind(), *state, view_);
          if (!text.ok()) return text.status().WithContext(key.ToString());
          items.push_back(
              Item{MergedRecord{key, std::nullopt, state->MaxHlc()}, std::move(*text)});
        } else {
          Result<std::optional<nlohmann::json>> doc = MaterializeJson(key.kind(), *state, view_);
          if (!doc.ok()) return doc.status().WithContext(key.ToString());
          items.push_back(Item{MergedRecord{key, std::move(*doc), state->MaxHlc()}, std::nullopt});
        }
        return items.size() == kChunk ? hand_over() : Status::Ok();
      });
    }
    if (s.ok() && !items.empty()) s = hand_over();
    // Every record was shown to the observer (the hand-over only waits for the reader).
    if (s.ok() && observer_ != nullptr) observer_->finished = true;
    out_.Close(std::move(s));
  }

  // The records' bytes as read, a chunk at a time, for a worker to decode and materialize.
  struct Encoded {
    std::vector<Key> keys;
    std::string bytes;
    std::vector<size_t> ends;  // where each record's bytes end
  };

  // Decodes and materializes one chunk (on a worker: reads only view_, which is immutable); on
  // an error, `out` holds the records before the one that failed.
  Status MaterializeChunk(const Encoded& in, std::vector<Item>* out) const {
    out->clear();
    out->reserve(in.keys.size());
    size_t begin = 0;
    for (size_t i = 0; i < in.keys.size(); ++i) {
      const Key& key = in.keys[i];
      Result<RecordState> state =
          DecodeRecord(std::string_view(in.bytes).substr(begin, in.ends[i] - begin));
      begin = in.ends[i];
      if (!state.ok()) return state.status().WithContext("decoding " + key.ToString());
      Result<std::optional<std::string>> text = Materialize(key.kind(), *state, view_);
      if (!text.ok()) return text.status().WithContext(key.ToString());
      out->push_back(Item{MergedRecord{key, std::nullopt, state->MaxHlc()}, std::move(*text)});
    }
    return Status::Ok();
  }

  // The text mode's scan: this thread only reads the records' bytes; decoding and
  // materializing (most of a record's cost) run on the cores, a chunk per worker, and the
  // chunks are handed over in the order they were read.
  Status ScanText() {
    // A chunk stays where it is while a worker fills its items: only the pointer moves.
    struct Job {
      Encoded in;
      std::vector<Item> out;
    };
    struct InFlight {
      std::unique_ptr<Job> job;
      std::future<Status> done;
    };
    const size_t workers = iothub::ParseWorkers();
    std::deque<InFlight> flight;
    std::vector<std::unique_ptr<Job>> spare;
    std::unique_ptr<Job> filling = std::make_unique<Job>();
    // Waits for the oldest chunk and hands its items to the reader.
    auto finish_oldest = [&]() -> Status {
      Status s = flight.front().done.get();
      std::unique_ptr<Job> job = std::move(flight.front().job);
      flight.pop_front();
      // The records before a failed one come first, as a scan on one thread would give them.
      if (!job->out.empty() && !out_.Push(std::move(job->out))) s = Status::Conflict("cancelled");
      job->in.keys.clear();
      job->in.bytes.clear();
      job->in.ends.clear();
      job->out = {};
      spare.push_back(std::move(job));
      return s;
    };
    auto launch = [&]() -> Status {
      if (flight.size() > workers) RECONCILE_RETURN_IF_ERROR(finish_oldest());
      Job* job = filling.get();
      std::future<Status> done =
          internal::RunBeside([this, job] { return MaterializeChunk(job->in, &job->out); });
      flight.push_back(InFlight{std::move(filling), std::move(done)});
      if (spare.empty()) {
        filling = std::make_unique<Job>();
      } else {
        filling = std::move(spare.back());
        spare.pop_back();
      }
      return Status::Ok();
    };
    Status s = store_.ScanEncoded(std::nullopt, [&](const Key& key, std::string_view bytes) {
      Encoded& in = filling->in;
      in.keys.push_back(key);
      in.bytes.append(bytes);
      in.ends.push_back(in.bytes.size());
      return in.keys.size() == kTextChunk ? launch() : Status::Ok();
    });
    if (s.ok() && !filling->in.keys.empty()) s = launch();
    while (s.ok() && !flight.empty()) s = finish_oldest();
    for (InFlight& f : flight) f.done.wait();  // never leave a worker on a chunk being freed
    return s;
  }

  const Store& store_;
  PolicyTable table_;
  MergeView view_;
  StoreObserver* observer_;  // may be null; used by the scan only
  bool edges_only_ = false;  // set before the threads start, read by them
  bool text_ = false;        // the same
  std::thread scanner_;
  ChunkQueue<Item> out_;  // scan -> reader
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
  return std::make_unique<StoreSource>(store, nullptr);
}

MergedSourceFactory StoreSourceFactory(const Store& store) {
  const Store* s = &store;
  return [s]() -> Result<std::unique_ptr<MergedSource>> { return MakeStoreSource(*s); };
}

MergedSourceFactory StoreSourceFactory(const Store& store, StoreObserver* observer) {
  const Store* s = &store;
  // The first source made takes the observer; the factory may be copied, the flag is shared.
  auto taken = std::make_shared<bool>(false);
  return [s, observer, taken]() -> Result<std::unique_ptr<MergedSource>> {
    StoreObserver* mine = *taken ? nullptr : observer;
    *taken = true;
    return std::unique_ptr<MergedSource>(std::make_unique<StoreSource>(*s, mine));
  };
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
