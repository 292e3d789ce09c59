#include "support/socket.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace ringway::testsupport {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o)
    reset(o.release());
  return *this;
}

int Fd::release() { return std::exchange(fd_, -1); }

void Fd::reset(int fd) {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = fd;
}

sockaddr_in loopbackAddr(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

uint16_t localPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0)
    return 0;
  return ntohs(a.sin_port);
}

uint16_t unusedPort() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopbackAddr(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
  return localPort(fd.get());
}

bool sendAll(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

} // namespace ringway::testsupport
