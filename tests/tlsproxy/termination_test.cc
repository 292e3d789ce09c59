// TLS-terminated tcp listeners against a real Server in this process, on both backends.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core/server.h"
#include "tls/ticket_keys.h"
#include "tlsproxy/support.h"

namespace ringway::tlsproxy {
namespace {

class Termination : public ::testing::TestWithParam<std::string> {
 protected:
  const std::string& backend() const { return GetParam(); }

  // A tcp listener with the standard certificate set and the given extra tls keys and routes.
  std::string yaml(const std::string& tlsExtra, const std::string& routes,
                   const std::string& clusters, unsigned workers = 1) const {
    const Pki& p = pki();
    return header(backend(), workers) +
           "listeners:\n"
           "  - name: tls_in\n"
           "    address: \"127.0.0.1:0\"\n"
           "    protocol: tcp\n"
           "    tls:\n"
           "      certificates:\n"
           "        - { cert: " +
           p.rsa.cert + ", key: " + p.rsa.key +
           ", server_names: [rsa.test] }\n"
           "        - { cert: " +
           p.ecdsa.cert + ", key: " + p.ecdsa.key +
           ", server_names: [ecdsa.test, www.ecdsa.test] }\n"
           "        - { cert: " +
           p.wildcard.cert + ", key: " + p.wildcard.key +
           ", server_names: [\"*.wild.test\"] }\n"
           "        - { cert: " +
           p.fallback.cert + ", key: " + p.fallback.key + " }\n" + tlsExtra + "    routes:\n" +
           routes + "clusters:\n" + clusters;
  }

  static std::string cluster(const std::string& name, const Backend& b) {
    return "  - { name: " + name + ", endpoints: [ { address: \"" + b.address() + "\" } ] }\n";
  }

  static ClientOptions client(const std::string& sni) {
    ClientOptions o;
    o.sni = sni;
    o.ca = pki().root_ca;
    return o;
  }
};

TEST_P(Termination, DataBothWaysWithHalfClose) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(yaml("", "      - { cluster: be }\n", cluster("be", be)));
  const uint64_t seed = 0x5eed0001;
  const std::vector<uint8_t> data = randomBytes(3 * 1024 * 1024 + 17, seed);
  TlsClient c(proxy.port(), client("rsa.test"));
  ASSERT_EQ(c.handshake(), "");
  const std::vector<uint8_t> got = c.echo(data);
  EXPECT_EQ(compareBytes(data, got), "") << "seed " << seed << "; " << c.error();
  // Half-close: our close_notify becomes the backend's FIN, its FIN our close_notify.
  c.shutdown();
  uint8_t b;
  EXPECT_EQ(c.recv(&b, 1), 0) << "expected the proxy's close_notify; " << c.error();
  EXPECT_TRUE(waitFor([&] { return proxy.active() == 0; }, 5s));
  EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.tls.handshakes.load(); }), 1u);
  EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.bytesIn.load(); }), data.size());
}

// 1,000 TLS connections open at once (fewer under sanitizers, which make handshakes slow).
TEST_P(Termination, ManyConnectionsAtOnce) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(yaml("", "      - { cluster: be }\n", cluster("be", be), 2));
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr int N = 150;
#else
  constexpr int N = 1000;
#endif
  std::vector<std::unique_ptr<TlsClient>> cs;
  for (int i = 0; i < N; ++i) {
    cs.push_back(std::make_unique<TlsClient>(proxy.port(), client("ecdsa.test")));
    ASSERT_EQ(cs.back()->handshake(), "") << "connection " << i;
  }
  for (int i = 0; i < N; ++i) {
    const std::vector<uint8_t> data = randomBytes(4096 + static_cast<std::size_t>(i), i);
    ASSERT_EQ(compareBytes(data, cs[static_cast<std::size_t>(i)]->echo(data)), "")
        << "connection " << i;
  }
  cs.clear();
  EXPECT_TRUE(waitFor([&] { return proxy.active() == 0; }, 10s));
}

