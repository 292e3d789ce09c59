#include "core/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace ringway::core {

io::Result<bool> sdNotify(std::string_view state) {
  return sdNotifyTo(std::getenv("NOTIFY_SOCKET"), state);
}

io::Result<bool> sdNotifyTo(const char* notifySocket, std::string_view state) {
  if (notifySocket == nullptr || notifySocket[0] == '\0')
    return false;
  const size_t len = std::strlen(notifySocket);
  // systemd >= 253 also accepts "vsock:CID:PORT" (for VMs); ringway has no use for it.
  if (notifySocket[0] != '/' && notifySocket[0] != '@')
    return io::Error{EAFNOSUPPORT, "NOTIFY_SOCKET is neither a path nor @abstract"};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (len >= sizeof(addr.sun_path))
    return io::Error{ENAMETOOLONG, "NOTIFY_SOCKET"};
  std::memcpy(addr.sun_path, notifySocket, len);
  socklen_t addrLen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  if (notifySocket[0] == '@') {
    addr.sun_path[0] = '\0'; // abstract: no terminating NUL counted
  } else {
    addrLen += 1;
  }

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return io::Error{errno, "socket(AF_UNIX, SOCK_DGRAM)"};
  ssize_t n;
  do {
    n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&addr), addrLen);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n < 0)
    return io::Error{err, "sendto NOTIFY_SOCKET"};
  if (static_cast<size_t>(n) != state.size())
    return io::Error{EMSGSIZE, "sendto NOTIFY_SOCKET"};
  return true;
}

} // namespace ringway::core
