// protocol: tls_passthrough: routing by the SNI of a ClientHello the proxy never terminates.
#include <gtest/gtest.h>

#include "core/server.h"
#include "tlsproxy/support.h"

namespace ringway::tlsproxy {
namespace {

class Passthrough : public ::testing::TestWithParam<std::string> {
 protected:
  const std::string& backend() const { return GetParam(); }

  std::string yaml(const std::string& routes, const std::string& clusters,
                   const std::string& extra = "") const {
    return header(backend()) +
           "listeners:\n"
           "  - name: pt\n"
           "    address: \"127.0.0.1:0\"\n"
           "    protocol: tls_passthrough\n" +
           extra + "    routes:\n" + routes + "clusters:\n" + clusters;
  }

  static std::string cluster(const std::string& name, const Backend& b) {
    return "  - { name: " + name + ", endpoints: [ { address: \"" + b.address() + "\" } ] }\n";
  }

  static ClientOptions client(const std::string& sni, const std::string& verifyName = "") {
    ClientOptions o;
    o.sni = sni;
    o.ca = pki().root_ca;
    o.verifyName = verifyName;
    return o;
  }
};

// End to end: the client's TLS session is with the backend (its certificate, its echo).
TEST_P(Passthrough, RoutesBySniToBackendsThatTerminate) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend a(tlsBanner("A", p.a)), b(tlsBanner("B", p.b)), w(tlsBanner("W", p.wildcard));
  Proxy proxy(
      yaml("      - { match: { sni: a.test }, cluster: a }\n"
           "      - { match: { sni: \"*.wild.test\" }, cluster: w }\n"
           "      - { cluster: b }\n",
           cluster("a", a) + cluster("b", b) + cluster("w", w)));
  struct Case {
    const char* sni;
    const char* verify;
    const char* want;
  } cases[] = {{"a.test", "", "A"},
               {"A.TEST", "a.test", "A"},
               {"x.wild.test", "", "W"},
               {"b.test", "", "B"},
               {"other.test", "b.test", "B"}};
  for (const Case& k : cases) {
    TlsClient c(proxy.port(), client(k.sni, k.verify));
    ASSERT_EQ(c.handshake(), "") << k.sni;
    EXPECT_EQ(c.recvLine(), k.want) << k.sni;
    const auto data = randomBytes(300000, 7);
    EXPECT_EQ(compareBytes(data, c.echo(data)), "") << k.sni;
    c.shutdown();
    uint8_t x;
    EXPECT_EQ(c.recv(&x, 1), 0) << k.sni;
  }
  EXPECT_TRUE(waitFor([&] { return proxy.active() == 0; }, 5s));
}

// The ClientHello arrives in 40-byte pieces, 20 ms apart: reassembled, then forwarded whole.
TEST_P(Passthrough, SplitClientHello) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend a(tlsBanner("A", p.a)), b(tlsBanner("B", p.b));
  Proxy proxy(
      yaml("      - { match: { sni: a.test }, cluster: a }\n"
           "      - { cluster: b }\n",
           cluster("a", a) + cluster("b", b)));
  ClientOptions o = client("a.test");
  o.splitHello = 40;
  TlsClient c(proxy.port(), o);
  ASSERT_EQ(c.handshake(10s), "");
  EXPECT_EQ(c.recvLine(), "A");
  EXPECT_EQ(b.accepted(), 0);
}

TEST_P(Passthrough, NoSniGoesToTheDefault) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend a(tlsBanner("A", p.a)), b(tlsBanner("B", p.b));
  Proxy proxy(
      yaml("      - { match: { sni: a.test }, cluster: a }\n"
           "      - { cluster: b }\n",
           cluster("a", a) + cluster("b", b)));
  TlsClient c(proxy.port(), client("", "b.test"));
  ASSERT_EQ(c.handshake(), "");
  EXPECT_EQ(c.recvLine(), "B");
}

TEST_P(Passthrough, NoSniNoDefaultCloses) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend a(tlsBanner("A", p.a));
  Proxy proxy(yaml("      - { match: { sni: a.test }, cluster: a }\n", cluster("a", a)));
  TlsClient c(proxy.port(), client("", "a.test"));
  EXPECT_NE(c.handshake(), "");
  TlsClient d(proxy.port(), client("b.test"));
  EXPECT_NE(d.handshake(), "");
  EXPECT_TRUE(
      waitFor([&] { return proxy.sum(0, [](auto& s) { return s.tls.noRoute.load(); }) == 2; }, 5s));
  EXPECT_EQ(a.accepted(), 0);
  EXPECT_TRUE(waitFor([&] { return proxy.active() == 0; }, 5s));
}

TEST_P(Passthrough, GarbageAndTimeouts) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend a(tlsBanner("A", p.a));
  Proxy proxy(
      yaml("      - { cluster: a }\n", cluster("a", a), "    client_hello_timeout: 300ms\n"));
  Fd garbage = connectTo(proxy.port());
  ASSERT_TRUE(sendRaw(garbage.get(), "SSH-2.0-OpenSSH_9.2\r\n", 21));
  Fd silent = connectTo(proxy.port());
  Fd partial = connectTo(proxy.port());
  ASSERT_TRUE(sendRaw(partial.get(), "\x16\x03\x01\x02\x00\x01", 6));
  std::string e1, e2, e3;
  readToEnd(garbage.get(), 5s, &e1);
  readToEnd(silent.get(), 5s, &e2);
  readToEnd(partial.get(), 5s, &e3);
  EXPECT_TRUE(e1 == "eof" || e1 == "reset") << e1;
  EXPECT_TRUE(e2 == "eof" || e2 == "reset") << e2;
  EXPECT_TRUE(e3 == "eof" || e3 == "reset") << e3;
  EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.tls.notTls.load(); }), 1u);
  EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.tls.clientHelloTimeouts.load(); }), 2u);
  EXPECT_EQ(a.accepted(), 0);
  EXPECT_TRUE(waitFor([&] { return proxy.active() == 0; }, 5s));
}

TEST_P(Passthrough, TooLargeClientHello) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend a(tlsBanner("A", p.a));
  Proxy proxy(yaml("      - { cluster: a }\n", cluster("a", a)));
  // A handshake header announcing a 64 KiB ClientHello.
  const unsigned char hello[] = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00, 0x00};
  Fd fd = connectTo(proxy.port());
  ASSERT_TRUE(sendRaw(fd.get(), hello, sizeof hello));
  std::string end;
  readToEnd(fd.get(), 5s, &end);
  EXPECT_TRUE(end == "eof" || end == "reset") << end;
  EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.tls.clientHelloTooLarge.load(); }), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, Passthrough, ::testing::Values("io_uring", "epoll"));

}  // namespace
}  // namespace ringway::tlsproxy