TEST_P(Termination, CertificateBySni) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(yaml("", "      - { cluster: be }\n", cluster("be", be)));
  const std::pair<const char*, const char*> cases[] = {
      {"rsa.test", "rsa.test"},         {"ecdsa.test", "ecdsa.test"},
      {"WWW.ecdsa.test", "ecdsa.test"}, {"x.wild.test", "*.wild.test"},
      {"other.test", "default.test"},   {"", "default.test"},
  };
  for (const auto& [sni, cn] : cases) {
    ClientOptions o;
    o.sni = sni;
    TlsClient c(proxy.port(), o);
    ASSERT_EQ(c.handshake(), "") << sni;
    EXPECT_EQ(c.peerCommonName(), cn) << "sni '" << sni << "'";
  }
}

TEST_P(Termination, RouteBySni) {
  REQUIRE_BACKEND(backend());
  Backend a(banner("A")), w(banner("W")), d(banner("D"));
  Proxy proxy(yaml("",
                   "      - { match: { sni: rsa.test }, cluster: a }\n"
                   "      - { match: { sni: \"*.wild.test\" }, cluster: w }\n"
                   "      - { cluster: d }\n",
                   cluster("a", a) + cluster("w", w) + cluster("d", d)));
  const std::pair<const char*, const char*> cases[] = {
      {"rsa.test", "A"}, {"deep.x.wild.test", "W"}, {"ecdsa.test", "D"}, {"", "D"}};
  for (const auto& [sni, want] : cases) {
    ClientOptions o;
    o.sni = sni;
    TlsClient c(proxy.port(), o);
    ASSERT_EQ(c.handshake(), "") << sni;
    EXPECT_EQ(c.recvLine(), want) << "sni '" << sni << "'";
  }
}

TEST_P(Termination, NoRouteCloses) {
  REQUIRE_BACKEND(backend());
  Backend a(banner("A"));
  Proxy proxy(yaml("", "      - { match: { sni: rsa.test }, cluster: a }\n", cluster("a", a)));
  ClientOptions o;
  o.sni = "ecdsa.test";
  TlsClient c(proxy.port(), o);
  ASSERT_EQ(c.handshake(), "");
  uint8_t b;
  EXPECT_LE(c.recv(&b, 1), 0);
  EXPECT_TRUE(
      waitFor([&] { return proxy.sum(0, [](auto& s) { return s.tls.noRoute.load(); }) == 1; }, 5s));
  EXPECT_EQ(a.accepted(), 0);
}

TEST_P(Termination, Alpn) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(yaml("      alpn: [h2, http/1.1]\n", "      - { cluster: be }\n", cluster("be", be)));
  struct Case {
    std::vector<std::string> offer;
    std::string want;
  } cases[] = {{{"http/1.1"}, "http/1.1"}, {{"http/1.1", "h2"}, "h2"}, {{"foo"}, ""}, {{}, ""}};
  for (const Case& k : cases) {
    ClientOptions o = client("rsa.test");
    o.alpn = k.offer;
    TlsClient c(proxy.port(), o);
    ASSERT_EQ(c.handshake(), "");
    EXPECT_EQ(c.alpn(), k.want);
  }
}

TEST_P(Termination, Tls12AndMinVersion) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  {
    Proxy proxy(yaml("", "      - { cluster: be }\n", cluster("be", be)));
    ClientOptions o = client("rsa.test");
    o.maxVersion = TLS1_2_VERSION;
    TlsClient c(proxy.port(), o);
    ASSERT_EQ(c.handshake(), "");
    EXPECT_EQ(c.version(), TLS1_2_VERSION);
    const auto data = randomBytes(100000, 3);
    EXPECT_EQ(compareBytes(data, c.echo(data)), "");
  }
  Proxy proxy(yaml("      min_version: \"1.3\"\n", "      - { cluster: be }\n", cluster("be", be)));
  ClientOptions o = client("rsa.test");
  o.maxVersion = TLS1_2_VERSION;
  TlsClient c(proxy.port(), o);
  EXPECT_NE(c.handshake(), "");
}

