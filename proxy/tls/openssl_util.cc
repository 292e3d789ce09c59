#include "tls/openssl_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <ctime>

#include "tls/context_error.h"

namespace ringway::tls::detail {

std::string drainErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    char buf[256];
    if (reason == nullptr) { // e.g. errors raised by providers without a string table
      ERR_error_string_n(e, buf, sizeof buf);
      reason = buf;
    }
    if (out.find(reason) != std::string::npos)
      continue; // the same reason from each layer
    if (!out.empty())
      out += "; ";
    out += reason;
  }
  return out.empty() ? "no further detail" : out;
}

int parseVersion(std::string_view version, std::string_view what) {
  if (version == "1.2")
    return TLS1_2_VERSION;
  if (version == "1.3")
    return TLS1_3_VERSION;
  throw ContextError(std::string(what) + ": unsupported TLS version \"" + std::string(version) +
                     "\" (expected \"1.2\" or \"1.3\")");
}

std::vector<unsigned char> alpnWire(const std::vector<std::string>& protocols) {
  std::vector<unsigned char> wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255)
      throw ContextError("alpn: protocol name \"" + p + "\" must be 1 to 255 bytes");
    wire.push_back(static_cast<unsigned char>(p.size()));
    wire.insert(wire.end(), p.begin(), p.end());
  }
  return wire;
}

namespace {
int noPassphrase(char*, int, int, void*) { return -1; }
} // namespace

EvpPkeyPtr loadPrivateKey(const std::string& path) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr)
    throw ContextError(path + ": cannot open private key: " + drainErrors());
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio, nullptr, noPassphrase, nullptr));
  BIO_free(bio);
  if (!key)
    throw ContextError(path + ": cannot read private key: " + drainErrors());
  return key;
}

X509* useCertificateAndKey(SSL_CTX* ctx, const std::string& cert_path,
                           const std::string& key_path) {
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1)
    throw ContextError(cert_path + ": cannot load certificate chain: " + drainErrors());
  // The chain file just made the leaf's key type the current slot, so this is that leaf.
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  EvpPkeyPtr key = loadPrivateKey(key_path);
  if (leaf == nullptr || X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    throw ContextError(key_path + ": private key does not match certificate " + cert_path);
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1)
    throw ContextError(key_path + ": cannot use private key: " + drainErrors());
  return leaf;
}

int64_t asn1TimeToUnix(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string formatUnixTime(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

} // namespace ringway::tls::detail
