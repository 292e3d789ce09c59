// Child processes and scratch files for the tests that run programs (the ringway binary, the
// deploy tools): a temp dir, fork + exec with output to files, reaping within a deadline.
// One copy for tests/integration (and the backends tests that reuse it) and tests/deploy.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ringway::testsupport {

// A private directory under $TMPDIR (or /tmp), removed with its files on destruction.
class TempDir {
public:
  explicit TempDir(const std::string& prefix = "ringway-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes path()/name (replacing it) and returns its path.
  std::string write(const std::string& name, const std::string& content) const;

private:
  std::string path_;
};

std::string readFile(const std::string& path); // "" when it cannot be read

// A wait status as an exit code: the exit status, or 128 + the signal.
int decodeStatus(int status);

struct SpawnOptions {
  std::string outPath;          // stdout (created or truncated)
  std::string errPath;          // stderr; empty: the same file as stdout
  std::vector<std::string> env; // "NAME=value", replacing inherited ones of that name
  std::optional<rlim_t> nofile; // RLIMIT_NOFILE set in the child before exec
  bool searchPath = false;      // look argv[0] up in PATH
};

// fork + exec of argv (argv[0] is the program). The child gets /dev/null as stdin, no other
// descriptor of the test process, an empty signal mask and default SIGPIPE. Everything it
// needs is prepared before fork: between fork and exec only async-signal-safe calls. Exit
// code 126: an output file could not be opened; 125: setrlimit failed; 127: exec failed.
// Throws std::runtime_error when fork fails.
pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& o);

// waitpid within `limit`: the exit code (decodeStatus) once it has exited. At the deadline:
// with kill, SIGKILL, reap and -1; without, -2 (still running, not reaped).
int reapWithin(pid_t pid, std::chrono::milliseconds limit, bool kill);

} // namespace ringway::testsupport
