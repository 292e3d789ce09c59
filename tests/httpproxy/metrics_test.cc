// HTTP and upstream metrics on the admin endpoint's /metrics after known traffic through the
// real proxy: exact counter values, histogram counts equal to the requests they time, sums
// above zero, cumulative buckets that never decrease. Both io backends.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/admin_server.h"
#include "core/server.h"
#include "httpproxy/support.h"
#include "support/prometheus_text.h"
#include "support/uring_probe.h"

namespace ringway::httptest {
namespace {

// Routes in this order: direct (0), refused (1), an unnamed one (2: its label is "2"),
// slow (3), small (4), app (5, the default).
constexpr const char* MetricsYaml = R"(workers: 1
admin: { address: "127.0.0.1:0" }
io: { backend: {BACKEND} }
defaults: { connect_timeout: 500ms, idle_timeout: 10s, drain_timeout: 1s }
listeners:
  - name: web
    address: "127.0.0.1:0"
    protocol: http
    request_header_timeout: 300ms
    routes:
      - name: direct
        match: { path: "/direct" }
        direct_response: { status: 200, body: "direct\n" }
      - name: refused
        match: { path_prefix: "/refused" }
        cluster: dead
      - match: { path_prefix: "/unnamed" }
        cluster: up
      - name: slow
        match: { path_prefix: "/sleep" }
        cluster: up
        timeout: 200ms
      - name: small
        match: { path_prefix: "/small/" }
        cluster: up
        max_body_size: 1KiB
      - name: app
        cluster: up
clusters:
  - { name: up, endpoints: [ { address: "{UP}" } ] }
  - { name: dead, endpoints: [ { address: "127.0.0.1:{DEAD}" } ], connect_timeout: 300ms }
)";

// One scrape (tests/support/prometheus_text.h), plus the histogram check these tests share.
struct Scrape : testsupport::Scrape {
  using testsupport::Scrape::Scrape;
  // Checks one histogram series (labels as in the exposition, without le): cumulative
  // buckets never decrease, +Inf equals _count, and _count is `count`; _sum > 0 when count > 0.
  void expectHistogram(const std::string& name, const std::string& labels, double count) const {
    SCOPED_TRACE(name + "{" + labels + "}");
    EXPECT_EQ(at(name + "_count{" + labels + "}"), count) << text;
    const double sum = at(name + "_sum{" + labels + "}");
    if (count > 0)
      EXPECT_GT(sum, 0.0);
    else
      EXPECT_EQ(sum, 0.0);
    const std::string prefix = name + "_bucket{" + labels + ",le=\"";
    double last = 0;
    int buckets = 0;
    for (const std::string& s : order) {
      if (s.compare(0, prefix.size(), prefix) != 0) continue;
      const double v = values.at(s);
      EXPECT_GE(v, last) << s;
      last = v;
      ++buckets;
    }
    EXPECT_EQ(buckets, 17) << "16 bounds and +Inf";
    EXPECT_EQ(at(prefix + "+Inf\"}"), count);
  }
};

class HttpMetrics : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    REQUIRE_BACKEND(GetParam());
    proxy_ = std::make_unique<Proxy>(withTestPorts(MetricsYaml, upstream_), GetParam());
    admin_ = std::make_unique<core::AdminServer>(proxy_->server(),
                                                 *proxy_->server().config().admin.address);
    admin_->start();
    const std::string& a = admin_->boundAddress();
    adminPort_ = static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
  }
  void TearDown() override {
    if (admin_) admin_->stop();
  }
  uint16_t port() const { return proxy_->port(); }

  Scrape scrape() {
    Client c(adminPort_);
    EXPECT_TRUE(c.send("GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n"));
    const Response r = c.read();
    EXPECT_TRUE(r.ok) << r.describe();
    EXPECT_EQ(r.status, 200);
    return Scrape(r.body);
  }
  // Scrapes until `done` holds (the worker counts a response just after queueing its last
  // byte, so a client can be a moment ahead of the counters), at most 10 s.
  template <class F>
  Scrape settle(F done) {
    const auto end = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      Scrape s = scrape();
      if (done(s) || std::chrono::steady_clock::now() > end) return s;
      std::this_thread::sleep_for(20ms);
    }
  }

  Upstream upstream_;
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<core::AdminServer> admin_;
  uint16_t adminPort_ = 0;
};

