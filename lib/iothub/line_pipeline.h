// Internal: ForEachLine on several cores. The caller's thread reads the lines in chunks and hands
// each chunk to a worker, which turns every line into an Item (the parse: pure, thread-safe); the
// caller's thread then commits the items in line order (the sink, the index, the rejects). What a
// read does is therefore exactly what the one-thread ForEachLine does, in the same order: only
// the parsing runs beside it. A merge by join would not even need the order; the rejects file and
// the first-wins rules of the readers (duplicates) do.
#ifndef RECONCILE_LIB_IOTHUB_LINE_PIPELINE_H_
#define RECONCILE_LIB_IOTHUB_LINE_PIPELINE_H_

#include <algorithm>
#include <deque>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "lib/core/run_beside.h"
#include "lib/iothub/device_doc.h"

namespace reconcile::iothub {

// How many workers parse beside the caller: the machine's cores (at least 1, at most 8).
inline size_t ParseWorkers() {
  const unsigned n = std::thread::hardware_concurrency();
  return std::clamp<size_t>(n == 0 ? 1 : n, 1, 8);
}

namespace pipeline_internal {

// The reader's own rejects of one chunk, held so that they reach the sink in line order, between
// the items committed around them.
class HeldRejects final : public RejectSink {
 public:
  struct Held {
    size_t before = 0;  // the chunk's line index it precedes
    Reject reject;
    std::string raw;
  };
  Status Add(const Reject& reject, std::string_view raw_line) override {
    held.push_back(Held{*position, reject, std::string(raw_line)});
    return Status::Ok();
  }
  const size_t* position = nullptr;
  std::vector<Held> held;
};

template <typename Item>
struct Chunk {
  struct Ref {
    size_t begin = 0;
    size_t size = 0;
    uint64_t number = 0;
    uint64_t offset = 0;
  };
  std::string bytes;
  std::vector<Ref> refs;
  std::vector<Item> items;
  size_t count = 0;
  HeldRejects rejects;

  Line LineAt(size_t i) const {
    const Ref& r = refs[i];
    return Line{r.number, r.offset, std::string_view(bytes).substr(r.begin, r.size)};
  }
};

constexpr size_t kChunkLines = 512;
constexpr size_t kChunkBytes = 1 << 20;

}  // namespace pipeline_internal

// Reads every line of `reader`: work(worker, line, &item) on one of `workers` threads (worker is
// in [0, workers): per-worker state may be indexed by it), then commit(line, item, &invalid) on
// the caller's thread in line order, with ForEachLine's handling of `invalid`, rejects,
// quarantine and counts. With workers <= 1, or a reader that is not worth it, both run inline.
template <typename Item, typename Work, typename Commit>
Status ForEachLineParallel(LineReader& reader, RejectSink* rejects, RejectSink* quarantine,
                           uint64_t* rejected, uint64_t* quarantined, size_t workers, Work&& work,
                           Commit&& commit) {
  using pipeline_internal::Chunk;
  const uint64_t before = reader.stats().rejected;
  auto finish = [&](const Line& line, std::optional<Invalid>& invalid) -> Status {
    return SendInvalid(reader, line, invalid, rejects, quarantine, rejected, quarantined);
  };

  if (workers <= 1) {
    Line line;
    Item item;
    while (true) {
      Result<bool> got = reader.Next(&line, rejects);
      if (!got.ok()) return got.status();
      if (!*got) break;
      item = Item();
      work(size_t{0}, line, &item);
      std::optional<Invalid> invalid;
      RECONCILE_RETURN_IF_ERROR(commit(line, item, &invalid));
      RECONCILE_RETURN_IF_ERROR(finish(line, invalid));
    }
    *rejected += reader.stats().rejected - before;
    return Status::Ok();
  }

  // Reads the next chunk; false at the end of the input.
  auto fill = [&](Chunk<Item>& c) -> Result<bool> {
    c.bytes.clear();
    c.refs.clear();
    c.count = 0;
    c.rejects.held.clear();
    c.rejects.position = &c.count;
    Line line;
    while (c.count < pipeline_internal::kChunkLines &&
           c.bytes.size() < pipeline_internal::kChunkBytes) {
      Result<bool> got = reader.Next(&line, &c.rejects);
      if (!got.ok()) return got.status();
      if (!*got) break;
      c.refs.push_back({c.bytes.size(), line.text.size(), line.number, line.offset});
      c.bytes.append(line.text);
      ++c.count;
    }
    return c.count > 0 || !c.rejects.held.empty();
  };
  auto run = [&work](Chunk<Item>* c, size_t worker) {
    c->items.assign(c->count, Item());
    for (size_t i = 0; i < c->count; ++i) work(worker, c->LineAt(i), &c->items[i]);
  };

  struct InFlight {
    std::unique_ptr<Chunk<Item>> chunk;
    std::future<void> done;
  };
  std::deque<InFlight> flight;
  std::vector<std::unique_ptr<Chunk<Item>>> spare;
  size_t sequence = 0;
  bool more = true;
  Status status = Status::Ok();
  while (status.ok()) {
    // Keep every worker busy: chunk s runs on worker s % workers, whose previous chunk
    // (s - workers) has been committed by then.
    while (more && flight.size() < workers) {
      std::unique_ptr<Chunk<Item>> c;
      if (spare.empty()) {
        c = std::make_unique<Chunk<Item>>();
      } else {
        c = std::move(spare.back());
        spare.pop_back();
      }
      Result<bool> got = fill(*c);
      if (!got.ok()) {
        status = got.status();
        break;
      }
      if (!*got) {
        more = false;
        break;
      }
      Chunk<Item>* raw = c.get();
      const size_t worker = sequence++ % workers;
      flight.push_back({std::move(c), internal::RunBeside([&run, raw, worker] { run(raw, worker); })});
    }
    if (flight.empty() || !status.ok()) break;
    InFlight next = std::move(flight.front());
    flight.pop_front();
    next.done.get();
    Chunk<Item>& c = *next.chunk;
    size_t held = 0;
    for (size_t i = 0; i <= c.count && status.ok(); ++i) {
      for (; held < c.rejects.held.size() && c.rejects.held[held].before == i; ++held) {
        if (rejects != nullptr) {
          status = rejects->Add(c.rejects.held[held].reject, c.rejects.held[held].raw);
          if (!status.ok()) break;
        }
      }
      if (i == c.count || !status.ok()) break;
      const Line line = c.LineAt(i);
      std::optional<Invalid> invalid;
      status = commit(line, c.items[i], &invalid);
      if (status.ok()) status = finish(line, invalid);
    }
    spare.push_back(std::move(next.chunk));
  }
  for (InFlight& f : flight) f.done.wait();  // never leave a worker on a chunk being freed
  RECONCILE_RETURN_IF_ERROR(status);
  *rejected += reader.stats().rejected - before;
  return Status::Ok();
}

}  // namespace reconcile::iothub

#endif  // RECONCILE_LIB_IOTHUB_LINE_PIPELINE_H_
