// reconcile/cell_text.h — the bytes of a cell's path or value, held in the cell up to a capacity.
//
// A device record is about thirty cells, each with a path of 10 to 40 bytes and a value of 1 to
// 12 (a key's text, about 46, is the long one). As std::string, most paths and some values took a
// heap block each: copying a record was some fifty allocations, and every compare of two cells
// followed two pointers. CellText<N> keeps up to N bytes inside itself and only longer text on the
// heap, so a record's cells are one block of memory that copies and compares in place.
//
// It reads as a string_view (it converts to one implicitly), compares with any text by its bytes,
// and takes assignment from any text. It is no std::string: code that needs one writes
// std::string(text) or text.str().
//
// Thread safety: a value type.
#ifndef RECONCILE_CELL_TEXT_H_
#define RECONCILE_CELL_TEXT_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <ostream>
#include <string>
#include <string_view>

namespace reconcile {

template <size_t kInline>
class CellText {
  static_assert(kInline >= sizeof(char*) && kInline % 8 == 0);

 public:
  CellText() noexcept : store_{} {}
  CellText(std::string_view text) { assign(text); }
  CellText(const std::string& text) : CellText(std::string_view(text)) {}
  CellText(const char* text) : CellText(std::string_view(text)) {}
  CellText(const CellText& other) {
    if (other.on_heap()) {
      assign(other.view());
    } else {
      // The whole inline block, a fixed size: a few vector moves rather than a call.
      std::memcpy(store_.inline_bytes, other.store_.inline_bytes, kInline);
      size_ = other.size_;
    }
  }
  CellText(CellText&& other) noexcept { Take(other); }
  ~CellText() { Release(); }

  CellText& operator=(const CellText& other) {
    if (this == &other) return *this;
    if (on_heap() || other.on_heap()) return assign(other.view());
    std::memcpy(store_.inline_bytes, other.store_.inline_bytes, kInline);
    size_ = other.size_;
    return *this;
  }
  CellText& operator=(CellText&& other) noexcept {
    if (this != &other) {
      Release();
      Take(other);
    }
    return *this;
  }
  CellText& operator=(std::string_view text) { return assign(text); }
  CellText& operator=(const std::string& text) { return assign(text); }
  CellText& operator=(const char* text) { return assign(text); }

  // Replaces the bytes, keeping the capacity held. `text` may be part of this one's bytes.
  CellText& assign(std::string_view text) {
    if (text.size() > capacity_) Grow(text.size(), text);
    else if (!text.empty()) std::memmove(data(), text.data(), text.size());
    size_ = static_cast<uint32_t>(text.size());
    return *this;
  }
  // `text` may be part of this one's bytes.
  CellText& append(std::string_view text) {
    const size_t size = size_ + text.size();
    if (size > capacity_) {
      // Both parts go to the new block before the old one (which `text` may be in) is let go.
      const size_t doubled = size_t{capacity_} * 2;
      const size_t capacity = size > doubled ? size : doubled;
      char* bytes = static_cast<char*>(::operator new(capacity));
      std::memcpy(bytes, data(), size_);
      std::memcpy(bytes + size_, text.data(), text.size());
      Adopt(bytes, capacity);
    } else if (!text.empty()) {
      std::memmove(data() + size_, text.data(), text.size());
    }
    size_ = static_cast<uint32_t>(size);
    return *this;
  }
  CellText& operator+=(std::string_view text) { return append(text); }
  void push_back(char c) { append(std::string_view(&c, 1)); }
  void reserve(size_t n) {
    if (n > capacity_) Grow(n, view());
  }
  // Keeps the capacity.
  void clear() noexcept { size_ = 0; }

  const char* data() const noexcept { return on_heap() ? store_.heap : store_.inline_bytes; }
  char* data() noexcept { return on_heap() ? store_.heap : store_.inline_bytes; }
  size_t size() const noexcept { return size_; }
  size_t length() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  size_t capacity() const noexcept { return capacity_; }
  const char* begin() const noexcept { return data(); }
  const char* end() const noexcept { return data() + size_; }
  char operator[](size_t i) const { return data()[i]; }
  char front() const { return data()[0]; }
  char back() const { return data()[size_ - 1]; }

  std::string_view view() const noexcept { return {data(), size_}; }
  operator std::string_view() const noexcept { return view(); }
  std::string str() const { return std::string(view()); }

  // By the bytes, against any text: one overload for each kind, so none needs a conversion that
  // another could also take.
  friend bool operator==(const CellText& a, const CellText& b) noexcept {
    return a.view() == b.view();
  }
  friend bool operator==(const CellText& a, std::string_view b) noexcept { return a.view() == b; }
  friend bool operator==(const CellText& a, const std::string& b) noexcept {
    return a.view() == std::string_view(b);
  }
  friend bool operator==(const CellText& a, const char* b) noexcept {
    return a.view() == std::string_view(b);
  }
  friend std::strong_ordering operator<=>(const CellText& a, const CellText& b) noexcept {
    return a.view() <=> b.view();
  }
  friend std::strong_ordering operator<=>(const CellText& a, std::string_view b) noexcept {
    return a.view() <=> b;
  }
  friend std::strong_ordering operator<=>(const CellText& a, const std::string& b) noexcept {
    return a.view() <=> std::string_view(b);
  }
  friend std::strong_ordering operator<=>(const CellText& a, const char* b) noexcept {
    return a.view() <=> std::string_view(b);
  }
  friend std::ostream& operator<<(std::ostream& os, const CellText& text) {
    return os << text.view();
  }

 private:
  bool on_heap() const noexcept { return capacity_ > kInline; }

  void Release() noexcept {
    if (on_heap()) ::operator delete(store_.heap);
  }
  // Adopts other's bytes and leaves it empty and inline.
  void Take(CellText& other) noexcept {
    size_ = other.size_;
    capacity_ = other.capacity_;
    if (other.on_heap()) {
      store_.heap = other.store_.heap;
      other.capacity_ = kInline;
    } else {
      std::memcpy(store_.inline_bytes, other.store_.inline_bytes, kInline);
    }
    other.size_ = 0;
  }
  // Lets the old block go and takes `bytes` (of `capacity`) in its place.
  void Adopt(char* bytes, size_t capacity) noexcept {
    Release();
    store_.heap = bytes;
    capacity_ = static_cast<uint32_t>(capacity);
  }
  // Room for `n` bytes holding `text` (which may lie in the old bytes).
  void Grow(size_t n, std::string_view text) {
    char* bytes = static_cast<char*>(::operator new(n));
    std::memcpy(bytes, text.data(), text.size());
    Adopt(bytes, n);
  }

  uint32_t size_ = 0;
  uint32_t capacity_ = kInline;
  union Store {
    char inline_bytes[kInline];
    char* heap;
  } store_;
};

}  // namespace reconcile

#endif  // RECONCILE_CELL_TEXT_H_
