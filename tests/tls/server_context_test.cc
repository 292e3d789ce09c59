#include "tls/server_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>

#include "fixtures.h"
#include "pump.h"
#include "tls/context_error.h"

namespace ringway::tls::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string certFor(ServerContext& server, const std::string& sni) {
  ClientOptions o;
  o.server_name = sni;
  o.verify = false;
  ClientContext client(o);
  Connection c = connect(client, server);
  EXPECT_TRUE(c.outcome.ok()) << sni << ": " << c.client.s.failure().reason;
  EXPECT_EQ(c.server.s.serverName(), sni);
  return peerCommonName(c.client.s);
}

std::string messageOf(const ServerOptions& o) {
  try {
    ServerContext s(o);
  } catch (const ContextError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ServerContextTest, SniPicksExactNameCaseInsensitively) {
  ServerContext server(standardServer());
  EXPECT_EQ(certFor(server, "rsa.test"), "rsa.test");
  EXPECT_EQ(certFor(server, "ecdsa.test"), "ecdsa.test");
  EXPECT_EQ(certFor(server, "www.ecdsa.test"), "ecdsa.test");
  EXPECT_EQ(certFor(server, "WWW.Ecdsa.TEST"), "ecdsa.test");
}

TEST(ServerContextTest, SniWildcardCoversExactlyOneLabel) {
  ServerContext server(standardServer());
  EXPECT_EQ(certFor(server, "a.wild.test"), "*.wild.test");
  EXPECT_EQ(certFor(server, "api-2.wild.test"), "*.wild.test");
  EXPECT_EQ(certFor(server, "a.b.wild.test"), "default.test");
  EXPECT_EQ(certFor(server, "wild.test"), "default.test");
}

TEST(ServerContextTest, UnknownOrMissingSniGetsTheDefault) {
  ServerContext server(standardServer());
  EXPECT_EQ(certFor(server, "nobody.test"), "default.test");
  ClientOptions o; // no server_name: no SNI at all
  o.verify = false;
  ClientContext client(o);
  Connection c = connect(client, server);
  ASSERT_TRUE(c.outcome.ok());
  EXPECT_EQ(c.server.s.serverName(), "");
  EXPECT_EQ(peerCommonName(c.client.s), "default.test");
}

TEST(ServerContextTest, VerifiedClientsGetTheRightChainPerName) {
  ServerContext server(standardServer());
  for (const char* name : {"rsa.test", "www.ecdsa.test", "x.wild.test", "default.test"}) {
    ClientContext client(clientFor(name));
    Connection c = connect(client, server);
    EXPECT_TRUE(c.outcome.ok()) << name << ": " << c.client.s.failure().reason << " "
                                << (c.client.s.failure().detail ? c.client.s.failure().detail : "");
  }
}

TEST(ServerContextTest, FirstEntryIsDefaultWhenAllHaveNames) {
  const Pki& p = pki();
  ServerOptions o;
  o.certificates = {{p.ecdsa.cert, p.ecdsa.key, {"ecdsa.test"}},
                    {p.rsa.cert, p.rsa.key, {"rsa.test"}}};
  ServerContext server(o);
  EXPECT_EQ(certFor(server, "other.test"), "ecdsa.test");
  EXPECT_EQ(certFor(server, "rsa.test"), "rsa.test");
  ASSERT_EQ(server.certificates().size(), 2u);
  EXPECT_TRUE(server.certificates()[0].is_default);
  EXPECT_FALSE(server.certificates()[1].is_default);
  EXPECT_EQ(server.contextFor("nope"), server.native());
  EXPECT_NE(server.contextFor("rsa.test"), server.native());
}

TEST(ServerContextTest, RsaAndEcdsaForTheSameNamesCoexist) {
  const Pki& p = pki();
  ServerOptions o;
  o.certificates = {{p.rsa.cert, p.rsa.key, {"rsa.test"}},
                    {p.ecdsa_same_names_as_rsa.cert, p.ecdsa_same_names_as_rsa.key, {"rsa.test"}},
                    {p.fallback.cert, p.fallback.key, {}}};
  ServerContext server(o);
  ClientContext client(clientFor("rsa.test"));
  for (const auto& [sigalgs, type] :
       {std::pair{"ECDSA+SHA256", EVP_PKEY_EC}, std::pair{"rsa_pss_rsae_sha256", EVP_PKEY_RSA}}) {
    std::optional<Session> cs = client.newSession();
    ASSERT_EQ(SSL_set1_sigalgs_list(cs->native(), sigalgs), 1);
    Peer cp{std::move(*cs), {}};
    Peer sp{std::move(*server.newSession()), {}};
    ASSERT_TRUE(handshake(cp, sp).ok()) << sigalgs << ": " << sp.s.failure().reason;
    X509* peer = SSL_get0_peer_certificate(cp.s.native());
    ASSERT_NE(peer, nullptr);
    EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(peer)), type) << sigalgs;
  }
}

