// A stand-in for mergetool's main.cc, for tests only: the `failback` and `drill` subcommands with
// mergetool's error conventions, so the CLI files can be run end to end before (and independently
// of) the mergetool target that lists them.
#include <cstdio>
#include <iostream>

#include "tools/mergetool/failback_commands.h"

namespace mergetool {

void PrintError(std::string_view message) {
  std::fprintf(stderr, "mergetool: error: %.*s\n", static_cast<int>(message.size()),
               message.data());
}

void PrintWarning(std::string_view message) {
  std::fprintf(stderr, "mergetool: warning: %.*s\n", static_cast<int>(message.size()),
               message.data());
}

Exit Fail(const reconcile::Status& status) {
  PrintError(status.message().empty() ? status.ToString() : status.message());
  return Exit::kFailure;
}

}  // namespace mergetool

int main(int argc, char** argv) {
  CLI::App app{"failback test driver", "mergetool"};
  app.require_subcommand(1);
  mergetool::Run failback = mergetool::SetupFailback(*app.add_subcommand("failback", "failback"));
  mergetool::Run drill = mergetool::SetupDrill(*app.add_subcommand("drill", "drill"));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    mergetool::PrintError(e.what());
    return static_cast<int>(mergetool::Exit::kUsage);
  }
  if (app.got_subcommand("failback")) return static_cast<int>(failback());
  return static_cast<int>(drill());
}
