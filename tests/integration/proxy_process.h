// Runs the real ringway binary: config in a temp dir, stderr captured to a file, the listening
// port parsed from the log, stopped by PID (SIGTERM, then SIGKILL) within a deadline.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "integration/support.h"
#include "support/process.h"

namespace ringway::itest {

// A private directory under $TMPDIR (or /tmp), removed with its files on destruction.
struct TempDir : testsupport::TempDir {
  TempDir() : testsupport::TempDir("ringway-it") {}
};

// What a run to completion printed and how it ended.
struct RunResult {
  int exitCode = -1; // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// Runs RINGWAY_BINARY with args to completion; kills it at the deadline (exitCode -1 then).
RunResult runBinary(const std::vector<std::string>& args, Ms limit = 20s);

class ProxyProcess {
public:
  struct Options {
    std::vector<std::string> args; // after "-c FILE"
    std::optional<rlim_t> nofile;  // RLIMIT_NOFILE set in the child before exec
    std::vector<std::string> env;  // "NAME=value", replacing the inherited ones
    Ms startLimit = 20s;
  };
  ProxyProcess() = default;
  ~ProxyProcess();
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  // Writes the config, starts the binary and waits until every listener logged its port.
  // Returns "" or why it failed (with the log).
  std::string start(const std::string& yaml, const Options& o);
  std::string start(const std::string& yaml) { return start(yaml, Options{}); }

  pid_t pid() const { return pid_; }
  uint16_t port(std::size_t listener = 0) const { return ports_.at(listener); }
  std::string log() const; // stderr so far
  int countLog(const std::string& needle) const;
  bool waitLog(const std::string& needle, Ms limit, int count = 1) const;
  void signal(int sig) const;
  // Exit code once it has exited (reaping it), or nullopt if still running at the deadline.
  std::optional<int> waitExit(Ms limit);
  bool running();
  // SIGTERM; SIGKILL if it is still there after `grace`. Returns the exit code.
  int stop(Ms grace = 10s);
  long rss() const { return rssKiB(pid_); }
  int openFds() const; // entries in /proc/PID/fd
  // The last lines of the log, for failure messages.
  std::string logTail(std::size_t lines = 40) const;

private:
  TempDir dir_;
  std::string logPath_;
  pid_t pid_ = -1;
  std::optional<int> exit_;
  std::vector<uint16_t> ports_;
};

} // namespace ringway::itest