TEST(ServerContextTest, TwoKeysOfOneTypeForTheSameNamesAreRejected) {
  const Pki& p = pki();
  ServerOptions o;
  o.certificates = {{p.ecdsa.cert, p.ecdsa.key, {"x.test"}},
                    {p.wildcard.cert, p.wildcard.key, {"x.test"}}};
  EXPECT_THAT(messageOf(o), AllOf(HasSubstr(p.wildcard.cert), HasSubstr("EC key")));
}

TEST(ServerContextTest, KeyNotMatchingCertificateFailsAtLoad) {
  const Pki& p = pki();
  ServerOptions o;
  o.certificates = {{p.rsa.cert, p.ecdsa.key, {}}}; // different key types
  EXPECT_THAT(messageOf(o),
              AllOf(HasSubstr(p.ecdsa.key), HasSubstr("does not match"), HasSubstr(p.rsa.cert)));
  o.certificates = {{p.ecdsa.cert, p.wildcard.key, {}}}; // same type, other key
  EXPECT_THAT(messageOf(o), AllOf(HasSubstr(p.wildcard.key), HasSubstr("does not match")));
}

TEST(ServerContextTest, UnreadableFilesNameTheFileAndReason) {
  const Pki& p = pki();
  ServerOptions o;
  o.certificates = {{p.dir + "/missing.crt", p.rsa.key, {}}};
  EXPECT_THAT(messageOf(o),
              AllOf(HasSubstr(p.dir + "/missing.crt"), HasSubstr("cannot load certificate chain"),
                    HasSubstr("No such file")));
  o.certificates = {{p.rsa.cert, p.dir + "/missing.key", {}}};
  EXPECT_THAT(messageOf(o), AllOf(HasSubstr(p.dir + "/missing.key"), HasSubstr("private key")));
  o.certificates = {{p.rsa.key, p.rsa.key, {}}}; // a key is not a certificate
  EXPECT_THAT(messageOf(o), AllOf(HasSubstr(p.rsa.key), HasSubstr("no start line")));
}

TEST(ServerContextTest, BadOptionsAreRejected) {
  ServerOptions o = standardServer();
  o.min_version = "1.1";
  EXPECT_THAT(messageOf(o), AllOf(HasSubstr("min_version"), HasSubstr("\"1.1\"")));
  o = standardServer();
  o.alpn = {"h2", ""};
  EXPECT_THAT(messageOf(o), HasSubstr("alpn"));
  o = standardServer();
  o.certificates.clear();
  EXPECT_THAT(messageOf(o), HasSubstr("at least one certificate"));
  o = standardServer();
  o.certificates[0].server_names = {"a.*.test"};
  EXPECT_THAT(messageOf(o), HasSubstr("a.*.test"));
  o = standardServer();
  o.certificates[1].server_names.push_back("rsa.test"); // listed for two certificates
  EXPECT_THAT(messageOf(o), AllOf(HasSubstr("rsa.test"), HasSubstr("also listed")));
}

