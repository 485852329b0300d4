#include "reconcile/line_reader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace reconcile {

bool IsValidUtf8(std::string_view text, size_t* bad_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    // Eight ASCII bytes at a time: nearly every byte of a hub's export is ASCII.
    while (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, s + i, 8);
      if (word & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i == n) break;
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    if (i + len > n) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        if (bad_offset) *bad_offset = i;
        return false;
      }
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (overlong || surrogate || cp > 0x10FFFF) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

LineReader::LineReader(std::string name, Opener opener, LineReaderOptions options)
    : name_(std::move(name)), opener_(std::move(opener)), options_(options) {
  if (options_.max_line_bytes == 0) options_.max_line_bytes = 1;
  if (options_.buffer_bytes == 0) options_.buffer_bytes = 1;
  buffer_.resize(options_.buffer_bytes);
  in_ = opener_();
}

LineReader::~LineReader() = default;

Result<std::unique_ptr<LineReader>> LineReader::Open(const std::string& path,
                                                     LineReaderOptions options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound("no such file: '" + path + "'");
  if (std::filesystem::is_directory(path, ec)) {
    return Status::InvalidInput("'" + path + "' is a directory");
  }
  Opener opener = [path]() -> std::unique_ptr<std::istream> {
    return std::make_unique<std::ifstream>(path, std::ios::binary);
  };
  std::unique_ptr<LineReader> reader(new LineReader(path, std::move(opener), options));
  if (!reader->in_ || !*reader->in_) return Status::IoError("cannot open '" + path + "'");
  return reader;
}

std::unique_ptr<LineReader> LineReader::FromString(std::string name, std::string content,
                                                   LineReaderOptions options) {
  auto shared = std::make_shared<const std::string>(std::move(content));
  Opener opener = [shared]() -> std::unique_ptr<std::istream> {
    return std::make_unique<std::istringstream>(*shared);
  };
  return std::unique_ptr<LineReader>(new LineReader(std::move(name), std::move(opener), options));
}

std::unique_ptr<LineReader> LineReader::Reopen() const {
  return std::unique_ptr<LineReader>(new LineReader(name_, opener_, options_));
}

Status LineReader::Rewind() {
  in_ = opener_();
  if (!in_ || !*in_) return Status::IoError("cannot reopen '" + name_ + "'");
  buffer_pos_ = buffer_end_ = 0;
  offset_ = 0;
  number_ = 0;
  return Status::Ok();
}

Result<bool> LineReader::ReadRaw(std::istream& in, std::string* out, bool* too_long,
                                 uint64_t* consumed) {
  out->clear();
  *too_long = false;
  *consumed = 0;
  bool any = false;
  // One byte of slack for the CR of a CRLF ending.
  const size_t limit = options_.max_line_bytes + 1;
  while (true) {
    if (buffer_pos_ == buffer_end_) {
      in.read(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
      std::streamsize got = in.gcount();
      if (in.bad()) return Status::IoError("read error in '" + name_ + "'");
      if (got <= 0) return any;
      buffer_pos_ = 0;
      buffer_end_ = static_cast<size_t>(got);
    }
    const char* start = buffer_.data() + buffer_pos_;
    const size_t avail = buffer_end_ - buffer_pos_;
    const void* nl = std::memchr(start, '\n', avail);
    const size_t seg = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : avail;
    any = true;
    if (!*too_long) {
      if (out->size() + seg > limit) {
        *too_long = true;
        out->clear();
        out->shrink_to_fit();
      } else {
        // A line longer than one buffer reserves the limit at once: pages are only touched as
        // the line fills them, and doubling would leave every smaller copy behind in the heap
        // (a 16 MiB limit then cost about 32 MiB of resident memory).
        if (out->size() + seg > out->capacity() && out->size() + seg > buffer_.size()) {
          out->reserve(limit);
        }
        out->append(start, seg);
      }
    }
    buffer_pos_ += seg;
    *consumed += seg;
    if (nl) {
      ++buffer_pos_;
      ++*consumed;
      return true;
    }
  }
}

Result<bool> LineReader::Next(Line* line, RejectSink* rejects) {
  while (true) {
    const uint64_t start = offset_;
    bool too_long = false;
    uint64_t consumed = 0;
    Result<bool> got = ReadRaw(*in_, &line_, &too_long, &consumed);
    if (!got.ok()) return got.status();
    if (!*got) return false;
    offset_ += consumed;
    ++number_;
    ++stats_.lines;
    stats_.bytes += consumed;
    if (!too_long && !line_.empty() && line_.back() == '\r') line_.pop_back();
    if (!too_long && line_.size() > options_.max_line_bytes) too_long = true;
    if (too_long) {
      ++stats_.rejected;
      if (rejects) {
        Reject r{shown_as(), number_, RejectReason::kLineTooLong,
                 "line is longer than " + std::to_string(options_.max_line_bytes) + " bytes"};
        RECONCILE_RETURN_IF_ERROR(rejects->Add(r, std::string_view()));
      }
      line_.clear();
      continue;
    }
    std::string_view text(line_);
    if (start == 0 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    size_t first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
      ++stats_.blank;
      continue;
    }
    // JSON text never holds a raw NUL: the input is binary, compressed or UTF-16, and a line of
    // it may not start with '{' either, so it must be rejected before the skip rule below.
    if (const void* nul = std::memchr(text.data(), '\0', text.size())) {
      ++stats_.rejected;
      if (rejects) {
        const size_t at = static_cast<size_t>(static_cast<const char*>(nul) - text.data());
        Reject r{shown_as(), number_, RejectReason::kBinaryData,
                 "NUL byte at byte " + std::to_string(at) +
                     " (binary, compressed or UTF-16 input is not JSON Lines)"};
        RECONCILE_RETURN_IF_ERROR(rejects->Add(r, text));
      }
      continue;
    }
    size_t bad = 0;
    if (!IsValidUtf8(text, &bad)) {
      ++stats_.rejected;
      if (rejects) {
        Reject r{shown_as(), number_, RejectReason::kInvalidUtf8,
                 "invalid UTF-8 at byte " + std::to_string(bad)};
        RECONCILE_RETURN_IF_ERROR(rejects->Add(r, text));
      }
      continue;
    }
    if (text[first] != '{') {
      ++stats_.skipped;
      continue;
    }
    ++stats_.returned;
    line->number = number_;
    line->offset = start;
    line->text = text;
    return true;
  }
}

Status LineReader::ReadLineAt(uint64_t offset, std::string* out) {
  if (!random_in_) random_in_ = opener_();
  if (!random_in_) return Status::IoError("cannot reopen '" + name_ + "'");
  random_in_->clear();
  random_in_->seekg(static_cast<std::streamoff>(offset));
  if (!*random_in_) return Status::IoError("cannot seek in '" + name_ + "'");
  out->clear();
  std::streambuf* buf = random_in_->rdbuf();
  while (true) {
    int c = buf->sbumpc();
    if (c == std::char_traits<char>::eof() || c == '\n') break;
    out->push_back(static_cast<char>(c));
    if (out->size() > options_.max_line_bytes + 1) {
      return Status::InvalidInput("line at offset " + std::to_string(offset) + " of '" + name_ +
                                  "' is longer than the limit (did the file change?)");
    }
  }
  if (!out->empty() && out->back() == '\r') out->pop_back();
  if (offset == 0 && out->compare(0, 3, "\xEF\xBB\xBF") == 0) out->erase(0, 3);
  return Status::Ok();
}

}  // namespace reconcile
