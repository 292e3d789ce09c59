// Clients that end a TLS connection with close_notify and then reset it (what a client does
// when it closes with unread session tickets, or with SO_LINGER 0): the session must end and
// leave the active gauge, whatever the upstream does with its half of the connection.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "tlsproxy/support.h"

namespace ringway::tlsproxy {
namespace {

// close_notify, then close with SO_LINGER 0: the kernel sends RST instead of FIN.
void closeNotifyThenReset(std::unique_ptr<TlsClient>& c) {
  c->shutdown();
  linger lg{1, 0};
  ASSERT_EQ(::setsockopt(c->fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  c.reset();
}

// Reads until EOF and then keeps the connection open (never closes its side) until the test
// ends: an upstream that does not answer a FIN.
Backend::Handler holdOpen() {
  return [](int fd) {
    char buf[4096];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    // Half-closed by the proxy: hold our side open until the proxy resets us (POLLERR), or
    // the test ends (the Backend shuts the socket down: POLLHUP), or 30 s.
    pollfd p{fd, 0, 0};
    (void)::poll(&p, 1, 30000);
  };
}

Backend::Handler httpOk() {
  return [](int fd) {
    std::string req;
    char buf[4096];
    for (;;) {
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        req.append(buf, static_cast<std::size_t>(n));
      }
      req.erase(0, req.find("\r\n\r\n") + 4);
      static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      if (!sendRaw(fd, resp, sizeof resp - 1)) return;
    }
  };
}

class CloseNotifyReset : public ::testing::TestWithParam<std::string> {
 protected:
  const std::string& backend() const { return GetParam(); }

  std::string yaml(const std::string& protocol, const Backend& be) const {
    const Pki& p = pki();
    return header(backend()) +
           "listeners:\n"
           "  - name: tls_in\n"
           "    address: \"127.0.0.1:0\"\n"
           "    protocol: " +
           protocol +
           "\n"
           "    tls:\n"
           "      certificates: [ { cert: " +
           p.rsa.cert + ", key: " + p.rsa.key +
           " } ]\n"
           "    routes: [ { cluster: be } ]\n"
           "clusters:\n"
           "  - { name: be, endpoints: [ { address: \"" +
           be.address() + "\" } ] }\n";
  }

  static ClientOptions client() {
    ClientOptions o;
    o.sni = "rsa.test";
    o.ca = pki().root_ca;
    return o;
  }

  // Both gauges the operator sees: sessions open, and downstream_connections_active.
  static bool settled(const Proxy& proxy) {
    return proxy.active() == 0 && proxy.sum(0, [](auto& s) { return s.active.load(); }) == 0;
  }
};

// tcp listener, echo upstream: the close_notify becomes the upstream's FIN.
TEST_P(CloseNotifyReset, TcpEchoUpstream) {
  REQUIRE_BACKEND(backend());
  Backend be(echo());
  Proxy proxy(yaml("tcp", be));
  auto c = std::make_unique<TlsClient>(proxy.port(), client());
  ASSERT_EQ(c->handshake(), "");
  ASSERT_TRUE(c->send("ping"));
  char b[4];
  ASSERT_EQ(c->recv(b, 4), 4) << c->error();
  closeNotifyThenReset(c);
  EXPECT_TRUE(waitFor([&] { return settled(proxy); }, 5s))
      << "sessions " << proxy.active() << ", active "
      << proxy.sum(0, [](auto& s) { return s.active.load(); });
}

// tcp listener, an upstream that never answers the FIN: only the client's RST can end it.
TEST_P(CloseNotifyReset, TcpUpstreamHoldsOpen) {
  REQUIRE_BACKEND(backend());
  Backend be(holdOpen());
  Proxy proxy(yaml("tcp", be));
  auto c = std::make_unique<TlsClient>(proxy.port(), client());
  ASSERT_EQ(c->handshake(), "");
  ASSERT_TRUE(c->send("ping"));
  ASSERT_TRUE(waitFor([&] { return be.accepted() == 1; }, 5s));
  closeNotifyThenReset(c);
  EXPECT_TRUE(waitFor([&] { return settled(proxy); }, 5s))
      << "sessions " << proxy.active() << ", active "
      << proxy.sum(0, [](auto& s) { return s.active.load(); });
}

// http listener: close_notify + RST on an idle keep-alive connection, and right after the
// handshake (session tickets unread).
TEST_P(CloseNotifyReset, HttpIdleKeepAlive) {
  REQUIRE_BACKEND(backend());
  Backend be(httpOk());
  Proxy proxy(yaml("http", be));
  auto c = std::make_unique<TlsClient>(proxy.port(), client());
  ASSERT_EQ(c->handshake(), "");
  ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string resp;
  char buf[512];
  while (resp.find("\r\n\r\nok") == std::string::npos) {
    const long n = c->recv(buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_NE(resp.find("200 OK"), std::string::npos) << resp;
  closeNotifyThenReset(c);
  auto c2 = std::make_unique<TlsClient>(proxy.port(), client());
  ASSERT_EQ(c2->handshake(), "");
  closeNotifyThenReset(c2);
  EXPECT_TRUE(waitFor([&] { return settled(proxy); }, 5s))
      << "sessions " << proxy.active() << ", active "
      << proxy.sum(0, [](auto& s) { return s.active.load(); });
}

// http listener: close_notify + RST while a request waits for its (slow) response.
TEST_P(CloseNotifyReset, HttpRequestInFlight) {
  REQUIRE_BACKEND(backend());
  Backend be(holdOpen());
  Proxy proxy(yaml("http", be));
  auto c = std::make_unique<TlsClient>(proxy.port(), client());
  ASSERT_EQ(c->handshake(), "");
  ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(waitFor([&] { return be.accepted() == 1; }, 5s));
  closeNotifyThenReset(c);
  EXPECT_TRUE(waitFor([&] { return settled(proxy); }, 5s))
      << "sessions " << proxy.active() << ", active "
      << proxy.sum(0, [](auto& s) { return s.active.load(); });
}

INSTANTIATE_TEST_SUITE_P(Backends, CloseNotifyReset, ::testing::Values("io_uring", "epoll"));

}  // namespace
}  // namespace ringway::tlsproxy
