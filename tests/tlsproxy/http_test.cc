// protocol: http with tls: the HTTP proxy runs on a TlsStream (net::acceptStream).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <memory>

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

// An HTTPS backend: TLS server (cert), one response per request head, keep-alive.
Backend::Handler httpsOk(const std::string& body, const CertFiles& cert) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  SSL_CTX_use_certificate_chain_file(ctx.get(), cert.cert.c_str());
  SSL_CTX_use_PrivateKey_file(ctx.get(), cert.key.c_str(), SSL_FILETYPE_PEM);
  return [body, ctx](int fd) {
    SSL* ssl = SSL_new(ctx.get());
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      std::string req;
      char buf[4096];
      for (bool open = true; open;) {
        while (req.find("\r\n\r\n") == std::string::npos) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) {
            open = false;
            break;
          }
          req.append(buf, static_cast<std::size_t>(n));
        }
        if (!open) break;
        req.erase(0, req.find("\r\n\r\n") + 4);
        const std::string resp =
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        if (SSL_write(ssl, resp.data(), static_cast<int>(resp.size())) <= 0) break;
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  };
}

// Plain HTTP in, HTTPS to the cluster: verified, and the connection is kept for reuse.
TEST_P(HttpTls, UpstreamOverTls) {
  REQUIRE_BACKEND(GetParam());
  const Pki& p = pki();
  Backend good(httpsOk("secure", p.upstream));
  Backend untrusted(httpsOk("nope", p.untrusted_upstream));
  auto yaml = [&](const Backend& be) {
    return header(GetParam()) +
           "listeners:\n"
           "  - { name: web, address: \"127.0.0.1:0\", protocol: http, routes: [ { cluster: up } ] "
           "}\n"
           "clusters:\n"
           "  - name: up\n"
           "    endpoints: [ { address: \"" +
           be.address() +
           "\" } ]\n"
           "    tls: { server_name: upstream.test, ca: " +
           p.root_ca + " }\n";
  };
  auto get = [](uint16_t port, int n) {
    Fd fd = connectTo(port);
    std::string all;
    for (int i = 0; i < n; ++i) {
      const std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
      if (!sendRaw(fd.get(), req.data(), req.size())) break;
      std::string resp;
      char buf[4096];
      while (resp.find("\r\n\r\n") == std::string::npos ||
             resp.size() < resp.find("\r\n\r\n") + 10) {
        pollfd pf{fd.get(), POLLIN, 0};
        if (::poll(&pf, 1, 5000) <= 0) break;
        const ssize_t r = ::recv(fd.get(), buf, sizeof buf, 0);
        if (r <= 0) break;
        resp.append(buf, static_cast<std::size_t>(r));
      }
      all += resp.substr(0, resp.find("\r\n")) + "|";
    }
    return all;
  };
  {
    Proxy proxy(yaml(good));
    EXPECT_EQ(get(proxy.port(), 3), "HTTP/1.1 200 OK|HTTP/1.1 200 OK|HTTP/1.1 200 OK|");
    EXPECT_EQ(proxy.sum(0, [](auto& s) { return s.tls.upstreamHandshakes.load(); }), 1u);
  }
  Proxy proxy(yaml(untrusted));
  EXPECT_EQ(get(proxy.port(), 1), "HTTP/1.1 502 Bad Gateway|");
  EXPECT_EQ(
      proxy.sum(0, [](auto& s) { return s.tls.upstreamFailures.of("certificate verify failed"); }),
      1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpTls, ::testing::Values("io_uring", "epoll"));

}  // namespace
}  // namespace ringway::tlsproxy
