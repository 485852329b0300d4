// reconcile/line_reader.h — a streaming reader of JSON Lines as IoT Hub and its consumers write
// them.
//
// Reads one line at a time through a fixed buffer: memory is bounded by the buffer plus the longest
// line kept (at most max_line_bytes), whatever the file size. Per line, in this order:
//   - a line longer than max_line_bytes is consumed without being kept and rejected
//     (kLineTooLong); the reader goes on with the next line;
//   - the line ending is LF or CRLF (a CR before the LF is dropped); the last line may lack one;
//   - a UTF-8 byte order mark at the start of the file is dropped;
//   - a line that is empty or only spaces/tabs is blank: counted, skipped;
//   - a line holding a NUL byte is rejected (kBinaryData): binary, compressed or UTF-16 input;
//   - a line that is not well-formed UTF-8 is rejected (kInvalidUtf8);
//   - a line whose first non-blank byte is not '{' is skipped and counted (the hub may write a
//     comment or warning line first; reject files written by FileRejectSink have '#' headers);
//   - anything else is returned: a candidate JSON object, for the caller to parse.
// Line numbers are 1-based and count every line, blank and skipped ones included.
//
// Each returned line also carries its byte offset, so a caller that indexed a file can read one
// line again later (ReadLineAt) without keeping it in memory.
//
// Thread safety: a LineReader is not synchronized; use one per thread. Not copyable.
#ifndef RECONCILE_LINE_READER_H_
#define RECONCILE_LINE_READER_H_

#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <string>
#include <string_view>

#include "reconcile/reject.h"
#include "reconcile/status.h"

namespace reconcile {

struct LineReaderOptions {
  // Longest line kept, in bytes without the line ending. Default 16 MiB. Longer lines are
  // rejected with kLineTooLong. REQUIRES: > 0.
  size_t max_line_bytes = size_t{16} << 20;
  // Size of the read buffer. Default 256 KiB. REQUIRES: > 0.
  size_t buffer_bytes = size_t{256} << 10;
  // The file rejects name (Reject::file), when not the one read: a file that holds some of
  // another file's lines at their line numbers (the failback's changed lines) names that file.
  std::string shown_as;
};

// One line returned by LineReader::Next. `text` points into the reader and stays valid until the
// next call to Next or ReadLineAt.
struct Line {
  uint64_t number = 0;    // 1-based
  uint64_t offset = 0;    // byte offset of the line's first byte in the input (BOM included)
  std::string_view text;  // without line ending and BOM
};

struct LineStats {
  uint64_t lines = 0;     // every line seen
  uint64_t blank = 0;     // empty or whitespace-only
  uint64_t skipped = 0;   // first non-blank byte not '{'
  uint64_t rejected = 0;  // too long, NUL bytes or invalid UTF-8 (rejected by the reader)
  uint64_t returned = 0;  // handed to the caller
  uint64_t bytes = 0;     // bytes consumed
};

class LineReader {
 public:
  // Opens a file. kNotFound when it does not exist, kIoError when it cannot be read.
  static Result<std::unique_ptr<LineReader>> Open(const std::string& path,
                                                  LineReaderOptions options = {});
  // Reads from a string (tests, small inputs). `name` names it in rejects.
  static std::unique_ptr<LineReader> FromString(std::string name, std::string content,
                                                LineReaderOptions options = {});

  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Reads the next candidate line into *line. Returns true when one was read, false at the end of
  // the input. Lines the reader rejects go to `rejects` (may be null: they are only counted).
  // Returns kIoError on a read error, or the sink's error when the sink fails.
  Result<bool> Next(Line* line, RejectSink* rejects);

  // Reads the line that starts at `offset` (a Line::offset this reader returned) again, with the
  // same CR/BOM handling, into *out. Does not disturb Next. kIoError when it cannot be read,
  // kInvalidInput when the line is now longer than max_line_bytes (the file changed).
  Status ReadLineAt(uint64_t offset, std::string* out);

  // Restarts reading from the beginning (statistics are kept and go on counting).
  Status Rewind();

  // A new reader of the same input with its own streams and the same options, at the beginning:
  // another thread may read lines again by offset (ReadLineAt) on it beside this reader.
  std::unique_ptr<LineReader> Reopen() const;

  const std::string& name() const { return name_; }
  // The file its rejects name: options.shown_as, else name().
  const std::string& shown_as() const {
    return options_.shown_as.empty() ? name_ : options_.shown_as;
  }
  const LineStats& stats() const { return stats_; }
  const LineReaderOptions& options() const { return options_; }

 private:
  using Opener = std::function<std::unique_ptr<std::istream>()>;
  LineReader(std::string name, Opener opener, LineReaderOptions options);
  // Reads raw bytes up to LF into line_. Returns false at EOF with nothing read.
  Result<bool> ReadRaw(std::istream& in, std::string* out, bool* too_long, uint64_t* consumed);

  std::string name_;
  Opener opener_;
  LineReaderOptions options_;
  std::unique_ptr<std::istream> in_;
  std::unique_ptr<std::istream> random_in_;  // for ReadLineAt, opened on first use
  std::string buffer_;
  size_t buffer_pos_ = 0;
  size_t buffer_end_ = 0;
  std::string line_;
  uint64_t offset_ = 0;  // offset of the next unread byte
  uint64_t number_ = 0;
  LineStats stats_;
};

// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
// On false, *bad_offset (if not null) is the offset of the first bad byte.
bool IsValidUtf8(std::string_view text, size_t* bad_offset = nullptr);

}  // namespace reconcile

#endif  // RECONCILE_LINE_READER_H_
