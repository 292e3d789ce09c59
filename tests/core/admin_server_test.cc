// The admin endpoint against a real Server: traffic through a listener moves the counters by
// exactly what was sent; the endpoints answer; bad requests get 400/404/405; a slow client
// does not block a scrape.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <thread>
#include <vector>

#include "admin_test_support.h"
#include "config/dump.h"
#include "config/loader.h"

namespace ringway::core::test {
namespace {

// Sends `len` seeded bytes through the proxy at `address` to the echo backend and checks
// they come back unchanged; closes the connection.
void echoThrough(const std::string& address, std::size_t len, uint32_t seed) {
  const int fd = connectTo(address);
  ASSERT_GE(fd, 0) << "connect " << address;
  std::string data(len, '\0');
  std::mt19937 rng(seed);
  for (char& c : data)
    c = static_cast<char>(rng());
  std::string got;
  std::size_t sent = 0;
  char buf[16384];
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got.size() < len && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, static_cast<short>(POLLIN | (sent < len ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    if ((p.revents & POLLOUT) && sent < len) {
      const ssize_t n =
          ::send(fd, data.data() + sent, std::min<std::size_t>(len - sent, 65536), MSG_NOSIGNAL);
      if (n > 0)
        sent += static_cast<std::size_t>(n);
    }
    if (p.revents & POLLIN) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  ASSERT_EQ(got.size(), len) << "seed " << seed << ": echo came back short";
  ASSERT_TRUE(got == data) << "seed " << seed << ": echo differs";
}

double value(const std::string& text, const std::string& series) {
  auto v = sample(text, series);
  EXPECT_TRUE(v.has_value()) << "no series " << series << " in:\n" << text;
  return v.value_or(-1);
}

TEST(AdminServer, CountersMoveByWhatWasSent) {
  REQUIRE_URING();
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(2, {"alpha", "beta"}, backend.address()));
  const std::string alpha = p.server->boundAddresses()[0];
  const std::string beta = p.server->boundAddresses()[1];

  constexpr int kConns = 6;
  constexpr std::size_t kBytes = 50'000;
  for (int i = 0; i < kConns; ++i)
    echoThrough(alpha, kBytes, 100 + static_cast<uint32_t>(i));
  echoThrough(beta, 1234, 7);

  // Counters are final once the echo is back, but the sessions close a moment later: wait
  // for the gauges to drop before comparing everything at once.
  std::string m;
  ASSERT_TRUE(waitFor([&] {
    m = get(p.admin_address(), "/metrics").body;
    return sample(m, R"(ringway_downstream_connections_active{listener="alpha"})") == 0.0 &&
           sumOf(m, "ringway_upstream_connections_active", {"cluster=\"backend\""}) == 0.0;
  })) << m;

  EXPECT_EQ(value(m, R"(ringway_downstream_connections_total{listener="alpha"})"), kConns);
  EXPECT_EQ(value(m, R"(ringway_downstream_connections_total{listener="beta"})"), 1);
  EXPECT_EQ(value(m, R"(ringway_downstream_bytes_total{direction="rx",listener="alpha"})"),
            kConns * kBytes);
  EXPECT_EQ(value(m, R"(ringway_downstream_bytes_total{direction="tx",listener="alpha"})"),
            kConns * kBytes);
  EXPECT_EQ(value(m, R"(ringway_downstream_bytes_total{direction="rx",listener="beta"})"), 1234);
  EXPECT_EQ(value(m, R"(ringway_downstream_bytes_total{direction="tx",listener="beta"})"), 1234);
  EXPECT_EQ(
      value(
          m,
          R"(ringway_upstream_connect_errors_total{cluster="backend",listener="alpha",reason="error"})"),
      0);
  EXPECT_EQ(
      value(m, R"(ringway_downstream_connection_errors_total{listener="alpha",reason="accept"})"),
      0);
  EXPECT_EQ(backend.accepted(), kConns + 1u);

  const auto id = [](int w) { return "worker=\"" + std::to_string(w) + "\""; };
  for (int w = 0; w < 2; ++w) {
    EXPECT_GT(sumOf(m, "ringway_io_uring_enter_total", {id(w)}), 0) << m;
    EXPECT_GT(sumOf(m, "ringway_io_uring_sqes_submitted_total", {id(w)}), 0);
    // Each worker arms one multishot accept per listener.
    EXPECT_GE(sumOf(m, "ringway_io_uring_sqes_submitted_total", {id(w), "op=\"accept\""}), 2);
    EXPECT_GT(sumOf(m, "ringway_syscalls_total", {id(w)}), 0);
    EXPECT_GT(sumOf(m, "ringway_worker_loop_iterations_total", {id(w)}), 0);
    EXPECT_EQ(value(m, "ringway_worker_state{state=\"serving\"," + id(w) + "}"), 1);
    EXPECT_EQ(value(m, "ringway_buffer_ring_buffers_free{" + id(w) + "}"), kBuffers);
  }
  // Connections are spread by the kernel, so check totals across workers.
  EXPECT_GE(sumOf(m, "ringway_io_uring_cqes_total", {"op=\"accept\""}), kConns + 1);
  EXPECT_GE(sumOf(m, "ringway_io_uring_cqes_total", {"op=\"recv\""}), 2 * (kConns + 1));
  EXPECT_GE(sumOf(m, "ringway_io_uring_sqes_submitted_total", {"op=\"connect\""}), kConns + 1);
  // Histogram: +Inf bucket == count, and every CQE reaped was counted in some batch.
  for (int w = 0; w < 2; ++w) {
    const double count = value(m, "ringway_worker_loop_batch_cqes_count{" + id(w) + "}");
    EXPECT_EQ(value(m, "ringway_worker_loop_batch_cqes_bucket{" + id(w) + ",le=\"+Inf\"}"), count);
    EXPECT_EQ(value(m, "ringway_worker_loop_batch_cqes_sum{" + id(w) + "}"),
              sumOf(m, "ringway_io_uring_cqes_total", {id(w)}));
  }
  // liburing and openssl labels too: match the ones that matter here.
  EXPECT_EQ(sumOf(m, "ringway_build_info",
                  {"backend=\"io_uring\"", "version=\"" RINGWAY_VERSION "\""}),
            1);
}

// Scrapes while the workers are busy proxying: every scrape answers, and counters read at
// scrape time never go backwards.
TEST(AdminServer, ScrapesDuringTrafficAnswerAndCountersOnlyGrow) {
  REQUIRE_URING();
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(2, {"alpha"}, backend.address()));
  const std::string alpha = p.server->boundAddresses()[0];
  constexpr int kClients = 6;
  constexpr std::size_t kBytes = 2'000'000;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] { echoThrough(alpha, kBytes, 500 + static_cast<uint32_t>(i)); });
  double lastRx = 0, lastEnter = 0, lastCqes = 0;
  int scrapes = 0;
  const auto series = R"(ringway_downstream_bytes_total{direction="rx",listener="alpha"})";
  while (scrapes < 200) {
    const HttpResponse r = get(p.admin_address(), "/metrics");
    ASSERT_EQ(r.status, 200) << r.raw.substr(0, 300);
    const double rx = sample(r.body, series).value_or(-1);
    const double enter = sumOf(r.body, "ringway_io_uring_enter_total");
    const double cqes = sumOf(r.body, "ringway_worker_loop_batch_cqes_sum");
    EXPECT_GE(rx, lastRx);
    EXPECT_GE(enter, lastEnter);
    EXPECT_GE(cqes, lastCqes);
    lastRx = rx;
    lastEnter = enter;
    lastCqes = cqes;
    ++scrapes;
    if (rx == kClients * kBytes)
      break;
  }
  for (auto& t : clients)
    t.join();
  EXPECT_TRUE(waitFor([&] {
    return sample(get(p.admin_address(), "/metrics").body, series) == kClients * kBytes;
  }));
}

