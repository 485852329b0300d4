// StoreWriter: deltas into a store in atomic batches, each batch written on a thread of its own
// while the caller reads and fills the next one.
//
// A bulk read (an export of a million devices) spends about half its time in Store::Apply:
// encoding the records, logging the batch, inserting it into the memtable. Done on the reading
// thread, that work and the reading take turns; here they overlap. What a batch is stays as
// Store::Apply makes it: atomic, in the order handed over (one batch is written at a time), and
// durable as StoreOptions says once written. The writer only holds a batch longer: a batch is
// known written when the next one is handed over or at Flush, so an error of the store comes back
// from the Add or Flush after the batch that failed, and from every call after it (nothing more is
// written then). Batches written before an error stay: joins are idempotent, so the same input
// applied again converges.
//
// With `run_bytes` > 0 the writer is a bulk loader: its thread encodes each batch into a BulkRun
// and commits the run once it holds `run_bytes` (as table files, no log: see BulkRun), and at
// Flush. A full run commits on a thread of its own while the writing thread fills the next one
// (so the writer holds up to two runs); runs still commit one at a time, in order. Batches are
// then known written only when their run's commit is collected (at the next full run, or at
// Flush); a store error still comes back from the calls after it, and the runs committed before
// stay.
//
// Thread safety: one caller thread uses a StoreWriter; its own thread calls only Store::Apply (or
// a BulkRun's Add and Commit), which run beside anything else the store does.
#ifndef RECONCILE_STORE_WRITER_H_
#define RECONCILE_STORE_WRITER_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "reconcile/key.h"
#include "reconcile/record.h"
#include "reconcile/status.h"
#include "reconcile/store.h"

namespace reconcile {

class StoreWriter {
 public:
  // The run size of the bulk loads of mergetool ingest and the failback: large enough that a
  // million devices make a few dozen table files, small enough to keep memory flat.
  static constexpr size_t kBulkRunBytes = size_t{32} << 20;

  // `batch`: deltas per Store::Apply (0 is taken as 1), or per hand-over to the bulk run when
  // `run_bytes` > 0 (encoded bytes a run holds before it commits).
  StoreWriter(Store& store, size_t batch, size_t run_bytes = 0);
  // Waits for the batch being written. Deltas held and not flushed are dropped.
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Holds the delta; a full batch is handed to the writing thread once the batch before it is
  // written. Returns the error of an earlier batch (sticky).
  Status Add(const Key& key, RecordState delta);

  // A meta value written with the next batch handed over (or with Flush's).
  void AddMeta(MetaPut meta);

  // Writes what is held, with `meta`, as one batch (meta alone when no delta is held), and waits
  // until every batch is written. Returns the first error.
  Status Flush(std::vector<MetaPut> meta = {});

  // Deltas in batches known written (Store::Apply returned, or their run committed), and those of
  // them rejected as below the GC horizon (ApplyResult::rejected).
  uint64_t written() const { return written_; }
  uint64_t below_horizon() const { return below_horizon_; }

 private:
  // What writing one batch did: deltas known written, of them rejected.
  struct Written {
    Status status;
    size_t written = 0;
    size_t rejected = 0;
  };
  // Writes a batch (Store::Apply), or adds it to the bulk run; when the run is full, hands it to
  // a committing thread (once the run before it is committed), or when `commit` commits it here.
  // What it returns counts the runs whose commits it collected.
  Written Write(const std::vector<Delta>& deltas, const std::vector<MetaPut>& meta, bool commit);
  std::unique_ptr<BulkRun> NewRun() const;
  static Written Committed(Result<BulkCommit> c);
  // Waits for the run being committed, if any, and says what its commit wrote.
  Written CollectCommit();
  // Collects the batch being written, if any; its error becomes the writer's.
  Status Wait();
  // The writing thread: writes each batch handed over, until stopped.
  void Run();

  Store& store_;
  size_t batch_;
  size_t run_bytes_;
  std::unique_ptr<BulkRun> run_;        // the bulk run being filled (run_bytes_ > 0)
  std::unique_ptr<BulkRun> spare_run_;  // the run being committed, or emptied by its commit
  std::future<Result<BulkCommit>> committing_;  // spare_run_'s commit (declared after the runs)
  std::vector<Delta> filling_;
  std::vector<MetaPut> filling_meta_;
  std::vector<Delta> writing_;  // the writing thread's while a batch is in flight
  std::vector<MetaPut> writing_meta_;
  size_t in_flight_size_ = 0;  // deltas in the batch handed over and not yet collected

  // Shared with the writing thread (started at the first batch handed over).
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;  // a batch is handed over and not written yet
  bool stop_ = false;
  Written last_;  // of the last batch written
  Status error_;
  uint64_t written_ = 0;
  uint64_t below_horizon_ = 0;
};

}  // namespace reconcile

#endif  // RECONCILE_STORE_WRITER_H_
