// What clients see when things go wrong: each error status with its body and what happens to
// the connection after it, slowloris, an upstream that dies mid-response, routing answers.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "core/server.h"

#include "httpproxy/common.h"

namespace ringway::httptest {
namespace {

using Errors = HttpProxyTest;

// Sends `raw`, expects `status`, then (when `closes`) the connection's end.
void expectStatus(uint16_t port, const std::string& raw, int status, bool closes) {
  Client c(port);
  ASSERT_TRUE(c.send(raw));
  const Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, status) << r.describe();
  EXPECT_EQ(r.body.rfind(std::to_string(status) + " ", 0), 0u) << "a small body naming it";
  if (closes) {
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_TRUE(c.waitEof()) << "closed after " << status;
  }
}

TEST_P(Errors, ParserRejectionsGetTheirStatusAndClose) {
  expectStatus(port(), "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", 400, true);
  expectStatus(port(), "GET / HTTP/1.1\r\n\r\n", 400, true);  // no Host
  expectStatus(port(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n",
               400, true);  // smuggling
  expectStatus(port(), "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414,
               true);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 150; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  expectStatus(port(), many + "\r\n", 431, true);
  expectStatus(port(), "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, true);
  expectStatus(port(), "GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417, true);
  EXPECT_EQ(upstream_.requests(), 0) << "none of these reached the upstream";
}

TEST_P(Errors, BodyOverTheRouteLimitIs413) {
  // By Content-Length: refused before any body byte is read.
  expectStatus(port(), request("POST", "/small/sum", "", std::string(2000, 'x')), 413, true);
  // Chunked: refused at the chunk that crosses the limit.
  Client c(port());
  ASSERT_TRUE(c.send("POST /small/sum HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "200\r\n" + std::string(512, 'a') + "\r\n400\r\n" + std::string(1024, 'b') +
                     "\r\n0\r\n\r\n"));
  const Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 413);
  // Under the limit it goes through, with the prefix rewritten.
  Client ok(port());
  ASSERT_TRUE(ok.send(request("POST", "/small/sum", "", std::string(1000, 'x'))));
  const Response s = ok.read();
  ASSERT_TRUE(s.ok) << s.describe();
  EXPECT_EQ(s.body, sumOf(std::string(1000, 'x')));
  EXPECT_EQ(upstream_.lastTarget(), "/sum");
}

TEST_P(Errors, RefusedUpstreamIs502AndTheClientStays) {
  Client c(port());
  ASSERT_TRUE(c.send(request("GET", "/refused")));
  Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.body, "502 Bad Gateway\n");
  ASSERT_TRUE(c.send(request("GET", "/direct")));
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, "direct\n") << "a 502 does not cost the client its connection";
}

TEST_P(Errors, InvalidUpstreamResponseIs502) {
  Client c(port());
  ASSERT_TRUE(c.send(request("GET", "/bad")));
  const Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 502);
}

TEST_P(Errors, RouteTimeoutIs504) {
  Client c(port());
  ASSERT_TRUE(c.send(request("GET", "/sleep?ms=1200")));
  const Response r = c.read(false, 3s);  // the route's timeout is 300ms
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 504);
}

TEST_P(Errors, SlowlorisGets408) {
  Client c(port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHo"));
  // request_header_timeout is 400ms; dribbling does not extend it.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(100ms);
    c.send("s");
  }
  const Response r = c.read(false, 5s);
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(c.waitEof());
  // A connection that sends nothing is closed at the same deadline, without an answer.
  Client idle(port());
  std::string rest;
  EXPECT_TRUE(idle.waitEof(5s, &rest));
  EXPECT_EQ(rest, "");
}

TEST_P(Errors, UpstreamClosingMidResponseTruncatesAndCloses) {
  Client c(port());
  ASSERT_TRUE(c.send(request("GET", "/close-mid?n=100000")));
  const Response r = c.read();
  EXPECT_FALSE(r.ok) << "a truncated body must not look complete: " << r.describe();
  EXPECT_NE(r.error.find("EOF"), std::string::npos) << r.error;
  // Other clients are unaffected, and the broken connection was not pooled.
  Client d(port());
  ASSERT_TRUE(d.send(request("GET", "/fine")));
  const Response s = d.read();
  ASSERT_TRUE(s.ok) << s.describe();
  EXPECT_EQ(s.body, "ok /fine\n");
}

