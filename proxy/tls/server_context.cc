#include "tls/server_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

#include "tls/context_error.h"
#include "tls/openssl_util.h"

namespace ringway::tls {

namespace {

constexpr unsigned char kSessionIdContext[] = "ringway";

// Lower-cases and drops one trailing dot; DNS names compare case-insensitively.
std::string normalizeName(std::string_view name) {
  if (!name.empty() && name.back() == '.')
    name.remove_suffix(1);
  std::string out(name);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string groupKey(const CertificateSpec& spec) {
  std::vector<std::string> names;
  for (const std::string& n : spec.server_names)
    names.push_back(normalizeName(n));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string key;
  for (const std::string& n : names)
    key += n + ",";
  return key;
}

const char* keyTypeName(const EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
  case EVP_PKEY_RSA:
    return "RSA";
  case EVP_PKEY_EC:
    return "EC";
  case EVP_PKEY_ED25519:
    return "Ed25519";
  default:
    return "other";
  }
}

} // namespace

void ServerContext::CtxFree::operator()(SSL_CTX* c) const {
  // Sessions may outlive us and keep the SSL_CTX alive; their callbacks then find no context.
  SSL_CTX_set_app_data(c, nullptr);
  SSL_CTX_free(c);
}

ServerContext::ServerContext(const ServerOptions& o) {
  if (o.certificates.empty())
    throw ContextError("tls: at least one certificate is required");
  const int minVersion = detail::parseVersion(o.min_version, "tls.min_version");
  alpn_ = detail::alpnWire(o.alpn);
  if (o.session_tickets)
    ticketKeys_ = o.ticket_keys ? o.ticket_keys : std::make_shared<TicketKeys>();

  // The entry without names is the default; failing that, the first.
  std::size_t def = 0;
  for (std::size_t i = 0; i < o.certificates.size(); ++i) {
    if (o.certificates[i].server_names.empty()) {
      def = i;
      break;
    }
  }
  std::vector<std::size_t> order{def};
  for (std::size_t i = 0; i < o.certificates.size(); ++i)
    if (i != def)
      order.push_back(i);

  // Entries with the same set of names share one SSL_CTX, so an RSA and an ECDSA certificate
  // for the same names coexist and OpenSSL picks by what the client supports.
  std::vector<std::string> groupKeys;
  std::vector<std::vector<int>> groupKeyTypes;
  std::unordered_map<std::string, std::string> nameOwner; // name -> cert_path, for errors
  for (std::size_t i : order) {
    const CertificateSpec& spec = o.certificates[i];
    const std::string key = groupKey(spec);
    auto it = std::find(groupKeys.begin(), groupKeys.end(), key);
    const std::size_t g = static_cast<std::size_t>(it - groupKeys.begin());
    const bool newGroup = it == groupKeys.end();
    if (newGroup) {
      groupKeys.push_back(key);
      groupKeyTypes.emplace_back();
      makeContext(o, minVersion);
    }
    SSL_CTX* ctx = contexts_[g].get();
    X509* leaf = detail::useCertificateAndKey(ctx, spec.cert_path, spec.key_path);
    const int type = EVP_PKEY_get_base_id(X509_get0_pubkey(leaf));
    auto& types = groupKeyTypes[g];
    if (std::find(types.begin(), types.end(), type) != types.end())
      throw ContextError(spec.cert_path + ": another certificate for the same server names has a " +
                         keyTypeName(X509_get0_pubkey(leaf)) +
                         " key too; one would silently replace the other");
    types.push_back(type);
    checkCertificate(spec, leaf, i == def);

    if (!newGroup)
      continue; // names already mapped for this group
    for (const std::string& raw : spec.server_names) {
      const std::string name = normalizeName(raw);
      const bool wild = name.size() > 2 && name.compare(0, 2, "*.") == 0;
      if (name.empty() || name.find('*', wild ? 1 : 0) != std::string::npos)
        throw ContextError(spec.cert_path + ": server name \"" + raw +
                           "\" must be a DNS name or \"*.\" followed by one");
      auto [owner, fresh] = nameOwner.emplace(name, spec.cert_path);
      if (!fresh)
        throw ContextError(spec.cert_path + ": server name \"" + raw + "\" is also listed for " +
                           owner->second + " with different names");
      (wild ? wildcard_ : exact_)[wild ? name.substr(2) : name] = ctx;
    }
  }
}

ServerContext::~ServerContext() = default;

SSL_CTX* ServerContext::makeContext(const ServerOptions& o, int minVersion) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr)
    throw ContextError("tls: cannot create SSL_CTX: " + detail::drainErrors());
  contexts_.emplace_back(ctx); // owned from here on, even if a later step throws
  const bool isDefault = contexts_.size() == 1;

  SSL_CTX_set_app_data(ctx, this);
  if (SSL_CTX_set_min_proto_version(ctx, minVersion) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, detail::kTls12Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, detail::kGroups) != 1)
    throw ContextError("tls: cannot set protocol parameters: " + detail::drainErrors());
  // Renegotiation only serves attacks on a proxy (CPU burn, state-machine surprises). The
  // server-preference option stays off: every suite left is strong, and a client picking
  // ChaCha20 knows it lacks AES hardware.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               (o.session_tickets ? 0 : SSL_OP_NO_TICKET));
  // RELEASE_BUFFERS: an idle keep-alive connection holds no 16 KiB record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // The same id context everywhere: after the SNI switch the session must still match.
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);

  std::chrono::seconds lifetime = o.session_lifetime;
  if (ticketKeys_) {
    lifetime = std::min(lifetime, ticketKeys_->interval()); // never promise past decryptability
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, onTicket);
  }
  SSL_CTX_set_timeout(ctx, static_cast<long>(lifetime.count()));
  if (!alpn_.empty())
    SSL_CTX_set_alpn_select_cb(ctx, onAlpn, nullptr);

  if (!o.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, o.client_ca_file.c_str(), nullptr) != 1)
      throw ContextError(o.client_ca_file +
                         ": cannot load client CA file: " + detail::drainErrors());
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
    if (names == nullptr)
      throw ContextError(o.client_ca_file +
                         ": no CA names in client CA file: " + detail::drainErrors());
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }

  if (isDefault) { // SSL_new uses this one: it is the session cache and SNI dispatcher
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, static_cast<long>(o.session_cache_size));
    SSL_CTX_set_tlsext_servername_callback(ctx, onServerName);
  }
  return ctx;
}

