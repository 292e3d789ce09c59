// TLS families on /metrics: handshakes, failures, not-TLS clients and SNI misses move by
// exactly what the test did; listeners without TLS get no TLS series.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "admin_test_support.h"
#include "support/eintr.h"

namespace ringway::core::test {
namespace {

// notAfter of a PEM certificate in unix seconds; -1 if it cannot be read.
int64_t notAfterOf(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr)
    return -1;
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (x == nullptr)
    return -1;
  std::tm tm{};
  const bool ok = ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1;
  X509_free(x);
  return ok ? static_cast<int64_t>(timegm(&tm)) : -1;
}

// A TLS client handshake (offering `resume` if set, capped at maxVersion if set) and one echo
// round trip (TLS 1.3 tickets arrive before the echo), then FIN. The SSL is freed as if
// close_notify had been exchanged: otherwise OpenSSL marks the session not resumable.
// Returns the session to resume next time (caller frees), nullptr if the handshake failed;
// *resumed says whether this one resumed.
SSL_SESSION* handshakeSession(const std::string& address, SSL_SESSION* resume, int maxVersion,
                              bool* resumed) {
  const int fd = connectTo(address);
  if (fd < 0)
    return nullptr;
  timeval tv{5, 0}; // a deadline, not a speed check
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (maxVersion != 0)
    SSL_CTX_set_max_proto_version(ctx, maxVersion);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "dump.test");
  if (resume != nullptr)
    SSL_set_session(ssl, resume);
  SSL_SESSION* out = nullptr;
  if (testsupport::sslRetryEintr(ssl, [&] { return SSL_connect(ssl); }) == 1) {
    *resumed = SSL_session_reused(ssl) == 1;
    char echo[4];
    if (testsupport::sslRetryEintr(ssl, [&] { return SSL_write(ssl, "ping", 4); }) == 4) {
      for (int got = 0; got < 4;) {
        const int n =
            testsupport::sslRetryEintr(ssl, [&] { return SSL_read(ssl, echo + got, 4 - got); });
        if (n <= 0)
          break;
        got += n;
      }
    }
    out = SSL_get1_session(ssl);
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    ::shutdown(fd, SHUT_WR);
    char b[256];
    while (testsupport::retryEintr([&] { return ::recv(fd, b, sizeof b, 0); }) > 0) {
      // until the proxy closes
    }
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return out;
}

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
  EXPECT_EQ(
      sample(
          m,
          R"(ringway_tls_handshakes_total{listener="tls-in",result="success",version="TLSv1.3"})"),
      2.0)
      << m;
  EXPECT_EQ(sample(m, R"(ringway_tls_resumptions_total{listener="tls-in"})"), 0.0);
  // Failures: the alert (after the version was agreed) and the plain-HTTP client (before).
  EXPECT_EQ(sumOf(m, "ringway_tls_handshake_failures_total", {"listener=\"tls-in\""}), 2.0) << m;
  EXPECT_EQ(
      sample(
          m,
          R"(ringway_tls_handshakes_total{listener="tls-in",result="failure",version="TLSv1.3"})"),
      1.0)
      << m;
  EXPECT_EQ(
      sample(
          m,
          R"(ringway_tls_handshakes_total{listener="tls-in",result="failure",version="unknown"})"),
      1.0)
      << m;
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

// N full handshakes and M resumed ones move the handshake counters, resumptions and the
// duration histogram by exactly that; the expiry gauge shows each certificate's notAfter per
// configured name, and "" for the default certificate without names.
TEST(AdminTlsMetrics, HandshakesResumptionsDurationAndExpiry) {
  REQUIRE_URING();
  TempPki pki;
  if (!pki.ok)
    GTEST_SKIP() << "openssl CLI not available";
  const std::string named = pki.dir + "/named.crt", namedKey = pki.dir + "/named.key";
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                          "-nodes -days 30 -subj /CN=a.test -addext "
                          "subjectAltName=DNS:a.test,DNS:*.b.test -keyout " +
                          namedKey + " -out " + named + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const int64_t defaultNotAfter = notAfterOf(pki.cert);
  const int64_t namedNotAfter = notAfterOf(named);
  ASSERT_GT(defaultNotAfter, 0);
  ASSERT_GT(namedNotAfter, defaultNotAfter);
  EchoBackend backend;
  const std::string yaml = R"(workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - name: tls-in
    address: "127.0.0.1:0"
    tls:
      certificates:
        - { cert: )" + named +
                           ", key: " + namedKey +
                           R"(, server_names: [a.test, "*.b.test"] }
        - { cert: )" + pki.cert +
                           ", key: " + pki.key +
                           R"( }
    routes: [ { cluster: backend } ]
clusters:
  - { name: backend, endpoints: [ { address: ")" +
                           backend.address() + R"(" } ] }
)";
  Proxy p = startProxy(yaml);
  const std::string addr = p.server->boundAddresses()[0];

