// Test keys and certificates made with the OpenSSL API into a temp dir, once per process: one
// set for the TLS unit tests (tests/tls) and the TLS proxy tests (tests/tlsproxy).
#pragma once

#include <string>

namespace ringway::testsupport {

struct CertFiles {
  std::string cert; // PEM: leaf, then the intermediate when the leaf has one
  std::string key;
};

// Root CA (EC) -> intermediate CA (EC) -> leaves, unless said otherwise. Clients trust root_ca.
struct Pki {
  std::string dir;
  std::string root_ca;               // trusted by test clients and, for mTLS, by the server
  std::string other_ca;              // a root nobody trusts
  CertFiles rsa;                     // RSA 2048, "rsa.test"
  CertFiles ecdsa;                   // P-256, "ecdsa.test", "www.ecdsa.test"
  CertFiles ecdsa_same_names_as_rsa; // P-256, "rsa.test": pairs with `rsa`
  CertFiles wildcard;                // P-256, "*.wild.test"
  CertFiles fallback;                // P-256, "default.test"
  CertFiles expired;                 // P-256, "expired.test", expired yesterday
  CertFiles untrusted;               // P-256, "rsa.test", issued by other_ca
  CertFiles ip;                      // P-256, IP SAN 127.0.0.1
  CertFiles client;                  // P-256, "client.test", clientAuth
  CertFiles foreign_client;          // P-256, clientAuth, issued by other_ca
  CertFiles a;                       // P-256, "a.test" (a passthrough backend)
  CertFiles b;                       // P-256, "b.test" (another)
  CertFiles upstream;                // P-256, "upstream.test" (a TLS upstream)
  CertFiles untrusted_upstream;      // P-256, "upstream.test", issued by other_ca
};

// Built on first use; the directory is removed at exit.
const Pki& pki();

} // namespace ringway::testsupport
