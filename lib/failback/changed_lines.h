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

// Writes the lines of `before` that `after` does not hold (byte for byte) to `out_before`, and the
// lines of `after` that `before` does not hold to `out_after`, each in its file's order, repeats
// kept. Reading the two outputs 3-way (ReadExportWithBase(out_after, out_before)) gives the same
// deltas as reading the two inputs, since an identical line is an unchanged record, while only
// changed records are parsed. Lines are compared without their CR; lines whose first byte after
// blanks (space, tab) is not '{' are dropped. *changed (if not null) is the number of lines
// written to out_after. Each output is written through "<path>.tmp" and a rename.
//
// Each input is read once from start to end (the two at once), keeping 24 bytes a line (a 128-bit
// hash and the line's offset), then the lines to write are read again by offset. A line that
// reads differently the second time (the file changed) is kIoError. `buffer_bytes` is the read
// buffer (it grows for a longer line); tests pass small ones.
Status ChangedLines(const std::string& before, const std::string& after,
                    const std::string& out_before, const std::string& out_after, uint64_t* changed,
                    size_t buffer_bytes = size_t{4} << 20);

}  // namespace reconcile::failback

#endif  // RECONCILE_LIB_FAILBACK_CHANGED_LINES_H_
