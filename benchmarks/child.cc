#include "benchmarks/child.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

namespace bench {
namespace {

double Seconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  return out;
}

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Reaps `pid` and fills the OS figures.
void Reap(pid_t pid, std::chrono::steady_clock::time_point start, ChildRun* run) {
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  run->wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run->user_seconds = Seconds(usage.ru_utime);
  run->system_seconds = Seconds(usage.ru_stime);
  run->max_rss_kib = usage.ru_maxrss;
  if (WIFEXITED(status)) {
    run->exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    run->exit_code = 128 + WTERMSIG(status);
  }
}

}  // namespace

nlohmann::json ChildRun::Os() const {
  return {{"wallSeconds", wall_seconds},
          {"userSeconds", user_seconds},
          {"systemSeconds", system_seconds},
          {"maxRssMiB", static_cast<double>(max_rss_kib) / 1024.0},
          {"parentRssMiB", static_cast<double>(parent_rss_kib) / 1024.0},
          {"exitCode", exit_code}};
}

long SelfRssKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

namespace {
bool in_process = false;

ChildRun RunHere(const std::function<nlohmann::json()>& body) {
  ChildRun run;
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto start = std::chrono::steady_clock::now();
  try {
    run.result = body();
    run.ok = run.result.is_object() && !run.result.contains("error");
    run.exit_code = run.ok ? 0 : 1;
    if (!run.ok) run.error = "the section returned an error";
  } catch (const std::exception& e) {
    run.error = e.what();
    run.result = nlohmann::json::object();
  }
  run.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  getrusage(RUSAGE_SELF, &after);
  run.user_seconds = Seconds(after.ru_utime) - Seconds(before.ru_utime);
  run.system_seconds = Seconds(after.ru_stime) - Seconds(before.ru_stime);
  run.max_rss_kib = after.ru_maxrss;
  return run;
}
}  // namespace

void SetInProcess(bool value) { in_process = value; }

ChildRun Fork(const std::function<nlohmann::json()>& body) {
  if (in_process) return RunHere(body);
  ChildRun run;
  int fds[2];
  if (pipe(fds) != 0) {
    run.error = std::string("pipe: ") + std::strerror(errno);
    return run;
  }
  std::cout.flush();
  std::cerr.flush();
  run.parent_rss_kib = SelfRssKib();
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    run.error = std::string("fork: ") + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return run;
  }
  if (pid == 0) {
    close(fds[0]);
    int code = 0;
    std::string answer;
    try {
      answer = body().dump();
    } catch (const std::exception& e) {
      answer = nlohmann::json({{"error", e.what()}}).dump();
      code = 1;
    } catch (...) {
      answer = R"({"error":"unknown exception"})";
      code = 1;
    }
    WriteAll(fds[1], answer);
    close(fds[1]);
    std::cout.flush();
    std::cerr.flush();
    _exit(code);  // no static destructors: the parent owns everything shared
  }
  close(fds[1]);
  const std::string answer = ReadAll(fds[0]);
  close(fds[0]);
  Reap(pid, start, &run);
  run.result = nlohmann::json::parse(answer, nullptr, false);
  if (run.result.is_discarded() || !run.result.is_object()) {
    run.error = "the child returned no JSON object (exit " + std::to_string(run.exit_code) + ")";
    run.result = nlohmann::json::object();
    return run;
  }
  if (run.result.contains("error")) {
    run.error = run.result["error"].get<std::string>();
    return run;
  }
  if (run.exit_code != 0) {
    run.error = "exit " + std::to_string(run.exit_code);
    return run;
  }
  run.ok = true;
  return run;
}

ChildRun Spawn(const std::vector<std::string>& argv) {
  ChildRun run;
  int fds[2];
  if (argv.empty() || pipe(fds) != 0) {
    run.error = "spawn: no program or no pipe";
    return run;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::cout.flush();
  std::cerr.flush();
  run.parent_rss_kib = SelfRssKib();
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    run.error = std::string("fork: ") + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return run;
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execvp(args[0], args.data());
    std::fprintf(stderr, "failback_bench: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  run.output = ReadAll(fds[0]);
  close(fds[0]);
  Reap(pid, start, &run);
  // The last non-empty line, when it is a JSON object, is the answer.
  size_t end = run.output.find_last_not_of("\r\n ");
  if (end != std::string::npos) {
    size_t begin = run.output.rfind('\n', end);
    begin = begin == std::string::npos ? 0 : begin + 1;
    nlohmann::json j =
        nlohmann::json::parse(run.output.substr(begin, end + 1 - begin), nullptr, false);
    if (!j.is_discarded() && j.is_object()) run.result = std::move(j);
  }
  if (run.exit_code != 0) {
    run.error = "exit " + std::to_string(run.exit_code);
    return run;
  }
  run.ok = true;
  return run;
}

}  // namespace bench
