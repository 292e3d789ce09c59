#include "integration/proxy_process.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <thread>

namespace ringway::itest {

namespace {

using testsupport::decodeStatus;
using testsupport::readFile;

// RINGWAY_IT_BINARY overrides the binary under test (e.g. an older build, to check that a
// test catches a bug).
const char* binaryPath() {
  static const std::string path = [] {
    const char* e = std::getenv("RINGWAY_IT_BINARY");
    return std::string(e != nullptr && *e != '\0' ? e : RINGWAY_BINARY);
  }();
  return path.c_str();
}

// The binary under test with args, stdout and stderr to files (testsupport::spawn).
pid_t spawn(const std::vector<std::string>& args, const std::string& outPath,
            const std::string& errPath, std::optional<rlim_t> nofile,
            const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{binaryPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  testsupport::SpawnOptions o;
  o.outPath = outPath;
  o.errPath = errPath;
  o.env = env;
  o.nofile = nofile;
  return testsupport::spawn(argv, o);
}

} // namespace

// ---------------------------------------------------------------------------------------
// runBinary

RunResult runBinary(const std::vector<std::string>& args, Ms limit) {
  TempDir dir;
  const std::string out = dir.path() + "/stdout", err = dir.path() + "/stderr";
  const pid_t pid = spawn(args, out, err, std::nullopt);
  RunResult r;
  r.exitCode = testsupport::reapWithin(pid, limit, true);
  r.out = readFile(out);
  r.err = readFile(err);
  return r;
}

// ---------------------------------------------------------------------------------------
// ProxyProcess

ProxyProcess::~ProxyProcess() {
  if (pid_ > 0 && !exit_)
    stop(5s);
}

std::string ProxyProcess::start(const std::string& yaml, const Options& o) {
  const std::string cfg = dir_.write("ringway.yaml", yaml);
  logPath_ = dir_.path() + "/stderr";
  std::vector<std::string> args = {"-c", cfg};
  args.insert(args.end(), o.args.begin(), o.args.end());
  pid_ = spawn(args, dir_.path() + "/stdout", logPath_, o.nofile, o.env);
  Deadline d(o.startLimit);
  for (;;) {
    // Each listener logs "... listening on 127.0.0.1:PORT (N workers)" once all workers serve.
    ports_.clear();
    std::istringstream in(log());
    std::string line;
    while (std::getline(in, line)) {
      const auto at = line.find(" listening on ");
      if (at == std::string::npos)
        continue;
      const auto addr = line.substr(at + 14, line.find(' ', at + 14) - (at + 14));
      ports_.push_back(static_cast<uint16_t>(std::atoi(addr.c_str() + addr.rfind(':') + 1)));
    }
    if (!ports_.empty() && log().find("serving with") != std::string::npos)
      return "";
    if (!running()) {
      return "ringway exited with " + std::to_string(exit_.value_or(-1)) +
             " before listening; log:\n" + logTail();
    }
    if (d.expired())
      return "ringway did not log its listening port in time; log:\n" + logTail();
    std::this_thread::sleep_for(10ms);
  }
}

std::string ProxyProcess::log() const { return logPath_.empty() ? "" : readFile(logPath_); }

int ProxyProcess::countLog(const std::string& needle) const {
  const std::string l = log();
  int n = 0;
  for (auto at = l.find(needle); at != std::string::npos; at = l.find(needle, at + 1))
    ++n;
  return n;
}

bool ProxyProcess::waitLog(const std::string& needle, Ms limit, int count) const {
  return waitFor([&] { return countLog(needle) >= count; }, limit);
}

void ProxyProcess::signal(int sig) const {
  if (pid_ > 0 && !exit_)
    ::kill(pid_, sig);
}

bool ProxyProcess::running() {
  if (pid_ <= 0 || exit_)
    return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    exit_ = decodeStatus(st);
    return false;
  }
  return true;
}

std::optional<int> ProxyProcess::waitExit(Ms limit) {
  waitFor([&] { return !running(); }, limit);
  return exit_;
}

int ProxyProcess::stop(Ms grace) {
  if (pid_ <= 0)
    return -1;
  if (!exit_) {
    signal(SIGTERM);
    if (!waitExit(grace)) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      exit_ = decodeStatus(st);
    }
  }
  return *exit_;
}

int ProxyProcess::openFds() const {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str());
  if (d == nullptr)
    return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(d);
  return n;
}

std::string ProxyProcess::logTail(std::size_t lines) const {
  const std::string l = log();
  std::size_t at = l.size();
  for (std::size_t i = 0; i <= lines && at > 0; ++i) {
    at = l.rfind('\n', at - 1);
    if (at == std::string::npos) {
      at = 0;
      break;
    }
  }
  return l.substr(at);
}

} // namespace ringway::itest
