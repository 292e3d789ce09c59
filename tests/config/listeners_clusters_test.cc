// Rejections in listeners and clusters: names, references, addresses, endpoints; and several
// problems reported together.
#include "config/schema.h"
#include "config_test_util.h"

namespace ringway::config {
namespace {

using ::testing::ElementsAre;
using testing::IsProblem;
using testing::problemsOf;
using testing::withMinimal;

// ---- listeners ----

TEST(Validate, AtLeastOneListener) {
  EXPECT_ONE_PROBLEM(R"(listeners: []
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)",
                     1, 12, "listeners", "at least one listener is required");
}

TEST(Validate, ListenerRequiredKeys) {
  EXPECT_THAT(problemsOf(R"(listeners:
  - protocol: tcp
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)"),
              ElementsAre(IsProblem(2, 5, "listeners[0]", "missing required key 'name'"),
                          IsProblem(2, 5, "listeners[0]", "missing required key 'address'"),
                          IsProblem(2, 5, "listeners[0]", "missing required key 'routes'")));
}

TEST(Validate, AtLeastOneRoute) {
  EXPECT_ONE_PROBLEM(R"(listeners:
  - name: raw
    address: "127.0.0.1:15432"
    routes: []
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)",
                     4, 13, "listeners[0].routes", "a listener needs at least one route");
}

TEST(Validate, TcpTakesOneRoute) {
  EXPECT_ONE_PROBLEM(R"(listeners:
  - name: raw
    address: "127.0.0.1:15432"
    routes:
      - cluster: pg
      - cluster: pg
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)",
                     6, 9, "listeners[0].routes[1]", "tcp listeners take one route (got 2)");
}

TEST(Validate, RouteNeedsACluster) {
  EXPECT_THAT(
      problemsOf(R"(listeners:
  - name: raw
    address: "127.0.0.1:15432"
    routes: [ { clustr: pg } ]
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)"),
      ElementsAre(IsProblem(4, 15, "listeners[0].routes[0]", "missing required key 'cluster'"),
                  IsProblem(4, 17, "listeners[0].routes[0].clustr",
                            "unknown key 'clustr'; did you mean 'cluster'?")));
}

TEST(Validate, UnknownClusterReference) {
  EXPECT_ONE_PROBLEM(R"(listeners:
  - name: raw
    address: "127.0.0.1:15432"
    routes: [ { cluster: pgg } ]
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)",
                     4, 26, "listeners[0].routes[0].cluster",
                     "unknown cluster 'pgg'; did you mean 'pg'?");
  const auto problems = problemsOf(R"(listeners:
  - { name: raw, address: "127.0.0.1:1", routes: [ { cluster: elsewhere } ] }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].message, "unknown cluster 'elsewhere'");
}

TEST(Validate, ClusterIndexResolved) {
  const auto cfg = testing::load(R"(listeners:
  - { name: a, address: "127.0.0.1:1", routes: [ { cluster: c2 } ] }
  - { name: b, address: "127.0.0.1:2", routes: [ { cluster: c0 } ] }
clusters:
  - { name: c0, endpoints: [ { address: "127.0.0.1:5432" } ] }
  - { name: c1, endpoints: [ { address: "127.0.0.1:5432" } ] }
  - { name: c2, endpoints: [ { address: "127.0.0.1:5432" } ] }
)");
  EXPECT_EQ(cfg->listeners[0].routes[0].cluster_index, 2u);
  EXPECT_EQ(cfg->listeners[1].routes[0].cluster_index, 0u);
}

TEST(Validate, ProtocolsNotImplementedYet) {
  const std::string tail = R"(
    routes: [ { cluster: pg } ]
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)";
  // Every protocol is implemented now (tls_passthrough was the last).
  EXPECT_NO_THROW(loadString(std::string("listeners:\n  - name: web\n    address: "
                                         "\"127.0.0.1:8443\"\n    protocol: tls_passthrough") +
                                 tail,
                             "t.yaml"));
  EXPECT_ONE_PROBLEM(std::string("listeners:\n  - name: web\n    address: \"127.0.0.1:8443\"\n"
                                 "    protocol: udp") +
                         tail,
                     4, 15, "listeners[0].protocol",
                     "invalid protocol 'udp' (expected tcp, http or tls_passthrough)");
}