std::string series(const std::string& name, const std::string& cluster, const std::string& cls,
                   const std::string& method, const std::string& route) {
  return name + "{cluster=\"" + cluster + "\",code_class=\"" + cls +
         "\",listener=\"web\",method=\"" + method + "\",route=\"" + route + "\"}";
}

double requests(const Scrape& s, const std::string& cluster, const std::string& cls,
                const std::string& method, const std::string& route) {
  return s.at(series("ringway_http_requests_total", cluster, cls, method, route));
}

Response roundTrip(Client& c, const std::string& raw) {
  EXPECT_TRUE(c.send(raw));
  return c.read();
}

TEST_P(HttpMetrics, KnownTrafficGivesExactCounts) {
  Client c(port());
  for (int i = 0; i < 3; ++i) {  // one upstream connection, then two reuses
    const Response r = roundTrip(c, request("GET", "/a"));
    ASSERT_EQ(r.status, 200) << r.describe();
  }
  Response r = roundTrip(c, request("POST", "/echo", "", "hello"));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body, "hello");
  r = roundTrip(c, request("PROPFIND", "/p"));  // method OTHER
  ASSERT_EQ(r.status, 200) << r.describe();
  r = roundTrip(c, request("GET", "/unnamed/x"));  // route label "2"
  ASSERT_EQ(r.status, 200) << r.describe();
  r = roundTrip(c, request("GET", "/early"));  // 413 from the upstream, which then closes
  ASSERT_EQ(r.status, 413) << r.describe();
  r = roundTrip(c, request("GET", "/bad"));  // invalid response: 502, on a new connection
  ASSERT_EQ(r.status, 502) << r.describe();
  r = roundTrip(c, request("GET", "/direct"));
  ASSERT_EQ(r.status, 200) << r.describe();
  r = roundTrip(c, request("GET", "/refused"));  // nobody listens: 502
  ASSERT_EQ(r.status, 502) << r.describe();
  Client bad(port());  // a malformed head: 400 before routing, then the close
  r = roundTrip(bad, "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n");
  ASSERT_EQ(r.status, 400) << r.describe();

  const Scrape s = settle([](const Scrape& x) {
    return x.sum("ringway_http_requests_total") >= 11 &&
           x.at(R"(ringway_upstream_connections_active{cluster="up",listener="web"})") == 0;
  });
  const std::string T = "ringway_http_requests_total";
  EXPECT_EQ(requests(s, "up", "2xx", "GET", "app"), 3) << s.text;
  EXPECT_EQ(requests(s, "up", "2xx", "POST", "app"), 1);
  EXPECT_EQ(requests(s, "up", "2xx", "OTHER", "app"), 1);
  EXPECT_EQ(requests(s, "up", "2xx", "GET", "2"), 1);
  EXPECT_EQ(requests(s, "up", "4xx", "GET", "app"), 1);
  EXPECT_EQ(requests(s, "up", "5xx", "GET", "app"), 1);
  EXPECT_EQ(requests(s, "", "2xx", "GET", "direct"), 1);
  EXPECT_EQ(requests(s, "dead", "5xx", "GET", "refused"), 1);
  EXPECT_EQ(requests(s, "", "4xx", "OTHER", ""), 1);
  EXPECT_EQ(s.sum(T), 11) << "no other series moved";

  const std::string D = "ringway_http_request_duration_seconds";
  s.expectHistogram(D, R"(cluster="up",listener="web",route="app")", 7);
  s.expectHistogram(D, R"(cluster="up",listener="web",route="2")", 1);
  s.expectHistogram(D, R"(cluster="",listener="web",route="direct")", 1);
  s.expectHistogram(D, R"(cluster="dead",listener="web",route="refused")", 1);
  s.expectHistogram(D, R"(cluster="",listener="web",route="")", 1);
  s.expectHistogram(D, R"(cluster="up",listener="web",route="slow")", 0);

  // Every request the upstream answered (even /bad's invalid one) started a response.
  s.expectHistogram("ringway_http_upstream_response_duration_seconds", R"(cluster="up")", 8);
  s.expectHistogram("ringway_http_upstream_response_duration_seconds", R"(cluster="dead")", 0);
  // Two connections to up (the first, then one after /early's close); the refused one to
  // dead is an error, not a connect.
  s.expectHistogram("ringway_upstream_connect_duration_seconds", R"(cluster="up")", 2);
  s.expectHistogram("ringway_upstream_connect_duration_seconds", R"(cluster="dead")", 0);
  EXPECT_EQ(upstream_.accepts(), 2);
  // Requests 2..7 found the first connection idle.
  EXPECT_EQ(s.at(R"(ringway_upstream_pool_reuses_total{cluster="up"})"), 6);
  EXPECT_EQ(s.at(R"(ringway_upstream_pool_reuses_total{cluster="dead"})"), 0);
  EXPECT_EQ(
      s.at(R"(ringway_upstream_connect_errors_total{cluster="dead",listener="web",reason="error"})"),
      1);
  EXPECT_EQ(s.sum("ringway_upstream_connect_errors_total"), 1);
  EXPECT_EQ(s.at(R"(ringway_upstream_connections_active{cluster="up",listener="web"})"), 0);
  EXPECT_EQ(s.at(R"(ringway_upstream_connections_active{cluster="dead",listener="web"})"), 0);

  const std::string E = "ringway_http_request_errors_total";
  EXPECT_EQ(s.at(E + R"({listener="web",reason="bad_request"})"), 1);
  EXPECT_EQ(s.at(E + R"({listener="web",reason="connect_failed"})"), 1);
  EXPECT_EQ(s.at(E + R"({listener="web",reason="upstream_invalid_response"})"), 1);
  EXPECT_EQ(s.sum(E), 3) << "the 413 came from the upstream: not ringway's error";

  // Process families.
  EXPECT_EQ(s.sum("ringway_build_info", {"liburing=\"2.", "openssl=\"3."}), 1) << s.text;
  EXPECT_EQ(s.sum("ringway_config_reloads_total"), 0);
  EXPECT_EQ(s.at(R"(ringway_config_reloads_total{result="failure"})"), 0);
  EXPECT_GT(s.at("process_resident_memory_bytes"), 0);
  EXPECT_GT(s.at("process_virtual_memory_bytes"), 0);
  EXPECT_GT(s.at("process_open_fds"), 5);
  EXPECT_GT(s.at("process_max_fds"), 0);
  EXPECT_GE(s.at("process_cpu_seconds_total"), 0);
  const double start = s.at("process_start_time_seconds");
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(start, now - 3600);
  EXPECT_LE(start, now + 1);
  EXPECT_EQ(s.at("ringway_start_time_seconds"), start);
}

