#include "httpproxy/exchanges.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ringway::httptest {

std::string unevenChunkedPost(const std::string& path, const std::string& body) {
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::size_t off = 0, piece = 5;
  while (off < body.size()) {
    const std::size_t k = std::min(piece, body.size() - off);
    char line[40];
    std::snprintf(line, sizeof line, "%zx;ext=1\r\n", k);
    req += line;
    req.append(body, off, k);
    req += "\r\n";
    off += k;
    piece = piece * 2 + 1;
    if (piece > 70000)
      piece = 999;
  }
  req += "0\r\nX-Done: yes\r\n\r\n";
  return req;
}

void chunkedBothWays(uint16_t port, Ms readLimit) {
  Client c(port);
  const std::string body = makeBody(11, sanitized() ? 200000 : 1500000);
  const std::string req = unevenChunkedPost("/sum", body);
  std::thread sender([&] { EXPECT_TRUE(c.send(req)); });
  Response r = c.read(false, readLimit);
  sender.join();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, sumOf(body));
  // Chunked from the upstream, passed on chunked to an HTTP/1.1 client.
  const std::size_t n = sanitized() ? 300000 : 3000000;
  ASSERT_TRUE(c.send(request("GET", "/bytes?n=" + std::to_string(n) + "&seed=5&chunked=1")));
  r = c.read(false, readLimit);
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  ASSERT_EQ(r.body.size(), n);
  EXPECT_TRUE(r.body == makeBody(5, n)) << "chunked response body differs";
  // The same to an HTTP/1.0 client: decoded, delimited by the close.
  Client old(port);
  ASSERT_TRUE(old.send("GET /bytes?n=50000&seed=6&chunked=1 HTTP/1.0\r\n\r\n"));
  r = old.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_FALSE(r.has("transfer-encoding"));
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_TRUE(r.body == makeBody(6, 50000));
}

void largeBodiesKeepTheirChecksums(uint16_t port, Ms readLimit) {
  Client c(port);
  const std::size_t n = sanitized() ? 1u << 20 : 8u << 20;
  const std::string body = makeBody(42, n);
  // The upstream reads all of it before answering: send from a thread while reading.
  std::thread sender([&] { EXPECT_TRUE(c.send(request("POST", "/echo", "", body))); });
  const Response r = c.read(false, readLimit);
  sender.join();
  ASSERT_TRUE(r.ok) << r.describe();
  ASSERT_EQ(r.body.size(), n);
  EXPECT_EQ(fnv(r.body.data(), n), fnv(body.data(), n)) << "echoed body differs";
  // And a large download on the same connection.
  ASSERT_TRUE(c.send(request("GET", "/bytes?n=" + std::to_string(n) + "&seed=9")));
  const Response d = c.read(false, readLimit);
  ASSERT_TRUE(d.ok) << d.describe();
  EXPECT_TRUE(d.body == makeBody(9, n)) << "download differs";
}

void expectContinue(Client& c, Upstream& upstream) {
  const std::string body = makeBody(4, 10000);
  ASSERT_TRUE(c.send("POST /sum HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n"));
  // Nothing of the body is sent before the 100 comes.
  std::string got;
  char buf[256];
  while (got.find("\r\n\r\n") == std::string::npos) {
    pollfd pfd{c.fd(), POLLIN, 0};
    ASSERT_GT(::poll(&pfd, 1, 5000), 0) << "no 100 Continue";
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.send(body));
  const Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, sumOf(body));
  // The upstream never sees Expect: the proxy answered it.
  for (const auto& [n, v] : upstream.lastHeaders())
    EXPECT_NE(n, "expect");
}

void bodilessAnswers(Client& c) {
  ASSERT_TRUE(c.send(request("HEAD", "/bytes?n=1234")));
  Response r = c.read(true);
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.header("content-length"), "1234");
  for (int code : {204, 304}) {
    ASSERT_TRUE(c.send(request("GET", "/status?code=" + std::to_string(code))));
    r = c.read();
    ASSERT_TRUE(r.ok) << r.describe();
    EXPECT_EQ(r.status, code);
    EXPECT_EQ(r.body, "");
  }
  // The connection is still in step.
  ASSERT_TRUE(c.send(request("GET", "/after")));
  r = c.read();
  EXPECT_EQ(r.body, "ok /after\n") << r.describe();
}

void http10KeepAliveSemantics(uint16_t port) {
  { // No keep-alive asked: answered, then closed.
    Client c(port);
    ASSERT_TRUE(c.send("GET /a HTTP/1.0\r\n\r\n"));
    const Response r = c.read();
    ASSERT_TRUE(r.ok) << r.describe();
    EXPECT_EQ(r.body, "ok /a\n");
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_TRUE(c.waitEof());
  }
  { // Keep-alive asked: kept, and said so.
    Client c(port);
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(c.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      const Response r = c.read();
      ASSERT_TRUE(r.ok) << r.describe();
      EXPECT_EQ(r.header("connection"), "keep-alive");
      EXPECT_EQ(r.header("content-length"), "6");
    }
  }
  { // An HTTP/1.0 upstream's body delimited by its close: passed on, then the client closed.
    Client c(port);
    ASSERT_TRUE(c.send(request("GET", "/http10")));
    const Response r = c.read();
    ASSERT_TRUE(r.ok) << r.describe();
    EXPECT_EQ(r.body, "until close\n");
    EXPECT_TRUE(c.waitEof());
  }
}

void concurrentClients(uint16_t port, int total, int threads, Ms readLimit) {
  std::atomic<int> good{0};
  std::mutex mu;
  std::string firstProblem;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<std::unique_ptr<Client>> cs;
      for (int i = t; i < total; i += threads)
        cs.push_back(std::make_unique<Client>(port));
      // Every connection is open at once; each makes two requests.
      for (int round = 0; round < 2; ++round) {
        for (std::size_t i = 0; i < cs.size(); ++i) {
          const std::string path = "/c" + std::to_string(t) + "-" + std::to_string(i);
          Response r;
          if (cs[i]->send(request("GET", path)))
            r = cs[i]->read(false, readLimit);
          if (r.ok && r.body == "ok " + path + "\n") {
            good.fetch_add(1);
          } else {
            std::lock_guard<std::mutex> g(mu);
            if (firstProblem.empty())
              firstProblem = path + ": " + r.describe();
          }
        }
      }
    });
  }
  for (auto& t : ts)
    t.join();
  EXPECT_EQ(good.load(), total * 2) << firstProblem;
}

} // namespace ringway::httptest
