// Upstream-side TLS: verification, SNI, mTLS, ALPN, session reuse.
#pragma once

#include <openssl/ssl.h>

#include <optional>
#include <string>
#include <vector>

#include "tls/session.h"

namespace ringway::tls {

struct ClientOptions {
  // Sent as SNI and checked against the certificate. An IP literal is checked against the
  // certificate's IP SANs and not sent (SNI carries DNS names only).
  std::string server_name;
  std::string ca_file;   // PEM bundle; empty: the system store
  bool verify = true;    // false is allowed for tests and labs, and reported as a warning
  std::string cert_path; // client certificate for mTLS (both or neither)
  std::string key_path;
  std::vector<std::string> alpn;
  std::string min_version = "1.2";
  std::string max_version = "1.3";
  bool session_reuse = true;
};

// One per upstream per worker; not thread-safe (it keeps the last session). Built at startup
// (throws ContextError naming the file and the OpenSSL reason); then newSession() never throws.
// Not movable: OpenSSL callbacks hold its address.
class ClientContext {
public:
  explicit ClientContext(const ClientOptions& options);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // A client Session, offering the last session this context saw for resumption.
  std::optional<Session> newSession();

  const std::vector<std::string>& warnings() const { return warnings_; }
  bool hasSavedSession() const { return saved_ != nullptr; }
  void forgetSession();
  SSL_CTX* native() const { return ctx_; }

private:
  static int onNewSession(SSL* ssl, SSL_SESSION* session);
  static void onInfo(const SSL* ssl, int where, int ret);

  SSL_CTX* ctx_ = nullptr;
  std::string serverName_;
  bool isIp_ = false;
  bool verify_ = true;
  SSL_SESSION* saved_ = nullptr; // the newest resumable session, offered on the next connect
  std::vector<std::string> warnings_;
};

} // namespace ringway::tls
