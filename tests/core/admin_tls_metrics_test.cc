// TLS families on /metrics: handshakes, failures, not-TLS clients and SNI misses move by
// exactly what the test did; listeners without TLS get no TLS series.
#include <gtest/gtest.h>

#include "admin_test_support.h"

namespace ringway::core::test {
namespace {

TEST(AdminTlsMetrics, HandshakesFailuresAndSniMisses) {
  REQUIRE_URING();
  TempPki pki;
  if (!pki.ok)
    GTEST_SKIP() << "openssl CLI not available";
  EchoBackend backend;
  const std::string yaml = R"(workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - name: plain
    address: "127.0.0.1:0"
    routes: [ { cluster: backend } ]
  - name: tls-in
    address: "127.0.0.1:0"
    tls: { certificates: [ { cert: )" +
                           pki.cert + ", key: " + pki.key + R"( } ] }
    routes: [ { cluster: backend } ]
  - name: pass
    address: "127.0.0.1:0"
    protocol: tls_passthrough
    routes: [ { match: { sni: "*.example.com" }, cluster: backend } ]
clusters:
  - { name: backend, endpoints: [ { address: ")" +
                           backend.address() + R"(" } ] }
)";
  Proxy p = startProxy(yaml);
  const std::string tlsIn = p.server->boundAddresses()[1];
  const std::string pass = p.server->boundAddresses()[2];

  ASSERT_TRUE(tlsHandshake(tlsIn, "dump.test"));
  ASSERT_TRUE(tlsHandshake(tlsIn, "dump.test"));
  // A client that does not trust the certificate: it aborts with a fatal alert.
  EXPECT_FALSE(tlsHandshake(tlsIn, "dump.test", true));
  // Plain HTTP to the TLS port: not a ClientHello.
  httpExchange(tlsIn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::seconds(10), true);
  // An SNI no passthrough route takes: closed without a handshake.
  EXPECT_FALSE(tlsHandshake(pass, "nope.test"));

  std::string m;
  const bool settled = waitFor([&] {
    m = get(p.admin_address(), "/metrics").body;
    return sample(m, R"(ringway_tls_not_tls_total{listener="tls-in"})") == 1.0 &&
           sumOf(m, "ringway_tls_alerts_received_total") == 1.0 &&
           sample(m, R"(ringway_tls_no_route_total{listener="pass"})") == 1.0 &&
           sample(m, R"(ringway_downstream_connections_active{listener="tls-in"})") == 0.0;
  });
  ASSERT_TRUE(settled) << m;
  EXPECT_EQ(sample(m, R"(ringway_tls_handshakes_total{listener="tls-in",resumed="false"})"), 2.0)
      << m;
  EXPECT_EQ(sample(m, R"(ringway_tls_handshakes_total{listener="tls-in",resumed="true"})"), 0.0);
  // Failures: the alert and the plain-HTTP client.
  EXPECT_EQ(sumOf(m, "ringway_tls_handshake_failures_total", {"listener=\"tls-in\""}), 2.0) << m;
  EXPECT_EQ(sumOf(m, "ringway_tls_alerts_received_total", {"listener=\"tls-in\""}), 1.0) << m;
  EXPECT_EQ(sample(m, R"(ringway_downstream_connections_total{listener="tls-in"})"), 4.0);
  EXPECT_EQ(sample(m, R"(ringway_tls_no_route_total{listener="tls-in"})"), 0.0);
  EXPECT_EQ(
      sample(
          m,
          R"(ringway_tls_passthrough_client_hello_errors_total{listener="pass",reason="timeout"})"),
      0.0);
  // No TLS series for the plain listener, no handshake series for passthrough, and no
  // upstream TLS family at all (no cluster uses TLS).
  EXPECT_EQ(m.find("ringway_tls_not_tls_total{listener=\"plain\"}"), std::string::npos);
  EXPECT_EQ(m.find("ringway_tls_handshakes_total{listener=\"pass\""), std::string::npos);
  EXPECT_EQ(m.find("ringway_upstream_tls_"), std::string::npos);
}

} // namespace
} // namespace ringway::core::test
