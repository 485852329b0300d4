// Internal: the fast reader of one ExportImportDevice line. It parses the line with simdjson (a
// validating parser that builds no tree of allocated nodes) and writes the line's full-write delta
// straight from the parsed bytes: the delta ParseExportDevice + FullWriteDelta make, byte for byte,
// at a fraction of their cost (docs/DECISIONS.md P1).
//
// It is an accelerator, not a second definition of the format: it reads only lines it can read
// exactly as the exact path does, and declines every other line (anything invalid, a line with a
// backslash escape, a negative zero, an array holding objects, a '$' key outside the metadata, ...).
// The caller then runs the exact path, which gives the same delta or the reason the line is
// rejected. A differential test holds the two paths to the same bytes.
#ifndef RECONCILE_LIB_IOTHUB_EXPORT_LINE_H_
#define RECONCILE_LIB_IOTHUB_EXPORT_LINE_H_

#include <memory>
#include <optional>
#include <string_view>

#include "reconcile/key.h"
#include "reconcile/record.h"
#include "reconcile/stamp.h"

namespace reconcile::iothub {

// One per thread: it keeps the parser's buffers between lines.
class ExportLineReader {
 public:
  ExportLineReader();
  ~ExportLineReader();
  ExportLineReader(const ExportLineReader&) = delete;
  ExportLineReader& operator=(const ExportLineReader&) = delete;

  // The full-write delta of `line` at `stamp` (FullWriteDelta's `keys_excluded`). True with *key
  // and *delta set when the line was read; false (the outputs unspecified) when the caller must
  // use the exact path.
  bool FullWrite(std::string_view line, const Stamp& stamp, bool keys_excluded,
                 std::optional<Key>* key, RecordState* delta);

  // The key the line's id and moduleId members make, parsing nothing else: false (*key
  // unspecified) when they make none. A hint only: FullWrite or the exact path decide whether
  // the line is a record at all.
  bool KeyOf(std::string_view line, std::optional<Key>* key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reconcile::iothub

#endif  // RECONCILE_LIB_IOTHUB_EXPORT_LINE_H_
