// Upstream metrics of every listener kind on /metrics: L4 (tcp, tls_passthrough) connects are
// timed per cluster, L4 counters carry the cluster the session connected to (SNI routing), and
// every connect attempt counts per endpoint (ok, error) for L4 and HTTP listeners alike.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "admin_test_support.h"
#include "support/socket.h"

namespace ringway::core::test {
namespace {

using testsupport::Fd;
using testsupport::Scrape;

std::string series(const std::string& name, const std::string& labels) {
  return name + "{" + labels + "}";
}

// A connection through an L4 listener to an echo backend: send, FIN, read the echo to EOF.
::testing::AssertionResult echoThrough(const std::string& address, const std::string& payload) {
  const HttpResponse r = httpExchange(address, payload, std::chrono::seconds(10), true);
  if (r.raw != payload)
    return ::testing::AssertionFailure()
           << "sent '" << payload << "' through " << address << ", got '" << r.raw << "'";
  return ::testing::AssertionSuccess();
}

// An HTTP/1.1 backend on a thread: reads each connection's request head, answers 200 "ok" with
// Connection: close. Connections are served one at a time (the tests send one at a time).
class HttpOkBackend {
public:
  HttpOkBackend() {
    listen_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_in sa = testsupport::loopbackAddr(0);
    if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(listen_.get(), 64) != 0)
      throw std::runtime_error("http backend: cannot listen");
    address_ = "127.0.0.1:" + std::to_string(testsupport::localPort(listen_.get()));
    thread_ = std::thread([this] { run(); });
  }
  ~HttpOkBackend() {
    stop_.store(true);
    thread_.join();
  }
  const std::string& address() const { return address_; }
  int accepted() const { return accepted_.load(); }

private:
  void run() {
    while (!stop_.load()) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      Fd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c)
        continue;
      accepted_.fetch_add(1);
      std::string head;
      char buf[4096];
      // Bounded: 100 polls of 50 ms, then give up on this client.
      for (int i = 0; i < 100 && head.find("\r\n\r\n") == std::string::npos && !stop_.load(); ++i) {
        pollfd q{c.get(), POLLIN, 0};
        if (::poll(&q, 1, 50) <= 0)
          continue;
        const ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
        if (n <= 0)
          break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      static const std::string ok =
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      testsupport::sendAll(c.get(), ok.data(), ok.size());
    }
  }
  Fd listen_;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// A bound socket that does not listen: connects to it are refused (RST) for as long as it is
// open, and nobody else can take its port meanwhile.
class RefusingPort {
public:
  RefusingPort() {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_in sa = testsupport::loopbackAddr(0);
    if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
      throw std::runtime_error("refusing port: cannot bind");
    address_ = "127.0.0.1:" + std::to_string(testsupport::localPort(fd_.get()));
  }
  const std::string& address() const { return address_; }

private:
  Fd fd_;
  std::string address_;
};

// A listener whose accept queue is full (backlog 0, one connection queued and never
// accepted): the kernel drops further SYNs, so a connect to it times out.
class BlackholePort {
public:
  BlackholePort() {
    listen_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_in sa = testsupport::loopbackAddr(0);
    if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(listen_.get(), 0) != 0)
      throw std::runtime_error("blackhole: cannot listen");
    address_ = "127.0.0.1:" + std::to_string(testsupport::localPort(listen_.get()));
    filler_.reset(connectTo(address_));
  }
  const std::string& address() const { return address_; }
  bool ok() const { return static_cast<bool>(filler_); }

private:
  Fd listen_, filler_;
  std::string address_;
};

// Every connection through a tcp listener is one observation of the connect histogram of its
// cluster, summed over workers; each is also an `ok` connect of the endpoint.
TEST(UpstreamMetrics, L4ConnectHistogramCountsEveryConnection) {
  REQUIRE_URING();
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(2, {"l4"}, backend.address()));
  const std::string l4 = p.server->boundAddresses()[0];
  constexpr int kConnections = 7;
  for (int i = 0; i < kConnections; ++i)
    ASSERT_TRUE(echoThrough(l4, "ping " + std::to_string(i)));

  const std::string count =
      series("ringway_upstream_connect_duration_seconds_count", R"(cluster="backend")");
  std::string m;
  const bool settled = waitFor([&] {
    m = get(p.admin_address(), "/metrics").body;
    return sample(m, count) == double{kConnections} &&
           sample(m, R"(ringway_upstream_connections_active{cluster="backend",listener="l4"})") ==
               0.0;
  });
  ASSERT_TRUE(settled) << m;
  const Scrape s(m);
  EXPECT_EQ(backend.accepted(), uint64_t{kConnections});
  EXPECT_EQ(s.at(series("ringway_upstream_connect_duration_seconds_bucket",
                        R"(cluster="backend",le="+Inf")")),
            double{kConnections})
      << m;
  EXPECT_GT(s.at(series("ringway_upstream_connect_duration_seconds_sum", R"(cluster="backend")")),
            0.0)
      << m;
  EXPECT_EQ(
      s.at(series("ringway_upstream_endpoint_connects_total",
                  R"(cluster="backend",endpoint=")" + backend.address() + R"(",result="ok")")),
      double{kConnections})
      << m;
  EXPECT_EQ(s.sum("ringway_upstream_endpoint_connects_total", {R"(result="error")"}), 0.0) << m;
  EXPECT_EQ(s.sum("ringway_upstream_endpoint_connects_total", {R"(result="timeout")"}), 0.0) << m;
  EXPECT_EQ(s.sum("ringway_upstream_connect_errors_total"), 0.0) << m;
}

