// Internal helpers shared by the contexts; not part of the public API.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::tls::detail {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

// Empties this thread's OpenSSL error queue into "reason; reason" ("no further detail" if the
// queue was empty), so a startup error says why and the queue does not leak into later calls.
std::string drainErrors();

// "1.2" -> TLS1_2_VERSION, "1.3" -> TLS1_3_VERSION; throws ContextError naming `what` otherwise.
int parseVersion(std::string_view version, std::string_view what);

// ALPN names in the length-prefixed wire form; throws ContextError on an empty or >255-byte name.
std::vector<unsigned char> alpnWire(const std::vector<std::string>& protocols);

// Reads a PEM private key; throws ContextError naming the file. Never prompts: an encrypted key
// is an error, since a proxy has no terminal to ask on.
EvpPkeyPtr loadPrivateKey(const std::string& path);

// Loads cert_path (leaf + chain) and key_path into ctx, checking that they belong together.
// Returns the leaf (owned by ctx). Throws ContextError naming the file.
X509* useCertificateAndKey(SSL_CTX* ctx, const std::string& cert_path, const std::string& key_path);

int64_t asn1TimeToUnix(const ASN1_TIME* t);
std::string formatUnixTime(int64_t seconds); // "2024-01-31 12:00:00 UTC"

// TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers only. TLS 1.3 suites
// are all AEAD already, so OpenSSL's default list stays.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* kGroups = "X25519:P-256:P-384";

} // namespace ringway::tls::detail
