// mergetool's command table and the conventions every subcommand follows.
//
// Each subcommand lives in its own file with an options struct, a Setup function that declares its
// arguments on a CLI11 subcommand, and a run function that does the work. main.cc only wires them
// together through kCommands. Results go to stdout (so they pipe); every diagnostic goes to stderr
// as "mergetool: error: ...". Exit codes are the Exit enum below.
#ifndef RECONCILE_TOOLS_MERGETOOL_COMMAND_H_
#define RECONCILE_TOOLS_MERGETOOL_COMMAND_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "reconcile/status.h"

namespace mergetool {

// Exit codes, documented in --help.
enum class Exit : int {
  kOk = 0,        // success
  kFailure = 1,   // failure; the store is unchanged or consistent
  kUsage = 2,     // bad command line
  kRejected = 3,  // finished, but some input lines were rejected (see the rejects file)
};

// What a Setup function returns: the work to do once the command line is parsed.
using Run = std::function<Exit()>;

struct Command {
  const char* name;
  const char* summary;
  // Declares the subcommand's options on `sub` and returns its run function.
  Run (*setup)(CLI::App& sub);
};

// Prints "mergetool: error: <message>" to stderr.
void PrintError(std::string_view message);
// Prints "mergetool: warning: <message>" to stderr.
void PrintWarning(std::string_view message);
// Prints the status as an error and returns kFailure.
Exit Fail(const reconcile::Status& status);

// Checks an option's value is an ISO-8601 time (as ParseIso8601 reads it): a malformed time is a
// usage error (exit 2), found before any store is opened.
CLI::Validator Iso8601Time();

// The subcommands (one file each).
Run SetupInit(CLI::App& sub);
Run SetupIngest(CLI::App& sub);
Run SetupMerge(CLI::App& sub);
Run SetupExport(CLI::App& sub);
Run SetupDigest(CLI::App& sub);
Run SetupDiff(CLI::App& sub);
Run SetupConflicts(CLI::App& sub);
Run SetupPlan(CLI::App& sub);
Run SetupBackup(CLI::App& sub);
Run SetupRestore(CLI::App& sub);
Run SetupStats(CLI::App& sub);

}  // namespace mergetool

#endif  // RECONCILE_TOOLS_MERGETOOL_COMMAND_H_