// A tls_passthrough listener routing two SNI names to two clusters: its upstream series carry
// each cluster's name (no cluster=""), and each cluster's connect histogram counts exactly the
// connections routed to it.
TEST(UpstreamMetrics, PassthroughSeriesPerSniCluster) {
  REQUIRE_URING();
  EchoBackend alpha, beta;
  const std::string yaml = R"(workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: pass
    address: "127.0.0.1:0"
    protocol: tls_passthrough
    routes:
      - { match: { sni: "a.test" }, cluster: alpha }
      - { match: { sni: "b.test" }, cluster: beta }
clusters:
  - { name: alpha, endpoints: [ { address: ")" +
                           alpha.address() + R"(" } ] }
  - { name: beta, endpoints: [ { address: ")" +
                           beta.address() + R"(" } ] }
)";
  Proxy p = startProxy(yaml);
  const std::string pass = p.server->boundAddresses()[0];
  // The echo backends send each ClientHello back, which the client rejects: the handshake
  // fails, but only after ringway connected to the cluster the SNI chose.
  EXPECT_FALSE(tlsHandshake(pass, "a.test"));
  EXPECT_FALSE(tlsHandshake(pass, "a.test"));
  EXPECT_FALSE(tlsHandshake(pass, "b.test"));

  std::string m;
  const bool settled = waitFor([&] {
    m = get(p.admin_address(), "/metrics").body;
    return sample(m, R"(ringway_upstream_connect_duration_seconds_count{cluster="alpha"})") ==
               2.0 &&
           sample(m, R"(ringway_upstream_connect_duration_seconds_count{cluster="beta"})") == 1.0 &&
           sumOf(m, "ringway_upstream_connections_active", {R"(listener="pass")"}) == 0.0;
  });
  ASSERT_TRUE(settled) << m;
  const Scrape s(m);
  EXPECT_EQ(alpha.accepted(), 2u);
  EXPECT_EQ(beta.accepted(), 1u);
  for (const char* cluster : {"alpha", "beta"}) {
    const std::string l = std::string(R"(cluster=")") + cluster + R"(",listener="pass")";
    EXPECT_EQ(s.at(series("ringway_upstream_connect_errors_total", l + R"(,reason="error")")), 0.0)
        << m;
    EXPECT_EQ(s.at(series("ringway_upstream_connect_errors_total", l + R"(,reason="timeout")")),
              0.0)
        << m;
    EXPECT_EQ(s.at(series("ringway_upstream_connections_active", l)), 0.0) << m;
  }
  EXPECT_EQ(m.find(R"(cluster="",listener="pass")"), std::string::npos) << m;
  EXPECT_EQ(s.at(series("ringway_upstream_endpoint_connects_total",
                        R"(cluster="alpha",endpoint=")" + alpha.address() + R"(",result="ok")")),
            2.0)
      << m;
  EXPECT_EQ(s.at(series("ringway_upstream_endpoint_connects_total",
                        R"(cluster="beta",endpoint=")" + beta.address() + R"(",result="ok")")),
            1.0)
      << m;
}