  constexpr int Full13 = 3, Resumed13 = 2, Full12 = 1;
  int resumedSeen = 0;
  SSL_SESSION* last = nullptr;
  for (int i = 0; i < Full13; ++i) {
    bool r = false;
    SSL_SESSION* s = handshakeSession(addr, nullptr, 0, &r);
    ASSERT_NE(s, nullptr) << "full handshake " << i;
    resumedSeen += r;
    if (last != nullptr)
      SSL_SESSION_free(last);
    last = s;
  }
  for (int i = 0; i < Resumed13; ++i) {
    bool r = false;
    SSL_SESSION* s = handshakeSession(addr, last, 0, &r);
    ASSERT_NE(s, nullptr) << "resumed handshake " << i;
    EXPECT_TRUE(r) << "handshake " << i << " did not resume";
    resumedSeen += r;
    SSL_SESSION_free(last);
    last = s;
  }
  SSL_SESSION_free(last);
  {
    bool r = false;
    SSL_SESSION* s = handshakeSession(addr, nullptr, TLS1_2_VERSION, &r);
    ASSERT_NE(s, nullptr) << "TLS 1.2 handshake";
    SSL_SESSION_free(s);
  }
  ASSERT_EQ(resumedSeen, Resumed13);

  constexpr double Total = Full13 + Resumed13 + Full12;
  std::string m;
  const bool settled = waitFor([&] {
    m = get(p.admin_address(), "/metrics").body;
    return sample(m, R"(ringway_downstream_connections_active{listener="tls-in"})") == 0.0 &&
           sumOf(m, "ringway_tls_handshakes_total") == Total;
  });
  ASSERT_TRUE(settled) << m;
  EXPECT_EQ(
      sample(
          m,
          R"(ringway_tls_handshakes_total{listener="tls-in",result="success",version="TLSv1.3"})"),
      Full13 + Resumed13)
      << m;
  EXPECT_EQ(
      sample(
          m,
          R"(ringway_tls_handshakes_total{listener="tls-in",result="success",version="TLSv1.2"})"),
      Full12)
      << m;
  EXPECT_EQ(sumOf(m, "ringway_tls_handshakes_total", {"result=\"failure\""}), 0.0) << m;
  EXPECT_EQ(sample(m, R"(ringway_tls_resumptions_total{listener="tls-in"})"), Resumed13) << m;
  EXPECT_EQ(sample(m, R"(ringway_tls_handshake_duration_seconds_count{listener="tls-in"})"), Total)
      << m;
  EXPECT_EQ(
      sample(m, R"(ringway_tls_handshake_duration_seconds_bucket{listener="tls-in",le="+Inf"})"),
      Total)
      << m;
  const std::optional<double> sum =
      sample(m, R"(ringway_tls_handshake_duration_seconds_sum{listener="tls-in"})");
  ASSERT_TRUE(sum.has_value()) << m;
  EXPECT_GT(*sum, 0.0);
  EXPECT_EQ(
      sample(
          m,
          R"(ringway_tls_certificate_expiry_timestamp_seconds{listener="tls-in",server_name=""})"),
      static_cast<double>(defaultNotAfter))
      << m;
  EXPECT_EQ(
      sample(
          m,
          R"(ringway_tls_certificate_expiry_timestamp_seconds{listener="tls-in",server_name="a.test"})"),
      static_cast<double>(namedNotAfter))
      << m;
  EXPECT_EQ(
      sample(
          m,
          R"(ringway_tls_certificate_expiry_timestamp_seconds{listener="tls-in",server_name="*.b.test"})"),
      static_cast<double>(namedNotAfter))
      << m;
  EXPECT_EQ(sumOf(m, "ringway_tls_certificate_expiry_timestamp_seconds"),
            static_cast<double>(defaultNotAfter + 2 * namedNotAfter))
      << m;
}

} // namespace
} // namespace ringway::core::test
