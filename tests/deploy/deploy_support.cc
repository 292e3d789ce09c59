#include "deploy/deploy_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "support/eintr.h"

namespace ringway::deploytest {

std::string sourcePath(const std::string& rel) {
  return std::string(RINGWAY_SOURCE_DIR) + "/" + rel;
}

CommandResult runCommand(const std::vector<std::string>& argv, Ms limit) {
  TempDir dir;
  testsupport::SpawnOptions o;
  o.outPath = dir.path() + "/out";
  o.searchPath = true;
  const pid_t pid = testsupport::spawn(argv, o);
  CommandResult r;
  r.exitCode = testsupport::reapWithin(pid, limit, true);
  r.output = readFile(o.outPath);
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
  testsupport::SpawnOptions o;
  o.outPath = dir_.path() + "/stderr";
  o.env = env;
  pid_ = testsupport::spawn(argv, o);
}

Ringway::~Ringway() {
  if (pid_ > 0 && !reaped_)
    testsupport::reapWithin(pid_, Ms(0), true);
}

int Ringway::waitExit(Ms limit) {
  const int rc = testsupport::reapWithin(pid_, limit, false);
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
