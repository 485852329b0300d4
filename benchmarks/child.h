// Runs a benchmark section in a child process and reports what the OS saw of it: wall time, user
// and system CPU and peak resident memory (ru_maxrss from wait4). Each section gets its own
// process so its peak RSS is its own, not the largest of every section before it.
//
// Linux counts a forked child's inherited pages in its ru_maxrss (even across exec), so the
// parent must stay small: it only orchestrates and keeps the children's JSON answers. Each result
// records the parent's RSS at the fork (`parent_rss_kib`), the floor under every child's figure.
//
// Thread safety: call from a single-threaded parent (fork).
#ifndef RECONCILE_BENCHMARKS_CHILD_H_
#define RECONCILE_BENCHMARKS_CHILD_H_

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bench {

struct ChildRun {
  bool ok = false;          // exited 0 and (for Fork) returned a JSON object
  int exit_code = -1;       // or 128 + signal
  double wall_seconds = 0;  // fork to reap, as the parent saw it
  double user_seconds = 0;
  double system_seconds = 0;
  long max_rss_kib = 0;     // ru_maxrss of the child
  long parent_rss_kib = 0;  // the parent's VmRSS when it forked
  nlohmann::json result;    // what the child returned (Fork) or printed as JSON (Spawn)
  std::string output;       // the child's standard output (Spawn)
  std::string error;        // why not ok

  // {"wallSeconds", "userSeconds", "systemSeconds", "maxRssMiB", "parentRssMiB", "exitCode"}.
  nlohmann::json Os() const;
};

// Runs `body` in a forked child; its JSON answer comes back through a pipe. An exception or a
// non-object answer fails the run (error says why).
ChildRun Fork(const std::function<nlohmann::json()>& body);

// Runs a program (argv[0] looked up in PATH) with its standard output captured; when the output
// is one JSON object (its last non-empty line), it is parsed into result.
ChildRun Spawn(const std::vector<std::string>& argv);

// The calling process's VmRSS in KiB (0 when /proc is not there).
long SelfRssKib();

// Makes Fork run its body in the calling process (for profilers such as callgrind); the figures
// are then the process's own (max_rss_kib is the process's peak so far). Default: false.
void SetInProcess(bool in_process);

}  // namespace bench

#endif  // RECONCILE_BENCHMARKS_CHILD_H_
