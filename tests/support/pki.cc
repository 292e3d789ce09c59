#include "support/pki.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace ringway::testsupport {

namespace {

[[noreturn]] void die(const char* what) { throw std::runtime_error(std::string("pki: ") + what); }

EVP_PKEY* rsaKey() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  if (k == nullptr)
    die("RSA keygen");
  return k;
}

EVP_PKEY* ecKey() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (k == nullptr)
    die("EC keygen");
  return k;
}

void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
  if (ext == nullptr || X509_add_ext(cert, ext, -1) != 1)
    die(value);
  X509_EXTENSION_free(ext);
}

struct Issued {
  X509* cert;
  EVP_PKEY* key;
};

enum class Role { Ca, Server, Client };

// issuer == nullptr: self-signed. Validity is [now + from, now + to] in seconds.
Issued issue(const char* cn, const std::string& san, EVP_PKEY* key, const Issued* issuer, Role role,
             long from = -3600, long to = 30L * 24 * 3600) {
  static long serial = 1;
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), from);
  X509_gmtime_adj(X509_getm_notAfter(x), to);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer->cert : x;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  const bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
  if (role == Role::Ca) {
    addExt(x, signer, NID_basic_constraints, "critical,CA:TRUE");
    addExt(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExt(x, signer, NID_basic_constraints, "critical,CA:FALSE");
    addExt(x, signer, NID_key_usage,
           rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature");
    addExt(x, signer, NID_ext_key_usage, role == Role::Server ? "serverAuth" : "clientAuth");
  }
  if (!san.empty())
    addExt(x, signer, NID_subject_alt_name, san.c_str());
  if (X509_sign(x, issuer != nullptr ? issuer->key : key, EVP_sha256()) == 0)
    die("sign");
  return {x, key};
}

void writeFile(const std::string& path, const std::vector<X509*>& certs, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr)
    die("open");
  for (X509* c : certs)
    PEM_write_X509(f, c);
  if (key != nullptr)
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

class PkiHolder {
public:
  PkiHolder() {
    char tmpl[] = "/tmp/ringway-tls-XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
      die("mkdtemp");
    p_.dir = tmpl;
    const std::string d = p_.dir + "/";

    Issued root = issue("Ringway Test Root", "", ecKey(), nullptr, Role::Ca, -3600, 3650L * 86400);
    Issued inter = issue("Ringway Test Intermediate", "", ecKey(), &root, Role::Ca);
    Issued other = issue("Someone Else's Root", "", ecKey(), nullptr, Role::Ca);
    keep(root), keep(inter), keep(other);
    p_.root_ca = d + "root-ca.pem";
    writeFile(p_.root_ca, {root.cert}, nullptr);
    p_.other_ca = d + "other-ca.pem";
    writeFile(p_.other_ca, {other.cert}, nullptr);

    auto leaf = [&](const char* file, const char* cn, const std::string& san, EVP_PKEY* key,
                    const Issued& by, bool chained, Role role = Role::Server, long from = -3600,
                    long to = 30L * 24 * 3600) {
      Issued c = issue(cn, san, key, &by, role, from, to);
      keep(c);
      CertFiles files{d + file + ".crt", d + file + ".key"};
      std::vector<X509*> chain{c.cert};
      if (chained)
        chain.push_back(inter.cert);
      writeFile(files.cert, chain, nullptr);
      writeFile(files.key, {}, key);
      return files;
    };
    p_.rsa = leaf("rsa", "rsa.test", "DNS:rsa.test", rsaKey(), inter, true);
    p_.ecdsa =
        leaf("ecdsa", "ecdsa.test", "DNS:ecdsa.test,DNS:www.ecdsa.test", ecKey(), inter, true);
    p_.ecdsa_same_names_as_rsa = leaf("rsa-ec", "rsa.test", "DNS:rsa.test", ecKey(), inter, true);
    p_.wildcard = leaf("wild", "*.wild.test", "DNS:*.wild.test", ecKey(), inter, true);
    p_.fallback = leaf("default", "default.test", "DNS:default.test", ecKey(), inter, true);
    p_.expired = leaf("expired", "expired.test", "DNS:expired.test", ecKey(), inter, true,
                      Role::Server, -3 * 86400, -86400);
    p_.untrusted = leaf("untrusted", "rsa.test", "DNS:rsa.test", ecKey(), other, false);
    p_.ip = leaf("ip", "127.0.0.1", "IP:127.0.0.1", ecKey(), inter, true);
    p_.client =
        leaf("client", "client.test", "DNS:client.test", ecKey(), inter, true, Role::Client);
    p_.foreign_client = leaf("foreign-client", "client.test", "DNS:client.test", ecKey(), other,
                             false, Role::Client);
    p_.a = leaf("a", "a.test", "DNS:a.test", ecKey(), inter, true);
    p_.b = leaf("b", "b.test", "DNS:b.test", ecKey(), inter, true);
    p_.upstream = leaf("upstream", "upstream.test", "DNS:upstream.test", ecKey(), inter, true);
    p_.untrusted_upstream =
        leaf("untrusted-upstream", "upstream.test", "DNS:upstream.test", ecKey(), other, false);
  }

  ~PkiHolder() {
    for (X509* c : certs_)
      X509_free(c);
    for (EVP_PKEY* k : keys_)
      EVP_PKEY_free(k);
    std::error_code ec;
    std::filesystem::remove_all(p_.dir, ec);
  }

  const Pki& get() const { return p_; }

private:
  void keep(const Issued& i) {
    certs_.push_back(i.cert);
    keys_.push_back(i.key);
  }
  Pki p_;
  std::vector<X509*> certs_;
  std::vector<EVP_PKEY*> keys_;
};

} // namespace

const Pki& pki() {
  static const PkiHolder holder; // destroyed at exit: the temp dir goes with it
  return holder.get();
}

} // namespace ringway::testsupport
