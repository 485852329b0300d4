#include "tests/hardening/secret_scanner.h"

namespace reconcile::hardening {
namespace {

constexpr size_t kTextWindow = 16;
constexpr size_t kRawWindow = 12;

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string Hex(std::string_view bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

std::string DecodeBase64(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = Base64Value(c);
    if (v < 0) return "";
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

void SecretScanner::AddForm(const std::string& form, const std::string& what, size_t window) {
  auto& pieces = window == kRawWindow ? raw_pieces_ : text_pieces_;
  if (form.size() < window) return;
  const std::string_view kept = forms_.emplace_back(form);
  const auto index = static_cast<uint32_t>(whats_.size());
  whats_.push_back(what);
  for (size_t i = 0; i + window <= kept.size(); ++i) pieces.emplace(kept.substr(i, window), index);
}

void SecretScanner::AddKey(const std::string& base64) {
  if (base64.size() < kTextWindow) return;
  ++keys_;
  const std::string name = "key " + base64.substr(0, 6) + "...";
  AddForm(base64, "base64 of " + name, kTextWindow);
  std::string url = base64;
  std::string escaped;
  for (char& c : url) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  for (char c : base64) {
    if (c == '/') escaped += '\\';
    escaped += c;
  }
  AddForm(url, "base64url of " + name, kTextWindow);
  AddForm(escaped, "JSON-escaped " + name, kTextWindow);
  const std::string raw = DecodeBase64(base64);
  if (!raw.empty()) {
    AddForm(raw, "decoded bytes of " + name, kRawWindow);
    AddForm(Hex(raw, false), "hex of " + name, kTextWindow);
    AddForm(Hex(raw, true), "HEX of " + name, kTextWindow);
  }
}

void SecretScanner::AddKeysIn(const nlohmann::json& value) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if ((it.key() == "primaryKey" || it.key() == "secondaryKey") && it->is_string()) {
        AddKey(it->get<std::string>());
      } else {
        AddKeysIn(*it);
      }
    }
  } else if (value.is_array()) {
    for (const auto& v : value) AddKeysIn(v);
  } else if (value.is_string()) {
    // A body or payload may hold JSON as a string.
    const std::string& s = value.get_ref<const std::string&>();
    if (s.find("Key\"") != std::string::npos) {
      nlohmann::json inner = nlohmann::json::parse(s, nullptr, false);
      if (!inner.is_discarded()) AddKeysIn(inner);
    }
  }
}

void SecretScanner::AddKeysInLines(std::string_view bytes) {
  size_t start = 0;
  while (start < bytes.size()) {
    size_t nl = bytes.find('\n', start);
    if (nl == std::string_view::npos) nl = bytes.size();
    std::string_view line = bytes.substr(start, nl - start);
    start = nl + 1;
    if (line.find("Key\"") == std::string_view::npos) continue;
    nlohmann::json v = nlohmann::json::parse(line, nullptr, false);
    if (!v.is_discarded()) AddKeysIn(v);
  }
}

std::string SecretScanner::Find(std::string_view bytes) const {
  for (size_t i = 0; i + kRawWindow <= bytes.size(); ++i) {
    if (i + kTextWindow <= bytes.size()) {
      auto t = text_pieces_.find(bytes.substr(i, kTextWindow));
      if (t != text_pieces_.end()) return whats_[t->second] + " at byte " + std::to_string(i);
    }
    auto r = raw_pieces_.find(bytes.substr(i, kRawWindow));
    if (r != raw_pieces_.end()) return whats_[r->second] + " at byte " + std::to_string(i);
  }
  return "";
}

}  // namespace reconcile::hardening
