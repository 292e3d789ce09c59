#include "deploy/deploy_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
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

#include "support/eintr.h"

namespace ringway::deploytest {

namespace {

int decodeStatus(int st) {
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return -1;
}

// fork + exec; between the two only async-signal-safe calls (all strings prepared before).
pid_t spawn(const std::string& path, const std::vector<std::string>& args,
            const std::vector<std::string>& env, const std::string& outPath, bool searchPath) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> envStrings;
  for (char** e = environ; *e != nullptr; ++e) { // env overrides what is inherited
    const std::string inherited(*e);
    const std::string key = inherited.substr(0, inherited.find('=') + 1);
    bool overridden = false;
    for (const auto& v : env)
      overridden = overridden || v.compare(0, key.size(), key) == 0;
    if (!overridden)
      envStrings.push_back(inherited);
  }
  envStrings.insert(envStrings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : envStrings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    const int out = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (out < 0)
      ::_exit(126);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, STDIN_FILENO);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (searchPath) {
      ::execvpe(path.c_str(), argv.data(), envp.data());
    } else {
      ::execve(path.c_str(), argv.data(), envp.data());
    }
    ::_exit(127);
  }
  return pid;
}

// waitpid with a deadline; SIGKILL at the deadline. Returns the exit code or -1.
int reap(pid_t pid, Ms limit, bool kill) {
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
    std::this_thread::sleep_for(Ms(10));
  }
}

} // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && *base ? base : "/tmp") + "/ringway-deploy-XXXXXX";
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

std::string sourcePath(const std::string& rel) {
  return std::string(RINGWAY_SOURCE_DIR) + "/" + rel;
}

CommandResult runCommand(const std::vector<std::string>& argv, Ms limit) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  const pid_t pid = spawn(argv.at(0), argv, {}, out, true);
  CommandResult r;
  r.exitCode = reap(pid, limit, true);
  r.output = readFile(out);
  return r;
}

bool haveCommand(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':'))
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0)
      return true;
  return false;
}

Ringway::Ringway(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<std::string> argv{RINGWAY_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(RINGWAY_BINARY, argv, env, dir_.path() + "/stderr", false);
}

Ringway::~Ringway() {
  if (pid_ > 0 && !reaped_)
    reap(pid_, Ms(0), true);
}

int Ringway::waitExit(Ms limit) {
  const int rc = reap(pid_, limit, false);
  if (rc != -2)
    reaped_ = true;
  return rc == -2 ? -1 : rc;
}

std::string adminAddress(const std::string& log) {
  const std::string key = "admin listening on ";
  const auto at = log.find(key);
  if (at == std::string::npos)
    return "";
  const auto end = log.find_first_of(" \n", at + key.size());
  return log.substr(at + key.size(), end - (at + key.size()));
}

int httpStatus(const std::string& addr, const std::string& path, std::string* body) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos)
    return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::atoi(addr.c_str() + colon + 1)));
  if (::inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa.sin_addr) != 1)
    return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  timeval tv{5, 0}; // a deadline: a hang becomes a failure
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  // SO_SNDTIMEO makes connect end at an interruption, not restart (support/eintr.h).
  if (testsupport::retryEintr(
          [&] { return ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa); }) != 0) {
    ::close(fd);
    return -1;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + addr + "\r\n\r\n";
  if (testsupport::retryEintr([&] { return ::send(fd, req.data(), req.size(), MSG_NOSIGNAL); }) !=
      static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return -1;
  }
  std::string resp;
  char buf[4096];
  for (;;) {
    const ssize_t n = testsupport::retryEintr([&] { return ::recv(fd, buf, sizeof buf, 0); });
    if (n <= 0)
      break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (resp.compare(0, 9, "HTTP/1.1 ") != 0 && resp.compare(0, 9, "HTTP/1.0 ") != 0)
    return -1;
  if (body != nullptr) {
    const auto sep = resp.find("\r\n\r\n");
    *body = sep == std::string::npos ? "" : resp.substr(sep + 4);
  }
  return std::atoi(resp.c_str() + 9);
}

} // namespace ringway::deploytest
