#include "integration/proxy_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ringway::itest {

namespace {

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int decodeStatus(int st) {
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return -1;
}

// RINGWAY_IT_BINARY overrides the binary under test (e.g. an older build, to check that a
// test catches a bug).
const char* binaryPath() {
  static const std::string path = [] {
    const char* e = std::getenv("RINGWAY_IT_BINARY");
    return std::string(e != nullptr && *e != '\0' ? e : RINGWAY_BINARY);
  }();
  return path.c_str();
}

// fork + exec with stdout/stderr to files and an optional RLIMIT_NOFILE. Everything the child
// needs is prepared before fork: between fork and exec it makes only async-signal-safe calls.
pid_t spawn(const std::vector<std::string>& args, const std::string& outPath,
            const std::string& errPath, std::optional<rlim_t> nofile,
            const std::vector<std::string>& env = {}) {
  // The environment: ours, with `env` replacing variables of the same name.
  std::vector<std::string> envStrings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string v = *e;
    const std::string name = v.substr(0, v.find('='));
    bool replaced = false;
    for (const auto& o : env)
      replaced |= o.substr(0, o.find('=')) == name;
    if (!replaced)
      envStrings.push_back(v);
  }
  envStrings.insert(envStrings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : envStrings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  const char* binary = binaryPath();
  argv.push_back(const_cast<char*>(binary));
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    const int out = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (out < 0 || err < 0)
      ::_exit(126);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, STDIN_FILENO);
    // Nothing of the test process (backends' sockets, gtest's files) leaks into the proxy.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (nofile) {
      rlimit r{*nofile, *nofile};
      rlimit cur{};
      ::getrlimit(RLIMIT_NOFILE, &cur);
      if (r.rlim_max > cur.rlim_max)
        r.rlim_max = cur.rlim_max;
      if (r.rlim_cur > r.rlim_max)
        r.rlim_cur = r.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &r) != 0)
        ::_exit(125);
    }
    ::execve(binary, argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

} // namespace

// ---------------------------------------------------------------------------------------
// TempDir

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base ? base : "/tmp") + "/ringway-it-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  const std::string p = path_ + "/" + name;
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << content;
  return p;
}

// ---------------------------------------------------------------------------------------
// runBinary

RunResult runBinary(const std::vector<std::string>& args, Ms limit) {
  TempDir dir;
  const std::string out = dir.path() + "/stdout", err = dir.path() + "/stderr";
  const pid_t pid = spawn(args, out, err, std::nullopt);
  RunResult r;
  Deadline d(limit);
  int st = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &st, WNOHANG);
    if (w == pid) {
      r.exitCode = decodeStatus(st);
      break;
    }
    if (d.expired()) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      r.exitCode = -1;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
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
