// Internal: small file helpers of the failback layer — crash-safe whole-file writes, copies,
// line counts — and the deterministic generators the simulated hub uses for ETags and keys.
#ifndef RECONCILE_LIB_FAILBACK_FILES_H_
#define RECONCILE_LIB_FAILBACK_FILES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "reconcile/status.h"

namespace reconcile::failback {

// Writes `content` to `path` through "<path>.tmp" and a rename, so a crash leaves either the old
// file or the new one, never a torn one. kIoError on failure.
Status WriteFileAtomic(const std::string& path, std::string_view content);

// Reads a whole file. kNotFound when missing, kIoError when unreadable.
Result<std::string> ReadFile(const std::string& path);

// Copies `from` to `to` crash-safely (temporary file and rename).
Status CopyFileAtomic(const std::string& from, const std::string& to);

// Lines of a file that start (after blanks) with '{': the lines an import job or reader handles.
Result<uint64_t> CountJsonLines(const std::string& path);

// Creates `dir` and its parents. kIoError on failure.
Status MakeDirs(const std::string& dir);

// Removes `path` recursively (no error when missing).
Status RemoveAll(const std::string& path);

bool Exists(const std::string& path);

// Where `needle` first occurs in `text` at or after `from` (npos: nowhere). glibc's memmem: JSON
// text is full of the quote most needles start with, which slows string_view::find's
// first-byte search down to a compare at nearly every quote.
size_t FindText(std::string_view text, std::string_view needle, size_t from = 0);

// The key of an ExportImportDevice line read from its text without parsing it: the values of
// "id" and "moduleId" (empty for a device). False when the text does not hold them plainly
// (escapes, odd spacing): callers then parse the line.
bool PeekIds(std::string_view line, std::string* device_id, std::string* module_id);

// Standard base64 (with padding) of `bytes`.
std::string Base64(std::string_view bytes);

// splitmix64: a stateless mixer for deterministic pseudo-random values.
uint64_t SplitMix64(uint64_t x);

}  // namespace reconcile::failback

#endif  // RECONCILE_LIB_FAILBACK_FILES_H_
