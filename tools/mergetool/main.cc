// mergetool: the command-line face of reconcile. main() only wires the subcommands together.
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "reconcile/stamp.h"
#include "tools/mergetool/command.h"
#include "tools/mergetool/failback_commands.h"

namespace mergetool {
namespace {

// One table drives dispatch, the listing in --help, and "did you mean".
constexpr Command kCommands[] = {
    {"init", "create a store owned by a site", SetupInit},
    {"ingest", "read hub exports, twins, notifications or metadata into a store", SetupIngest},
    {"merge", "join another store's state into a store", SetupMerge},
    {"export", "write the merged state as canonical JSON Lines", SetupExport},
    {"digest", "print the hex digest of a store's merged state", SetupDigest},
    {"diff", "list the records whose merged state differs between two stores", SetupDiff},
    {"conflicts", "list the conflicts since the fork point", SetupConflicts},
    {"plan", "write ETag-guarded import files for the primary hub", SetupPlan},
    {"backup", "back a store up (RocksDB BackupEngine)", SetupBackup},
    {"restore", "restore a store from a backup", SetupRestore},
    {"stats", "print a store's statistics", SetupStats},
    {"failback", "run (or resume) the whole failback against two hub folders", SetupFailback},
    {"drill", "a simulated outage and failback, end to end (simulated hubs)", SetupDrill},
};

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  success\n"
    "  1  failure (the store is unchanged or consistent)\n"
    "  2  usage error\n"
    "  3  finished, but some input lines were rejected or quarantined (see the rejects and\n"
    "     quarantine files)\n";

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The known command nearest to `name`, or "" when none is close.
std::string Nearest(const std::string& name) {
  std::string best;
  size_t best_d = std::max<size_t>(3, name.size() / 2) + 1;
  for (const Command& c : kCommands) {
    size_t d = EditDistance(name, c.name);
    if (std::string(c.name).rfind(name, 0) == 0) d = std::min<size_t>(d, 1);
    if (d < best_d) best_d = d, best = c.name;
  }
  return best;
}

int Main(int argc, char** argv) {
  CLI::App app{"mergetool: merge IoT Hub device identities, twins and metadata from several sites,\n"
               "and plan the failback to the primary hub.",
               "mergetool"};
  app.set_version_flag("--version", std::string("mergetool (reconcile) 0.1.0"));
  app.require_subcommand(1);
  app.footer(kExitCodes);
  std::map<std::string, Run> runs;
  for (const Command& c : kCommands) {
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    sub->footer(kExitCodes);
    runs[c.name] = c.setup(*sub);
  }
  if (argc > 1 && argv[1][0] != '-') {
    std::string name = argv[1];
    bool known = std::any_of(std::begin(kCommands), std::end(kCommands),
                             [&](const Command& c) { return name == c.name; });
    if (!known) {
      std::string near = Nearest(name);
      PrintError("unknown command '" + name + "'" +
                 (near.empty() ? "" : "; did you mean '" + near + "'?") +
                 " (mergetool --help lists them)");
      return static_cast<int>(Exit::kUsage);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    PrintError(std::string(e.what()) + " (see mergetool --help)");
    return static_cast<int>(Exit::kUsage);
  }
  for (CLI::App* sub : app.get_subcommands()) {
    try {
      return static_cast<int>(runs.at(sub->get_name())());
    } catch (const std::exception& e) {
      PrintError(std::string("unexpected: ") + e.what());
      return static_cast<int>(Exit::kFailure);
    }
  }
  return static_cast<int>(Exit::kUsage);
}

}  // namespace

void PrintError(std::string_view message) {
  std::fprintf(stderr, "mergetool: error: %.*s\n", static_cast<int>(message.size()),
               message.data());
}

void PrintWarning(std::string_view message) {
  std::fprintf(stderr, "mergetool: warning: %.*s\n", static_cast<int>(message.size()),
               message.data());
}

CLI::Validator Iso8601Time() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto hlc = reconcile::ParseIso8601(text);
        return hlc.ok() ? std::string() : "'" + text + "': " + hlc.status().message();
      },
      "ISO-8601");
}

Exit Fail(const reconcile::Status& status) {
  PrintError(status.message().empty() ? status.ToString() : status.message());
  return Exit::kFailure;
}

}  // namespace mergetool

int main(int argc, char** argv) {
  // Two malloc arenas, not one a thread: the readers hand records between threads, and at 4M
  // devices glibc's per-thread arenas held ~100 MiB of freed memory (DECISIONS P14). An
  // operator's own MALLOC_ARENA_MAX wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  return mergetool::Main(argc, argv);
}