// The epoll backend has no ring: the io_uring families are absent, not zero, and the rest
// is counted the same way.
TEST(AdminServer, EpollBackendReportsNoRingFamilies) {
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(2, {"alpha"}, backend.address(), "epoll"));
  const std::string alpha = p.server->boundAddresses()[0];
  for (int i = 0; i < 3; ++i)
    echoThrough(alpha, 20'000, 300 + static_cast<uint32_t>(i));
  std::string m;
  ASSERT_TRUE(waitFor([&] {
    m = get(p.admin_address(), "/metrics").body;
    return sample(m, R"(ringway_downstream_connections_active{listener="alpha"})") == 0.0;
  })) << m;
  EXPECT_EQ(
      sumOf(m, "ringway_build_info", {"backend=\"epoll\"", "version=\"" RINGWAY_VERSION "\""}),
      1);
  EXPECT_EQ(value(m, R"(ringway_downstream_connections_total{listener="alpha"})"), 3);
  EXPECT_EQ(value(m, R"(ringway_downstream_bytes_total{direction="rx",listener="alpha"})"), 60'000);
  EXPECT_EQ(value(m, R"(ringway_downstream_bytes_total{direction="tx",listener="alpha"})"), 60'000);
  EXPECT_GT(sumOf(m, "ringway_syscalls_total"), 0);
  const auto types = familyTypes(m);
  for (const char* absent :
       {"ringway_io_uring_enter_total", "ringway_io_uring_sqes_submitted_total",
        "ringway_io_uring_cqes_total", "ringway_worker_loop_iterations_total",
        "ringway_worker_loop_batch_cqes"})
    EXPECT_EQ(types.count(absent), 0u) << absent;
  const Json workers = parseJson(get(p.admin_address(), "/workers").body);
  for (const Json& w : workers.get("workers")->array())
    EXPECT_EQ(w.get("backend")->str(), "epoll");
}

TEST(AdminServer, Endpoints) {
  REQUIRE_URING();
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(3, {"front", "side"}, backend.address()));
  const std::string a = p.admin_address();

  HttpResponse r = get(a, "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");

  r = get(a, "/readyz");
  EXPECT_EQ(r.status, 200) << r.raw;

  r = get(a, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
  EXPECT_EQ(r.headers["connection"], "close");

  // HEAD: same head, no body.
  r = get(a, "/healthz", "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], "3");
  EXPECT_EQ(r.body, "");

  // The free-buffer gauge is refreshed once per loop turn: wait for the first turns.
  ASSERT_TRUE(waitFor([&] {
    r = get(a, "/workers");
    return r.status == 200 && r.body.find("\"buffers_free\": 0") == std::string::npos;
  })) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/json");
  const Json workers = parseJson(r.body);
  ASSERT_NE(workers.get("workers"), nullptr) << r.body;
  ASSERT_EQ(workers.get("workers")->array().size(), 3u) << r.body;
  for (std::size_t i = 0; i < 3; ++i) {
    const Json& w = workers.get("workers")->array()[i];
    EXPECT_EQ(w.get("id")->number(), static_cast<double>(i));
    EXPECT_EQ(w.get("state")->str(), "serving");
    EXPECT_EQ(w.get("backend")->str(), "io_uring");
    EXPECT_FALSE(w.get("ring_mode")->str().empty());
    EXPECT_EQ(w.get("active_connections")->number(), 0);
    EXPECT_EQ(w.get("buffers_free")->number(), kBuffers);
  }

  r = get(a, "/config");
  ASSERT_EQ(r.status, 200);
  const Json cfg = parseJson(r.body);
  ASSERT_TRUE(cfg.get("listeners") && cfg.get("listeners")->isArray()) << r.body;
  ASSERT_EQ(cfg.get("listeners")->array().size(), 2u);
  EXPECT_EQ(cfg.get("listeners")->array()[0].get("name")->str(), "front");
  EXPECT_EQ(cfg.get("listeners")->array()[1].get("name")->str(), "side");
  EXPECT_EQ(cfg.get("workers")->number(), 3);
  EXPECT_EQ(cfg.get("clusters")->array()[0].get("endpoints")->array()[0].get("address")->str(),
            backend.address());

  r = get(a, "/config?format=yaml");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/yaml");
  EXPECT_NE(r.body.find("name: \"front\""), std::string::npos) << r.body;
  // What /config says loads back into the same configuration.
  EXPECT_EQ(config::toJson(*config::loadString(r.body, "dump.yaml")),
            config::toJson(p.server->config()));
}

TEST(AdminServer, BadRequests) {
  REQUIRE_URING();
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(1, {"l"}, backend.address()));
  const std::string a = p.admin_address();

  HttpResponse r = get(a, "/nope");
  EXPECT_EQ(r.status, 404);
  r = get(a, "/metricsx");
  EXPECT_EQ(r.status, 404);

  for (const char* m : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    r = get(a, "/metrics", m);
    EXPECT_EQ(r.status, 405) << m;
    EXPECT_EQ(r.headers["allow"], "GET, HEAD") << m;
  }
  // A POST with a body: read and answered, not reset.
  r = httpExchange(a, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.status, 405) << r.raw;

  r = httpExchange(a, "GARBAGE\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.raw;
  r = httpExchange(a, "GET /metrics HTTP/1.1\r\n\r\n"); // no Host
  EXPECT_EQ(r.status, 400) << r.raw;
  r = httpExchange(a, "GET /metrics HTTP/1.1\r\nHost: x\nBad\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.raw;
  r = httpExchange(a, "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 505) << r.raw;
  r = httpExchange(a, "GET /" + std::string(5000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 414) << r.raw.substr(0, 200);
  // Half a request, then EOF: the parser's unexpected_eof.
  r = httpExchange(a, "GET /metrics HTTP/1.1\r\nHo", std::chrono::seconds(10), true);
  EXPECT_EQ(r.status, 400) << r.raw;
  // Connect and leave at once: no answer, no harm.
  r = httpExchange(a, "", std::chrono::seconds(10), true);
  EXPECT_EQ(r.status, 0) << r.raw;
  EXPECT_EQ(r.raw, "");

  // After all that the server still answers, and it counted what it answered.
  r = get(a, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_GE(sumOf(r.body, "ringway_admin_requests_total", {"code=\"405\""}), 5);
  EXPECT_GE(sumOf(r.body, "ringway_admin_requests_total", {"code=\"404\""}), 2);
  EXPECT_GE(sumOf(r.body, "ringway_admin_requests_total", {"code=\"400\""}), 3);
}

TEST(AdminServer, SlowClientDoesNotBlockAScrape) {
  REQUIRE_URING();
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(1, {"l"}, backend.address()));
  const std::string a = p.admin_address();

  const int silent = connectTo(a); // connects, sends nothing
  ASSERT_GE(silent, 0);
  const int partial = connectTo(a); // sends half a request and stops
  ASSERT_GE(partial, 0);
  ASSERT_EQ(::send(partial, "GET /metrics HTTP/1.1\r\nHo", 25, MSG_NOSIGNAL), 25);

  for (int i = 0; i < 3; ++i) {
    const HttpResponse r = get(a, "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("ringway_build_info"), std::string::npos);
  }
  // Both slow connections are still open (default request timeout is 5 s): the scrapes
  // above did not wait for them.
  pollfd pf[2] = {{silent, POLLIN, 0}, {partial, POLLIN, 0}};
  EXPECT_EQ(::poll(pf, 2, 0), 0);
  ::close(silent);
  ::close(partial);
}

TEST(AdminServer, FullHouseEvictsTheOldestIdleClient) {
  REQUIRE_URING();
  EchoBackend backend;
  AdminServer::Options opt;
  opt.maxClients = 2;
  Proxy p = startProxy(proxyYaml(1, {"l"}, backend.address()), opt);
  const std::string a = p.admin_address();
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i)
    idle.push_back(connectTo(a));
  for (int fd : idle)
    ASSERT_GE(fd, 0);
  const HttpResponse r = get(a, "/healthz");
  EXPECT_EQ(r.status, 200) << r.raw;
  // The first ones were evicted to make room: they see EOF.
  char c;
  EXPECT_TRUE(waitFor([&] { return ::recv(idle[0], &c, 1, MSG_DONTWAIT) == 0; }));
  for (int fd : idle)
    ::close(fd);
}

TEST(AdminServer, SilentClientGets408AfterTheRequestTimeout) {
  REQUIRE_URING();
  EchoBackend backend;
  AdminServer::Options opt;
  opt.requestTimeout = std::chrono::milliseconds(100);
  Proxy p = startProxy(proxyYaml(1, {"l"}, backend.address()), opt);
  const HttpResponse r = httpExchange(p.admin_address(), "GET /metr", std::chrono::seconds(10));
  EXPECT_EQ(r.status, 408) << r.raw;
}

TEST(AdminServer, ReadyzTurns503WhenDraining) {
  REQUIRE_URING();
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(2, {"l"}, backend.address()));
  const std::string a = p.admin_address();
  ASSERT_EQ(get(a, "/readyz").status, 200);
  p.server->drain();
  HttpResponse r;
  // Each worker takes the drain command on its own thread: wait until both have.
  ASSERT_TRUE(waitFor([&] {
    r = get(a, "/readyz");
    return r.status == 503 && r.body.find("worker 0: ") != std::string::npos &&
           r.body.find("worker 1: ") != std::string::npos;
  })) << r.raw;
  EXPECT_EQ(r.body.rfind("not ready\n", 0), 0u) << r.body;
  // Liveness is not readiness: still alive while draining.
  EXPECT_EQ(get(a, "/healthz").status, 200);
  // Metrics keep answering, and report the state.
  ASSERT_TRUE(waitFor([&] {
    const std::string m = get(a, "/metrics").body;
    return sumOf(m, "ringway_worker_state", {"state=\"serving\""}) == 0;
  }));
  p.server->wait();
  r = get(a, "/readyz");
  EXPECT_EQ(r.status, 503);
  const std::string m = get(a, "/metrics").body;
  EXPECT_EQ(sumOf(m, "ringway_worker_state", {"state=\"stopped\""}), 2) << m;
  // Final counts of stopped workers are still there.
  EXPECT_GT(sumOf(m, "ringway_io_uring_enter_total"), 0);
}

TEST(AdminServer, BindFailureIsAStartupError) {
  REQUIRE_URING();
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(1, {"l"}, backend.address()));
  config::Address taken;
  std::string why;
  ASSERT_TRUE(config::parseAddress(p.admin_address(), taken, why)) << why;
  AdminServer second(*p.server, taken);
  try {
    second.start();
    FAIL() << "a second admin server bound " << p.admin_address();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("admin: cannot listen on " + p.admin_address()),
              std::string::npos)
        << e.what();
  }
}

TEST(AdminServer, StopIsIdempotent) {
  REQUIRE_URING();
  EchoBackend backend;
  Proxy p = startProxy(proxyYaml(1, {"l"}, backend.address()));
  p.admin->stop();
  p.admin->stop();
  EXPECT_EQ(get(p.admin_address(), "/healthz").status, 0);
}

} // namespace
} // namespace ringway::core::test
