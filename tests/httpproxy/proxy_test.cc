// Requests through a real in-process proxy over loopback sockets, against a test upstream:
// keep-alive, pipelining, bodies both ways (Content-Length and chunked, with checksums),
// 100-continue, framing of HEAD/204/304, HTTP/1.0, header handling, pool reuse, many clients,
// WebSocket tunnelling, curl. Each runs on io_uring and on epoll.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdio>
#include <thread>

#include "httpproxy/common.h"
#include "httpproxy/exchanges.h"

namespace ringway::httptest {
namespace {

using Suite = HttpProxyTest;

std::string lineOf(const std::string& body, const std::string& name) {
  const std::size_t at = body.find("\n" + name + ": ");
  if (at == std::string::npos) return "";
  const std::size_t start = at + name.size() + 3;
  return body.substr(start, body.find('\n', start) - start);
}

TEST_P(Suite, KeepAliveForwardsHeadersAndDropsHopByHop) {
  Client c(port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(request("GET", "/headers?i=" + std::to_string(i),
                               "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n"
                               "TE: trailers\r\nProxy-Connection: keep-alive\r\n"
                               "X-Forwarded-For: 10.0.0.1\r\n")));
    const Response r = c.read();
    ASSERT_TRUE(r.ok) << r.describe();
    EXPECT_EQ(r.status, 200);
    const std::string& b = r.body;
    EXPECT_EQ(b.substr(0, b.find('\n')), "GET /headers?i=" + std::to_string(i));
    EXPECT_EQ(lineOf(b, "host"), "test.local") << "Host passes unchanged";
    EXPECT_EQ(lineOf(b, "x-forwarded-for"), "10.0.0.1, 127.0.0.1");
    EXPECT_EQ(lineOf(b, "x-forwarded-proto"), "http");
    EXPECT_EQ(lineOf(b, "x-forwarded-host"), "test.local");
    for (const char* hop : {"connection", "x-hop", "keep-alive", "te", "proxy-connection"})
      EXPECT_EQ(b.find(std::string("\n") + hop + ":"), std::string::npos) << hop << "\n" << b;
    const std::string id = lineOf(b, "x-request-id");
    EXPECT_EQ(id.size(), 36u) << b;
    EXPECT_EQ(r.header("x-request-id"), id) << "the generated id comes back to the client";
  }
  // A client's own id is passed on and back.
  ASSERT_TRUE(c.send(request("GET", "/headers", "X-Request-Id: my-id-1\r\n")));
  const Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(lineOf(r.body, "x-request-id"), "my-id-1");
  EXPECT_EQ(r.header("x-request-id"), "my-id-1");
  EXPECT_EQ(upstream_.accepts(), 1) << "one client, kept alive: one upstream connection";
}

TEST_P(Suite, PipelinedRequestsAreAnsweredInOrder) {
  Client c(port());
  const std::string body = makeBody(3, 5000);
  std::string all;
  all += request("GET", "/bytes?n=20000&seed=1");
  all += request("POST", "/sum", "", body);
  all += request("GET", "/direct");
  all += request("GET", "/bytes?n=3000&seed=2&chunked=1");
  all += request("HEAD", "/bytes?n=77");
  all += request("GET", "/first?x");
  all += request("POST", "/echo", "", "tiny");
  ASSERT_TRUE(c.send(all));
  Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, makeBody(1, 20000));
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, sumOf(body));
  r = c.read();
  EXPECT_EQ(r.body, "direct\n") << r.describe();
  r = c.read();
  EXPECT_EQ(r.body, makeBody(2, 3000)) << r.describe();
  r = c.read(true);
  EXPECT_EQ(r.header("content-length"), "77") << r.describe();
  EXPECT_EQ(r.body, "");
  r = c.read();
  EXPECT_EQ(r.body, "ok /first\n") << r.describe();
  r = c.read();
  EXPECT_EQ(r.body, "tiny") << r.describe();
}

