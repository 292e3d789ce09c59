// Loopback socket basics the test directories share: an owned descriptor, 127.0.0.1
// addresses, the port a socket is bound to, a port nobody listens on.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>

namespace ringway::testsupport {

// An owned file descriptor.
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release(); // gives the descriptor up without closing it
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }

private:
  int fd_ = -1;
};

sockaddr_in loopbackAddr(uint16_t port); // 127.0.0.1:port
uint16_t localPort(int fd);              // from getsockname; 0 on error
// A port nobody listens on: bind 127.0.0.1:0, read the port, close the socket. Throws
// std::runtime_error when it cannot bind.
uint16_t unusedPort();
// Sends all n bytes on a blocking socket (MSG_NOSIGNAL; an interrupted send goes on); false on
// an error or a timeout.
bool sendAll(int fd, const void* p, std::size_t n);

} // namespace ringway::testsupport
