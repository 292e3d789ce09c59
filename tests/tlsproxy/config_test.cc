// The tls keys of ringway.yaml: what loads, and where a bad file or key is reported.
#include <gtest/gtest.h>

#include <fstream>

#include "config/loader.h"
#include "support/pki.h"
#include "tls/ticket_keys.h"

namespace ringway::tlsproxy {
namespace {

using testsupport::CertFiles;
using testsupport::Pki;
using testsupport::pki;

std::vector<config::Problem> problems(const std::string& yaml) {
  try {
    config::loadString(yaml, "t.yaml");
  } catch (const config::ConfigError& e) {
    return e.problems();
  }
  return {};
}

std::string all(const std::vector<config::Problem>& ps) {
  std::string s;
  for (const auto& p : ps) s += p.str() + "\n";
  return s;
}

std::string listener(const std::string& tls, const std::string& routes = "[ { cluster: c } ]",
                     const std::string& protocol = "tcp") {
  return "listeners:\n"
         "  - name: l\n"
         "    address: \"127.0.0.1:0\"\n"
         "    protocol: " +
         protocol + "\n" + tls + "    routes: " + routes + "\n";
}

const std::string kCluster =
    "clusters:\n  - { name: c, endpoints: [ { address: \"127.0.0.1:9\" } ] }\n";

std::string certs(const CertFiles& f, const std::string& extra = "") {
  return "    tls:\n      certificates:\n        - { cert: " + f.cert + ", key: " + f.key + " }\n" +
         extra;
}

TEST(TlsConfig, LoadsWithDefaultsAndSharedTicketKeys) {
  const Pki& p = pki();
  auto cfg = config::loadString(listener(certs(p.rsa)) + kCluster, "t.yaml");
  const auto& t = *cfg->listeners[0].tls;
  EXPECT_EQ(t.min_version, "1.2");
  EXPECT_TRUE(t.session_tickets);
  ASSERT_TRUE(t.ticket_keys);
  EXPECT_EQ(t.handshake_timeout, config::Duration(10000));
  EXPECT_TRUE(cfg->warnings.empty()) << cfg->warnings[0];
  auto off = config::loadString(listener(certs(p.rsa, "      session_tickets: false\n")) + kCluster,
                                "t.yaml");
  EXPECT_FALSE(off->listeners[0].tls->ticket_keys);
}

TEST(TlsConfig, RelativeFilesAreRelativeToTheConfigFile) {
  const Pki& p = pki();
  const std::string path = p.dir + "/ringway.yaml";
  std::ofstream(path) << listener(
                             "    tls: { certificates: [ { cert: rsa.crt, key: rsa.key } ] }\n") +
                             kCluster;
  auto cfg = config::loadFile(path);
  EXPECT_EQ(cfg->listeners[0].tls->certificates[0].cert, p.dir + "/rsa.crt");
}

TEST(TlsConfig, MissingFileAndMismatchedKeyNameTheKey) {
  const Pki& p = pki();
  auto ps = problems(listener("    tls:\n"
                              "      certificates:\n"
                              "        - { cert: /nonexistent.pem, key: " +
                              p.rsa.key +
                              " }\n"
                              "        - { cert: " +
                              p.rsa.cert + ", key: " + p.ecdsa.key + " }\n") +
                     kCluster);
  ASSERT_EQ(ps.size(), 2u) << all(ps);
  EXPECT_EQ(ps[0].path, "listeners[0].tls.certificates[0].cert");
  EXPECT_EQ(ps[0].line, 7);
  EXPECT_EQ(ps[0].col, 19);
  EXPECT_NE(ps[0].message.find("/nonexistent.pem"), std::string::npos) << ps[0].message;
  EXPECT_EQ(ps[1].path, "listeners[0].tls.certificates[1].key");
  EXPECT_EQ(ps[1].line, 8);
  EXPECT_NE(ps[1].message.find("does not match"), std::string::npos) << ps[1].message;
}

TEST(TlsConfig, ExpiredCertificateIsAWarningWithItsExpiry) {
  const Pki& p = pki();
  auto cfg = config::loadString(listener(certs(p.expired)) + kCluster, "t.yaml");
  ASSERT_EQ(cfg->warnings.size(), 1u);
  EXPECT_NE(cfg->warnings[0].find("certificate expired at 20"), std::string::npos)
      << cfg->warnings[0];
  EXPECT_EQ(cfg->warnings[0].rfind("t.yaml:7:19:", 0), 0u) << cfg->warnings[0];
}

TEST(TlsConfig, WhereSniAndTlsMayAppear) {
  const Pki& p = pki();
  struct Case {
    std::string yaml;
    std::string path;
    std::string says;
  } cases[] = {
      {listener("", "[ { match: { sni: a.test }, cluster: c } ]"),
       "listeners[0].routes[0].match.sni", "tls_passthrough, or tcp with tls"},
      {listener("", "[ { match: { sni: a.test }, cluster: c } ]", "http"),
       "listeners[0].routes[0].match.sni", "match on host"},
      {listener(certs(p.rsa), "[ { cluster: c }, { cluster: c } ]"), "listeners[0].routes[1]",
       "only one route may go without a match"},
      {listener(
           certs(p.rsa),
           "[ { match: { sni: a.test }, cluster: c }, { match: { sni: A.test. }, cluster: c } ]"),
       "listeners[0].routes[1].match.sni", "matched by route 0"},
      {listener(certs(p.rsa), "[ { match: { sni: \"a.*\" }, cluster: c } ]"),
       "listeners[0].routes[0].match.sni", "invalid server name"},
      {listener("", "[ { cluster: c }, { cluster: c } ]"), "listeners[0].routes[1]",
       "tcp listeners take one route"},
      {listener(certs(p.rsa), "[ { cluster: c } ]", "tls_passthrough"), "listeners[0].tls",
       "takes no tls block"},
      {listener("    client_hello_timeout: 1s\n"), "listeners[0].client_hello_timeout",
       "only for protocol: tls_passthrough"},
      {listener(certs(p.rsa, "      min_version: \"1.1\"\n")), "listeners[0].tls.min_version",
       "1.2"},
  };
  for (const Case& k : cases) {
    auto ps = problems(k.yaml + kCluster);
    ASSERT_EQ(ps.size(), 1u) << k.yaml << all(ps);
    EXPECT_EQ(ps[0].path, k.path) << k.yaml;
    EXPECT_NE(ps[0].message.find(k.says), std::string::npos) << ps[0].message;
  }
}

TEST(TlsConfig, ClusterTls) {
  const Pki& p = pki();
  const std::string l = listener("");
  auto cluster = [](const std::string& tls) {
    return "clusters:\n  - name: c\n    endpoints: [ { address: \"127.0.0.1:9\" } ]\n    tls: " +
           tls + "\n";
  };
  auto ok = config::loadString(
      l + cluster("{ server_name: Upstream.Test, ca: " + p.root_ca + ", cert: " + p.client.cert +
                  ", key: " + p.client.key + ", alpn: [http/1.1] }"),
      "t.yaml");
  EXPECT_EQ(ok->clusters[0].tls->server_name, "upstream.test");
  EXPECT_TRUE(ok->clusters[0].tls->verify);
  struct Case {
    std::string tls;
    std::string path;
    std::string says;
  } cases[] = {
      {"{ ca: " + p.root_ca + " }", "clusters[0].tls", "server_name is required"},
      {"{ server_name: a.test, cert: " + p.client.cert + " }", "clusters[0].tls.cert",
       "needs both cert and key"},
      {"{ server_name: a.test, ca: /nonexistent-ca.pem }", "clusters[0].tls.ca",
       "/nonexistent-ca.pem"},
      {"{ server_name: a.test, cert: " + p.client.cert + ", key: " + p.rsa.key + " }",
       "clusters[0].tls.key", "does not match"},
      {"{ server_name: \"*.a.test\" }", "clusters[0].tls.server_name", "invalid server_name"},
  };
  for (const Case& k : cases) {
    auto ps = problems(l + cluster(k.tls));
    ASSERT_EQ(ps.size(), 1u) << k.tls << "\n" << all(ps);
    EXPECT_EQ(ps[0].path, k.path) << k.tls;
    EXPECT_NE(ps[0].message.find(k.says), std::string::npos) << ps[0].message;
  }
  // An IP address is a server_name too (checked against IP SANs, not sent as SNI).
  auto ip = config::loadString(l + cluster("{ server_name: 127.0.0.1, ca: " + p.root_ca + " }"),
                               "t.yaml");
  EXPECT_EQ(ip->clusters[0].tls->server_name, "127.0.0.1");
}

TEST(TlsConfig, PassthroughToATlsClusterIsAnError) {
  const Pki& p = pki();
  auto ps = problems(listener("", "[ { cluster: c } ]", "tls_passthrough") +
                     "clusters:\n  - name: c\n    endpoints: [ { address: \"127.0.0.1:9\" } ]\n"
                     "    tls: { server_name: a.test, ca: " +
                     p.root_ca + " }\n");
  ASSERT_EQ(ps.size(), 1u) << all(ps);
  EXPECT_EQ(ps[0].path, "listeners[0].routes[0].cluster");
  EXPECT_NE(ps[0].message.find("already TLS"), std::string::npos) << ps[0].message;
}

}  // namespace
}  // namespace ringway::tlsproxy
