// The TLS library's options for a listener's or a cluster's `tls:` block. The loader builds a
// context from them once to check the files; every worker then builds its own.
#pragma once

#include "config/config.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

namespace ringway::config {

tls::ServerOptions serverOptions(const ListenerTls& t);
tls::ClientOptions clientOptions(const ClusterTls& t);

} // namespace ringway::config