// Two clusters, each with a live endpoint first and a refusing one second, one behind a tcp
// listener and one behind an http listener (no upstream keep-alive, so every request connects).
// One worker: round robin alternates live, refusing, live, ... and a client whose pick refused
// goes on to the live one (each endpoint at most once per client). So N clients give N `ok`
// connects of the live endpoint and N/2 `error` connects of the refusing one, and nothing else.
TEST(UpstreamMetrics, EndpointConnectsOkAndError) {
  REQUIRE_URING();
  EchoBackend echo;
  HttpOkBackend http;
  RefusingPort refusingL4, refusingHttp;
  const std::string yaml = R"(workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: l4, address: "127.0.0.1:0", protocol: tcp, routes: [ { cluster: mixed-l4 } ] }
  - { name: web, address: "127.0.0.1:0", protocol: http, routes: [ { cluster: mixed-http } ] }
clusters:
  - name: mixed-l4
    endpoints: [ { address: ")" +
                           echo.address() + R"(" }, { address: ")" + refusingL4.address() + R"(" } ]
  - name: mixed-http
    keepalive: { max_idle: 0 }
    endpoints: [ { address: ")" +
                           http.address() + R"(" }, { address: ")" + refusingHttp.address() +
                           R"(" } ]
)";
  Proxy p = startProxy(yaml);
  const std::string l4 = p.server->boundAddresses()[0];
  const std::string web = p.server->boundAddresses()[1];
  constexpr int kClients = 6;
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(echoThrough(l4, "client " + std::to_string(i)));
    const HttpResponse r =
        httpExchange(web, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(r.status, 200) << r.raw;
    ASSERT_EQ(r.body, "ok");
  }

  auto ep = [](const std::string& cluster, const std::string& endpoint, const char* result) {
    return series("ringway_upstream_endpoint_connects_total", R"(cluster=")" + cluster +
                                                                  R"(",endpoint=")" + endpoint +
                                                                  R"(",result=")" + result + "\"");
  };
  std::string m;
  const bool settled = waitFor([&] {
    m = get(p.admin_address(), "/metrics").body;
    return sample(m, ep("mixed-l4", echo.address(), "ok")) == double{kClients} &&
           sample(m, ep("mixed-http", http.address(), "ok")) == double{kClients};
  });
  ASSERT_TRUE(settled) << m;
  const Scrape s(m);
  EXPECT_EQ(echo.accepted(), uint64_t{kClients});
  EXPECT_EQ(http.accepted(), kClients);
  struct Cluster {
    const char* name;
    std::string live, refusing;
    const char* listener;
  };
  for (const Cluster& c : {Cluster{"mixed-l4", echo.address(), refusingL4.address(), "l4"},
                           Cluster{"mixed-http", http.address(), refusingHttp.address(), "web"}}) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(s.at(ep(c.name, c.live, "ok")), double{kClients}) << m;
    EXPECT_EQ(s.at(ep(c.name, c.live, "error")), 0.0) << m;
    EXPECT_EQ(s.at(ep(c.name, c.live, "timeout")), 0.0) << m;
    EXPECT_EQ(s.at(ep(c.name, c.refusing, "ok")), 0.0) << m;
    EXPECT_EQ(s.at(ep(c.name, c.refusing, "error")), double{kClients / 2}) << m;
    EXPECT_EQ(s.at(ep(c.name, c.refusing, "timeout")), 0.0) << m;
    // The per-listener error counter agrees with the per-endpoint ones.
    EXPECT_EQ(s.at(series("ringway_upstream_connect_errors_total",
                          std::string(R"(cluster=")") + c.name + R"(",listener=")" + c.listener +
                              R"(",reason="error")")),
              double{kClients / 2})
        << m;
    EXPECT_EQ(s.at(series("ringway_upstream_connect_duration_seconds_count",
                          std::string(R"(cluster=")") + c.name + "\"")),
              double{kClients})
        << m;
  }
}

// An endpoint that never answers the SYN: the client's connect counts as `timeout` for that
// endpoint and as connect_errors_total{reason="timeout"}, and nothing is timed.
TEST(UpstreamMetrics, EndpointConnectTimeout) {
  REQUIRE_URING();
  BlackholePort hole;
  ASSERT_TRUE(hole.ok()) << "could not queue the filler connection";
  const std::string yaml = R"(workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: l4, address: "127.0.0.1:0", protocol: tcp, routes: [ { cluster: hole } ] }
clusters:
  - { name: hole, connect_timeout: 200ms, endpoints: [ { address: ")" +
                           hole.address() +
                           R"(" } ] }
)";
  Proxy p = startProxy(yaml);
  const std::string l4 = p.server->boundAddresses()[0];
  // ringway closes the client when the only endpoint's connect times out: no echo comes back.
  const HttpResponse r = httpExchange(l4, "ping", std::chrono::seconds(10), true);
  EXPECT_EQ(r.raw, "");

  const std::string timeouts =
      series("ringway_upstream_endpoint_connects_total",
             R"(cluster="hole",endpoint=")" + hole.address() + R"(",result="timeout")");
  std::string m;
  const bool settled = waitFor([&] {
    m = get(p.admin_address(), "/metrics").body;
    return sample(m, timeouts) == 1.0 &&
           sample(m, R"(ringway_upstream_connections_active{cluster="hole",listener="l4"})") == 0.0;
  });
  ASSERT_TRUE(settled) << m;
  const Scrape s(m);
  EXPECT_EQ(
      s.at(
          R"(ringway_upstream_connect_errors_total{cluster="hole",listener="l4",reason="timeout"})"),
      1.0)
      << m;
  EXPECT_EQ(
      s.at(R"(ringway_upstream_connect_errors_total{cluster="hole",listener="l4",reason="error"})"),
      0.0)
      << m;
  EXPECT_EQ(s.sum("ringway_upstream_endpoint_connects_total", {R"(result="ok")"}), 0.0) << m;
  EXPECT_EQ(s.sum("ringway_upstream_endpoint_connects_total", {R"(result="error")"}), 0.0) << m;
  EXPECT_EQ(s.at(R"(ringway_upstream_connect_duration_seconds_count{cluster="hole"})"), 0.0) << m;
}

} // namespace
} // namespace ringway::core::test
