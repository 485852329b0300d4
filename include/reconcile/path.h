// reconcile/path.h — paths: the object keys from a record's root to a node.
//
// The root path is empty. Arrays are atomic values: no path goes inside an array.
// A Path is held as one string, the segments joined by kPathSeparator (0x01), which twin keys can
// never contain; this makes an ancestor sort directly before its subtree and a subtree contiguous.
//
// Twin key rules (IoT Hub): a segment is 1 to 1024 bytes of UTF-8, with no control characters and
// none of '.', '$' or ' '; a path is at most 10 segments deep. Paths of application metadata allow
// '.', '$' and ' ' and may be up to 32 deep. Validation returns kInvalidInput naming the segment.
//
// Thread safety: value type.
#ifndef RECONCILE_PATH_H_
#define RECONCILE_PATH_H_

#include <compare>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/status.h"

namespace reconcile {

constexpr char kPathSeparator = '\x01';
constexpr size_t kMaxTwinDepth = 10;
constexpr size_t kMaxRecordDepth = kMaxTwinDepth + 2;
constexpr size_t kMaxMetaDepth = 32;
constexpr size_t kMaxKeyBytes = 1024;

enum class PathRules {
  kTwin,  // IoT Hub's twin key rules
  kMeta,  // application metadata: no control characters only
};

class Path {
 public:
  // The root.
  Path() = default;

  static Result<Path> FromSegments(const std::vector<std::string>& segments,
                                   PathRules rules = PathRules::kTwin);
  // Parses "a/b/c" (the human form used in policy tables and reports; "" is the root).
  static Result<Path> Parse(std::string_view slashed, PathRules rules = PathRules::kTwin);
  // Adopts an already-joined string without checks. REQUIRES: it came from joined() of a Path.
  static Path FromJoined(std::string joined) { Path p; p.joined_ = std::move(joined); return p; }

  bool is_root() const { return joined_.empty(); }
  size_t depth() const;
  std::vector<std::string> segments() const;
  // The last segment. REQUIRES: !is_root().
  std::string_view last() const;
  // REQUIRES: !is_root().
  Path parent() const;
  // A child path; the segment is not validated here (see ValidateSegment).
  Path Child(std::string_view segment) const;

  // True when this path equals `other` or lies below it.
  bool IsWithin(const Path& other) const { return IsWithin(joined_, other.joined_); }
  static bool IsWithin(std::string_view path, std::string_view ancestor);

  const std::string& joined() const { return joined_; }
  // "a/b/c"; the root is "".
  std::string ToString() const;

  friend auto operator<=>(const Path&, const Path&) = default;
  friend bool operator==(const Path&, const Path&) = default;

 private:
  std::string joined_;
};

Status ValidateSegment(std::string_view segment, PathRules rules);

}  // namespace reconcile

#endif  // RECONCILE_PATH_H_