TEST(ServerContextTest, ExpiredCertificateLoadsWithAWarningAndItsExpiry) {
  const Pki& p = pki();
  ServerOptions o = standardServer();
  o.certificates.push_back({p.expired.cert, p.expired.key, {"expired.test"}});
  ServerContext server(o);
  ASSERT_EQ(server.warnings().size(), 1u);
  EXPECT_THAT(server.warnings()[0],
              AllOf(HasSubstr(p.expired.cert), HasSubstr("certificate expired at 20")));
  const int64_t now = std::time(nullptr);
  ASSERT_EQ(server.certificates().size(), 5u);
  const CertificateInfo& expired = server.certificates().back();
  EXPECT_EQ(expired.cert_path, p.expired.cert);
  EXPECT_NEAR(static_cast<double>(expired.not_after), static_cast<double>(now - 86400), 120);
  EXPECT_NEAR(static_cast<double>(expired.not_before), static_cast<double>(now - 3 * 86400), 120);
  for (std::size_t i = 0; i + 1 < server.certificates().size(); ++i)
    EXPECT_GT(server.certificates()[i].not_after, now + 29 * 86400);
  EXPECT_STREQ(server.certificates()[0].key_type, "EC"); // default entry goes first
  EXPECT_STREQ(server.certificates()[1].key_type, "RSA");
  EXPECT_EQ(certFor(server, "expired.test"), "expired.test"); // still served: the caller decides
}

TEST(ServerContextTest, NameTheCertificateDoesNotCoverIsAWarning) {
  const Pki& p = pki();
  ServerOptions o;
  o.certificates = {{p.rsa.cert, p.rsa.key, {"rsa.test", "elsewhere.test"}},
                    {p.wildcard.cert, p.wildcard.key, {"*.wild.test"}}};
  ServerContext server(o);
  ASSERT_EQ(server.warnings().size(), 1u) << server.warnings()[0];
  EXPECT_THAT(server.warnings()[0],
              AllOf(HasSubstr(p.rsa.cert), HasSubstr("does not cover server name elsewhere.test")));
}

TEST(ServerContextTest, MinVersion13RejectsATls12OnlyClient) {
  ServerContext server(standardServer("1.3"));
  ClientContext client(clientFor("rsa.test", "1.2"));
  Connection c = connect(client, server);
  EXPECT_EQ(c.outcome.server, Status::Error);
  EXPECT_EQ(c.server.s.failure().kind, ErrorKind::Protocol);
  EXPECT_STREQ(c.server.s.failure().reason, "unsupported protocol");
  EXPECT_EQ(c.outcome.client, Status::Error);
  EXPECT_EQ(c.client.s.failure().kind, ErrorKind::PeerAlert);
  EXPECT_STREQ(c.client.s.failure().reason, "tlsv1 alert protocol version");

  ClientContext modern(clientFor("rsa.test"));
  Connection ok = connect(modern, server);
  ASSERT_TRUE(ok.outcome.ok());
  EXPECT_EQ(ok.server.s.version(), TLS1_3_VERSION);
}

TEST(ServerContextTest, OldProtocolVersionsAreOff) {
  ServerContext server(standardServer());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(server.native()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(server.native()), TLS1_3_VERSION);
  EXPECT_NE(SSL_CTX_get_options(server.native()) & SSL_OP_NO_RENEGOTIATION, 0u);
  EXPECT_EQ(SSL_CTX_get_options(server.native()) & SSL_OP_CIPHER_SERVER_PREFERENCE, 0u);
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(server.native());
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any)
      continue; // TLS 1.3 suites: all AEAD
    EXPECT_EQ(SSL_CIPHER_get_kx_nid(c), NID_kx_ecdhe) << SSL_CIPHER_get_name(c);
    EXPECT_TRUE(SSL_CIPHER_is_aead(c)) << SSL_CIPHER_get_name(c);
  }
}

} // namespace
} // namespace ringway::tls::test