TEST(Validate, ProtocolImplementedIsTheSwitch) {
  EXPECT_TRUE(protocolImplemented(Protocol::Tcp));
  EXPECT_TRUE(protocolImplemented(Protocol::Http));
  EXPECT_TRUE(protocolImplemented(Protocol::TlsPassthrough));
}

TEST(Validate, Backlog) {
  const std::string head = "listeners:\n  - name: raw\n    address: \"127.0.0.1:1\"\n";
  const std::string tail = "    routes: [ { cluster: pg } ]\nclusters:\n"
                           "  - { name: pg, endpoints: [ { address: \"127.0.0.1:5432\" } ] }\n";
  EXPECT_ONE_PROBLEM(head + "    backlog: 0\n" + tail, 4, 14, "listeners[0].backlog",
                     "backlog must be between 1 and 65535 (got 0)");
  EXPECT_ONE_PROBLEM(head + "    backlog: 65536\n" + tail, 4, 14, "listeners[0].backlog",
                     "backlog must be between 1 and 65535 (got 65536)");
  EXPECT_EQ(testing::load(head + "    backlog: 65535\n" + tail)->listeners[0].backlog, 65535);
}

TEST(Validate, ListenerIdleTimeout) {
  EXPECT_ONE_PROBLEM(R"(listeners:
  - name: raw
    address: "127.0.0.1:1"
    idle_timeout: 30
    routes: [ { cluster: pg } ]
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)",
                     4, 19, "listeners[0].idle_timeout", "duration '30' needs a unit");
}

// ---- names ----

TEST(Validate, Names) {
  EXPECT_THAT(problemsOf(R"(listeners:
  - { name: "", address: "127.0.0.1:1", routes: [ { cluster: pg } ] }
  - { name: "a b", address: "127.0.0.1:2", routes: [ { cluster: pg } ] }
  - { name: [x], address: "127.0.0.1:3", routes: [ { cluster: pg } ] }
  - { name: ok.name-1_x, address: "127.0.0.1:4", routes: [ { cluster: pg } ] }
clusters:
  - { name: "pg/1", endpoints: [ { address: "127.0.0.1:5432" } ] }
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)"),
              ElementsAre(IsProblem(2, 13, "listeners[0].name", "name must not be empty"),
                          IsProblem(3, 13, "listeners[1].name",
                                    "invalid name 'a b': use only A-Z a-z 0-9 _ . -"),
                          IsProblem(4, 13, "listeners[2].name", "expected a string, got a list"),
                          IsProblem(7, 13, "clusters[0].name", "invalid name 'pg/1'")));
}

TEST(Validate, DuplicateNames) {
  EXPECT_THAT(problemsOf(R"(listeners:
  - { name: raw, address: "127.0.0.1:1", routes: [ { cluster: pg } ] }
  - { name: raw, address: "127.0.0.1:2", routes: [ { cluster: pg } ] }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
  - name: pg
    endpoints: [ { address: "127.0.0.1:5433" } ]
)"),
              ElementsAre(IsProblem(3, 13, "listeners[1].name",
                                    "duplicate listener name 'raw' (first defined at line 2)"),
                          IsProblem(6, 11, "clusters[1].name",
                                    "duplicate cluster name 'pg' (first defined at line 5)")));
}

TEST(Validate, ListenerAndClusterMayShareAName) {
  EXPECT_EQ(testing::load(R"(listeners:
  - { name: pg, address: "127.0.0.1:1", routes: [ { cluster: pg } ] }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)")
                ->listeners[0]
                .name,
            "pg");
}

// ---- addresses ----