// Tickets are encrypted with keys all workers share: a ticket from one worker resumes on the
// other. The kernel spreads connections by 4-tuple hash, so enough of them land on both.
TEST_P(Termination, ResumptionAcrossWorkers) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(yaml("", "      - { cluster: be }\n", cluster("be", be), 2));
  for (int maxVersion : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SSL_SESSION* session = nullptr;
    {
      ClientOptions o = client("rsa.test");
      o.maxVersion = maxVersion;
      TlsClient c(proxy.port(), o);
      ASSERT_EQ(c.handshake(), "");
      const auto data = randomBytes(1000, 1);
      ASSERT_EQ(compareBytes(data, c.echo(data)), "");  // TLS 1.3 tickets come after
      session = c.session();
    }
    int resumed = 0;
    for (int i = 0; i < 12; ++i) {
      ClientOptions o = client("rsa.test");
      o.maxVersion = maxVersion;
      o.session = session;
      TlsClient c(proxy.port(), o);
      ASSERT_EQ(c.handshake(), "");
      resumed += c.resumed();
      const auto data = randomBytes(100, 2);
      ASSERT_EQ(compareBytes(data, c.echo(data)), "");
      if (maxVersion == TLS1_3_VERSION) {  // single use: take the fresh ticket
        SSL_SESSION_free(session);
        session = c.session();
      }
    }
    SSL_SESSION_free(session);
    EXPECT_EQ(resumed, 12) << "TLS version " << std::hex << maxVersion;
  }
  // Both workers handshook and resumed: the shared keys worked across them.
  int workersResuming = 0;
  for (const auto& w : proxy.server().workers())
    workersResuming += w->listeners()[0]->stats().tls.resumed.load() > 0;
  EXPECT_EQ(workersResuming, 2);
}

// Keys rotate on the workers' ticks, with or without tickets being issued.
TEST_P(Termination, TicketKeysRotateOnTicks) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(
      yaml("      ticket_rotation: 1s\n", "      - { cluster: be }\n", cluster("be", be), 2));
  const auto& keys = proxy.server().config().listeners[0].tls->ticket_keys;
  ASSERT_TRUE(keys);
  EXPECT_TRUE(waitFor([&] { return keys->rotations() >= 2; }, 10s)) << keys->rotations();
}

TEST_P(Termination, GarbageIsClosedAndCounted) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(yaml("", "      - { cluster: be }\n", cluster("be", be)));
  Fd fd = connectTo(proxy.port());
  const std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(sendRaw(fd.get(), req.data(), req.size()));
  std::string end;
  readToEnd(fd.get(), 5s, &end);
  EXPECT_TRUE(end == "eof" || end == "reset") << end;
  EXPECT_TRUE(
      waitFor([&] { return proxy.sum(0, [](auto& s) { return s.tls.notTls.load(); }) == 1; }, 5s));
  EXPECT_TRUE(waitFor([&] { return proxy.active() == 0; }, 5s));
  EXPECT_EQ(be.accepted(), 0);
  // The listener still serves.
  TlsClient c(proxy.port(), client("rsa.test"));
  EXPECT_EQ(c.handshake(), "");
}

TEST_P(Termination, HandshakeTimeout) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(
      yaml("      handshake_timeout: 300ms\n", "      - { cluster: be }\n", cluster("be", be)));
  Fd silent = connectTo(proxy.port());
  Fd half = connectTo(proxy.port());
  ASSERT_TRUE(sendRaw(half.get(), "\x16\x03\x01\x02\x00", 5));  // a record header, no more
  std::string end1, end2;
  readToEnd(silent.get(), 5s, &end1);
  readToEnd(half.get(), 5s, &end2);
  EXPECT_EQ(end1, "eof");
  EXPECT_EQ(end2, "eof");
  EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.tls.handshakeTimeouts.load(); }), 2u);
  EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.tls.failures.of("handshake timeout"); }), 2u);
  EXPECT_TRUE(waitFor([&] { return proxy.active() == 0; }, 5s));
}

TEST_P(Termination, ClientAlertCountedByReason) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(yaml("", "      - { cluster: be }\n", cluster("be", be)));
  ClientOptions o = client("rsa.test");
  o.ca = pki().other_ca;  // the client rejects our certificate: "unknown ca" alert
  TlsClient c(proxy.port(), o);
  EXPECT_NE(c.handshake(), "");
  EXPECT_TRUE(waitFor(
      [&] {
        return proxy.sum(0, [](auto& s) { return s.tls.alerts.of("tlsv1 alert unknown ca"); }) == 1;
      },
      5s));
}

INSTANTIATE_TEST_SUITE_P(Backends, Termination, ::testing::Values("io_uring", "epoll"));

}  // namespace
}  // namespace ringway::tlsproxy
