// protocol: tls_passthrough. The client's ClientHello is read, not terminated: its SNI picks
// the route, and every byte (the hello included) goes to the upstream untouched, on the L4
// path (a TcpSession that starts with the bytes already read).
#pragma once

#include <memory>

#include "config/config.h"
#include "net/listener.h"

namespace ringway::net {

std::unique_ptr<Listener> makeTlsPassthroughListener(WorkerContext& ctx,
                                                     const config::Listener& cfg, int listenFd);

}  // namespace ringway::net
