// Internal: the lines two exports do not share, so that a 3-way read parses only changed records.
//
// Thread safety: a pure function of its files (it reads the two on two threads).
#ifndef RECONCILE_LIB_FAILBACK_CHANGED_LINES_H_
#define RECONCILE_LIB_FAILBACK_CHANGED_LINES_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "reconcile/status.h"

namespace reconcile::failback {

// What ChangedLines found in `after`: its JSON lines that `before` lacks, and those it holds.
struct ChangedLineCounts {
  uint64_t changed = 0;
  uint64_t unchanged = 0;
};

// Writes `before` to `out_before` with every JSON line that `after` also holds (byte for byte)
// made empty, and `after` to `out_after` the same way against `before`: each output has its
// input's lines at their line numbers, so a reader's rejects (LineReaderOptions::shown_as) name
// the input's file and line. Reading the two outputs 3-way (ReadExportWithBase(out_after,
// out_before)) gives the same deltas as reading the two inputs, since an identical line is an
// unchanged record, while only changed records are parsed. A JSON line is one whose first byte
// after blanks (space, tab) is '{'; other lines are kept as they are, for the reader to skip or
// reject. Lines are compared and written without their CR. Each output is written through
// "<path>.tmp" and a rename. *counts (if not null) tells `after`'s JSON lines apart.
//
// Each input is read once from start to end (the two at once), keeping 32 bytes a line (a
// 128-bit hash and the line's offset), then the lines kept are read again by offset. A line that
// reads differently the second time (the file changed) is kIoError. A bad line that both files
// hold is made empty in both: it gives no delta either way, and it is not reported again.
// `buffer_bytes` is the read buffer (it grows for a longer line); tests pass small ones.
Status ChangedLines(const std::string& before, const std::string& after,
                    const std::string& out_before, const std::string& out_after,
                    ChangedLineCounts* counts, size_t buffer_bytes = size_t{4} << 20);

}  // namespace reconcile::failback

#endif  // RECONCILE_LIB_FAILBACK_CHANGED_LINES_H_
