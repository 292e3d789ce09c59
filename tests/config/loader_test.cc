// Valid configs: every key lands in the right field, defaults fill the rest.
#include <arpa/inet.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "config_test_util.h"

namespace ringway::config {
namespace {

using testing::load;
using testing::Minimal;

constexpr const char* Full = R"(# every v1 key, none at its default
workers: 3
cpu_affinity: true
log_level: debug
admin: { address: "127.0.0.1:9901" }
io:
  buffer_size: 32KiB
  buffers_per_worker: 1024
  zerocopy_threshold: 64KiB
  ring_entries: 4096
  max_inflight_per_connection: 1MiB
defaults: { connect_timeout: 2s, idle_timeout: 5m, drain_timeout: 0s }
listeners:
  - name: raw
    address: "0.0.0.0:15432"
    protocol: tcp
    routes: [ { cluster: pg } ]
    idle_timeout: 90s
    backlog: 128
  - name: v6
    address: "[::1]:15433"
    routes:
      - cluster: redis
clusters:
  - name: redis
    endpoints:
      - { address: "[::1]:6379", weight: 1000 }
    lb: random
    connect_timeout: 250ms
  - name: pg
    endpoints:
      - { address: "127.0.0.1:5432", weight: 3 }
      - address: "10.0.0.2:5432"
)";

TEST(Load, FullConfigRoundTrips) {
  const auto cfg = load(Full);
  EXPECT_EQ(cfg->file, "test.yaml");
  EXPECT_EQ(cfg->workers, 3u);
  EXPECT_FALSE(cfg->workers_auto);
  EXPECT_TRUE(cfg->cpu_affinity);
  EXPECT_EQ(cfg->log_level, LogLevel::Debug);
  ASSERT_TRUE(cfg->admin.address.has_value());
  EXPECT_EQ(cfg->admin.address->text, "127.0.0.1:9901");
  EXPECT_EQ(cfg->admin.address->port(), 9901);

  EXPECT_EQ(cfg->io.buffer_size, 32u * 1024);
  EXPECT_EQ(cfg->io.buffers_per_worker, 1024u);
  EXPECT_EQ(cfg->io.zerocopy_threshold, std::optional<std::size_t>(64 * 1024));
  EXPECT_EQ(cfg->io.ring_entries, 4096u);
  EXPECT_EQ(cfg->io.max_inflight_per_connection, 1024u * 1024);

  EXPECT_EQ(cfg->defaults.connect_timeout, Duration(2000));
  EXPECT_EQ(cfg->defaults.idle_timeout, Duration(300'000));
  EXPECT_EQ(cfg->defaults.drain_timeout, Duration(0));

  ASSERT_EQ(cfg->listeners.size(), 2u);
  const Listener& raw = cfg->listeners[0];
  EXPECT_EQ(raw.name, "raw");
  EXPECT_EQ(raw.address.text, "0.0.0.0:15432");
  EXPECT_EQ(raw.address.sa()->sa_family, AF_INET);
  EXPECT_EQ(raw.address.port(), 15432);
  EXPECT_EQ(raw.protocol, Protocol::Tcp);
  ASSERT_EQ(raw.routes.size(), 1u);
  EXPECT_EQ(raw.routes[0].cluster, "pg");
  EXPECT_EQ(raw.routes[0].cluster_index, 1u);
  EXPECT_EQ(raw.idle_timeout, Duration(90'000));
  EXPECT_EQ(raw.backlog, 128);

  const Listener& v6 = cfg->listeners[1];
  EXPECT_EQ(v6.address.sa()->sa_family, AF_INET6);
  EXPECT_EQ(v6.address.length, sizeof(sockaddr_in6));
  EXPECT_EQ(v6.idle_timeout, Duration(300'000)) << "inherits defaults.idle_timeout";
  EXPECT_EQ(v6.backlog, 4096);
  ASSERT_EQ(v6.routes.size(), 1u);
  EXPECT_EQ(v6.routes[0].cluster_index, 0u);

  ASSERT_EQ(cfg->clusters.size(), 2u);
  const Cluster& redis = cfg->clusters[0];
  EXPECT_EQ(redis.name, "redis");
  EXPECT_EQ(redis.lb, LbPolicy::Random);
  EXPECT_EQ(redis.connect_timeout, Duration(250));
  ASSERT_EQ(redis.endpoints.size(), 1u);
  EXPECT_EQ(redis.endpoints[0].address.port(), 6379);
  EXPECT_EQ(redis.endpoints[0].weight, 1000u);

  const Cluster& pg = cfg->clusters[1];
  EXPECT_EQ(pg.lb, LbPolicy::RoundRobin);
  EXPECT_EQ(pg.connect_timeout, Duration(2000)) << "inherits defaults.connect_timeout";
  ASSERT_EQ(pg.endpoints.size(), 2u);
  EXPECT_EQ(pg.endpoints[0].weight, 3u);
  EXPECT_EQ(pg.endpoints[1].weight, 1u);
  const auto* sin = reinterpret_cast<const sockaddr_in*>(pg.endpoints[1].address.sa());
  EXPECT_EQ(ntohl(sin->sin_addr.s_addr), 0x0a000002u);
}

TEST(Load, DefaultsFromConfigH) {
  const auto cfg = load(Minimal);
  const Config def;
  EXPECT_TRUE(cfg->workers_auto);
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_EQ(cfg->workers, static_cast<unsigned>(cpus < 1 ? 1 : cpus));
  EXPECT_GE(cfg->workers, 1u);
  EXPECT_FALSE(cfg->cpu_affinity);
  EXPECT_EQ(cfg->log_level, LogLevel::Info);
  ASSERT_TRUE(cfg->admin.address.has_value()) << "admin is on unless `admin: off`";
  EXPECT_EQ(cfg->admin.address->text, "127.0.0.1:9901");
  EXPECT_EQ(cfg->io.buffer_size, 16u * 1024);
  EXPECT_EQ(cfg->io.buffers_per_worker, 256u);
  EXPECT_FALSE(cfg->io.zerocopy_threshold.has_value());
  EXPECT_EQ(cfg->io.ring_entries, 1024u);
  EXPECT_EQ(cfg->io.max_inflight_per_connection, 256u * 1024);
  EXPECT_EQ(cfg->defaults.connect_timeout, Duration(1000));
  EXPECT_EQ(cfg->defaults.idle_timeout, Duration(60'000));
  EXPECT_EQ(cfg->defaults.drain_timeout, Duration(30'000));
  ASSERT_EQ(cfg->listeners.size(), 1u);
  EXPECT_EQ(cfg->listeners[0].protocol, Protocol::Tcp);
  EXPECT_EQ(cfg->listeners[0].idle_timeout, Duration(60'000));
  EXPECT_EQ(cfg->listeners[0].backlog, 4096);
  ASSERT_EQ(cfg->clusters.size(), 1u);
  EXPECT_EQ(cfg->clusters[0].lb, LbPolicy::RoundRobin);
  EXPECT_EQ(cfg->clusters[0].connect_timeout, Duration(1000));
  EXPECT_EQ(cfg->clusters[0].endpoints[0].weight, 1u);
}

TEST(Load, ExplicitAutoAndOffSpellings) {
  const auto cfg =
      load(std::string("workers: auto\nadmin: off\nio: { zerocopy_threshold: off }\n") + Minimal);
  EXPECT_TRUE(cfg->workers_auto);
  EXPECT_GE(cfg->workers, 1u);
  EXPECT_FALSE(cfg->admin.address.has_value());
  EXPECT_FALSE(cfg->io.zerocopy_threshold.has_value());

  const auto cfg2 = load(std::string("admin: { address: off }\n") + Minimal);
  EXPECT_FALSE(cfg2->admin.address.has_value());
}

TEST(Load, DefaultsApplyWhereverTheyAreWritten) {
  // `defaults` after the lists still applies: keys are read in schema order, not file order.
  const auto cfg =
      load(std::string(Minimal) + "defaults: { idle_timeout: 7s, connect_timeout: 3s }\n");
  EXPECT_EQ(cfg->listeners[0].idle_timeout, Duration(7000));
  EXPECT_EQ(cfg->clusters[0].connect_timeout, Duration(3000));
}

TEST(Load, PortZeroAllowedForListenersAndAdmin) {
  const auto cfg = load(R"(admin: { address: "127.0.0.1:0" }
listeners:
  - { name: a, address: "127.0.0.1:0", routes: [ { cluster: pg } ] }
  - { name: b, address: "127.0.0.1:0", routes: [ { cluster: pg } ] }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)");
  EXPECT_EQ(cfg->listeners[0].address.port(), 0);
  EXPECT_EQ(cfg->listeners[1].address.port(), 0) << "two port-0 listeners do not conflict";
  EXPECT_EQ(cfg->admin.address->port(), 0);
}

TEST(Load, DifferentHostsSamePortDoNotConflict) {
  const auto cfg = load(R"(listeners:
  - { name: a, address: "127.0.0.1:80", routes: [ { cluster: pg } ] }
  - { name: b, address: "127.0.0.2:80", routes: [ { cluster: pg } ] }
  - { name: c, address: "[::1]:80", routes: [ { cluster: pg } ] }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)");
  EXPECT_EQ(cfg->listeners.size(), 3u);
}

TEST(LoadFile, ReadsAFile) {
  char path[] = "/tmp/ringway-config-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "workers: 2\n" << Minimal;
  }
  const auto cfg = loadFile(path);
  std::remove(path);
  EXPECT_EQ(cfg->file, path);
  EXPECT_EQ(cfg->workers, 2u);
}

TEST(LoadFile, ProblemsNameTheFile) {
  char path[] = "/tmp/ringway-config-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "workers: 0\n" << Minimal;
  }
  try {
    loadFile(path);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              std::string(path) + ":1:10: workers must be between 1 and 1024 (got 0) (at workers)");
  }
  std::remove(path);
}

TEST(LoadFile, MissingFile) {
  try {
    loadFile("/nonexistent/ringway.yaml");
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].file, "/nonexistent/ringway.yaml");
    EXPECT_EQ(e.problems()[0].line, 0);
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent/ringway.yaml: cannot read file: No such file or directory");
  }
}

TEST(LoadFile, Directory) {
  try {
    loadFile("/tmp");
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "/tmp: cannot read file: Is a directory");
  }
}

TEST(ProblemStr, Formats) {
  EXPECT_EQ((Problem{"f.yaml", 3, 7, "bad", "listeners[0].name"}).str(),
            "f.yaml:3:7: bad (at listeners[0].name)");
  EXPECT_EQ((Problem{"f.yaml", 3, 7, "bad", ""}).str(), "f.yaml:3:7: bad");
  EXPECT_EQ((Problem{"f.yaml", 0, 0, "cannot read file: x", ""}).str(),
            "f.yaml: cannot read file: x");
}

TEST(ConfigErrorTest, WhatJoinsAllLines) {
  const ConfigError e({Problem{"f", 1, 2, "one", "a"}, Problem{"f", 3, 4, "two", ""}});
  EXPECT_EQ(std::string(e.what()), "f:1:2: one (at a)\nf:3:4: two");
  EXPECT_EQ(e.problems().size(), 2u);
}

TEST(EnumNames, MatchTheYamlSpelling) {
  EXPECT_EQ(toString(Protocol::TlsPassthrough), "tls_passthrough");
  EXPECT_EQ(toString(LbPolicy::RoundRobin), "round_robin");
  EXPECT_EQ(toString(LogLevel::Warn), "warn");
}

} // namespace
} // namespace ringway::config
