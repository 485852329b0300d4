// The lines two exports do not share (changed_lines.h).
//
// Both files are read once, at the same time, into (hash, offset) per line; the hashes of `after`
// go into an open-addressing table; the lines kept are read again by offset, in order, through a
// window that moves forward (few changed lines: a read each; many: the file once more).
#include "lib/failback/changed_lines.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <future>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/core/run_beside.h"
#include "lib/store/xxhash64.h"

namespace reconcile::failback {
namespace {

// A line is known by a 128-bit hash of its bytes (two seeds of XXH64): a collision, which would
// take a changed line for an unchanged one, is out of reach at any export's size. The hashes
// stay in memory.
struct LineHash {
  uint64_t a = 0, b = 0;
  friend bool operator==(const LineHash&, const LineHash&) = default;
};

LineHash HashLine(std::string_view line) {
  return {store::XxHash64(line, 0x9e3779b97f4a7c15ULL), store::XxHash64(line, 0x2545f4914f6cdd1dULL)};
}

// A line as it is compared: without its CR. False when it is not a JSON line (its first byte
// after blanks is not '{').
bool AsJsonLine(std::string_view* line) {
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  const size_t first = line->find_first_not_of(" \t");
  return first != std::string_view::npos && (*line)[first] == '{';
}

struct Entry {
  LineHash hash;    // JSON lines only
  uint64_t offset;  // where the line starts in its file
  bool json;
};

Status IoError(const std::string& what, const std::string& path) {
  return Status::IoError(what + " '" + path + "': " + std::strerror(errno));
}

// An open file descriptor, closed at destruction.
class Fd {
 public:
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status OpenToRead(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return IoError("cannot open", path);
    return Status::Ok();
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Reads up to `size` bytes at `offset` (pread, retried on EINTR): the count read, 0 at the end.
ssize_t ReadAt(int fd, char* into, size_t size, uint64_t offset) {
  while (true) {
    const ssize_t n = ::pread(fd, into, size, static_cast<off_t>(offset));
    if (n >= 0 || errno != EINTR) return n;
  }
}

// The lines of `path` with their offsets (and the JSON lines' hashes), in order, read once from
// start to end through a buffer of `buffer_bytes` (doubled while one line does not fit).
Status ScanLines(const std::string& path, size_t buffer_bytes, std::vector<Entry>* out) {
  Fd fd;
  RECONCILE_RETURN_IF_ERROR(fd.OpenToRead(path));
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buf(buffer_bytes);
  size_t filled = 0;     // bytes in buf, from the start of the first line not yet handed out
  uint64_t offset = 0;   // the file offset of buf[0]
  auto add = [&](std::string_view line, uint64_t at) -> Status {
    if (out->size() == std::numeric_limits<uint32_t>::max()) {
      return Status::InvalidInput("'" + path + "' has more than 4,294,967,294 lines");
    }
    const bool json = AsJsonLine(&line);
    out->push_back(Entry{json ? HashLine(line) : LineHash{}, at, json});
    return Status::Ok();
  };
  while (true) {
    if (filled == buf.size()) buf.resize(buf.size() * 2);
    const ssize_t n = ReadAt(fd.get(), buf.data() + filled, buf.size() - filled, offset + filled);
    if (n < 0) return IoError("cannot read", path);
    if (n == 0) break;
    const size_t end = filled + static_cast<size_t>(n);
    size_t start = 0;
    // Lines that end in the new bytes (a line begun before them ends there first).
    size_t search = filled;
    while (const void* nl = std::memchr(buf.data() + search, '\n', end - search)) {
      const size_t stop = static_cast<const char*>(nl) - buf.data();
      RECONCILE_RETURN_IF_ERROR(add(std::string_view(buf.data() + start, stop - start), offset + start));
      start = search = stop + 1;
    }
    std::memmove(buf.data(), buf.data() + start, end - start);
    filled = end - start;
    offset += start;
  }
  if (filled > 0) RECONCILE_RETURN_IF_ERROR(add(std::string_view(buf.data(), filled), offset));
  return Status::Ok();
}

// The JSON entries of `after` by hash: an open-addressing table of entry indices, the first entry
// of each hash; First(i) is the first entry with JSON entry i's hash.
class HashIndex {
 public:
  static constexpr size_t kNone = std::numeric_limits<size_t>::max();

  explicit HashIndex(const std::vector<Entry>& entries) : entries_(entries), first_(entries.size()) {
    size_t capacity = 16;
    while (capacity < entries.size() * 2) capacity *= 2;
    slots_.assign(capacity, 0);
    mask_ = capacity - 1;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!entries[i].json) continue;
      size_t slot = entries[i].hash.a & mask_;
      while (slots_[slot] != 0 && entries_[slots_[slot] - 1].hash != entries[i].hash) {
        slot = (slot + 1) & mask_;
      }
      if (slots_[slot] == 0) slots_[slot] = static_cast<uint32_t>(i + 1);
      first_[i] = slots_[slot] - 1;
    }
  }

