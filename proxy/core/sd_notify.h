// sdNotify: tells a service manager (systemd's Type=notify) about start-up and shutdown.
#pragma once

#include <string_view>

#include "io/result.h"

namespace ringway::core {

// Sends `state` (e.g. "READY=1\nSTATUS=serving") as one datagram to the AF_UNIX socket named
// by $NOTIFY_SOCKET: a path, or "@name" for the abstract namespace. This is systemd's
// sd_notify(3) protocol, which systemd documents as a stable interface; implementing it here
// (a socket and one sendto) keeps libsystemd and its compression and crypto libraries out of
// the binary and the container image, where no service manager listens anyway.
//
// Returns true once sent, false when $NOTIFY_SOCKET is unset or empty (not started by a
// service manager: nothing to do), or an Error (unsupported address such as "vsock:",
// name too long, socket or sendto failed). Blocking is not a concern: the datagram is small
// and the receiver is the service manager.
io::Result<bool> sdNotify(std::string_view state);

// The same, with the socket named explicitly (nullptr or "": not configured).
io::Result<bool> sdNotifyTo(const char* notifySocket, std::string_view state);

} // namespace ringway::core
