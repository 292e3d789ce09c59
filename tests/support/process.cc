#include "support/process.h"

#include <fcntl.h>
#include <signal.h>
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

namespace ringway::testsupport {

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  path_ = tmpl;
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

pid_t spawn(const std::vector<std::string>& args, const SpawnOptions& o) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The environment: ours, with o.env replacing variables of the same name.
  std::vector<std::string> envStrings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string v = *e;
    const std::string name = v.substr(0, v.find('='));
    bool replaced = false;
    for (const auto& r : o.env)
      replaced = replaced || r.substr(0, r.find('=')) == name;
    if (!replaced)
      envStrings.push_back(v);
  }
  envStrings.insert(envStrings.end(), o.env.begin(), o.env.end());
  std::vector<char*> envp;
  for (auto& e : envStrings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* outPath = o.outPath.c_str();
  const char* errPath = o.errPath.empty() ? nullptr : o.errPath.c_str();
  const pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // One file for both: O_APPEND, so neither writer overwrites the other.
    const int out = ::open(outPath, O_WRONLY | O_CREAT | O_TRUNC | (errPath ? 0 : O_APPEND), 0644);
    const int err = errPath ? ::open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644) : out;
    if (out < 0 || err < 0)
      ::_exit(126);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, STDIN_FILENO);
    // Nothing of the test process (backends' sockets, gtest's files) leaks into the child.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (o.nofile) {
      rlimit r{*o.nofile, *o.nofile};
      rlimit cur{};
      ::getrlimit(RLIMIT_NOFILE, &cur);
      if (r.rlim_max > cur.rlim_max)
        r.rlim_max = cur.rlim_max;
      if (r.rlim_cur > r.rlim_max)
        r.rlim_cur = r.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &r) != 0)
        ::_exit(125);
    }
    if (o.searchPath)
      ::execvpe(argv[0], argv.data(), envp.data());
    else
      ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

int reapWithin(pid_t pid, std::chrono::milliseconds limit, bool kill) {
  const auto end = std::chrono::steady_clock::now() + limit;
  int st = 0;
  for (;;) {
    if (::waitpid(pid, &st, WNOHANG) == pid)
      return decodeStatus(st);
    if (std::chrono::steady_clock::now() >= end) {
      if (!kill)
        return -2;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

} // namespace ringway::testsupport
