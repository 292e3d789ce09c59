// http listeners on each backend (the real binary, --backend io_uring|epoll|threads): the
// same expectations for all three, with the HTTP proxy tests' scriptable upstream and client
// (tests/httpproxy/support.h), the exchanges both suites run (tests/httpproxy/exchanges.h)
// and their configuration (ProxyYaml). The threads backend's cap is tested in-process with a
// lowered cap.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "backends/backend_fixture.h"
#include "config/loader.h"
#include "core/threads_server.h"
#include "httpproxy/common.h"
#include "httpproxy/exchanges.h"

namespace ringway::itest {
namespace {

namespace ht = ringway::httptest;

class HttpBackend : public BackendTest {
 protected:
  void SetUp() override {
    if (unavailable()) GTEST_SKIP() << "io_uring unavailable: " << testsupport::uringProbe().why;
    const std::string yaml =
        ht::replaceAll(ht::withTestPorts(ht::ProxyYaml, upstream_), "{BACKEND}", backend());
    ProxyProcess::Options o;
    o.args = {"--backend", backend()};
    const std::string why = proxy_.start(yaml, o);
    ASSERT_EQ(why, "");
    const std::string want =
        backend() == "threads" ? "serving with threads" : "(" + backend() + ")";
    ASSERT_NE(proxy_.log().find(want), std::string::npos) << proxy_.logTail();
  }
  uint16_t port() const { return proxy_.port(); }

  ht::Upstream upstream_;
  ProxyProcess proxy_;
};

std::string headerOf(const std::vector<std::pair<std::string, std::string>>& hs,
                     const std::string& name) {
  for (const auto& [n, v] : hs)
    if (n == name) return v;
  return "";
}

// Sends `raw`, expects `status` with its small body naming it, then (when `closes`) the end.
void expectStatus(uint16_t port, const std::string& raw, int status, bool closes) {
  ht::Client c(port);
  ASSERT_TRUE(c.send(raw));
  const ht::Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, status) << r.describe();
  EXPECT_EQ(r.body.rfind(std::to_string(status) + " ", 0), 0u) << r.describe();
  if (closes) {
    EXPECT_EQ(r.header("connection"), "close") << status;
    EXPECT_TRUE(c.waitEof()) << "closed after " << status;
  }
}

TEST_P(HttpBackend, KeepAlivePipeliningAndHeaderRewriting) {
  ht::Client c(port());
  ASSERT_TRUE(c.connected());
  // Three requests in one send: answered in order on the one connection.
  ASSERT_TRUE(c.send(ht::request("GET", "/a") + ht::request("GET", "/b") +
                     ht::request("GET", "/c")));
  for (const char* p : {"/a", "/b", "/c"}) {
    const ht::Response r = c.read();
    ASSERT_TRUE(r.ok) << p << ": " << r.describe();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::string("ok ") + p + "\n");
    EXPECT_FALSE(r.has("connection")) << "HTTP/1.1 keep-alive needs no Connection field";
  }
  // Hop-by-hop fields are dropped, X-Forwarded-* and X-Request-Id added, route rewrites done.
  ASSERT_TRUE(c.send("GET /headers HTTP/1.1\r\nHost: front.example\r\nConnection: x-hop\r\n"
                     "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Route: rewrite\r\nX-Secret: s\r\n"
                     "X-Forwarded-For: 10.0.0.1\r\n\r\n"));
  const ht::Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  const auto up = upstream_.lastHeaders();
  EXPECT_EQ(headerOf(up, "x-hop"), "");
  EXPECT_EQ(headerOf(up, "keep-alive"), "");
  EXPECT_EQ(headerOf(up, "connection"), "");
  EXPECT_EQ(headerOf(up, "x-secret"), "") << "request_headers_to_remove";
  EXPECT_EQ(headerOf(up, "x-added"), "yes") << "request_headers_to_add";
  EXPECT_EQ(headerOf(up, "host"), "rewritten.example") << "host_rewrite";
  EXPECT_EQ(headerOf(up, "x-forwarded-for"), "10.0.0.1, 127.0.0.1");
  EXPECT_EQ(headerOf(up, "x-forwarded-proto"), "http");
  EXPECT_EQ(headerOf(up, "x-forwarded-host"), "front.example");
  const std::string id = headerOf(up, "x-request-id");
  EXPECT_EQ(id.size(), 36u) << id;
  EXPECT_EQ(r.header("x-request-id"), id) << "the id goes back to the client";
  EXPECT_EQ(r.header("x-resp"), "r") << "response_headers_to_add";
  EXPECT_FALSE(r.has("content-type")) << "response_headers_to_remove";
  // A client's own X-Request-Id is kept.
  ASSERT_TRUE(c.send(ht::request("GET", "/mine", "X-Request-Id: abc-123\r\n")));
  const ht::Response mine = c.read();
  ASSERT_TRUE(mine.ok) << mine.describe();
  EXPECT_EQ(headerOf(upstream_.lastHeaders(), "x-request-id"), "abc-123");
  EXPECT_EQ(mine.header("x-request-id"), "abc-123");
  // Six requests, one upstream connection: kept alive.
  EXPECT_EQ(upstream_.accepts(), 1);
  c.close();
  EXPECT_NOTHING_LEFT_OPEN(proxy_);
}