TEST(Validate, ListenerAddressErrors) {
  EXPECT_THAT(problemsOf(R"(listeners:
  - { name: a, address: "localhost:80", routes: [ { cluster: pg } ] }
  - { name: b, address: "127.0.0.1:65536", routes: [ { cluster: pg } ] }
  - { name: c, address: "::1:80", routes: [ { cluster: pg } ] }
  - { name: d, address: 8080, routes: [ { cluster: pg } ] }
  - { name: e, address: { host: x }, routes: [ { cluster: pg } ] }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)"),
              ElementsAre(IsProblem(2, 25, "listeners[0].address",
                                    "invalid address 'localhost:80': 'localhost' is not a numeric "
                                    "IPv4 address (host names are not resolved)"),
                          IsProblem(3, 25, "listeners[1].address",
                                    "invalid address '127.0.0.1:65536': invalid port '65536'"),
                          IsProblem(4, 25, "listeners[2].address",
                                    "IPv6 addresses need brackets, e.g. [::1]:8080"),
                          IsProblem(5, 25, "listeners[3].address", "missing port"),
                          IsProblem(6, 25, "listeners[4].address",
                                    "expected an address such as 127.0.0.1:8080, got a mapping")));
}

TEST(Validate, SameAddressTwice) {
  EXPECT_ONE_PROBLEM(R"(listeners:
  - { name: a, address: "127.0.0.1:80", routes: [ { cluster: pg } ] }
  - { name: b, address: "127.0.0.1:80", routes: [ { cluster: pg } ] }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)",
                     3, 25, "listeners[1].address",
                     "address '127.0.0.1:80' conflicts with listener 'a' on '127.0.0.1:80'");
}

TEST(Validate, WildcardConflicts) {
  EXPECT_THAT(
      problemsOf(R"(listeners:
  - { name: any4, address: "0.0.0.0:80", routes: [ { cluster: pg } ] }
  - { name: lo, address: "127.0.0.1:80", routes: [ { cluster: pg } ] }
  - { name: any6, address: "[::]:443", routes: [ { cluster: pg } ] }
  - { name: lo4, address: "127.0.0.1:443", routes: [ { cluster: pg } ] }
  - { name: lo6, address: "[::1]:443", routes: [ { cluster: pg } ] }
  - { name: mapped, address: "[::ffff:10.0.0.1]:90", routes: [ { cluster: pg } ] }
  - { name: plain, address: "10.0.0.1:90", routes: [ { cluster: pg } ] }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)"),
      ElementsAre(
          IsProblem(3, 26, "listeners[1].address",
                    "address '127.0.0.1:80' conflicts with listener 'any4' on "
                    "'0.0.0.0:80'"),
          IsProblem(5, 27, "listeners[3].address", "conflicts with listener 'any6' on '[::]:443'"),
          IsProblem(6, 27, "listeners[4].address", "conflicts with listener 'any6' on '[::]:443'"),
          IsProblem(8, 29, "listeners[6].address", "conflicts with listener 'mapped'")));
}

TEST(Validate, Ipv4WildcardDoesNotTakeIpv6) {
  EXPECT_EQ(testing::load(R"(listeners:
  - { name: a, address: "0.0.0.0:80", routes: [ { cluster: pg } ] }
  - { name: b, address: "[::1]:80", routes: [ { cluster: pg } ] }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)")
                ->listeners.size(),
            2u);
}

TEST(Validate, AdminCollidesWithListener) {
  EXPECT_ONE_PROBLEM(R"(admin: { address: "127.0.0.1:15432" }
listeners:
  - name: raw
    address: "0.0.0.0:15432"
    routes: [ { cluster: pg } ]
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)",
                     1, 19, "admin.address",
                     "admin address '127.0.0.1:15432' conflicts with listener 'raw' on "
                     "'0.0.0.0:15432'");
}

// ---- clusters ----

TEST(Validate, AtLeastOneCluster) {
  EXPECT_THAT(
      problemsOf(R"(listeners:
  - { name: raw, address: "127.0.0.1:1", routes: [ { cluster: pg } ] }
clusters: []
)"),
      ElementsAre(IsProblem(2, 63, "listeners[0].routes[0].cluster", "unknown cluster 'pg'"),
                  IsProblem(3, 11, "clusters",
                            "the list is empty; leave the key out when no route uses a cluster")));
}

