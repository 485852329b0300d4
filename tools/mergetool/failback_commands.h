// The failback subcommands of mergetool: `failback` (the orchestrated run against directory hubs)
// and `drill` (the simulated outage, end to end). main.cc lists them in kCommands.
#ifndef RECONCILE_TOOLS_MERGETOOL_FAILBACK_COMMANDS_H_
#define RECONCILE_TOOLS_MERGETOOL_FAILBACK_COMMANDS_H_

#include "tools/mergetool/command.h"

namespace mergetool {

// mergetool failback --primary DIR --secondary DIR --work DIR [--resume] [--base FILE] ...
Run SetupFailback(CLI::App& sub);
// mergetool drill [--devices N] [--seed S] [--work DIR] [--json]
Run SetupDrill(CLI::App& sub);

}  // namespace mergetool

#endif  // RECONCILE_TOOLS_MERGETOOL_FAILBACK_COMMANDS_H_
