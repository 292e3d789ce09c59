#include "tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/context_error.h"
#include "tls/openssl_util.h"

namespace ringway::tls {

namespace {

bool isIpLiteral(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

} // namespace

ClientContext::ClientContext(const ClientOptions& o)
    : serverName_(o.server_name), isIp_(isIpLiteral(o.server_name)), verify_(o.verify) {
  const std::string what =
      "upstream tls (" + (o.server_name.empty() ? "no server_name" : o.server_name) + ")";
  const int minVersion = detail::parseVersion(o.min_version, what + ": min_version");
  const int maxVersion = detail::parseVersion(o.max_version, what + ": max_version");
  if (minVersion > maxVersion)
    throw ContextError(what + ": min_version is above max_version");
  if (o.verify && o.server_name.empty())
    throw ContextError(what + ": verify needs a server_name to check the certificate against");
  if (o.cert_path.empty() != o.key_path.empty())
    throw ContextError(what + ": a client certificate needs both cert and key");
  const std::vector<unsigned char> alpn = detail::alpnWire(o.alpn);

  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr)
    throw ContextError(what + ": cannot create SSL_CTX: " + detail::drainErrors());
  // From here a throw skips the destructor, so free by hand.
  try {
    SSL_CTX_set_app_data(ctx_, this);
    if (SSL_CTX_set_min_proto_version(ctx_, minVersion) != 1 ||
        SSL_CTX_set_max_proto_version(ctx_, maxVersion) != 1 ||
        SSL_CTX_set_cipher_list(ctx_, detail::kTls12Ciphers) != 1 ||
        SSL_CTX_set1_groups_list(ctx_, detail::kGroups) != 1)
      throw ContextError(what + ": cannot set protocol parameters: " + detail::drainErrors());
    SSL_CTX_set_options(ctx_, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o.verify) {
      const int loaded = o.ca_file.empty()
                             ? SSL_CTX_set_default_verify_paths(ctx_)
                             : SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr);
      if (loaded != 1)
        throw ContextError((o.ca_file.empty() ? what + ": system CA store" : o.ca_file) +
                           ": cannot load CA certificates: " + detail::drainErrors());
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    } else {
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
      warnings_.push_back(what + ": certificate verification is disabled");
    }
    if (!o.cert_path.empty())
      detail::useCertificateAndKey(ctx_, o.cert_path, o.key_path);
    if (!alpn.empty() &&
        SSL_CTX_set_alpn_protos(ctx_, alpn.data(), static_cast<unsigned int>(alpn.size())) != 0)
      throw ContextError(what + ": cannot set ALPN: " + detail::drainErrors());
    if (o.session_reuse) {
      // Sessions reach us through the callback only: the internal cache is keyed by session id,
      // useless to a client, and TLS 1.3 tickets arrive after the handshake.
      SSL_CTX_set_session_cache_mode(ctx_,
                                     SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb(ctx_, onNewSession);
      SSL_CTX_set_info_callback(ctx_, onInfo);
    } else {
      SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
    }
  } catch (...) {
    SSL_CTX_free(ctx_);
    throw;
  }
}

ClientContext::~ClientContext() {
  SSL_SESSION_free(saved_);
  SSL_CTX_set_app_data(ctx_, nullptr); // live sessions keep ctx_; their callback finds no one
  SSL_CTX_free(ctx_);
}

void ClientContext::forgetSession() {
  SSL_SESSION_free(saved_);
  saved_ = nullptr;
}

int ClientContext::onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (self == nullptr || SSL_SESSION_is_resumable(session) != 1)
    return 0;
  SSL_SESSION_free(self->saved_);
  self->saved_ = session;
  return 1; // we keep the reference OpenSSL handed us
}

void ClientContext::onInfo(const SSL* ssl, int where, int) {
  if ((where & SSL_CB_HANDSHAKE_DONE) == 0)
    return;
  // A TLS 1.2 resumption whose ticket the server renewed: OpenSSL invalidates the old session
  // but calls the new-session callback only after full handshakes, so pick the new one up here.
  if (SSL_version(ssl) == TLS1_3_VERSION || SSL_session_reused(ssl) != 1)
    return;
  auto* self = static_cast<ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  SSL_SESSION* session = SSL_get_session(ssl);
  if (self == nullptr || session == nullptr || session == self->saved_ ||
      SSL_SESSION_is_resumable(session) != 1)
    return;
  SSL_SESSION_up_ref(session);
  SSL_SESSION_free(self->saved_);
  self->saved_ = session;
}

std::optional<Session> ClientContext::newSession() {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) {
    ERR_clear_error();
    return std::nullopt;
  }
  SSL_set_connect_state(ssl);
  bool ok = true;
  if (!serverName_.empty() && !isIp_)
    ok = SSL_set_tlsext_host_name(ssl, serverName_.c_str()) == 1;
  if (ok && verify_) {
    if (isIp_) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName_.c_str()) == 1;
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(ssl, serverName_.c_str()) == 1;
    }
  }
  if (ok && saved_ != nullptr) {
    if (SSL_SESSION_is_resumable(saved_) == 1)
      ok = SSL_set_session(ssl, saved_) == 1;
    else
      forgetSession();
  }
  if (!ok) {
    ERR_clear_error();
    SSL_free(ssl);
    return std::nullopt;
  }
  return Session::adopt(ssl);
}

} // namespace ringway::tls
