#include "tls/client_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "fixtures.h"
#include "pump.h"
#include "tls/context_error.h"

namespace ringway::tls::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string messageOf(const ClientOptions& o) {
  try {
    ClientContext c(o);
  } catch (const ContextError& e) {
    return e.what();
  }
  return "(no error)";
}

ServerOptions serverWith(const CertFiles& cert) {
  ServerOptions o;
  o.certificates = {{cert.cert, cert.key, {}}};
  return o;
}

TEST(ClientContextTest, WrongHostnameFailsVerificationWithReason) {
  ServerContext server(serverWith(pki().rsa)); // serves rsa.test whatever the SNI
  ClientContext client(clientFor("wrong.test"));
  Connection c = connect(client, server);
  EXPECT_EQ(c.outcome.client, Status::Error);
  EXPECT_EQ(c.client.s.failure().kind, ErrorKind::Verify);
  EXPECT_STREQ(c.client.s.failure().reason, "certificate verify failed");
  ASSERT_NE(c.client.s.failure().detail, nullptr);
  EXPECT_STREQ(c.client.s.failure().detail, "hostname mismatch");
  EXPECT_EQ(c.outcome.server, Status::Error);
  EXPECT_EQ(c.server.s.failure().kind, ErrorKind::PeerAlert);
}

TEST(ClientContextTest, UntrustedCaFailsVerificationWithReason) {
  ServerContext server(serverWith(pki().untrusted)); // rsa.test, issued by other_ca
  ClientContext client(clientFor("rsa.test"));
  Connection c = connect(client, server);
  EXPECT_EQ(c.outcome.client, Status::Error);
  EXPECT_EQ(c.client.s.failure().kind, ErrorKind::Verify);
  ASSERT_NE(c.client.s.failure().detail, nullptr);
  EXPECT_STREQ(c.client.s.failure().detail, "unable to get local issuer certificate");
  EXPECT_EQ(c.server.s.failure().kind, ErrorKind::PeerAlert);
  EXPECT_STREQ(c.server.s.failure().reason, "tlsv1 alert unknown ca");
}

TEST(ClientContextTest, ExpiredServerCertificateFailsVerification) {
  ServerContext server(serverWith(pki().expired));
  ClientContext client(clientFor("expired.test"));
  Connection c = connect(client, server);
  EXPECT_EQ(c.outcome.client, Status::Error);
  EXPECT_EQ(c.client.s.failure().kind, ErrorKind::Verify);
  EXPECT_STREQ(c.client.s.failure().detail, "certificate has expired");
}

TEST(ClientContextTest, VerifyOffConnectsAnywayAndWarns) {
  ServerContext server(serverWith(pki().untrusted));
  ClientOptions o = clientFor("rsa.test");
  o.verify = false;
  ClientContext client(o);
  ASSERT_EQ(client.warnings().size(), 1u);
  EXPECT_THAT(client.warnings()[0], AllOf(HasSubstr("rsa.test"), HasSubstr("verification")));
  Connection c = connect(client, server);
  ASSERT_TRUE(c.outcome.ok());
  EXPECT_EQ(c.server.s.serverName(), "rsa.test"); // SNI is still sent
  EXPECT_EQ(peerCommonName(c.client.s), "rsa.test");
}

TEST(ClientContextTest, IpServerNameChecksIpSanAndSendsNoSni) {
  ServerContext server(serverWith(pki().ip));
  ClientContext client(clientFor("127.0.0.1"));
  Connection c = connect(client, server);
  ASSERT_TRUE(c.outcome.ok()) << c.client.s.failure().reason << " "
                              << (c.client.s.failure().detail ? c.client.s.failure().detail : "");
  EXPECT_EQ(c.server.s.serverName(), "");
  ClientContext other(clientFor("127.0.0.2"));
  Connection bad = connect(other, server);
  EXPECT_EQ(bad.client.s.failure().kind, ErrorKind::Verify);
  EXPECT_STREQ(bad.client.s.failure().detail, "IP address mismatch");
}

