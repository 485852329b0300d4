// reconcile/reject.h — rejected input lines: why, where, and where they go.
//
// Every reader of a line-oriented input (bulk exports, twins, notifications, metadata, the hub's
// importErrors.log) turns a line it cannot use into a Reject: the file, the 1-based line number, a
// reason from a closed set, and a detail text. Rejects go to a RejectSink; the reader goes on with
// the next line. A reject never stops a read (only a failing sink or an I/O error does).
//
// Secrets: a Reject's detail never holds a value from an `authentication` object (device keys and
// thumbprints); readers name fields, never their contents. The raw line handed to a sink is the
// input itself; FileRejectSink redacts symmetric keys in it by default (see RejectFileOptions).
//
// Thread safety: a RejectSink is not synchronized; use one per reading thread. Reject is a value.
#ifndef RECONCILE_REJECT_H_
#define RECONCILE_REJECT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/status.h"

namespace reconcile {

// Why a line was rejected. The names (RejectReasonName) appear in reject files and reports and
// must never change; new reasons are added at the end.
enum class RejectReason : int {
  kLineTooLong = 1,           // longer than LineReaderOptions::max_line_bytes
  kInvalidUtf8 = 2,           // bytes that are not well-formed UTF-8
  kInvalidJson = 3,           // starts with '{' but does not parse as JSON
  kNotAnObject = 4,           // a JSON value where an object is required
  kMissingField = 5,          // a required field is absent or null
  kWrongType = 6,             // a field has the wrong JSON type
  kInvalidDeviceId = 7,       // IoT Hub device id rules
  kInvalidModuleId = 8,       // IoT Hub module id rules
  kInvalidEnum = 9,           // status, authentication.type, importMode: not a known value
  kStatusReasonTooLong = 10,  // statusReason longer than 128 characters
  kInvalidTwinKey = 11,       // a key in tags/properties breaks the twin key rules
  kTooDeep = 12,              // tags/desired/reported nested deeper than 10 levels
  kSectionTooLarge = 13,      // tags > 8 KB, desired or reported > 32 KB
  kStringTooLong = 14,        // a string value in tags/properties longer than 4 KB
  kInvalidTimestamp = 15,     // a timestamp that does not parse (ISO-8601, after 1970)
  kUnknownOpType = 16,        // a notification whose opType reconcile does not handle
  kUnknownHub = 17,           // a notification from a hub with no site mapping
  kInvalidMetaKey = 18,       // metadata namespace/key rules, or a bad path in its doc
  kInvalidScope = 19,         // deviceScope/parentScopes not "ms-azure-iot-edge://<id>-<gen>"
  kDuplicateRecord = 20,      // the same key twice in one export that must be unique
  kInvalidErrorCode = 21,     // importErrors.log: errorCode is not a number
  kBinaryData = 22,           // a NUL byte: binary, compressed or UTF-16 input, not JSON Lines
  kNumberOutOfRange = 23,     // an integer in tags/properties outside IoT Hub's +-2^52 range
  kClockSkew = 24,            // quarantined: a stamp too far ahead of the ingesting site's clock
};

// "line-too-long", "invalid-utf8", ... (kebab-case, stable).
std::string_view RejectReasonName(RejectReason reason);

struct Reject {
  std::string file;   // the input's name as the reader was given it
  uint64_t line = 0;  // 1-based; 0 when the reject is about the file as a whole
  RejectReason reason = RejectReason::kInvalidJson;
  std::string detail;  // human text; never contains secrets

  // "<file>:<line>: <reason>: <detail>".
  std::string ToString() const;
};

// Where rejects go.
class RejectSink {
 public:
  virtual ~RejectSink() = default;
  // Receives one reject and the raw line (without its line ending; empty when the line was not
  // kept, e.g. a line over the length limit). A non-OK status stops the reader, which returns it.
  virtual Status Add(const Reject& reject, std::string_view raw_line) = 0;
};

// Keeps rejects in memory (tests, summaries). Raw lines are not kept.
class RejectCollector final : public RejectSink {
 public:
  Status Add(const Reject& reject, std::string_view raw_line) override;
  const std::vector<Reject>& rejects() const { return rejects_; }
  // How many rejects had `reason`.
  size_t Count(RejectReason reason) const;

 private:
  std::vector<Reject> rejects_;
};

struct RejectFileOptions {
  // Replace the string values of "primaryKey" and "secondaryKey" members in raw lines with
  // "redacted". Default true: keys travel only inside import files.
  bool redact_keys = true;
};

// Writes rejects to a file. Grammar (one entry per reject):
//   entry  := header LF [raw LF]
//   header := "# reject file=" file " line=" decimal " reason=" reason-name " detail=" text
//             [" raw=omitted"]
//   raw    := the rejected line as read (keys redacted unless disabled)
// The raw line is omitted (and the header says so) when the reader did not keep it (too long).
// Reject files are themselves valid input: every raw line follows its header, and headers do not
// start with '{', so feeding the file back skips them.
class FileRejectSink final : public RejectSink {
 public:
  // Creates or truncates `path`. kIoError when it cannot be opened.
  static Result<std::unique_ptr<FileRejectSink>> Open(const std::string& path,
                                                      RejectFileOptions options = {});
  ~FileRejectSink() override;
  FileRejectSink(const FileRejectSink&) = delete;
  FileRejectSink& operator=(const FileRejectSink&) = delete;

  Status Add(const Reject& reject, std::string_view raw_line) override;
  // Flushes and closes; kIoError when a write failed. Called by the destructor if not before.
  Status Close();

  uint64_t count() const { return count_; }

 private:
  struct File;
  FileRejectSink(std::unique_ptr<File> file, RejectFileOptions options);
  std::unique_ptr<File> file_;
  RejectFileOptions options_;
  uint64_t count_ = 0;
};

// Returns `line` with the string values of "primaryKey"/"secondaryKey" members replaced by
// "redacted". Works on text that is not valid JSON too (a best-effort scan of the tokens).
std::string RedactKeysInLine(std::string_view line);

}  // namespace reconcile

#endif  // RECONCILE_REJECT_H_
