// clusters[].tls: the proxy as a TLS client of its upstreams (verification, mTLS, reuse).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "config/loader.h"
#include "core/server.h"
#include "tlsproxy/support.h"

namespace ringway::tlsproxy {
namespace {

class UpstreamTls : public ::testing::TestWithParam<std::string> {
 protected:
  const std::string& backend() const { return GetParam(); }

  // A plain tcp listener to one cluster with the given tls block.
  std::string yaml(const Backend& be, const std::string& tls) const {
    return header(backend()) +
           "listeners:\n"
           "  - { name: in, address: \"127.0.0.1:0\", protocol: tcp, routes: [ { cluster: up } ] "
           "}\n"
           "clusters:\n"
           "  - name: up\n"
           "    endpoints: [ { address: \"" +
           be.address() +
           "\" } ]\n"
           "    connect_timeout: 2s\n"
           "    tls: " +
           tls + "\n";
  }

  static std::string readLine(int fd) {
    std::string line;
    char c;
    const Deadline d(5s);
    while (!d.expired() && ::recv(fd, &c, 1, 0) == 1 && c != '\n') line += c;
    return line;
  }
};

TEST_P(UpstreamTls, VerifiedEchoAndSessionReuse) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend be(tlsBanner("U", p.upstream));
  Proxy proxy(yaml(be, "{ server_name: upstream.test, ca: " + p.root_ca + " }"));
  for (int i = 0; i < 3; ++i) {
    Fd fd = connectTo(proxy.port());
    ASSERT_EQ(readLine(fd.get()), "U") << "connection " << i;
    const auto data = randomBytes(200000, 11 + i);
    ASSERT_TRUE(sendRaw(fd.get(), data.data(), data.size()));
    ::shutdown(fd.get(), SHUT_WR);  // becomes close_notify to the upstream
    std::string end;
    const std::string got = readToEnd(fd.get(), 10s, &end);
    EXPECT_EQ(compareBytes(data, std::vector<uint8_t>(got.begin(), got.end())), "");
    EXPECT_EQ(end, "eof");
  }
  EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.tls.upstreamHandshakes.load(); }), 3u);
  EXPECT_GE(proxy.sum(0, [](auto& s) { return s.tls.upstreamResumed.load(); }), 1u);
}

TEST_P(UpstreamTls, WrongNameUnknownCaAndMissingClientCertFail) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend good(tlsBanner("U", p.upstream));
  Backend untrusted(tlsBanner("X", p.untrusted_upstream));
  Backend mtls(tlsBanner("M", p.upstream, p.root_ca));
  struct Case {
    const Backend* be;
    std::string tls;
    const char* reason;
  } cases[] = {
      {&good, "{ server_name: wrong.test, ca: " + p.root_ca + " }", "certificate verify failed"},
      {&untrusted, "{ server_name: upstream.test, ca: " + p.root_ca + " }",
       "certificate verify failed"},
      {&mtls, "{ server_name: upstream.test, ca: " + p.root_ca + " }", nullptr},
  };
  for (const Case& k : cases) {
    Proxy proxy(yaml(*k.be, k.tls));
    Fd fd = connectTo(proxy.port());
    std::string end;
    const std::string got = readToEnd(fd.get(), 5s, &end);
    EXPECT_EQ(got, "") << k.tls;
    EXPECT_TRUE(end == "eof" || end == "reset") << end;
    // TLS 1.3: the client's handshake is done before the server checks its certificate, so
    // a missing one shows up as the server's alert after "connecting".
    if (k.reason == nullptr) continue;
    EXPECT_TRUE(waitFor(
        [&] { return proxy.sum(0, [](auto& s) { return s.connectErrors.load(); }) == 1; }, 5s))
        << k.tls;
    EXPECT_EQ(proxy.sum(0, [&](auto& s) { return s.tls.upstreamFailures.of(k.reason); }), 1u)
        << k.tls;
    EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.tls.upstreamHandshakes.load(); }), 0u);
  }
}

TEST_P(UpstreamTls, MutualTls) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend be(tlsBanner("M", p.upstream, p.root_ca));
  Proxy proxy(yaml(be, "{ server_name: upstream.test, ca: " + p.root_ca +
                           ", cert: " + p.client.cert + ", key: " + p.client.key + " }"));
  Fd fd = connectTo(proxy.port());
  EXPECT_EQ(readLine(fd.get()), "M");
}

TEST_P(UpstreamTls, VerifyOffWarnsAndConnects) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend be(tlsBanner("X", p.untrusted_upstream));
  const std::string y = yaml(be, "{ verify: false }");
  auto cfg = config::loadString(y, "t.yaml");
  ASSERT_EQ(cfg->warnings.size(), 1u);
  EXPECT_NE(cfg->warnings[0].find("verification is disabled"), std::string::npos)
      << cfg->warnings[0];
  Proxy proxy(y);
  Fd fd = connectTo(proxy.port());
  EXPECT_EQ(readLine(fd.get()), "X");
}

// TLS in, TLS out: terminated at the proxy, re-encrypted to the upstream.
TEST_P(UpstreamTls, TerminateAndReencrypt) {
  REQUIRE_BACKEND(backend());
  const Pki& p = pki();
  Backend be(tlsBanner("U", p.upstream));
  Proxy proxy(header(backend()) +
              "listeners:\n"
              "  - name: in\n"
              "    address: \"127.0.0.1:0\"\n"
              "    protocol: tcp\n"
              "    tls: { certificates: [ { cert: " +
              p.rsa.cert + ", key: " + p.rsa.key +
              " } ] }\n"
              "    routes: [ { cluster: up } ]\n"
              "clusters:\n"
              "  - name: up\n"
              "    endpoints: [ { address: \"" +
              be.address() +
              "\" } ]\n"
              "    tls: { server_name: upstream.test, ca: " +
              p.root_ca + " }\n");
  ClientOptions o;
  o.sni = "rsa.test";
  o.ca = p.root_ca;
  TlsClient c(proxy.port(), o);
  ASSERT_EQ(c.handshake(), "");
  EXPECT_EQ(c.recvLine(), "U");
  const auto data = randomBytes(1 << 20, 99);
  EXPECT_EQ(compareBytes(data, c.echo(data)), "") << c.error();
}

INSTANTIATE_TEST_SUITE_P(Backends, UpstreamTls, ::testing::Values("io_uring", "epoll"));

}  // namespace
}  // namespace ringway::tlsproxy
