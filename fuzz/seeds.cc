// fuzz_seeds DATA_DIR OUT_DIR — writes seed inputs for the binary fuzz targets from the IoT Hub
// fixtures (DATA_DIR/iothub): OUT_DIR/codec/ gets the encoded delta of every record read and the
// encoded join of every record; OUT_DIR/merge_operator/ gets, per record, its deltas as one
// operand list (merge_operator_fuzz.cc's input format) with each control byte. The text targets
// take the fixture files themselves (scripts/fuzz copies them).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "reconcile/codec.h"
#include "reconcile/iothub.h"
#include "reconcile/stamp.h"

namespace {

using namespace reconcile;

using Deltas = std::map<Key, std::vector<RecordState>>;

bool Collect(const std::string& path,
             const std::function<Result<ReadStats>(LineReader&, const DeltaSink&)>& read,
             Deltas* deltas) {
  Result<std::unique_ptr<LineReader>> in = LineReader::Open(path);
  if (!in.ok()) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", in.status().ToString().c_str());
    return false;
  }
  Result<ReadStats> stats = read(**in, [&](const Key& key, RecordState delta) {
    (*deltas)[key].push_back(std::move(delta));
    return Status::Ok();
  });
  if (!stats.ok()) {
    std::fprintf(stderr, "fuzz_seeds: %s: %s\n", path.c_str(), stats.status().ToString().c_str());
    return false;
  }
  return true;
}

void Write(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_seeds DATA_DIR OUT_DIR\n");
    return 2;
  }
  const std::string data = std::string(argv[1]) + "/iothub/";
  const std::filesystem::path out = argv[2];
  const Hlc backup = ParseIso8601("2026-11-20T00:00:00Z").value();
  const Hlc secondary = ParseIso8601("2026-11-22T12:00:00Z").value();
  const Hlc primary = ParseIso8601("2026-11-23T00:00:00Z").value();

  Deltas deltas;
  auto exports = [&](const char* site, Hlc at) {
    return [site, at](LineReader& in, const DeltaSink& sink) {
      ExportReadOptions options;
      options.site = site;
      options.observed_at = at;
      return ReadExport(in, options, nullptr, sink);
    };
  };
  bool ok = Collect(data + "base.txt", exports("backup", backup), &deltas) &&
            Collect(data + "secondary.txt", exports("neu-secondary", secondary), &deltas) &&
            Collect(data + "primary.txt", exports("weu-primary", primary), &deltas);
  ok = ok && Collect(
                 data + "twins.jsonl",
                 [&](LineReader& in, const DeltaSink& sink) {
                   TwinReadOptions options;
                   options.site = "neu-secondary";
                   options.observed_at = secondary;
                   return ReadTwins(in, options, nullptr, sink);
                 },
                 &deltas);
  ok = ok &&
       Collect(
           data + "notifications.jsonl",
           [](LineReader& in, const DeltaSink& sink) {
             NotificationReadOptions options;
             options.hub_sites = {{"contoso-weu", "weu-primary"}, {"contoso-neu", "neu-secondary"}};
             return ReadNotifications(in, options, nullptr, sink);
           },
           &deltas);
  ok = ok && Collect(
                 data + "meta.jsonl",
                 [](LineReader& in, const DeltaSink& sink) {
                   MetaReadOptions options;
                   options.site = "weu-primary";
                   return ReadMeta(in, options, nullptr, sink);
                 },
                 &deltas);
  if (!ok) return 1;

  std::filesystem::create_directories(out / "codec");
  std::filesystem::create_directories(out / "merge_operator");
  int codec = 0, merge = 0;
  for (const auto& [key, list] : deltas) {
    RecordState joined;
    std::string operands;
    for (const RecordState& d : list) {
      Write(out / "codec" / ("delta-" + std::to_string(codec++)), EncodeRecord(d));
      joined.Join(d);
      if (!operands.empty()) operands += "#op#";
      operands += EncodeRecord(d);
    }
    Write(out / "codec" / ("state-" + std::to_string(codec++)), EncodeRecord(joined));
    for (char control : {'\0', '\1', '\2', '\3'}) {
      Write(out / "merge_operator" / ("ops-" + std::to_string(merge++)),
            std::string(1, control) + operands);
    }
  }
  std::printf("fuzz_seeds: %d codec and %d merge operator seeds from %zu records\n", codec, merge,
              deltas.size());
  return 0;
}
