// reconcile/status.h — errors as values.
//
// A Status is either OK or a code from a closed set plus a message. Result<T> carries a value or a
// non-OK Status. No function of the public API throws; every failure comes back as one of these.
//
// Thread safety: Status and Result are values; distinct objects may be used from distinct threads
// without synchronization, a shared const object may be read from many threads.
//
// Invariants: an OK Status has an empty message; a Result holds a value iff its status is OK.
#ifndef RECONCILE_STATUS_H_
#define RECONCILE_STATUS_H_

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace reconcile {

// The closed set of error codes. The numeric values are stable (they appear in logs).
enum class Code : int {
  kOk = 0,
  kNotFound = 1,      // the key, store, file or record does not exist
  kInvalidInput = 2,  // malformed or out-of-range input (bad JSON, bad id, bad path, ...)
  kCorruption = 3,    // stored bytes fail to decode or fail a checksum
  kConflict = 4,      // a precondition on state failed (locked store, ETag mismatch, horizon)
  kIoError = 5,       // the file system or RocksDB reported an I/O failure
  kUnsupported = 6,   // a format version or feature this build does not know
  kInternal = 7,      // a broken invariant inside reconcile (a bug: please report)
};

// Returns the lower-case name of a code, e.g. "invalid input".
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  // Success. Costs nothing.
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status InvalidInput(std::string msg) { return {Code::kInvalidInput, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status Conflict(std::string msg) { return {Code::kConflict, std::move(msg)}; }
  static Status IoError(std::string msg) { return {Code::kIoError, std::move(msg)}; }
  static Status Unsupported(std::string msg) { return {Code::kUnsupported, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidInput() const { return code_ == Code::kInvalidInput; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsConflict() const { return code_ == Code::kConflict; }

  // "ok", or "<code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` and ": ".
  Status WithContext(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value of type T, or the Status that explains why there is none.
// REQUIRES: constructing from a Status only with a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(data_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  // The error; an OK Status when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(data_); }

  // REQUIRES: ok().
  T& value() & { assert(ok()); return std::get<T>(data_); }
  const T& value() const& { assert(ok()); return std::get<T>(data_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace reconcile

// Returns the status of `expr` from the enclosing function when it is not OK.
#define RECONCILE_RETURN_IF_ERROR(expr)        \
  do {                                         \
    ::reconcile::Status _rc_status = (expr);   \
    if (!_rc_status.ok()) return _rc_status;   \
  } while (0)

#endif  // RECONCILE_STATUS_H_
