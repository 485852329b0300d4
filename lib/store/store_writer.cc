#include "reconcile/store_writer.h"

#include <utility>

namespace reconcile {

StoreWriter::StoreWriter(Store& store, size_t batch)
    : store_(store), batch_(batch == 0 ? 1 : batch) {
  filling_.reserve(batch_);
}

StoreWriter::~StoreWriter() {
  (void)Wait();
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
    Result<ApplyResult> r = store_.Apply(writing_, writing_meta_);
    lock.lock();
    written_status_ = r.status();
    written_rejected_ = r.ok() ? r->rejected.size() : 0;
    pending_ = false;
    cv_.notify_all();
  }
}

Status StoreWriter::Wait() {
  if (in_flight_size_ == 0) return error_;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !pending_; });
  if (!written_status_.ok()) {
    if (error_.ok()) error_ = written_status_;
  } else {
    written_ += in_flight_size_;
    below_horizon_ += written_rejected_;
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
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  cv_.notify_all();
  return Status::Ok();
}

void StoreWriter::AddMeta(MetaPut meta) { filling_meta_.push_back(std::move(meta)); }

Status StoreWriter::Flush(std::vector<MetaPut> meta) {
  RECONCILE_RETURN_IF_ERROR(Wait());
  for (MetaPut& m : meta) filling_meta_.push_back(std::move(m));
  if (filling_.empty() && filling_meta_.empty()) return Status::Ok();
  Result<ApplyResult> r = store_.Apply(filling_, filling_meta_);
  if (!r.ok()) {
    error_ = r.status();
    return error_;
  }
  written_ += filling_.size();
  below_horizon_ += r->rejected.size();
  filling_.clear();
  filling_meta_.clear();
  return Status::Ok();
}

}  // namespace reconcile
