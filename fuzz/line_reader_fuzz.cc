// Fuzz target: LineReader, against a model written from its header's rules.
//
// Input: byte 0 picks max_line_bytes (1..64), byte 1 the buffer size (1..32); the rest is the file.
// The same file is also read from a file with the default line limit (as mergetool reads its
// inputs; a 4 KiB buffer).
// Invariants: for both option sets, what Next returns and rejects is exactly what the model says
// (line numbers, offsets, text without line ending or BOM, blank/skipped/too-long/NUL/bad-UTF-8
// classes, counts, bytes), UTF-8 is judged as an independent validator judges it,
// ReadLineAt(offset) gives each returned line again, and Rewind reads the same lines again.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"

namespace reconcile::fuzz {
namespace {

// Well-formed UTF-8 as Unicode's table 3-7 lists it; *bad is the start of the first ill-formed
// sequence.
bool ReferenceUtf8(std::string_view s, size_t* bad) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = b[i];
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c <= 0x7F) {
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = 3;
    } else if (c == 0xED) {
      len = 3, hi = 0x9F;
    } else if (c == 0xF0) {
      len = 4, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4, hi = 0x8F;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const unsigned char lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
      ok = b[i + k] >= lo_k && b[i + k] <= hi_k;
    }
    if (!ok) {
      *bad = i;
      return false;
    }
    i += len;
  }
  return true;
}

struct Expected {
  std::vector<Line> returned;  // text points into the input
  std::vector<std::pair<uint64_t, RejectReason>> rejects;
  LineStats stats;
};

Expected Model(std::string_view data, size_t max_line_bytes) {
  Expected e;
  size_t pos = 0;
  uint64_t number = 0;
  while (pos < data.size()) {
    const size_t nl = data.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? data.size() : nl;
    std::string_view text = data.substr(pos, end - pos);
    ++number;
    ++e.stats.lines;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.size() > max_line_bytes) {
      ++e.stats.rejected;
      e.rejects.emplace_back(number, RejectReason::kLineTooLong);
    } else {
      if (pos == 0 && text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
      const size_t first = text.find_first_not_of(" \t");
      size_t bad = 0;
      if (first == std::string_view::npos) {
        ++e.stats.blank;
      } else if (text.find('\0') != std::string_view::npos) {
        ++e.stats.rejected;
        e.rejects.emplace_back(number, RejectReason::kBinaryData);
      } else if (!ReferenceUtf8(text, &bad)) {
        ++e.stats.rejected;
        e.rejects.emplace_back(number, RejectReason::kInvalidUtf8);
      } else if (text[first] != '{') {
        ++e.stats.skipped;
      } else {
        ++e.stats.returned;
        e.returned.push_back(Line{number, pos, text});
      }
    }
    pos = nl == std::string_view::npos ? data.size() : nl + 1;
  }
  e.stats.bytes = data.size();
  return e;
}

bool SameStats(const LineStats& a, const LineStats& b) {
  return a.lines == b.lines && a.blank == b.blank && a.skipped == b.skipped &&
         a.rejected == b.rejected && a.returned == b.returned && a.bytes == b.bytes;
}

std::string Show(const LineStats& s) {
  return "lines=" + std::to_string(s.lines) + " blank=" + std::to_string(s.blank) +
         " skipped=" + std::to_string(s.skipped) + " rejected=" + std::to_string(s.rejected) +
         " returned=" + std::to_string(s.returned) + " bytes=" + std::to_string(s.bytes);
}

// Reads everything and compares it with the model; returns the texts read.
std::vector<std::string> ReadAndCompare(LineReader& reader, const Expected& want,
                                        std::string_view data) {
  KeepingRejects rejects;
  std::vector<std::string> texts;
  Line line;
  size_t i = 0;
  while (true) {
    Result<bool> got = reader.Next(&line, &rejects);
    FUZZ_CHECK(got.ok(), got.status().ToString());
    if (!*got) break;
    FUZZ_CHECK(i < want.returned.size(),
               "a line the model does not return: " + std::to_string(line.number));
    const Line& w = want.returned[i++];
    FUZZ_CHECK(line.number == w.number && line.offset == w.offset && line.text == w.text,
               "line " + std::to_string(line.number) + " at " + std::to_string(line.offset) +
                   " differs from the model's line " + std::to_string(w.number) + " at " +
                   std::to_string(w.offset));
    texts.emplace_back(line.text);
  }
  FUZZ_CHECK(i == want.returned.size(), "the reader missed lines the model returns");
  FUZZ_CHECK(rejects.kept.size() == want.rejects.size(), "other rejects than the model's");
  for (size_t k = 0; k < want.rejects.size(); ++k) {
    const Reject& r = rejects.kept[k].reject;
    FUZZ_CHECK(r.line == want.rejects[k].first && r.reason == want.rejects[k].second &&
                   r.file == reader.name(),
               "reject " + r.ToString() + " differs from the model's line " +
                   std::to_string(want.rejects[k].first));
    if (r.reason == RejectReason::kLineTooLong) {
      FUZZ_CHECK(rejects.kept[k].raw.empty(), "a too-long line was kept");
    } else if (r.reason == RejectReason::kBinaryData) {
      const std::string& raw = rejects.kept[k].raw;
      FUZZ_CHECK(r.detail.starts_with("NUL byte at byte " + std::to_string(raw.find('\0')) + " "),
                 r.ToString());
    } else {
      // The raw line of a bad UTF-8 reject is the line, and the detail names the first bad byte.
      size_t bad = 0;
      const std::string& raw = rejects.kept[k].raw;
      FUZZ_CHECK(!ReferenceUtf8(raw, &bad), "a valid UTF-8 line rejected as invalid");
      FUZZ_CHECK(r.detail.ends_with(" " + std::to_string(bad)), r.ToString());
      size_t reader_bad = 0;
      FUZZ_CHECK(!IsValidUtf8(raw, &reader_bad) && reader_bad == bad, r.ToString());
      FUZZ_CHECK(data.find(raw) != std::string_view::npos, "a raw line not in the file");
    }
  }
  return texts;
}

void Check(std::unique_ptr<LineReader> reader, std::string_view data) {
  const Expected want = Model(data, reader->options().max_line_bytes);
  const std::vector<std::string> first = ReadAndCompare(*reader, want, data);
  FUZZ_CHECK(SameStats(reader->stats(), want.stats),
             "stats " + Show(reader->stats()) + ", model " + Show(want.stats));
  std::string again;
  for (const Line& w : want.returned) {
    Status s = reader->ReadLineAt(w.offset, &again);
    FUZZ_CHECK(s.ok() && again == w.text, "ReadLineAt(" + std::to_string(w.offset) + ") differs");
  }
  Status rewound = reader->Rewind();
  FUZZ_CHECK(rewound.ok(), rewound.ToString());
  FUZZ_CHECK(ReadAndCompare(*reader, want, data) == first, "Rewind read other lines");
  FUZZ_CHECK(reader->stats().lines == 2 * want.stats.lines, "Rewind lost the statistics");
}

}  // namespace
}  // namespace reconcile::fuzz

RECONCILE_FUZZ_TARGET(input) {
  if (input.size() < 2) return;
  LineReaderOptions small;
  small.max_line_bytes = 1 + static_cast<uint8_t>(input[0]) % 64;
  small.buffer_bytes = 1 + static_cast<uint8_t>(input[1]) % 32;
  const std::string text(input.substr(2));
  Check(LineReader::FromString("small", text, small), text);
  const MemFile file(text);
  Check(file.Open(ReaderOptions()), text);
}