void ServerContext::checkCertificate(const CertificateSpec& spec, X509* leaf, bool isDefault) {
  CertificateInfo info;
  info.cert_path = spec.cert_path;
  info.server_names = spec.server_names;
  info.is_default = isDefault;
  info.key_type = keyTypeName(X509_get0_pubkey(leaf));
  info.not_before = detail::asn1TimeToUnix(X509_get0_notBefore(leaf));
  info.not_after = detail::asn1TimeToUnix(X509_get0_notAfter(leaf));
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (info.not_after <= now)
    warnings_.push_back(spec.cert_path + ": certificate expired at " +
                        detail::formatUnixTime(info.not_after));
  if (info.not_before > now)
    warnings_.push_back(spec.cert_path + ": certificate is not valid until " +
                        detail::formatUnixTime(info.not_before));
  for (const std::string& raw : spec.server_names) {
    std::string name = normalizeName(raw);
    // A wildcard entry is covered if any one-label name under it is.
    if (name.compare(0, 2, "*.") == 0)
      name = "wildcard-probe" + name.substr(1);
    if (X509_check_host(leaf, name.data(), name.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                        nullptr) != 1)
      warnings_.push_back(spec.cert_path + ": certificate does not cover server name " + raw);
  }
  certificates_.push_back(std::move(info));
}

std::optional<Session> ServerContext::newSession() {
  SSL* ssl = SSL_new(contexts_.front().get());
  if (ssl == nullptr) {
    ERR_clear_error();
    return std::nullopt;
  }
  SSL_set_accept_state(ssl);
  return Session::adopt(ssl);
}

SSL_CTX* ServerContext::contextFor(std::string_view server_name) const {
  if (server_name.empty())
    return contexts_.front().get();
  if (server_name.back() == '.')
    server_name.remove_suffix(1);
  char buf[256];
  if (server_name.empty() || server_name.size() >= sizeof buf)
    return contexts_.front().get();
  for (std::size_t i = 0; i < server_name.size(); ++i)
    buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(server_name[i])));
  const std::string_view name(buf, server_name.size());
  if (auto it = exact_.find(name); it != exact_.end())
    return it->second;
  // "*.example.com" covers exactly one label: a.example.com, not a.b.example.com.
  const std::size_t dot = name.find('.');
  if (dot != std::string_view::npos && dot > 0 && dot + 1 < name.size()) {
    if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end())
      return it->second;
  }
  return contexts_.front().get();
}

int ServerContext::onServerName(SSL* ssl, int* alert, void*) {
  auto* self = static_cast<ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (self == nullptr || name == nullptr)
    return SSL_TLSEXT_ERR_OK; // default certificate
  SSL_CTX* target = self->contextFor(name);
  if (target != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, target) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::onAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                          const unsigned char* in, unsigned int inlen, void*) {
  auto* self = static_cast<ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (self == nullptr)
    return SSL_TLSEXT_ERR_NOACK;
  const std::vector<unsigned char>& ours = self->alpn_;
  // Our order wins: the operator lists what the backend serves best first.
  for (std::size_t i = 0; i < ours.size(); i += 1 + ours[i]) {
    const unsigned char len = ours[i];
    for (unsigned int j = 0; j < inlen;) {
      const unsigned int l = in[j];
      if (l == 0 || j + 1 + l > inlen)
        break; // OpenSSL validated it; stay bounded anyway
      if (l == len && std::memcmp(in + j + 1, &ours[i + 1], l) == 0) {
        *out = &ours[i + 1];
        *outlen = len;
        return SSL_TLSEXT_ERR_OK;
      }
      j += 1 + l;
    }
  }
  // No overlap: go on without ALPN rather than fail (RFC 7301 allows either). The listener
  // then speaks its default, HTTP/1.1, which every HTTPS client understands without ALPN.
  return SSL_TLSEXT_ERR_NOACK;
}

int ServerContext::onTicket(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                            EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  auto* self = static_cast<ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (self == nullptr || !self->ticketKeys_)
    return 0; // no ticket / unknown: full handshake
  const int r = self->ticketKeys_->onTicket(key_name, iv, cipher, mac, enc);
  // TLS 1.3 clients use a ticket once (RFC 8446 C.4; OpenSSL and browsers do), so a resumption
  // must hand out a fresh one or the next connection is a full handshake. TLS 1.2 clients keep
  // reusing theirs, so there only the previous key's tickets are renewed.
  if (enc == 0 && r == 1 && SSL_version(ssl) == TLS1_3_VERSION)
    return 2;
  return r;
}

} // namespace ringway::tls