TEST_P(HttpBackend, LocalAnswersKeepTheConnection) {
  ht::Client c(port());
  ASSERT_TRUE(c.send(ht::request("GET", "/direct")));
  ht::Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "direct\n");
  ASSERT_TRUE(c.send(ht::request("GET", "/old/x")));
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("location"), "http://new.example/");
  // A POST to a direct response: its body is read and dropped, the next request follows.
  ASSERT_TRUE(c.send(ht::request("POST", "/direct", "", std::string(5000, 'z')) +
                     ht::request("GET", "/after")));
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, "direct\n");
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, "ok /after\n");
  // HEAD: the head only.
  ASSERT_TRUE(c.send(ht::request("HEAD", "/direct")));
  r = c.read(true);
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.header("content-length"), "7");
  EXPECT_EQ(r.body, "");
  c.close();
  EXPECT_NOTHING_LEFT_OPEN(proxy_);
}

TEST_P(HttpBackend, ChunkedBodiesBothWays) {
  ASSERT_NO_FATAL_FAILURE(ht::chunkedBothWays(port(), 30s));
  EXPECT_NOTHING_LEFT_OPEN(proxy_);
}

TEST_P(HttpBackend, LargeBodiesKeepTheirChecksums) {
  ASSERT_NO_FATAL_FAILURE(ht::largeBodiesKeepTheirChecksums(port(), 60s));
  EXPECT_NOTHING_LEFT_OPEN(proxy_);
}

TEST_P(HttpBackend, ExpectContinueHeadAndHttp10) {
  ht::Client c(port());
  ASSERT_NO_FATAL_FAILURE(ht::expectContinue(c, upstream_));
  ASSERT_NO_FATAL_FAILURE(ht::bodilessAnswers(c));
  // "Connection: close" from the upstream: not reused, the client's connection goes on.
  ASSERT_TRUE(c.send(ht::request("GET", "/close")));
  ht::Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, "bye\n");
  EXPECT_NE(r.header("connection"), "close") << "the client's connection is its own";
  ASSERT_TRUE(c.send(ht::request("GET", "/again")));
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, "ok /again\n");
  EXPECT_EQ(upstream_.accepts(), 2);
  ASSERT_NO_FATAL_FAILURE(ht::http10KeepAliveSemantics(port()));
  c.close();
  EXPECT_NOTHING_LEFT_OPEN(proxy_);
}

TEST_P(HttpBackend, ClientErrorsGetTheirStatusAndClose) {
  expectStatus(port(), "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", 400, true);
  expectStatus(port(), "GET / HTTP/1.1\r\n\r\n", 400, true);  // no Host
  expectStatus(port(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n",
               400, true);  // smuggling
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 150; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  expectStatus(port(), many + "\r\n", 431, true);
  expectStatus(port(), ht::request("POST", "/small/sum", "", std::string(2000, 'x')), 413, true);
  EXPECT_EQ(upstream_.requests(), 0) << "none of these reached the upstream";
  // Chunked over the route's 1 KiB: refused at the chunk that crosses it.
  ht::Client c(port());
  ASSERT_TRUE(c.send("POST /small/sum HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "200\r\n" + std::string(512, 'a') + "\r\n400\r\n" +
                     std::string(1024, 'b') + "\r\n0\r\n\r\n"));
  const ht::Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 413);
  c.close();
  EXPECT_NOTHING_LEFT_OPEN(proxy_);
}