TEST_P(Suite, HeadsSplitAtEveryByte) {
  // A head arriving in two pieces, split at every position (the proxy keeps the first piece
  // aside until the blank line comes), on one kept-alive connection.
  Client c(port());
  const std::string req = "\r\nPOST /sum HTTP/1.1\r\nHost: t\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello";
  for (std::size_t k = 1; k < req.size(); ++k) {
    ASSERT_TRUE(c.send(req.substr(0, k)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_TRUE(c.send(req.substr(k)));
    const Response r = c.read();
    ASSERT_TRUE(r.ok) << "split at " << k << ": " << r.describe();
    EXPECT_EQ(r.body, sumOf("hello")) << "split at " << k;
  }
  // A bare LF is still a 400, wherever the split falls.
  for (std::size_t k : {3u, 17u, 18u}) {
    Client b(port());
    const std::string bad = "GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n";
    ASSERT_TRUE(b.send(bad.substr(0, k)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_TRUE(b.send(bad.substr(k)));
    const Response r = b.read();
    ASSERT_TRUE(r.ok) << r.describe();
    EXPECT_EQ(r.status, 400) << "split at " << k;
  }
}

TEST_P(Suite, ChunkedBodiesBothWays) {
  proxy_->watchBuffers();
  ASSERT_NO_FATAL_FAILURE(chunkedBothWays(port(), 10s));
  // Backpressure bounds what one exchange holds (about 64 buffers per direction), however small
  // the pieces the upstream sends: the pool of 256 never runs dry.
  const uint64_t minFree = proxy_->stopWatching();
  EXPECT_GT(minFree, 32u) << "the provided buffer pool ran low";
}

TEST_P(Suite, LargeBodiesKeepTheirChecksums) {
  proxy_->watchBuffers();
  ASSERT_NO_FATAL_FAILURE(largeBodiesKeepTheirChecksums(port(), 30s));
  EXPECT_GT(proxy_->stopWatching(), 32u) << "the provided buffer pool ran low";
}

TEST_P(Suite, ExpectContinue) {
  Client c(port());
  expectContinue(c, upstream_);
}

TEST_P(Suite, HeadNoContentAndNotModifiedHaveNoBody) {
  Client c(port());
  ASSERT_NO_FATAL_FAILURE(bodilessAnswers(c));
  EXPECT_EQ(upstream_.accepts(), 1);
}

TEST_P(Suite, Http10KeepAliveSemantics) { http10KeepAliveSemantics(port()); }

TEST_P(Suite, UpstreamConnectionsAreReused) {
  const int n = 20;
  for (int i = 0; i < n; ++i) {
    Client c(port());
    ASSERT_TRUE(c.send(request("GET", "/r" + std::to_string(i))));
    const Response r = c.read();
    ASSERT_TRUE(r.ok) << r.describe();
  }
  EXPECT_EQ(upstream_.accepts(), 1) << "sequential clients share one pooled connection";
  // "Connection: close" from the upstream: that one is not reused.
  Client c(port());
  ASSERT_TRUE(c.send(request("GET", "/close")));
  Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, "bye\n");
  EXPECT_NE(r.header("connection"), "close") << "the client's connection is its own";
  ASSERT_TRUE(c.send(request("GET", "/again")));
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(upstream_.accepts(), 2);
}

TEST_P(Suite, ManyConcurrentClients) {
  concurrentClients(port(), sanitized() ? 200 : 1000, 20, 10s);
}

TEST_P(Suite, TwoWorkers) {
  // Each worker has its own listeners, pools and parsers; connections spread by SO_REUSEPORT.
  std::string yaml = replaceAll(ProxyYaml, "workers: 1", "workers: 2");
  yaml = withTestPorts(yaml, upstream_);
  Proxy two(yaml, GetParam());
  std::vector<std::thread> ts;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        Client c(two.port());
        for (int k = 0; k < 3; ++k) {
          const std::string path = "/w" + std::to_string(t * 100 + i * 10 + k);
          if (!c.send(request("GET", path))) break;
          const Response r = c.read();
          if (r.ok && r.body == "ok " + path + "\n") good.fetch_add(1);
        }
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(good.load(), 8 * 10 * 3);
}

TEST_P(Suite, WebSocketEchoThroughTheProxy) {
  Client c(port());
  ASSERT_TRUE(c.send("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "\r\n"));
  std::string got;
  char buf[65536];
  while (got.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << got;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_EQ(got.rfind("HTTP/1.1 101", 0), 0u) << got;
  EXPECT_NE(got.find("Upgrade: websocket"), std::string::npos) << got;
  std::string echoed = got.substr(got.find("\r\n\r\n") + 4);
  const std::string payload = makeBody(77, sanitized() ? 100000 : 1000000);
  std::thread sender([&] { EXPECT_TRUE(c.send(payload)); });
  while (echoed.size() < payload.size()) {
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    echoed.append(buf, static_cast<std::size_t>(n));
  }
  sender.join();
  EXPECT_EQ(echoed.size(), payload.size());
  EXPECT_TRUE(echoed == payload) << "tunnelled bytes differ";
  ::shutdown(c.fd(), SHUT_WR);
  EXPECT_TRUE(c.waitEof()) << "the upstream's FIN is passed on";
}

TEST_P(Suite, Curl) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no curl";
  const std::string base = "http://127.0.0.1:" + std::to_string(port());
  auto run = [](const std::string& cmd) {
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    if (f == nullptr) return out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    ::pclose(f);
    return out;
  };
  EXPECT_EQ(run("curl -s -m 10 " + base + "/direct"), "direct\n");
  EXPECT_EQ(run("curl -s -m 10 -o /dev/null -w '%{http_code} %{size_download}' " + base +
                "/bytes?n=100000"),
            "200 100000");
  EXPECT_EQ(run("curl -s -m 10 --data-binary 'hello' " + base + "/echo"), "hello");
  // curl sends Expect: 100-continue for bodies over 1 MiB.
  EXPECT_EQ(run("head -c 1500000 /dev/zero | curl -s -m 20 --data-binary @- -o /dev/null -w "
                "'%{http_code}' " +
                base + "/sum"),
            "200");
  EXPECT_EQ(run("curl -s -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' " + base +
                "/old/x"),
            "301 http://new.example/");
}

HTTPPROXY_BACKENDS(Suite);

}  // namespace
}  // namespace ringway::httptest