  size_t Find(const LineHash& hash) const {
    for (size_t slot = hash.a & mask_;; slot = (slot + 1) & mask_) {
      if (slots_[slot] == 0) return kNone;
      if (entries_[slots_[slot] - 1].hash == hash) return slots_[slot] - 1;
    }
  }
  size_t First(size_t i) const { return first_[i]; }

 private:
  const std::vector<Entry>& entries_;
  std::vector<uint32_t> first_;
  std::vector<uint32_t> slots_;  // entry index + 1; 0: empty
  size_t mask_ = 0;
};

// Lines of a file read again by their offsets, which ascend: through a window of the file that
// moves forward, refilled only when a line is not whole in it.
class LineRereader {
 public:
  LineRereader(const std::string& path, size_t buffer_bytes) : path_(path), buf_(buffer_bytes) {}

  Status Open() { return fd_.OpenToRead(path_); }

  // The line of `entry` (without its CR), checked against its hash (or, not JSON, still not JSON).
  Result<std::string_view> Line(const Entry& entry) {
    std::string_view line;
    if (!InWindow(entry.offset, &line)) {
      RECONCILE_RETURN_IF_ERROR(Refill(entry.offset));
      if (!InWindow(entry.offset, &line)) return Changed(entry.offset);
    }
    const bool json = AsJsonLine(&line);
    if (json != entry.json || (json && !(HashLine(line) == entry.hash))) {
      return Changed(entry.offset);
    }
    return line;
  }

 private:
  // True when the line at `offset` is whole in the window (its '\n' in it, or the file's end).
  bool InWindow(uint64_t offset, std::string_view* line) const {
    if (offset < window_ || offset - window_ >= size_) return false;
    const char* from = buf_.data() + (offset - window_);
    const size_t left = size_ - (offset - window_);
    const void* nl = std::memchr(from, '\n', left);
    if (nl == nullptr && !at_end_) return false;
    *line = std::string_view(from, nl ? static_cast<const char*>(nl) - from : left);
    return true;
  }

  // Makes the window start at `offset` and hold its whole line.
  Status Refill(uint64_t offset) {
    window_ = offset;
    size_ = 0;
    at_end_ = false;
    while (true) {
      if (size_ == buf_.size()) buf_.resize(buf_.size() * 2);
      const ssize_t n = ReadAt(fd_.get(), buf_.data() + size_, buf_.size() - size_, window_ + size_);
      if (n < 0) return IoError("cannot read", path_);
      if (n == 0) {
        at_end_ = true;
        return Status::Ok();
      }
      const size_t from = size_;
      size_ += static_cast<size_t>(n);
      if (std::memchr(buf_.data() + from, '\n', size_ - from) != nullptr) return Status::Ok();
    }
  }

  Status Changed(uint64_t offset) const {
    return Status::IoError("'" + path_ + "' changed while it was read (the line at byte " +
                           std::to_string(offset) + ")");
  }

