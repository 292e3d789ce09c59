// Listening sockets, made on the main thread before workers start so bind errors are
// start-up errors, and port 0 resolves once for every worker.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "config/config.h"
#include "io/result.h"

namespace ringway::net {

// A non-blocking, SO_REUSEPORT listening TCP socket bound to addr.
io::Result<int> listenOn(const sockaddr* addr, socklen_t len, int backlog);
// The port a socket is bound to (after binding port 0).
uint16_t boundPort(int fd);
// "127.0.0.1:8080" / "[::1]:8080".
std::string formatAddress(const sockaddr* addr);

}  // namespace ringway::net
