#include "net/listener.h"

#include "net/http_listener.h"
#include "net/tcp_proxy.h"

namespace ringway::net {

std::unique_ptr<Listener> makeListener(WorkerContext& ctx, const config::Listener& cfg,
                                       int listenFd) {
  switch (cfg.protocol) {
    case config::Protocol::Tcp:
      return std::make_unique<TcpListener>(
          ctx.loop, cfg, *ctx.balancers[cfg.routes.front().cluster_index], listenFd);
    case config::Protocol::Http:
      return std::make_unique<HttpListener>(ctx, cfg, listenFd);
    default:
      // The config loader rejects protocols this build does not implement.
      return nullptr;
  }
}

}  // namespace ringway::net
