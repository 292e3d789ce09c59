// protocol: http with tls: the HTTP proxy runs on a TlsStream (net::acceptStream).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "tlsproxy/support.h"

namespace ringway::tlsproxy {
namespace {

Backend::Handler httpOk(const std::string& body) {
  return [body](int fd) {
    std::string req;
    char buf[4096];
    for (;;) {  // keep-alive: one response per request head
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        req.append(buf, static_cast<std::size_t>(n));
      }
      req.erase(0, req.find("\r\n\r\n") + 4);
      const std::string resp =
          "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      if (!sendRaw(fd, resp.data(), resp.size())) return;
    }
  };
}

class HttpTls : public ::testing::TestWithParam<std::string> {};

TEST_P(HttpTls, RequestsOverTls) {
  REQUIRE_BACKEND(GetParam());
  const Pki& p = pki();
  Backend be(httpOk("hello"));
  Proxy proxy(header(GetParam()) +
              "listeners:\n"
              "  - name: web\n"
              "    address: \"127.0.0.1:0\"\n"
              "    protocol: http\n"
              "    tls:\n"
              "      certificates: [ { cert: " +
              p.rsa.cert + ", key: " + p.rsa.key +
              " } ]\n"
              "      alpn: [http/1.1]\n"
              "    routes: [ { cluster: be } ]\n"
              "clusters:\n"
              "  - { name: be, endpoints: [ { address: \"" +
              be.address() + "\" } ] }\n");
  ClientOptions o;
  o.sni = "rsa.test";
  o.ca = p.root_ca;
  o.alpn = {"http/1.1"};
  TlsClient c(proxy.port(), o);
  ASSERT_EQ(c.handshake(), "");
  EXPECT_EQ(c.alpn(), "http/1.1");
  for (int i = 0; i < 3; ++i) {  // keep-alive over one TLS connection
    ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: rsa.test\r\n\r\n"));
    std::string resp;
    char buf[4096];
    while (resp.find("hello") == std::string::npos) {
      const long n = c.recv(buf, sizeof buf);
      if (n <= 0) break;
      resp.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
    EXPECT_NE(resp.find("hello"), std::string::npos) << resp;
  }
  // Not TLS at all: closed, counted.
  Fd fd = connectTo(proxy.port());
  ASSERT_TRUE(sendRaw(fd.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27));
  std::string end;
  EXPECT_EQ(readToEnd(fd.get(), 5s, &end).find("200 OK"), std::string::npos);
  EXPECT_TRUE(
      waitFor([&] { return proxy.sum(0, [](auto& s) { return s.tls.notTls.load(); }) == 1; }, 5s));
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpTls, ::testing::Values("io_uring", "epoll"));

}  // namespace
}  // namespace ringway::tlsproxy