TEST_P(Errors, EarlyUpstreamAnswerEndsTheExchange) {
  // The upstream answers 413 without reading the body. If the answer comes before the whole
  // body went through, the client gets "Connection: close" (the rest of its body is read and
  // dropped, then the connection closes); if after, the client's connection goes on.
  Client c(port());
  const std::string body = makeBody(1, sanitized() ? 1u << 20 : 8u << 20);
  std::thread sender([&] { c.send(request("POST", "/early", "", body)); });
  const Response r = c.read();
  sender.join();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 413);
  if (r.header("connection") == "close") {
    EXPECT_TRUE(c.waitEof());
  } else {
    ASSERT_TRUE(c.send(request("GET", "/next")));
    const Response n = c.read();
    EXPECT_EQ(n.body, "ok /next\n") << n.describe();
  }
}

TEST_P(Errors, RoutingAnswers) {
  Client c(port());
  ASSERT_TRUE(c.send(request("GET", "/direct")));
  Response r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "direct\n");
  ASSERT_TRUE(c.send(request("GET", "/old/page")));
  r = c.read();
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("location"), "http://new.example/");
  // Method match: PUT only.
  ASSERT_TRUE(c.send(request("PUT", "/m/x", "", "b")));
  r = c.read();
  EXPECT_EQ(r.status, 202) << r.describe();
  ASSERT_TRUE(c.send(request("GET", "/m/x")));
  r = c.read();
  EXPECT_EQ(r.body, "ok /m/x\n") << "GET falls through to the default route";
  // Wildcard host, case-insensitive, port ignored.
  ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: A.Wild.TEST:8080\r\n\r\n"));
  r = c.read();
  EXPECT_EQ(r.body, "wild\n") << r.describe();
  ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: wild.test\r\n\r\n"));
  r = c.read();
  EXPECT_EQ(r.body, "ok /x\n") << "*.wild.test needs a label before it";
  // Header match and the route's rewrites.
  ASSERT_TRUE(c.send(request("GET", "/headers", "X-Route: rewrite\r\nX-Secret: s\r\n")));
  r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_NE(r.body.find("\nhost: rewritten.example\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\nx-added: yes\n"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("x-secret"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\nx-forwarded-host: test.local\n"), std::string::npos) << r.body;
  EXPECT_EQ(r.header("x-resp"), "r");
  EXPECT_FALSE(r.has("content-type"));
  // Without the header, the default route (no rewrites).
  ASSERT_TRUE(c.send(request("GET", "/headers")));
  r = c.read();
  EXPECT_NE(r.body.find("\nhost: test.local\n"), std::string::npos) << r.body;
}

HTTPPROXY_BACKENDS(Errors);

}  // namespace
}  // namespace ringway::httptest

namespace ringway::httptest {
namespace {

TEST_P(Errors, DrainClosesIdleConnectionsAndFinishesExchanges) {
  Client idle(port());
  ASSERT_TRUE(idle.send(request("GET", "/one")));
  ASSERT_TRUE(idle.read().ok);
  Client busy(port());
  // Through the "small" route (no route timeout): /small/sleep -> /sleep.
  ASSERT_TRUE(busy.send(request("GET", "/small/sleep?ms=400")));
  std::this_thread::sleep_for(100ms);
  proxy_->server().drain();
  EXPECT_TRUE(idle.waitEof(2s)) << "an idle keep-alive connection closes at once";
  const Response r = busy.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.body, "slept\n");
  EXPECT_EQ(r.header("connection"), "close") << "the exchange in progress ends the connection";
  EXPECT_TRUE(busy.waitEof(2s));
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!proxy_->server().finished() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(proxy_->server().finished()) << "workers stop once sessions and upstream "
                                              "connections are gone";
}

}  // namespace
}  // namespace ringway::httptest

namespace ringway::httptest {
namespace {

TEST_P(Errors, ClientsResettingDuringAGracefulCloseDoNotLeakSessions) {
  // HTTP/1.0: the response ends the connection; the client reads nothing and resets, maybe
  // while the proxy still has bytes queued for it in a graceful close (whether that window is
  // hit depends on the kernel's socket buffers). Every session must end.
  for (int i = 0; i < 8; ++i) {
    Client c(port());
    ASSERT_TRUE(c.send("GET /bytes?n=" + std::to_string(100000 + i * 50000) + " HTTP/1.0\r\n\r\n"));
    std::this_thread::sleep_for(50ms);
    linger l{1, 0};
    ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    c.close();
  }
  const auto end = std::chrono::steady_clock::now() + 8s;
  uint64_t active = 1;
  while (std::chrono::steady_clock::now() < end) {
    active = proxy_->server().workers()[0]->activeSessions();  // refreshed every 100 ms
    if (active == 0) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(active, 0u) << "sessions left after their clients reset";
}

}  // namespace
}  // namespace ringway::httptest