TEST(ClientContextTest, BadOptionsAreRejected) {
  ClientOptions o = clientFor("rsa.test");
  o.server_name.clear();
  EXPECT_THAT(messageOf(o), HasSubstr("server_name"));
  o = clientFor("rsa.test");
  o.cert_path = pki().client.cert;
  EXPECT_THAT(messageOf(o), HasSubstr("both cert and key"));
  o = clientFor("rsa.test");
  o.ca_file = pki().dir + "/nope.pem";
  EXPECT_THAT(messageOf(o), AllOf(HasSubstr("nope.pem"), HasSubstr("CA")));
  o = clientFor("rsa.test");
  o.min_version = "1.3";
  o.max_version = "1.2";
  EXPECT_THAT(messageOf(o), HasSubstr("min_version is above max_version"));
  o = clientFor("rsa.test");
  o.cert_path = pki().client.cert;
  o.key_path = pki().ecdsa.key;
  EXPECT_THAT(messageOf(o), AllOf(HasSubstr(pki().ecdsa.key), HasSubstr("does not match")));
}

class MtlsTest : public ::testing::TestWithParam<const char*> {
protected:
  ServerContext server_{[] {
    ServerOptions o = standardServer();
    o.client_ca_file = pki().root_ca;
    return o;
  }()};
};

TEST_P(MtlsTest, ClientCertificateFromTrustedCaIsAccepted) {
  ClientOptions o = clientFor("rsa.test", GetParam());
  o.cert_path = pki().client.cert;
  o.key_path = pki().client.key;
  ClientContext client(o);
  Connection c = connect(client, server_);
  ASSERT_TRUE(c.outcome.ok()) << c.server.s.failure().reason;
  EXPECT_EQ(peerCommonName(c.server.s), "client.test");
  EXPECT_EQ(SSL_get_verify_result(c.server.s.native()), X509_V_OK);
  ASSERT_EQ(c.client.s.writePlaintext(bytesOf("ping")).status, Status::Ok);
  deliver(c.client, c.server);
  EXPECT_EQ(drain(c.server).size(), 4u);
}

// In TLS 1.3 the client finishes before the server has judged its certificate, so the
// rejection reaches it as an alert on its first read, not in the handshake.
Status clientFate(Connection& c) {
  if (c.outcome.client == Status::Error)
    return Status::Error;
  deliver(c.server, c.client);
  Status last = Status::Ok;
  drain(c.client, &last);
  return last;
}

TEST_P(MtlsTest, MissingClientCertificateIsRejected) {
  ClientContext client(clientFor("rsa.test", GetParam()));
  Connection c = connect(client, server_);
  EXPECT_EQ(c.outcome.server, Status::Error);
  EXPECT_EQ(c.server.s.failure().kind, ErrorKind::Protocol);
  EXPECT_STREQ(c.server.s.failure().reason, "peer did not return a certificate");
  EXPECT_EQ(clientFate(c), Status::Error);
  EXPECT_EQ(c.client.s.failure().kind, ErrorKind::PeerAlert);
}

TEST_P(MtlsTest, ClientCertificateFromUnknownCaIsRejected) {
  ClientOptions o = clientFor("rsa.test", GetParam());
  o.cert_path = pki().foreign_client.cert;
  o.key_path = pki().foreign_client.key;
  ClientContext client(o);
  Connection c = connect(client, server_);
  EXPECT_EQ(c.outcome.server, Status::Error);
  EXPECT_EQ(c.server.s.failure().kind, ErrorKind::Verify);
  EXPECT_STREQ(c.server.s.failure().detail, "unable to get local issuer certificate");
  EXPECT_EQ(clientFate(c), Status::Error);
  EXPECT_STREQ(c.client.s.failure().reason, "tlsv1 alert unknown ca");
}

INSTANTIATE_TEST_SUITE_P(Versions, MtlsTest, ::testing::Values("1.2", "1.3"));

} // namespace
} // namespace ringway::tls::test