TEST_P(HttpMetrics, EachErrorCauseCountsOnce) {
  const auto oneShot = [&](const std::string& raw, int status) {
    Client c(port());
    const Response r = roundTrip(c, raw);
    EXPECT_EQ(r.status, status) << r.describe();
  };
  oneShot("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 150; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  oneShot(many + "\r\n", 431);
  oneShot("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
  oneShot("GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417);
  oneShot("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501);
  oneShot(request("POST", "/small/x", "", std::string(2000, 'x')), 413);
  oneShot("GET / HTTP/1.1\r\nHost: a\r\n", 408);  // the head never ends
  oneShot(request("GET", "/sleep?ms=2000"), 504);  // the route's 200 ms timeout
  {
    // The head (200) is out when the upstream closes mid-body: counted as a 2xx, and aborted.
    Client c(port());
    ASSERT_TRUE(c.send(request("GET", "/close-mid?n=100000")));
    EXPECT_TRUE(c.waitEof());
  }

  const std::string E = "ringway_http_request_errors_total";
  const Scrape s = settle([&](const Scrape& x) { return x.sum(E) >= 9; });
  for (const char* reason : {"uri_too_long", "head_too_large", "version_not_supported",
                             "expectation_failed", "not_implemented", "body_too_large",
                             "header_timeout", "upstream_timeout", "response_aborted"})
    EXPECT_EQ(s.at(E + "{listener=\"web\",reason=\"" + reason + "\"}"), 1) << reason << s.text;
  EXPECT_EQ(s.sum(E), 9) << s.text;

  const std::string T = "ringway_http_requests_total";
  // Rejected before a route was chosen: 414 431 505 417 501 408.
  EXPECT_EQ(s.sum(T, {"route=\"\"", "code_class=\"4xx\""}), 4) << s.text;
  EXPECT_EQ(s.sum(T, {"route=\"\"", "code_class=\"5xx\""}), 2);
  EXPECT_EQ(requests(s, "up", "4xx", "POST", "small"), 1);
  EXPECT_EQ(requests(s, "up", "5xx", "GET", "slow"), 1);
  EXPECT_EQ(requests(s, "up", "2xx", "GET", "app"), 1);  // the cut-short /close-mid
  EXPECT_EQ(s.sum(T), 9);
  s.expectHistogram("ringway_http_request_duration_seconds",
                    R"(cluster="",listener="web",route="")", 6);
  // The route's 200 ms timeout; route timers run on the loop's coarse millisecond clock, which
  // may read a tick (4 ms at HZ=250) behind the request's own clock.
  EXPECT_GE(
      s.at(R"(ringway_http_request_duration_seconds_sum{cluster="up",listener="web",route="slow"})"),
      0.19);
}

TEST_P(HttpMetrics, PipelinedRequestsShareOneUpstreamConnection) {
  Client c(port());
  ASSERT_TRUE(c.send(request("GET", "/a") + request("GET", "/b") + request("HEAD", "/c") +
                     request("GET", "/direct")));
  for (int i = 0; i < 4; ++i) {
    const Response r = c.read(i == 2);
    ASSERT_EQ(r.status, 200) << i << ": " << r.describe();
  }
  const Scrape s =
      settle([](const Scrape& x) { return x.sum("ringway_http_requests_total") >= 4; });
  EXPECT_EQ(requests(s, "up", "2xx", "GET", "app"), 2) << s.text;
  EXPECT_EQ(requests(s, "up", "2xx", "HEAD", "app"), 1);
  EXPECT_EQ(requests(s, "", "2xx", "GET", "direct"), 1);
  EXPECT_EQ(s.at(R"(ringway_upstream_pool_reuses_total{cluster="up"})"), 2);
  s.expectHistogram("ringway_upstream_connect_duration_seconds", R"(cluster="up")", 1);
  s.expectHistogram("ringway_http_upstream_response_duration_seconds", R"(cluster="up")", 3);
  s.expectHistogram("ringway_http_request_duration_seconds",
                    R"(cluster="up",listener="web",route="app")", 3);
  EXPECT_EQ(s.at(R"(ringway_upstream_connections_active{cluster="up",listener="web"})"), 1)
      << "kept for reuse";
  EXPECT_EQ(upstream_.accepts(), 1);
}

TEST_P(HttpMetrics, TwoWorkersAreSummed) {
  // The same listener on two workers (SO_REUSEPORT spreads the clients): one series each,
  // summed. Every proxied request either made a connection or reused one, on whichever worker.
  proxy_.reset();
  admin_.reset();
  const std::string yaml = replaceAll(MetricsYaml, "workers: 1", "workers: 2");
  proxy_ = std::make_unique<Proxy>(withTestPorts(yaml, upstream_), GetParam());
  admin_ = std::make_unique<core::AdminServer>(proxy_->server(),
                                               *proxy_->server().config().admin.address);
  admin_->start();
  const std::string& a = admin_->boundAddress();
  adminPort_ = static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));

  constexpr int Clients = 24;
  for (int i = 0; i < Clients; ++i) {
    Client c(port());
    const Response r = roundTrip(c, request("GET", "/a" + std::to_string(i)));
    ASSERT_EQ(r.status, 200) << r.describe();
    const Response d = roundTrip(c, request("GET", "/direct"));
    ASSERT_EQ(d.status, 200) << d.describe();
  }
  const Scrape s = settle(
      [](const Scrape& x) { return x.sum("ringway_http_requests_total") >= 2 * Clients; });
  EXPECT_EQ(requests(s, "up", "2xx", "GET", "app"), Clients) << s.text;
  EXPECT_EQ(requests(s, "", "2xx", "GET", "direct"), Clients);
  EXPECT_EQ(s.sum("ringway_http_requests_total"), 2 * Clients);
  s.expectHistogram("ringway_http_request_duration_seconds",
                    R"(cluster="up",listener="web",route="app")", Clients);
  s.expectHistogram("ringway_http_upstream_response_duration_seconds", R"(cluster="up")",
                    Clients);
  const double connects = s.at(R"(ringway_upstream_connect_duration_seconds_count{cluster="up"})");
  EXPECT_EQ(connects + s.at(R"(ringway_upstream_pool_reuses_total{cluster="up"})"), Clients);
  EXPECT_EQ(connects, upstream_.accepts());
  EXPECT_GE(connects, 1);
  EXPECT_LE(connects, 2) << "one pooled connection per worker serves its clients in turn";
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpMetrics, ::testing::Values("io_uring", "epoll"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return std::string(i.param == "io_uring" ? "IoUring" : "Epoll");
                         });

}  // namespace
}  // namespace ringway::httptest
