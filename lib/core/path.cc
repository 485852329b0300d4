#include "reconcile/path.h"

#include "lib/core/utf8.h"

namespace reconcile {

Status ValidateSegment(std::string_view segment, PathRules rules) {
  if (segment.empty()) return Status::InvalidInput("empty key in path");
  if (segment.size() > kMaxKeyBytes) {
    return Status::InvalidInput("key '" + std::string(segment.substr(0, 32)) +
                                "...' is longer than 1024 bytes");
  }
  if (!internal::IsValidUtf8(segment)) {
    return Status::InvalidInput("key '" + std::string(segment.substr(0, 64)) +
                                "' is not valid UTF-8");
  }
  for (char ch : segment) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidInput("key '" + std::string(segment.substr(0, 64)) +
                                  "' has a control character");
    }
    if (rules == PathRules::kTwin && (c == '.' || c == '$' || c == ' ')) {
      return Status::InvalidInput("twin key '" + std::string(segment.substr(0, 64)) +
                                  "' has '" + std::string(1, ch) +
                                  "' (twin keys may not contain '.', '$' or ' ')");
    }
  }
  return Status::Ok();
}

namespace {

size_t MaxDepth(PathRules rules) {
  return rules == PathRules::kTwin ? kMaxRecordDepth : kMaxMetaDepth;
}

}  // namespace

Result<Path> Path::FromSegments(const std::vector<std::string>& segments, PathRules rules) {
  if (segments.size() > MaxDepth(rules)) {
    return Status::InvalidInput("path is " + std::to_string(segments.size()) +
                                " levels deep (at most " + std::to_string(MaxDepth(rules)) + ")");
  }
  Path p;
  for (const std::string& s : segments) {
    RECONCILE_RETURN_IF_ERROR(ValidateSegment(s, rules));
    p = p.Child(s);
  }
  return p;
}

Result<Path> Path::Parse(std::string_view slashed, PathRules rules) {
  std::vector<std::string> segments;
  if (!slashed.empty()) {
    size_t start = 0;
    while (true) {
      size_t slash = slashed.find('/', start);
      segments.emplace_back(slashed.substr(start, slash - start));
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
  }
  return FromSegments(segments, rules);
}

size_t Path::depth() const {
  if (joined_.empty()) return 0;
  size_t n = 1;
  for (char c : joined_) n += (c == kPathSeparator);
  return n;
}

std::vector<std::string> Path::segments() const {
  std::vector<std::string> out;
  if (joined_.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t sep = joined_.find(kPathSeparator, start);
    out.push_back(joined_.substr(start, sep - start));
    if (sep == std::string::npos) break;
    start = sep + 1;
  }
  return out;
}

std::string_view Path::last() const {
  size_t sep = joined_.rfind(kPathSeparator);
  return sep == std::string::npos ? std::string_view(joined_)
                                  : std::string_view(joined_).substr(sep + 1);
}

Path Path::parent() const {
  size_t sep = joined_.rfind(kPathSeparator);
  return sep == std::string::npos ? Path() : FromJoined(joined_.substr(0, sep));
}

Path Path::Child(std::string_view segment) const {
  Path p;
  p.joined_.reserve(joined_.size() + 1 + segment.size());
  p.joined_ = joined_;
  if (!joined_.empty()) p.joined_.push_back(kPathSeparator);
  p.joined_ += segment;
  return p;
}

bool Path::IsWithin(std::string_view path, std::string_view ancestor) {
  if (ancestor.empty()) return true;
  if (path.size() < ancestor.size() || path.compare(0, ancestor.size(), ancestor) != 0) {
    return false;
  }
  return path.size() == ancestor.size() || path[ancestor.size()] == kPathSeparator;
}

std::string Path::ToString() const {
  std::string out = joined_;
  for (char& c : out) {
    if (c == kPathSeparator) c = '/';
  }
  return out;
}

}  // namespace reconcile
