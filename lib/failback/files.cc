#include "lib/failback/files.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

namespace reconcile::failback {
namespace fs = std::filesystem;

Status WriteFileAtomic(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) return Status::IoError("cannot create '" + tmp + "'");
    const size_t wrote = content.empty() ? 0 : std::fwrite(content.data(), 1, content.size(), f);
    const bool flushed = std::fflush(f) == 0;
    const bool closed = std::fclose(f) == 0;
    if (wrote != content.size() || !flushed || !closed) {
      return Status::IoError("cannot write '" + tmp + "'");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::IoError("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::NotFound("no file '" + path + "'");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IoError("cannot read '" + path + "'");
  return text.str();
}

Status CopyFileAtomic(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (!fs::exists(from, ec)) return Status::NotFound("no file '" + from + "'");
  const std::string tmp = to + ".tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) return Status::IoError("cannot copy '" + from + "' to '" + tmp + "': " + ec.message());
  fs::rename(tmp, to, ec);
  if (ec) return Status::IoError("cannot rename '" + tmp + "' to '" + to + "': " + ec.message());
  return Status::Ok();
}

Result<uint64_t> CountJsonLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open '" + path + "'");
  uint64_t n = 0;
  std::string line;
  while (std::getline(in, line)) {
    size_t i = line.find_first_not_of(" \t\r");
    if (i != std::string::npos && line[i] == '{') ++n;
  }
  if (in.bad()) return Status::IoError("cannot read '" + path + "'");
  return n;
}

Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create '" + dir + "': " + ec.message());
  return Status::Ok();
}

Status RemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return Status::IoError("cannot remove '" + path + "': " + ec.message());
  return Status::Ok();
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

size_t FindText(std::string_view text, std::string_view needle, size_t from) {
  if (from > text.size()) return std::string_view::npos;
  const void* at = ::memmem(text.data() + from, text.size() - from, needle.data(), needle.size());
  return at == nullptr ? std::string_view::npos : static_cast<const char*>(at) - text.data();
}

bool PeekIds(std::string_view line, std::string* device_id, std::string* module_id) {
  auto value_of = [&](std::string_view name,
                      std::string* out) -> int {  // 1 found, 0 absent, -1 odd
    const std::string pattern = "\"" + std::string(name) + "\":";
    size_t at = FindText(line, pattern);
    if (at == std::string_view::npos) return 0;
    if (FindText(line, pattern, at + 1) != std::string_view::npos) return -1;
    size_t start = at + pattern.size();
    if (start >= line.size() || line[start] != '"') return -1;
    size_t end = line.find('"', start + 1);
    if (end == std::string_view::npos) return -1;
    std::string_view v = line.substr(start + 1, end - start - 1);
    if (v.find('\\') != std::string_view::npos) return -1;
    out->assign(v);
    return 1;
  };
  module_id->clear();
  if (value_of("id", device_id) != 1) return false;
  return value_of("moduleId", module_id) >= 0;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                 uint8_t(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace reconcile::failback
