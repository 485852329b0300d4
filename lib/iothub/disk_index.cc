#include "lib/iothub/disk_index.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <queue>

#include "lib/core/varint.h"

namespace reconcile::iothub {
namespace fs = std::filesystem;
using internal::GetBytes;
using internal::GetVarint;
using internal::PutVarint;

namespace {

constexpr size_t kBlockBytes = 4096;
constexpr size_t kFileBuffer = size_t{1} << 20;

std::atomic<uint64_t> g_files{0};

Status Errno(std::string_view what, const fs::path& path) {
  return Status::IoError("index: cannot " + std::string(what) + " '" + path.string() +
                         "': " + std::strerror(errno));
}

// Writes a file through a buffer of its own; the error names the file.
class FileOut {
 public:
  ~FileOut() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Open(const fs::path& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    return fd_ < 0 ? Errno("create", path) : Status::Ok();
  }
  Status Entry(std::string_view key, std::string_view value) {
    PutVarint(&buffer_, key.size());
    PutVarint(&buffer_, value.size());
    buffer_.append(key);
    buffer_.append(value);
    return buffer_.size() >= kFileBuffer ? Flush() : Status::Ok();
  }
  uint64_t offset() const { return written_ + buffer_.size(); }
  Status Flush() {
    for (size_t done = 0; done < buffer_.size();) {
      const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Errno("write", path_);
      done += static_cast<size_t>(n);
    }
    written_ += buffer_.size();
    buffer_.clear();
    return Status::Ok();
  }
  Status Close() {
    RECONCILE_RETURN_IF_ERROR(Flush());
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) != 0 ? Errno("close", path_) : Status::Ok();
  }

 private:
  fs::path path_;
  int fd_ = -1;
  std::string buffer_;
  uint64_t written_ = 0;
};

// Parses the entry at the front of *in: false when *in does not hold a whole one.
bool TakeEntry(std::string_view* in, std::string_view* key, std::string_view* value) {
  std::string_view rest = *in;
  uint64_t key_size = 0;
  uint64_t value_size = 0;
  if (!GetVarint(&rest, &key_size) || !GetVarint(&rest, &value_size) ||
      !GetBytes(&rest, key_size, key) || !GetBytes(&rest, value_size, value)) {
    return false;
  }
  *in = rest;
  return true;
}

// Reads a run file's entries in order, a buffer at a time.
class RunIn {
 public:
  ~RunIn() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Open(const fs::path& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    return fd_ < 0 ? Errno("open", path) : Status::Ok();
  }
  // The next entry (valid until the next call); false at the end.
  Result<bool> Next() {
    while (true) {
      std::string_view rest(buffer_.data() + pos_, buffer_.size() - pos_);
      const size_t before = rest.size();
      if (TakeEntry(&rest, &key_, &value_)) {
        pos_ += before - rest.size();
        return true;
      }
      if (eof_) {
        if (before == 0) return false;
        return Status::Corruption("index: run file '" + path_.string() + "' ends inside an entry");
      }
      buffer_.erase(0, pos_);
      pos_ = 0;
      const size_t have = buffer_.size();
      buffer_.resize(have + std::max(kFileBuffer, have));
      ssize_t n;
      do {
        n = ::read(fd_, buffer_.data() + have, buffer_.size() - have);
      } while (n < 0 && errno == EINTR);
      if (n < 0) return Errno("read", path_);
      buffer_.resize(have + static_cast<size_t>(n));
      if (n == 0) eof_ = true;
    }
  }
  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }

 private:
  fs::path path_;
  int fd_ = -1;
  std::string buffer_;
  size_t pos_ = 0;
  bool eof_ = false;
  std::string_view key_, value_;
};

}  // namespace

DiskIndexBuilder::DiskIndexBuilder(fs::path dir, std::string prefix, size_t memory_bytes)
    : dir_(std::move(dir)), prefix_(std::move(prefix)), memory_bytes_(memory_bytes) {}

DiskIndexBuilder::~DiskIndexBuilder() {
  std::error_code ec;
  for (const fs::path& run : runs_) fs::remove(run, ec);
}

void DiskIndexBuilder::RemoveStale(const fs::path& dir, std::string_view prefix) {
  std::error_code ec;
  const std::string head = std::string(prefix) + "-";
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, head.size(), head) != 0) continue;
    // <prefix>-<pid>-<n>.<kind>
    const size_t dash = name.find('-', head.size());
    if (dash == std::string::npos) continue;
    const std::string pid = name.substr(head.size(), dash - head.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const long n = std::strtol(pid.c_str(), nullptr, 10);
    if (n <= 0 || n == ::getpid() || ::kill(static_cast<pid_t>(n), 0) == 0 || errno != ESRCH) {
      continue;
    }
    std::error_code ignored;
    fs::remove(entry.path(), ignored);
  }
}

