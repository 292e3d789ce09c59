// Common contexts for the TLS tests.
#pragma once

#include <string>

#include "support/pki.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

namespace ringway::tls::test {

using testsupport::CertFiles;
using testsupport::Pki;
using testsupport::pki;

// rsa.test (RSA), ecdsa.test + www.ecdsa.test, *.wild.test, and default.test as the default.
inline ServerOptions standardServer(const std::string& min_version = "1.2") {
  const Pki& p = pki();
  ServerOptions o;
  o.certificates = {
      {p.rsa.cert, p.rsa.key, {"rsa.test"}},
      {p.ecdsa.cert, p.ecdsa.key, {"ecdsa.test", "www.ecdsa.test"}},
      {p.wildcard.cert, p.wildcard.key, {"*.wild.test"}},
      {p.fallback.cert, p.fallback.key, {}},
  };
  o.min_version = min_version;
  return o;
}

inline ClientOptions clientFor(const std::string& server_name,
                               const std::string& max_version = "1.3") {
  ClientOptions o;
  o.server_name = server_name;
  o.ca_file = pki().root_ca;
  o.max_version = max_version;
  return o;
}

} // namespace ringway::tls::test
