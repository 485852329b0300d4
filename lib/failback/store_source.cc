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
#include "lib/iothub/sha256.h"
#include "reconcile/codec.h"
#include "reconcile/materialize.h"

namespace reconcile::failback {
namespace {

constexpr size_t kChunk = 256;      // records handed over at once
constexpr size_t kMaxChunks = 16;   // chunks queued at most, per queue
constexpr size_t kTextChunk = 512;  // records a worker materializes at once (text mode)
// Records a chunk holds at most, untouched ones included: a chunk of mostly untouched records
// still makes a worker's while worth starting.
constexpr size_t kTextChunkRecords = 16 * kTextChunk;

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

// True when the record has a deviceScope or parentScopes value (full writes leave covers there
// either way): the plan rewrites scopes by reading other records, so such a record is never
// left unread. Cells come in path order, so the read stops past them.
Result<bool> HasScopes(std::string_view encoded) {
  static constexpr std::string_view kDevice = "deviceScope";
  static constexpr std::string_view kParents = "parentScopes";
  bool found = false;
  Status read = internal::VisitEncodedCells(encoded, [&](const internal::EncodedCell& cell) {
    found = cell.has_value &&
            (cell.path == kDevice || cell.path.substr(0, kParents.size()) == kParents);
    return !found && cell.path < kParents;
  });
  if (!read.ok()) return read;
  return found;
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
                          public iothub::CanonicalTextSource,
                          public iothub::UntouchedSource {
 public:
  StoreSource(const Store& store, StoreObserver* observer,
              std::shared_ptr<const UntouchedRecords> untouched)
      : store_(store),
        table_(store.policy_table()),
        observer_(observer),
        untouched_(std::move(untouched)) {
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
    last_untouched_ = item.untouched;
    return true;
  }

  // Only the text scan leaves records unread (a source that shows its records to an observer
  // scans them whole).
  bool SkipsUntouched() const override {
    return untouched_ != nullptr && (observer_ == nullptr || !observer_->record);
  }
  bool LastUntouched() const override { return last_untouched_; }
  Result<std::optional<std::string>> TextOf(const Key& key) override {
    Result<RecordState> state = store_.GetState(key);
    if (!state.ok()) {
      if (state.status().IsNotFound()) return std::optional<std::string>();
      return state.status();
    }
    Result<std::optional<std::string>> text = Materialize(key.kind(), *state, view_);
    if (!text.ok()) return text.status().WithContext(key.ToString());
    return text;
  }
  std::string StateDigest() const override { return state_digest_; }

 private:
  // One record as it is handed over: the document, or (text_) its canonical text, or neither
  // (untouched: the record exists as the backup wrote it).
  struct Item {
    MergedRecord rec;
    std::optional<std::string> text;
    bool untouched = false;
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
          items.push_back(Item{MergedRecord{key, std::nullopt, state->MaxHlc()}, std::move(*text)});
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
    std::vector<size_t> ends;        // where each record's bytes end
    std::vector<uint8_t> untouched;  // 1: no bytes, the record is untouched
  };

  // Decodes and materializes one chunk (on a worker: reads only view_, which is immutable); on
  // an error, `out` holds the records before the one that failed.
  Status MaterializeChunk(const Encoded& in, std::vector<Item>* out) const {
    out->clear();
    out->reserve(in.keys.size());
    size_t begin = 0;
    for (size_t i = 0; i < in.keys.size(); ++i) {
      const Key& key = in.keys[i];
      if (in.untouched[i]) {
        out->push_back(Item{MergedRecord{key, std::nullopt, 0}, std::nullopt, true});
        continue;
      }
      Result<RecordState> state =
          DecodeRecord(std::string_view(in.bytes).substr(begin, in.ends[i] - begin));
      begin = in.ends[i];
      if (!state.ok()) return state.status().WithContext("decoding " + key.ToString());
      Result<std::optional<std::string>> text = Materialize(key.kind(), *state, view_);
      if (!text.ok()) return text.status().WithContext(key.ToString());
      out->push_back(
          Item{MergedRecord{key, std::nullopt, state->MaxHlc()}, std::move(*text), false});
    }
    return Status::Ok();
  }

  // Whether the plan may leave the record unread (UntouchedSource); also adds it to the digest
  // of the states. On the scanning thread.
  Result<bool> Untouched(const Key& key, std::string_view bytes) {
    if (untouched_ == nullptr || key.kind() == KeyKind::kMeta) return false;
    key_text_ = key.ToString();
    states_.Update(key_text_);
    states_.Update("\t");
    states_.Update(bytes);
    states_.Update("\n");
    encoded_key_.clear();
    key.EncodeTo(&encoded_key_);
    // Keys come in order: the changed keys are walked beside them.
    const std::vector<std::string>& changed = untouched_->changed;
    while (changed_at_ < changed.size() && changed[changed_at_] < encoded_key_) ++changed_at_;
    if (changed_at_ < changed.size() && changed[changed_at_] == encoded_key_) return false;
    Result<bool> only = internal::EncodedOnlyBy(bytes, untouched_->base_site);
    if (!only.ok() || !*only) return only;
    Result<bool> scopes = HasScopes(bytes);
    if (!scopes.ok()) return scopes.status();
    return !*scopes;
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
      job->in.untouched.clear();
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
    size_t to_make = 0;  // records of the filling chunk to materialize
    Status s = store_.ScanEncoded(std::nullopt, [&](const Key& key, std::string_view bytes) {
      Result<bool> untouched = Untouched(key, bytes);
      if (!untouched.ok()) return untouched.status().WithContext("decoding " + key.ToString());
      Encoded& in = filling->in;
      in.keys.push_back(key);
      if (!*untouched) {
        in.bytes.append(bytes);
        ++to_make;
      }
      in.ends.push_back(in.bytes.size());
      in.untouched.push_back(*untouched ? 1 : 0);
      if (to_make < kTextChunk && in.keys.size() < kTextChunkRecords) return Status::Ok();
      to_make = 0;
      return launch();
    });
    if (s.ok() && !filling->in.keys.empty()) s = launch();
    if (s.ok() && untouched_ != nullptr) state_digest_ = states_.HexDigest();
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
  // Set: untouched records are left unread (text mode). The digest of the states and the
  // scratch keys are the scanning thread's; state_digest_ is read after the scan closed out_.
  std::shared_ptr<const UntouchedRecords> untouched_;
  iothub::Sha256 states_;
  std::string key_text_, encoded_key_;
  size_t changed_at_ = 0;  // in untouched_->changed
  std::string state_digest_;
  bool last_untouched_ = false;  // the consumer's
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
  return std::make_unique<StoreSource>(store, nullptr, nullptr);
}

MergedSourceFactory StoreSourceFactory(const Store& store) {
  const Store* s = &store;
  return [s]() -> Result<std::unique_ptr<MergedSource>> { return MakeStoreSource(*s); };
}

MergedSourceFactory StoreSourceFactory(const Store& store, StoreObserver* observer,
                                       std::shared_ptr<const UntouchedRecords> untouched) {
  const Store* s = &store;
  // The first source made takes the observer; the factory may be copied, the flag is shared.
  auto taken = std::make_shared<bool>(false);
  return [s, observer, taken, untouched]() -> Result<std::unique_ptr<MergedSource>> {
    StoreObserver* mine = *taken ? nullptr : observer;
    *taken = true;
    return std::unique_ptr<MergedSource>(std::make_unique<StoreSource>(*s, mine, untouched));
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
