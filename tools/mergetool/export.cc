// mergetool export STORE [--kind devices|modules|meta|all] [--format export|twin] [-o FILE]
//                  [--keys]
// Device keys are replaced by their fingerprints (as in reports) unless --keys asks for them.
#include <fstream>
#include <iostream>

#include "lib/failback/store_source.h"
#include "reconcile/conflict.h"
#include "reconcile/iothub.h"
#include "reconcile/store.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/progress.h"
#include "tools/mergetool/store_access.h"

namespace mergetool {
namespace {

struct ExportOptions {
  std::string store;
  std::string kind = "all";
  std::string format = "export";
  std::string output;
  bool keys = false;
};

// Passes on the records of the kinds asked for, counting them for the progress line.
class KindFilter final : public reconcile::MergedSource {
 public:
  KindFilter(std::unique_ptr<reconcile::MergedSource> inner, std::string kind, Progress& progress)
      : inner_(std::move(inner)), kind_(std::move(kind)), progress_(progress) {}

  reconcile::Result<bool> Next(reconcile::MergedRecord* out) override {
    while (true) {
      auto more = inner_->Next(out);
      if (!more.ok() || !*more) return more;
      if (Wanted(out->key.kind())) {
        if (redact_ && out->doc) out->doc = reconcile::RedactDocument(*out->doc);
        progress_.Add();
        return true;
      }
    }
  }

  // Replace key material with fingerprints in every record passed on.
  void RedactKeys() { redact_ = true; }

 private:
  bool Wanted(reconcile::KeyKind k) const {
    if (kind_ == "all") return true;
    if (kind_ == "devices") return k == reconcile::KeyKind::kDevice;
    // A module line is written only when its device exists: the writer needs the device.
    if (kind_ == "modules") return k != reconcile::KeyKind::kMeta;
    return k == reconcile::KeyKind::kMeta;
  }

  std::unique_ptr<reconcile::MergedSource> inner_;
  std::string kind_;
  Progress& progress_;
  bool redact_ = false;
};

// Keeps the module lines of an export (those with a top-level moduleId) and drops the devices'.
class ModuleLines final : public std::streambuf {
 public:
  explicit ModuleLines(std::ostream& out) : out_(out) {}
  int overflow(int c) override {
    if (c == EOF) return 0;
    line_.push_back(static_cast<char>(c));
    if (c == '\n') Emit();
    return c;
  }
  void Emit() {
    nlohmann::json doc = nlohmann::json::parse(line_, nullptr, false);
    if (doc.is_object() && doc.contains("moduleId")) out_ << line_;
    line_.clear();
  }

 private:
  std::ostream& out_;
  std::string line_;
};

Exit RunExport(const ExportOptions& o) {
  auto store = OpenExisting(o.store);
  if (!store.ok()) return Fail(store.status());
  std::ofstream file;
  if (!o.output.empty() && o.output != "-") {
    file.open(o.output, std::ios::binary | std::ios::trunc);
    if (!file) return Fail(reconcile::Status::IoError(o.output + ": cannot write"));
  }
  std::ostream& sink = file.is_open() ? static_cast<std::ostream&>(file) : std::cout;
  Progress progress("export");
  KindFilter source(reconcile::failback::MakeStoreSource(**store), o.kind, progress);
  if (!o.keys) source.RedactKeys();
  reconcile::Result<reconcile::WriteStats> stats = reconcile::Status::Internal("no writer");
  if (o.kind == "meta") {
    stats = reconcile::WriteMetaExport(source, sink);
  } else if (o.kind == "modules") {
    ModuleLines filter(sink);
    std::ostream modules_only(&filter);
    stats = o.format == "twin" ? reconcile::WriteTwinExport(source, modules_only)
                               : reconcile::WriteCanonicalExport(source, modules_only);
    modules_only.flush();
  } else if (o.format == "twin") {
    stats = reconcile::WriteTwinExport(source, sink);
  } else {
    stats = reconcile::WriteCanonicalExport(source, sink);
  }
  if (!stats.ok()) return Fail(stats.status().WithContext("export " + o.store));
  if (o.kind == "all") {
    // The meta records follow the devices and modules, in the metadata format.
    KindFilter meta(reconcile::failback::MakeStoreSource(**store), "meta", progress);
    auto meta_stats = reconcile::WriteMetaExport(meta, sink);
    if (!meta_stats.ok()) return Fail(meta_stats.status().WithContext("export " + o.store));
  }
  sink.flush();
  if (!sink) return Fail(reconcile::Status::IoError("export: write failed"));
  progress.Finish(std::to_string(stats->absent) + " deleted records not written");
  return Exit::kOk;
}

}  // namespace

Run SetupExport(CLI::App& sub) {
  auto o = std::make_shared<ExportOptions>();
  sub.add_option("STORE", o->store, "store directory")->required();
  sub.add_option("--kind", o->kind, "which records (default all: devices with their modules, "
                                    "then metadata)")
      ->check(CLI::IsMember({"devices", "modules", "meta", "all"}));
  sub.add_option("--format", o->format, "export: ExportImportDevice lines; twin: twin documents")
      ->check(CLI::IsMember({"export", "twin"}));
  sub.add_option("-o,--output", o->output, "output file (default stdout)");
  sub.add_flag("--keys", o->keys,
               "write device keys as they are (default: their fingerprints; the output then "
               "holds secrets)");
  return [o] { return RunExport(*o); };
}

}  // namespace mergetool