fs::path DiskIndexBuilder::NewPath(std::string_view kind) {
  return dir_ / (prefix_ + "-" + std::to_string(::getpid()) + "-" + std::to_string(g_files++) +
                 "." + std::string(kind));
}

Status DiskIndexBuilder::Add(std::string_view key, std::string_view value) {
  if (key.size() > UINT32_MAX || value.size() > UINT32_MAX) {
    return Status::InvalidInput("index: an entry of over 4 GiB");
  }
  const size_t need = arena_.size() + key.size() + value.size();
  if (need > arena_.capacity() && need >= memory_bytes_ / 4) {
    // Past a quarter of the budget, the arena takes the whole budget at once: doubling would
    // copy it into one twice its size, holding both for a moment (the peak of an export read).
    arena_.reserve(std::max(need, memory_bytes_));
  }
  refs_.push_back(Ref{arena_.size(), static_cast<uint32_t>(key.size()),
                      static_cast<uint32_t>(value.size())});
  arena_.append(key);
  arena_.append(value);
  if (arena_.size() + refs_.size() * sizeof(Ref) >= memory_bytes_) return WriteRun();
  return Status::Ok();
}

void DiskIndexBuilder::SortRefs() {
  std::stable_sort(refs_.begin(), refs_.end(),
                   [this](const Ref& a, const Ref& b) { return KeyOf(a) < KeyOf(b); });
}

Status DiskIndexBuilder::WriteRun() {
  SortRefs();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Status::IoError("index: cannot create '" + dir_.string() + "': " + ec.message());
  runs_.push_back(NewPath("run"));
  FileOut out;
  RECONCILE_RETURN_IF_ERROR(out.Open(runs_.back()));
  for (const Ref& r : refs_) RECONCILE_RETURN_IF_ERROR(out.Entry(KeyOf(r), ValueOf(r)));
  RECONCILE_RETURN_IF_ERROR(out.Close());
  // The room stays for the next run; Finish gives it back.
  arena_.clear();
  refs_.clear();
  return Status::Ok();
}

