// Listener-side TLS: certificates chosen by SNI, versions, ALPN, resumption.
#pragma once

#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tls/session.h"
#include "tls/ticket_keys.h"

namespace ringway::tls {

struct CertificateSpec {
  std::string cert_path; // PEM: leaf first, then intermediates
  std::string key_path;  // PEM, unencrypted; RSA or ECDSA
  // Exact names ("api.example.com") or one-label wildcards ("*.example.com"). An entry without
  // names is the default; with none such, the first entry is.
  std::vector<std::string> server_names;
};

struct ServerOptions {
  std::vector<CertificateSpec> certificates;
  std::string min_version = "1.2"; // "1.2" or "1.3"; the maximum is always 1.3
  std::vector<std::string> alpn;   // server preference order, e.g. {"h2", "http/1.1"}
  bool session_tickets = true;
  // Shared by the listener's workers; null makes one for this context alone (tickets then only
  // resume on this worker).
  std::shared_ptr<TicketKeys> ticket_keys;
  std::size_t session_cache_size = 20000;      // per-context TLS 1.2 session-id cache
  std::chrono::seconds session_lifetime{3600}; // capped at the ticket rotation interval
  std::string client_ca_file; // non-empty: require a client certificate issued by these CAs
};

struct CertificateInfo {
  std::string cert_path;
  std::vector<std::string> server_names;
  bool is_default = false;
  const char* key_type = ""; // "RSA", "EC", ...
  int64_t not_before = 0;    // unix seconds
  int64_t not_after = 0;     // unix seconds: the expiry metric
};

// One per listener per worker: the session cache inside is the worker's own. Built at startup
// (throws ContextError naming the file and the OpenSSL reason); then newSession() never throws.
// Not movable: OpenSSL callbacks hold its address.
class ServerContext {
public:
  explicit ServerContext(const ServerOptions& options);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // A server-side Session; nullopt only if OpenSSL cannot allocate.
  std::optional<Session> newSession();

  // Non-fatal problems found at load: expired or not-yet-valid certificates, names the
  // certificate does not cover. The caller logs them.
  const std::vector<std::string>& warnings() const { return warnings_; }
  const std::vector<CertificateInfo>& certificates() const { return certificates_; }
  const std::shared_ptr<TicketKeys>& ticketKeys() const { return ticketKeys_; }

  // The SSL_CTX a certificate lookup for this SNI name picks (exact, then wildcard, then the
  // default). Exposed for tests.
  SSL_CTX* contextFor(std::string_view server_name) const;
  SSL_CTX* native() const { return contexts_.front().get(); }

private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using NameMap = std::unordered_map<std::string, SSL_CTX*, NameHash, std::equal_to<>>;
  struct CtxFree {
    void operator()(SSL_CTX* c) const;
  };

  SSL_CTX* makeContext(const ServerOptions& options, int min_version);
  void checkCertificate(const CertificateSpec& spec, X509* leaf, bool is_default);

  static int onServerName(SSL* ssl, int* alert, void* arg);
  static int onAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                    const unsigned char* in, unsigned int inlen, void* arg);
  static int onTicket(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                      EVP_MAC_CTX* mac, int enc);

  std::vector<std::unique_ptr<SSL_CTX, CtxFree>> contexts_; // [0]: default, used by SSL_new
  NameMap exact_;
  NameMap wildcard_; // "*.example.com" stored as "example.com"
  std::vector<unsigned char> alpn_;
  std::shared_ptr<TicketKeys> ticketKeys_;
  std::vector<std::string> warnings_;
  std::vector<CertificateInfo> certificates_;
};

} // namespace ringway::tls