TEST_P(HttpBackend, UpstreamErrors502And504) {
  // Refused: 502, and the client connection goes on.
  ht::Client c(port());
  ASSERT_TRUE(c.send(ht::request("GET", "/refused")));
  ht::Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 502);
  ASSERT_TRUE(c.send(ht::request("GET", "/still-here")));
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, "ok /still-here\n");
  // An invalid response: 502.
  ASSERT_TRUE(c.send(ht::request("GET", "/bad")));
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 502);
  // Slower than the route's 300 ms: 504.
  ht::Client s(port());
  ASSERT_TRUE(s.send(ht::request("GET", "/sleep?ms=1500")));
  r = s.read(false, 5s);
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 504);
  // The upstream closing mid-response: a truncated body and the close.
  ht::Client m(port());
  ASSERT_TRUE(m.send(ht::request("GET", "/close-mid?n=100000")));
  r = m.read();
  EXPECT_FALSE(r.ok) << "a truncated body must not look complete: " << r.describe();
  c.close();
  s.close();
  m.close();
  EXPECT_NOTHING_LEFT_OPEN(proxy_);
}

TEST_P(HttpBackend, SlowlorisGets408) {
  ht::Client c(port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHo"));
  for (int i = 0; i < 3; ++i) {  // request_header_timeout is 400ms; dribbling does not extend it
    std::this_thread::sleep_for(100ms);
    c.send("s");
  }
  const ht::Response r = c.read(false, 5s);
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(c.waitEof());
  // A connection that sends nothing is closed, without an answer.
  ht::Client idle(port());
  std::string rest;
  EXPECT_TRUE(idle.waitEof(5s, &rest));
  EXPECT_EQ(rest, "");
}

TEST_P(HttpBackend, AThousandConcurrentClients) {
  // Every connection is open at once (the threads backend: 1,000 threads, under its cap).
  ht::concurrentClients(port(), ht::sanitized() ? 200 : 1000, 20, 30s);
}

TEST_P(HttpBackend, SigtermClosesIdleConnectionsAndFinishesExchanges) {
  ht::Client idle(port());
  ASSERT_TRUE(idle.send(ht::request("GET", "/warm")));
  ASSERT_TRUE(idle.read().ok);
  ht::Client busy(port());
  ASSERT_TRUE(busy.send(ht::request("GET", "/sleep?ms=250")));
  std::this_thread::sleep_for(100ms);
  proxy_.signal(SIGTERM);
  EXPECT_TRUE(idle.waitEof(5s)) << "an idle keep-alive connection is closed by the drain";
  const ht::Response r = busy.read(false, 5s);
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 200) << "the exchange under way finishes";
  EXPECT_EQ(r.header("connection"), "close");
  const std::optional<int> rc = proxy_.waitExit(5s);
  EXPECT_EQ(rc, std::optional<int>(0)) << proxy_.logTail();
}

INSTANTIATE_FOR_BACKENDS(HttpBackend);

// Over the threads backend's cap an http client gets a 503 and the close, not a bare close.
TEST(ThreadsHttp, OverTheCapIs503) {
  ht::Upstream upstream;
  const std::string yaml =
      ht::replaceAll(ht::withTestPorts(ht::ProxyYaml, upstream), "{BACKEND}", "threads");
  auto cfg = config::loadString(yaml, "threads-cap.yaml");
  core::ThreadsServer server(cfg);
  server.setMaxConnections(2);
  server.start();
  const std::string& a = server.boundAddresses().at(0);
  const auto port = static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
  ht::Client one(port), two(port);
  for (ht::Client* c : {&one, &two}) {  // both served: their threads are running
    ASSERT_TRUE(c->send(ht::request("GET", "/x")));
    ASSERT_TRUE(c->read().ok);
  }
  ht::Client three(port);
  const ht::Response r = three.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_TRUE(three.waitEof());
  one.close();  // a slot frees: the next client is served
  ASSERT_TRUE(waitFor([&] { return server.activeConnections() < 2; }, 5s));
  ht::Client four(port);
  ASSERT_TRUE(four.send(ht::request("GET", "/y")));
  const ht::Response ok = four.read();
  ASSERT_TRUE(ok.ok) << ok.describe();
  EXPECT_EQ(ok.body, "ok /y\n");
  server.stopNow();
  server.wait();
  EXPECT_EQ(server.activeConnections(), 0u);
}

}  // namespace
}  // namespace ringway::itest
