#include "net/listener.h"

#include "net/http_listener.h"
#include "net/tcp_proxy.h"
#include "net/tls_listener.h"
#include "net/tls_passthrough.h"
#include "net/tls_worker.h"

namespace ringway::net {

std::unique_ptr<Listener> makeListener(WorkerContext& ctx, const config::Listener& cfg,
                                       int listenFd) {
  // TLS: contexts built first (a file that no longer loads fails the start), deadlines ticked.
  if (usesTls(ctx.config, cfg)) {
    if (!prepareTls(ctx, cfg)) return nullptr;
    auto l = makeProtocolListener(ctx, cfg, listenFd);
    return l ? withTlsTicks(ctx, std::move(l)) : nullptr;
  }
  return makeProtocolListener(ctx, cfg, listenFd);
}

std::unique_ptr<Listener> makeProtocolListener(WorkerContext& ctx, const config::Listener& cfg,
                                               int listenFd) {
  switch (cfg.protocol) {
    case config::Protocol::Tcp:
      if (cfg.tls) return makeTlsTcpListener(ctx, cfg, listenFd);
      return std::make_unique<TcpListener>(ctx, cfg, listenFd, true);
    case config::Protocol::TlsPassthrough:
      return makeTlsPassthroughListener(ctx, cfg, listenFd);
    case config::Protocol::Http:
      return std::make_unique<HttpListener>(ctx, cfg, listenFd);
    default:
      // The config loader rejects protocols this build does not implement.
      return nullptr;
  }
}

}  // namespace ringway::net
