#include "reconcile/reject.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace reconcile {

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kLineTooLong:
      return "line-too-long";
    case RejectReason::kInvalidUtf8:
      return "invalid-utf8";
    case RejectReason::kInvalidJson:
      return "invalid-json";
    case RejectReason::kNotAnObject:
      return "not-an-object";
    case RejectReason::kMissingField:
      return "missing-field";
    case RejectReason::kWrongType:
      return "wrong-type";
    case RejectReason::kInvalidDeviceId:
      return "invalid-device-id";
    case RejectReason::kInvalidModuleId:
      return "invalid-module-id";
    case RejectReason::kInvalidEnum:
      return "invalid-enum";
    case RejectReason::kStatusReasonTooLong:
      return "status-reason-too-long";
    case RejectReason::kInvalidTwinKey:
      return "invalid-twin-key";
    case RejectReason::kTooDeep:
      return "too-deep";
    case RejectReason::kSectionTooLarge:
      return "section-too-large";
    case RejectReason::kStringTooLong:
      return "string-too-long";
    case RejectReason::kInvalidTimestamp:
      return "invalid-timestamp";
    case RejectReason::kUnknownOpType:
      return "unknown-op-type";
    case RejectReason::kUnknownHub:
      return "unknown-hub";
    case RejectReason::kInvalidMetaKey:
      return "invalid-meta-key";
    case RejectReason::kInvalidScope:
      return "invalid-scope";
    case RejectReason::kDuplicateRecord:
      return "duplicate-record";
    case RejectReason::kInvalidErrorCode:
      return "invalid-error-code";
    case RejectReason::kBinaryData:
      return "binary-data";
    case RejectReason::kNumberOutOfRange:
      return "number-out-of-range";
    case RejectReason::kClockSkew:
      return "clock-skew";
  }
  return "unknown";
}

std::string Reject::ToString() const {
  std::string out = file;
  out += ':';
  out += std::to_string(line);
  out += ": ";
  out += RejectReasonName(reason);
  out += ": ";
  out += detail;
  return out;
}

Status RejectCollector::Add(const Reject& reject, std::string_view /*raw_line*/) {
  rejects_.push_back(reject);
  return Status::Ok();
}

size_t RejectCollector::Count(RejectReason reason) const {
  return static_cast<size_t>(std::count_if(rejects_.begin(), rejects_.end(),
                                           [&](const Reject& r) { return r.reason == reason; }));
}

struct FileRejectSink::File {
  std::ofstream out;
  std::string path;
  bool closed = false;
};

FileRejectSink::FileRejectSink(std::unique_ptr<File> file, RejectFileOptions options)
    : file_(std::move(file)), options_(options) {}

FileRejectSink::~FileRejectSink() { (void)Close(); }

Result<std::unique_ptr<FileRejectSink>> FileRejectSink::Open(const std::string& path,
                                                             RejectFileOptions options) {
  auto file = std::make_unique<File>();
  file->path = path;
  file->out.open(path, std::ios::binary | std::ios::trunc);
  if (!file->out) return Status::IoError("cannot open rejects file '" + path + "'");
  return std::unique_ptr<FileRejectSink>(new FileRejectSink(std::move(file), options));
}

namespace {

// Header fields stay on one line.
std::string OneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

Status FileRejectSink::Add(const Reject& reject, std::string_view raw_line) {
  if (file_->closed) return Status::Internal("rejects file already closed");
  std::string entry = "# reject file=" + OneLine(reject.file) +
                      " line=" + std::to_string(reject.line) +
                      " reason=" + std::string(RejectReasonName(reject.reason)) +
                      " detail=" + OneLine(reject.detail);
  if (raw_line.empty()) {
    entry += " raw=omitted\n";
  } else {
    entry += '\n';
    entry += options_.redact_keys ? RedactKeysInLine(raw_line) : std::string(raw_line);
    entry += '\n';
  }
  file_->out.write(entry.data(), static_cast<std::streamsize>(entry.size()));
  if (!file_->out) return Status::IoError("cannot write rejects file '" + file_->path + "'");
  ++count_;
  return Status::Ok();
}

Status FileRejectSink::Close() {
  if (file_->closed) return Status::Ok();
  file_->closed = true;
  file_->out.flush();
  bool ok = static_cast<bool>(file_->out);
  file_->out.close();
  if (!ok) return Status::IoError("cannot write rejects file '" + file_->path + "'");
  return Status::Ok();
}

std::string RedactKeysInLine(std::string_view line) {
  static constexpr std::string_view kNames[] = {"\"primaryKey\"", "\"secondaryKey\""};
  std::string out;
  out.reserve(line.size());
  size_t i = 0;
  while (i < line.size()) {
    size_t best = std::string_view::npos;
    size_t best_len = 0;
    for (std::string_view name : kNames) {
      size_t at = line.find(name, i);
      if (at < best) {
        best = at;
        best_len = name.size();
      }
    }
    if (best == std::string_view::npos) break;
    size_t j = best + best_len;
    out.append(line.substr(i, j - i));
    i = j;
    // Skip blanks, ':', blanks; then a string literal is redacted.
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
    if (j >= line.size() || line[j] != ':') continue;
    ++j;
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
    if (j >= line.size() || line[j] != '"') continue;
    size_t k = j + 1;
    while (k < line.size() && line[k] != '"') {
      k += (line[k] == '\\') ? 2 : 1;
    }
    out.append(line.substr(i, j - i));
    out += "\"redacted\"";
    i = std::min(k + 1, line.size());
  }
  out.append(line.substr(std::min(i, line.size())));
  return out;
}

}  // namespace reconcile
