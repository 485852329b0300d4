#include "reconcile/store_writer.h"

#include <algorithm>
#include <cstdint>
#include <future>
#include <system_error>
#include <utility>

#include "lib/core/run_beside.h"

namespace reconcile {

StoreWriter::StoreWriter(Store& store, size_t batch, size_t run_bytes)
    : store_(store), batch_(batch == 0 ? 1 : batch), run_bytes_(run_bytes) {
  filling_.reserve(batch_);
  if (run_bytes_ > 0) run_ = NewRun();
}

std::unique_ptr<BulkRun> StoreWriter::NewRun() const {
  std::unique_ptr<BulkRun> run = store_.NewBulkRun();
  // A run commits once it holds run_bytes, the last batch added going past by a little.
  run->ExpectBytes(run_bytes_ + std::min(run_bytes_ / 8, SIZE_MAX - run_bytes_));
  return run;
}

StoreWriter::Written StoreWriter::Committed(Result<BulkCommit> c) {
  Written w;
  w.status = c.status();
  if (c.ok()) {
    w.written = c->applied + c->below_horizon;
    w.rejected = c->below_horizon;
  }
  return w;
}

StoreWriter::Written StoreWriter::CollectCommit() {
  if (!committing_.valid()) return Written{};
  return Committed(committing_.get());
}

StoreWriter::Written StoreWriter::Write(const std::vector<Delta>& deltas,
                                        const std::vector<MetaPut>& meta, bool commit) {
  Written w;
  if (!run_) {
    Result<ApplyResult> r = store_.Apply(deltas, meta);
    w.status = r.status();
    if (r.ok()) {
      w.written = deltas.size();
      w.rejected = r->rejected.size();
    }
    return w;
  }
  w.status = run_->Add(deltas, meta);
  if (!w.status.ok() || !(commit || run_->bytes() >= run_bytes_)) return w;
  // Runs commit one at a time, in order: the one before must be in before this one goes.
  w = CollectCommit();
  if (!w.status.ok()) return w;
  if (commit) {
    Written last = Committed(run_->Commit());
    last.written += w.written;
    last.rejected += w.rejected;
    return last;
  }
  // A full run commits on a thread of its own while the next one fills.
  if (!spare_run_) spare_run_ = NewRun();
  std::swap(run_, spare_run_);
  committing_ = internal::RunBeside([run = spare_run_.get()] { return run->Commit(); });
  return w;
}

StoreWriter::~StoreWriter() {
  (void)Wait();
  if (committing_.valid()) committing_.wait();
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StoreWriter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return pending_ || stop_; });
    if (!pending_) return;
    lock.unlock();
    Written w = Write(writing_, writing_meta_, false);
    lock.lock();
    last_ = std::move(w);
    pending_ = false;
    cv_.notify_all();
  }
}

Status StoreWriter::Wait() {
  if (in_flight_size_ == 0) return error_;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !pending_; });
  if (!last_.status.ok()) {
    if (error_.ok()) error_ = last_.status;
  } else {
    written_ += last_.written;
    below_horizon_ += last_.rejected;
  }
  in_flight_size_ = 0;
  return error_;
}

Status StoreWriter::Add(const Key& key, RecordState delta) {
  if (!error_.ok()) return error_;
  filling_.push_back(Delta{key, std::move(delta)});
  if (filling_.size() < batch_) return Status::Ok();
  RECONCILE_RETURN_IF_ERROR(Wait());
  // The batch written last is freed here, on the thread that made its records (glibc frees
  // another thread's memory slowly); the emptied vector takes the next batch.
  writing_.clear();
  writing_meta_.clear();
  writing_.swap(filling_);
  writing_meta_.swap(filling_meta_);
  in_flight_size_ = writing_.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = true;
  }
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error&) {
      // No thread can be made (resource exhaustion): this batch is written here, and the next
      // one tries again.
      Written w = Write(writing_, writing_meta_, false);
      std::lock_guard<std::mutex> lock(mu_);
      last_ = std::move(w);
      pending_ = false;
      return Status::Ok();
    }
  }
  cv_.notify_all();
  return Status::Ok();
}

void StoreWriter::AddMeta(MetaPut meta) { filling_meta_.push_back(std::move(meta)); }

Status StoreWriter::Flush(std::vector<MetaPut> meta) {
  RECONCILE_RETURN_IF_ERROR(Wait());
  for (MetaPut& m : meta) filling_meta_.push_back(std::move(m));
  // With nothing more to write, a run may still be committing.
  const bool nothing = filling_.empty() && filling_meta_.empty() && (!run_ || run_->deltas() == 0);
  Written w = nothing ? CollectCommit() : Write(filling_, filling_meta_, true);
  if (!w.status.ok()) {
    error_ = w.status;
    return error_;
  }
  written_ += w.written;
  below_horizon_ += w.rejected;
  filling_.clear();
  filling_meta_.clear();
  return Status::Ok();
}

}  // namespace reconcile
