// Internal: finding the members of canonical JSON text (CanonicalJson's bytes) without parsing it.
// Canonical text has no whitespace and a string holds '"' only escaped, so a value ends at the
// first ',', '}' or ']' outside strings and brackets; a member's text is the canonical text of its
// value. The plan (P4) and the verify step (P8) read records this way.
//
// These walk text that is canonical; on other text they may fail (return kBad or false) but never
// read outside it.
#ifndef RECONCILE_LIB_CORE_CANONICAL_TEXT_H_
#define RECONCILE_LIB_CORE_CANONICAL_TEXT_H_

#include <cstddef>
#include <string_view>

namespace reconcile::internal {

inline constexpr size_t kBadText = std::string_view::npos;

// The end of the JSON value starting at text[i], or kBadText.
inline size_t SkipValue(std::string_view text, size_t i) {
  if (i >= text.size()) return kBadText;
  const char c = text[i];
  if (c == '"') {
    for (++i; i < text.size(); ++i) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '"') {
        return i + 1;
      }
    }
    return kBadText;
  }
  if (c == '{' || c == '[') {
    int depth = 0;
    while (i < text.size()) {
      const char d = text[i];
      if (d == '"') {
        i = SkipValue(text, i);
        if (i == kBadText) return kBadText;
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if ((d == '}' || d == ']') && --depth == 0) {
        return i + 1;
      }
      ++i;
    }
    return kBadText;
  }
  while (i < text.size() && text[i] != ',' && text[i] != '}' && text[i] != ']') ++i;
  return i;
}

// Calls fn(name as written, value text) for each member of the object `text` until fn returns
// false; false when fn did or the text is not an object.
template <typename Fn>
bool ForEachMember(std::string_view text, Fn&& fn) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return false;
  size_t i = 1;
  if (text[i] == '}') return i + 1 == text.size();
  while (true) {
    if (i >= text.size() || text[i] != '"') return false;
    const size_t name_end = SkipValue(text, i);
    if (name_end == kBadText || name_end >= text.size() || text[name_end] != ':') return false;
    const size_t from = name_end + 1;
    const size_t to = SkipValue(text, from);
    if (to == kBadText || to >= text.size() || to == from) return false;
    if (!fn(text.substr(i + 1, name_end - i - 2), text.substr(from, to - from))) return false;
    if (text[to] == '}') return to + 1 == text.size();
    if (text[to] != ',') return false;
    i = to + 1;
  }
}

// The same for the items of the array `text`: fn(item text).
template <typename Fn>
bool ForEachItem(std::string_view text, Fn&& fn) {
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') return false;
  size_t i = 1;
  if (text[i] == ']') return i + 1 == text.size();
  while (true) {
    const size_t to = SkipValue(text, i);
    if (to == kBadText || to >= text.size() || to == i) return false;
    if (!fn(text.substr(i, to - i))) return false;
    if (text[to] == ']') return to + 1 == text.size();
    if (text[to] != ',') return false;
    i = to + 1;
  }
}

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_CANONICAL_TEXT_H_
