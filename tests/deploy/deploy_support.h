// Helpers for the deploy tests: temp dirs, running a command, spawning ringway.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "support/process.h"

namespace ringway::deploytest {

using Ms = std::chrono::milliseconds;

// A private directory under $TMPDIR (or /tmp), removed with its files on destruction.
struct TempDir : testsupport::TempDir {
  TempDir() : testsupport::TempDir("ringway-deploy") {}
};

using testsupport::readFile;
std::string sourcePath(const std::string& rel); // RINGWAY_SOURCE_DIR/rel

struct CommandResult {
  int exitCode = -1;  // exit status, 128 + signal, or -1: killed at the deadline
  std::string output; // stdout and stderr together
};
// Runs argv (argv[0] looked up in PATH) to completion, killing it at the deadline.
CommandResult runCommand(const std::vector<std::string>& argv, Ms limit = Ms(60000));
bool haveCommand(const std::string& name); // in PATH and executable

// The real ringway binary, started with extra environment variables; stderr to a file.
class Ringway {
public:
  Ringway(const std::vector<std::string>& args, const std::vector<std::string>& env);
  ~Ringway(); // SIGKILL if still running
  Ringway(const Ringway&) = delete;
  Ringway& operator=(const Ringway&) = delete;
  pid_t pid() const { return pid_; }
  std::string log() const { return readFile(dir_.path() + "/stderr"); }
  // Exit code once it has exited, -1 if it is still running at the deadline.
  int waitExit(Ms limit);

private:
  TempDir dir_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// "127.0.0.1:PORT" from the log line "admin listening on ADDR", or "" if absent.
std::string adminAddress(const std::string& log);
// Status code of GET path on ADDR over HTTP/1.0 ("127.0.0.1:PORT"), -1 on failure.
int httpStatus(const std::string& addr, const std::string& path, std::string* body = nullptr);

} // namespace ringway::deploytest
