// Keys and certificates for the TLS proxy tests, made with the OpenSSL API into a temp dir once
// per process (adapted from tests/tls/test_pki).
#pragma once

#include <string>

namespace ringway::tlsproxy {

struct CertFiles {
  std::string cert;  // PEM: leaf, then the intermediate when the leaf has one
  std::string key;
};

// Root CA (EC) -> intermediate CA (EC) -> leaves. Clients trust root_ca.
struct Pki {
  std::string dir;
  std::string root_ca;
  std::string other_ca;  // a root nobody trusts
  CertFiles rsa;         // RSA 2048, "rsa.test"
  CertFiles ecdsa;       // P-256, "ecdsa.test", "www.ecdsa.test"
  CertFiles wildcard;    // P-256, "*.wild.test"
  CertFiles fallback;    // P-256, "default.test"
  CertFiles expired;     // P-256, "expired.test", expired yesterday
  CertFiles a;           // P-256, "a.test" (a passthrough backend)
  CertFiles b;           // P-256, "b.test" (another)
  CertFiles upstream;    // P-256, "upstream.test" (a TLS upstream)
  CertFiles untrusted;   // P-256, "upstream.test", issued by other_ca
  CertFiles client;      // P-256, "client.test", clientAuth
};

const Pki& pki();

}  // namespace ringway::tlsproxy