  const std::string path_;
  Fd fd_;
  std::vector<char> buf_;
  uint64_t window_ = 0;  // the file offset of buf_[0]
  size_t size_ = 0;      // bytes of the file in buf_
  bool at_end_ = false;  // buf_ reaches the file's end
};

// Lines written to "<path>.tmp", renamed to `path` by Finish; removed if not finished.
class LineFileWriter {
 public:
  explicit LineFileWriter(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {}
  ~LineFileWriter() {
    if (fd_.get() >= 0) {
      fd_.reset(-1);
      ::unlink(tmp_.c_str());
    }
  }

  Status Open() {
    const int fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("cannot create", tmp_);
    fd_.reset(fd);
    return Status::Ok();
  }

  Status Add(std::string_view line) {
    pending_.append(line);
    pending_.push_back('\n');
    return pending_.size() >= kFlushBytes ? Flush() : Status::Ok();
  }

  Status Finish() {
    RECONCILE_RETURN_IF_ERROR(Flush());
    if (::close(fd_.release()) != 0) {
      const Status s = IoError("cannot write", tmp_);
      ::unlink(tmp_.c_str());
      return s;
    }
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const Status s = IoError("cannot rename '" + tmp_ + "' to", path_);
      ::unlink(tmp_.c_str());
      return s;
    }
    return Status::Ok();
  }

 private:
  static constexpr size_t kFlushBytes = size_t{1} << 20;

  Status Flush() {
    size_t done = 0;
    while (done < pending_.size()) {
      const ssize_t n = ::write(fd_.get(), pending_.data() + done, pending_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoError("cannot write", tmp_);
      done += static_cast<size_t>(n);
    }
    pending_.clear();
    return Status::Ok();
  }

  const std::string path_;
  const std::string tmp_;
  Fd fd_;
  std::string pending_;
};

// Writes a line for each of `entries`: the line itself (read again from `path`) where `keep`
// says so, else an empty one.
template <typename Keep>
Status WriteLines(const std::string& path, const std::vector<Entry>& entries, size_t buffer_bytes,
                  const std::string& to, Keep&& keep) {
  LineRereader lines(path, buffer_bytes);
  RECONCILE_RETURN_IF_ERROR(lines.Open());
  LineFileWriter out(to);
  RECONCILE_RETURN_IF_ERROR(out.Open());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!keep(i)) {
      RECONCILE_RETURN_IF_ERROR(out.Add(std::string_view()));
      continue;
    }
    Result<std::string_view> line = lines.Line(entries[i]);
    if (!line.ok()) return line.status();
    RECONCILE_RETURN_IF_ERROR(out.Add(*line));
  }
  return out.Finish();
}

}  // namespace

Status ChangedLines(const std::string& before, const std::string& after,
                    const std::string& out_before, const std::string& out_after,
                    ChangedLineCounts* counts, size_t buffer_bytes) {
  buffer_bytes = std::max<size_t>(buffer_bytes, 1);
  std::vector<Entry> before_lines, after_lines;
  std::future<Status> before_scanned =
      internal::RunBeside([&] { return ScanLines(before, buffer_bytes, &before_lines); });
  const Status after_scanned = ScanLines(after, buffer_bytes, &after_lines);
  const Status scanned = before_scanned.get();
  RECONCILE_RETURN_IF_ERROR(scanned);
  RECONCILE_RETURN_IF_ERROR(after_scanned);

  const HashIndex index(after_lines);
  std::vector<bool> in_before(after_lines.size(), false);  // by an `after` hash's first entry
  RECONCILE_RETURN_IF_ERROR(
      WriteLines(before, before_lines, buffer_bytes, out_before, [&](size_t i) {
        if (!before_lines[i].json) return true;
        const size_t at = index.Find(before_lines[i].hash);
        if (at == HashIndex::kNone) return true;
        in_before[at] = true;
        return false;
      }));
  ChangedLineCounts found;
  RECONCILE_RETURN_IF_ERROR(WriteLines(after, after_lines, buffer_bytes, out_after, [&](size_t i) {
    if (!after_lines[i].json) return true;
    const bool changed = !in_before[index.First(i)];
    ++(changed ? found.changed : found.unchanged);
    return changed;
  }));
  if (counts != nullptr) *counts = found;
  return Status::Ok();
}

}  // namespace reconcile::failback