Result<std::unique_ptr<DiskIndex>> DiskIndexBuilder::Finish(const DuplicateFn& duplicate) {
  std::unique_ptr<DiskIndex> index(new DiskIndex());
  if (runs_.empty()) {
    // All in memory: sorted, the first of each key kept.
    SortRefs();
    std::vector<Ref> kept;
    kept.reserve(refs_.size());
    for (const Ref& r : refs_) {
      if (!kept.empty() && KeyOf(kept.back()) == KeyOf(r)) {
        RECONCILE_RETURN_IF_ERROR(duplicate(KeyOf(r), ValueOf(kept.back()), ValueOf(r)));
        continue;
      }
      kept.push_back(r);
    }
    index->size_ = kept.size();
    index->arena_ = std::move(arena_);
    index->refs_ = std::move(kept);
    arena_.clear();
    refs_.clear();
    return index;
  }
  if (!refs_.empty()) RECONCILE_RETURN_IF_ERROR(WriteRun());
  arena_ = std::string();
  refs_ = std::vector<Ref>();

  // Merge the runs: on equal keys the earlier run (added earlier) comes first.
  std::vector<std::unique_ptr<RunIn>> ins;
  for (const fs::path& run : runs_) {
    ins.push_back(std::make_unique<RunIn>());
    RECONCILE_RETURN_IF_ERROR(ins.back()->Open(run));
  }
  auto later = [&](size_t a, size_t b) {
    const int c = ins[a]->key().compare(ins[b]->key());
    return c != 0 ? c > 0 : a > b;
  };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
  for (size_t i = 0; i < ins.size(); ++i) {
    Result<bool> got = ins[i]->Next();
    if (!got.ok()) return got.status();
    if (*got) heap.push(i);
  }
  index->path_ = NewPath("index");
  FileOut out;
  RECONCILE_RETURN_IF_ERROR(out.Open(index->path_));
  std::string last_key;
  std::string last_value;
  bool any = false;
  uint64_t block_start = 0;
  while (!heap.empty()) {
    const size_t i = heap.top();
    heap.pop();
    RunIn& in = *ins[i];
    if (any && in.key() == last_key) {
      RECONCILE_RETURN_IF_ERROR(duplicate(in.key(), last_value, in.value()));
    } else {
      const uint64_t at = out.offset();
      if (index->blocks_.empty() || at - block_start >= kBlockBytes) {
        if (!index->blocks_.empty()) index->blocks_.back().size = at - block_start;
        index->blocks_.push_back(DiskIndex::Block{std::string(in.key()), at, 0, index->size_});
        block_start = at;
      }
      RECONCILE_RETURN_IF_ERROR(out.Entry(in.key(), in.value()));
      last_key.assign(in.key());
      last_value.assign(in.value());
      any = true;
      ++index->size_;
    }
    Result<bool> got = in.Next();
    if (!got.ok()) return got.status();
    if (*got) heap.push(i);
  }
  if (!index->blocks_.empty()) index->blocks_.back().size = out.offset() - block_start;
  RECONCILE_RETURN_IF_ERROR(out.Close());
  ins.clear();
  std::error_code ec;
  for (const fs::path& run : runs_) fs::remove(run, ec);
  runs_.clear();
  index->fd_ = ::open(index->path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (index->fd_ < 0) return Errno("open", index->path_);
  return index;
}

DiskIndex::~DiskIndex() {
  if (fd_ >= 0) ::close(fd_);
  if (!path_.empty()) {
    std::error_code ec;
    fs::remove(path_, ec);
  }
}

Status DiskIndex::ReadBlock(size_t block, std::string* out) const {
  const Block& b = blocks_[block];
  out->resize(b.size);
  for (size_t done = 0; done < b.size;) {
    const ssize_t n = ::pread(fd_, out->data() + done, b.size - done,
                              static_cast<off_t>(b.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read", path_);
    if (n == 0) return Status::Corruption("index: '" + path_.string() + "' is shorter than written");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<bool> DiskIndex::Find(std::string_view key, std::string* value, uint64_t* ordinal) const {
  if (!on_disk()) {
    auto it = std::lower_bound(refs_.begin(), refs_.end(), key,
                               [this](const DiskIndexBuilder::Ref& r, std::string_view k) {
                                 return std::string_view(arena_.data() + r.at, r.key_size) < k;
                               });
    if (it == refs_.end() || std::string_view(arena_.data() + it->at, it->key_size) != key) {
      return false;
    }
    value->assign(arena_.data() + it->at + it->key_size, it->value_size);
    if (ordinal != nullptr) *ordinal = static_cast<uint64_t>(it - refs_.begin());
    return true;
  }
  // The last block whose first key is at or before `key`.
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), key,
                             [](std::string_view k, const Block& b) { return k < b.first_key; });
  if (it == blocks_.begin()) return false;
  const size_t block = static_cast<size_t>(it - blocks_.begin()) - 1;
  thread_local std::string buffer;
  RECONCILE_RETURN_IF_ERROR(ReadBlock(block, &buffer));
  std::string_view rest = buffer;
  std::string_view k, v;
  for (uint64_t n = blocks_[block].first_ordinal; !rest.empty(); ++n) {
    if (!TakeEntry(&rest, &k, &v)) {
      return Status::Corruption("index: a block of '" + path_.string() + "' is cut short");
    }
    if (k < key) continue;
    if (k != key) return false;
    value->assign(v);
    if (ordinal != nullptr) *ordinal = n;
    return true;
  }
  return false;
}

DiskIndex::Cursor::Cursor(const DiskIndex& index) : index_(index) {}

Result<bool> DiskIndex::Cursor::Next() {
  if (!index_.on_disk()) {
    if (next_ >= index_.refs_.size()) return false;
    const DiskIndexBuilder::Ref& r = index_.refs_[next_];
    key_ = std::string_view(index_.arena_.data() + r.at, r.key_size);
    value_ = std::string_view(index_.arena_.data() + r.at + r.key_size, r.value_size);
    ordinal_ = next_++;
    return true;
  }
  while (rest_.empty()) {
    if (block_ >= index_.blocks_.size()) return false;
    RECONCILE_RETURN_IF_ERROR(index_.ReadBlock(block_++, &buffer_));
    rest_ = buffer_;
  }
  if (!TakeEntry(&rest_, &key_, &value_)) {
    return Status::Corruption("index: a block of '" + index_.path_.string() + "' is cut short");
  }
  ordinal_ = next_++;
  return true;
}

}  // namespace reconcile::iothub