TEST(Validate, EmptyEndpoints) {
  EXPECT_ONE_PROBLEM(withMinimal("") + "  - name: empty\n    endpoints: []\n", 9, 16,
                     "clusters[1].endpoints", "a cluster needs at least one endpoint");
}

TEST(Validate, EndpointErrors) {
  EXPECT_THAT(
      problemsOf(withMinimal("") + R"(  - name: bad
    lb: least_conn
    connect_timeout: 1
    endpoints:
      - { address: "127.0.0.1:0" }
      - { address: "127.0.0.1:1", weight: 0 }
      - { address: "127.0.0.1:1", weight: 1001 }
      - { address: "[::1]:99999" }
      - "127.0.0.1:1"
      - { weight: 2 }
)"),
      ElementsAre(
          IsProblem(9, 9, "clusters[1].lb",
                    "invalid lb 'least_conn' (expected round_robin or random)"),
          IsProblem(10, 22, "clusters[1].connect_timeout", "duration '1' needs a unit"),
          IsProblem(12, 20, "clusters[1].endpoints[0].address",
                    "port must be between 1 and 65535 (got 0 in '127.0.0.1:0')"),
          IsProblem(13, 43, "clusters[1].endpoints[1].weight",
                    "weight must be between 1 and 1000 (got 0)"),
          IsProblem(14, 43, "clusters[1].endpoints[2].weight",
                    "weight must be between 1 and 1000 (got 1001)"),
          IsProblem(15, 20, "clusters[1].endpoints[3].address", "invalid port '99999'"),
          IsProblem(16, 9, "clusters[1].endpoints[4]", "expected a mapping, got '127.0.0.1:1'"),
          IsProblem(17, 9, "clusters[1].endpoints[5]", "missing required key 'address'")));
}

TEST(Validate, LbSuggestion) {
  EXPECT_ONE_PROBLEM(withMinimal("") + "  - name: c\n    lb: randm\n"
                                       "    endpoints: [ { address: \"127.0.0.1:1\" } ]\n",
                     9, 9, "clusters[1].lb",
                     "invalid lb 'randm' (expected round_robin or random); did you mean 'random'?");
}

// ---- all at once ----

TEST(Validate, ReportsEveryProblemInFileOrder) {
  const std::string yaml = R"(workers: 0
log_level: loud
io: { ring_entries: 100 }
listeners:
  - name: raw
    address: "127.0.0.1:15432"
    routes: [ { cluster: nope } ]
clusters:
  - name: pg
    endpoints: []
)";
  try {
    loadString(yaml, "multi.yaml");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "multi.yaml:1:10: workers must be between 1 and 1024 (got 0) (at workers)\n"
              "multi.yaml:2:12: invalid log_level 'loud' (expected debug, info, warn or error) (at "
              "log_level)\n"
              "multi.yaml:3:21: ring_entries must be a power of two (got 100) (at "
              "io.ring_entries)\n"
              "multi.yaml:7:26: unknown cluster 'nope' (at listeners[0].routes[0].cluster)\n"
              "multi.yaml:10:16: a cluster needs at least one endpoint (at clusters[0].endpoints)");
    EXPECT_EQ(e.problems().size(), 5u);
  }
}

TEST(Validate, AnchorsAndAliasesWork) {
  const auto cfg = testing::load(R"(listeners:
  - { name: a, address: "127.0.0.1:1", routes: &r [ { cluster: pg } ] }
  - { name: b, address: "127.0.0.1:2", routes: *r }
clusters:
  - { name: pg, endpoints: [ { address: "127.0.0.1:5432" } ] }
)");
  ASSERT_EQ(cfg->listeners.size(), 2u);
  EXPECT_EQ(cfg->listeners[1].routes[0].cluster, "pg");
}

} // namespace
} // namespace ringway::config
