// Every rejection: the message (or its distinctive part), the line:col and the YAML path.
#include "config/schema.h"
#include "config_test_util.h"

namespace ringway::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::IsProblem;
using testing::Minimal;
using testing::problemsOf;
using ::testing::UnorderedElementsAre;

std::string withMinimal(const std::string& head) { return head + Minimal; }

// ---- document level ----

TEST(Validate, EmptyFile) {
  EXPECT_ONE_PROBLEM("", 1, 1, "", "configuration is empty");
  EXPECT_ONE_PROBLEM("# just a comment\n", 1, 1, "", "configuration is empty");
  EXPECT_ONE_PROBLEM("~\n", 1, 1, "", "configuration is empty");
}

TEST(Validate, RootMustBeAMapping) {
  EXPECT_ONE_PROBLEM("- a\n- b\n", 1, 1, "", "expected a mapping at the top level, got a list");
  EXPECT_ONE_PROBLEM("hello\n", 1, 1, "", "expected a mapping at the top level, got 'hello'");
}

TEST(Validate, SyntaxErrorKeepsItsPosition) {
  const auto problems = problemsOf("listeners:\n  - name: [a\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].line, 3);
  EXPECT_EQ(problems[0].col, 1);
  EXPECT_EQ(problems[0].path, "");
  EXPECT_EQ(problems[0].str(), "test.yaml:3:1: end of sequence flow not found");
}

TEST(Validate, SyntaxErrorBadIndentation) {
  const auto problems = problemsOf("workers: 1\n  cpu_affinity: true\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].line, 2);
  EXPECT_GT(problems[0].col, 0);
}

TEST(Validate, OnlyOneDocument) {
  EXPECT_THAT(problemsOf(withMinimal("") + "---\nworkers: 1\n"),
              ElementsAre(IsProblem(9, 1, "", "only one YAML document is allowed (found 2)")));
}

TEST(Validate, MissingListsAreRequired) {
  EXPECT_THAT(problemsOf("workers: 1\n"),
              ElementsAre(IsProblem(1, 1, "", "missing required key 'listeners'"),
                          IsProblem(1, 1, "", "missing required key 'clusters'")));
}

// ---- unknown keys ----

TEST(Validate, UnknownTopLevelKeyWithSuggestion) {
  EXPECT_ONE_PROBLEM(withMinimal("wrokers: 2\n"), 1, 1, "wrokers",
                     "unknown key 'wrokers'; did you mean 'workers'?");
}

TEST(Validate, UnknownKeyWithoutCloseMatchHasNoSuggestion) {
  const auto problems = problemsOf(withMinimal("frobnicate: 2\n"));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].message, "unknown key 'frobnicate'");
  EXPECT_EQ(problems[0].str(), "test.yaml:1:1: unknown key 'frobnicate' (at frobnicate)");
}

TEST(Validate, UnknownNestedKeys) {
  EXPECT_ONE_PROBLEM(R"(listeners:
  - name: raw
    address: "127.0.0.1:15432"
    routes: [ { cluster: pg } ]
clusters:
  - name: pg
    endpoint: [ { address: "127.0.0.1:5432" } ]
    endpoints: [ { address: "127.0.0.1:5432" } ]
)",
                     7, 5, "clusters[0].endpoint",
                     "unknown key 'endpoint'; did you mean 'endpoints'?");
  EXPECT_ONE_PROBLEM(withMinimal("io: { bufer_size: 1KiB }\n"), 1, 7, "io.bufer_size",
                     "unknown key 'bufer_size'; did you mean 'buffer_size'?");
  EXPECT_ONE_PROBLEM(withMinimal("defaults: { idle_timout: 1s }\n"), 1, 13, "defaults.idle_timout",
                     "unknown key 'idle_timout'; did you mean 'idle_timeout'?");
  EXPECT_ONE_PROBLEM(withMinimal("admin: { adress: \"127.0.0.1:1\", address: off }\n"), 1, 10,
                     "admin.adress", "unknown key 'adress'; did you mean 'address'?");
}

TEST(Validate, DuplicateKey) {
  EXPECT_ONE_PROBLEM(withMinimal("workers: 1\nworkers: 2\n"), 2, 1, "workers",
                     "duplicate key 'workers' (first at line 1)");
}

// ---- wrong types ----

TEST(Validate, WrongTypesAreProblemsNotCrashes) {
  EXPECT_THAT(
      problemsOf(withMinimal(R"(workers: [1, 2]
cpu_affinity: { a: 1 }
log_level: [debug]
io: [1]
defaults: 5s
admin: [1]
)")),
      ElementsAre(IsProblem(1, 10, "workers", "expected a positive integer or 'auto', got a list"),
                  IsProblem(2, 15, "cpu_affinity", "expected true or false, got a mapping"),
                  IsProblem(3, 12, "log_level", "expected debug, info, warn or error, got a list"),
                  IsProblem(4, 5, "io", "expected a mapping, got a list"),
                  IsProblem(5, 11, "defaults", "expected a mapping, got '5s'"),
                  IsProblem(6, 8, "admin", "expected a mapping or 'off', got a list")));
}

TEST(Validate, StringWhereNumberExpected) {
  EXPECT_ONE_PROBLEM(withMinimal("workers: many\n"), 1, 10, "workers",
                     "expected a positive integer or 'auto', got 'many'");
  EXPECT_ONE_PROBLEM(withMinimal("workers: 1.5\n"), 1, 10, "workers",
                     "expected a positive integer or 'auto', got '1.5'");
  EXPECT_ONE_PROBLEM(withMinimal("io: { ring_entries: lots }\n"), 1, 21, "io.ring_entries",
                     "expected an integer, got 'lots'");
}

TEST(Validate, EmptyValueIsReportedAtItsKey) {
  EXPECT_ONE_PROBLEM(withMinimal("workers:\n"), 1, 1, "workers",
                     "expected a positive integer or 'auto', got nothing");
  EXPECT_THAT(problemsOf("listeners:\nclusters:\n"),
              ElementsAre(IsProblem(1, 1, "listeners", "expected a list, got nothing"),
                          IsProblem(2, 1, "clusters", "expected a list, got nothing")));
}

TEST(Validate, ListsOfTheWrongShape) {
  EXPECT_THAT(problemsOf(R"(listeners: { name: raw }
clusters:
  - [1, 2]
  - "pg"
)"),
              ElementsAre(IsProblem(1, 12, "listeners", "expected a list, got a mapping"),
                          IsProblem(3, 5, "clusters[0]", "expected a mapping, got a list"),
                          IsProblem(4, 5, "clusters[1]", "expected a mapping, got 'pg'")));
}

TEST(Validate, LogLevelSuggestion) {
  EXPECT_ONE_PROBLEM(withMinimal("log_level: warning\n"), 1, 12, "log_level",
                     "invalid log_level 'warning' (expected debug, info, warn or error); did you "
                     "mean 'warn'?");
}

// ---- durations and sizes ----

TEST(Validate, DurationNeedsAUnit) {
  EXPECT_ONE_PROBLEM(withMinimal("defaults: { idle_timeout: 60 }\n"), 1, 27,
                     "defaults.idle_timeout",
                     "duration '60' needs a unit: ms, s, m or h (e.g. 60s)");
}

TEST(Validate, DurationErrors) {
  EXPECT_THAT(
      problemsOf(withMinimal(R"(defaults:
  connect_timeout: 5sec
  idle_timeout: 1.5s
  drain_timeout: 99999999999999999h
)")),
      ElementsAre(
          IsProblem(2, 20, "defaults.connect_timeout",
                    "duration '5sec' has an unknown unit; use ms, s, m or h"),
          IsProblem(3, 17, "defaults.idle_timeout",
                    "invalid duration '1.5s': expected a whole number and a unit (ms, s, m or h)"),
          IsProblem(4, 18, "defaults.drain_timeout",
                    "duration '99999999999999999h' is too large")));
}

TEST(Validate, TimeoutsMustBePositive) {
  EXPECT_ONE_PROBLEM(withMinimal("defaults: { connect_timeout: 0ms }\n"), 1, 30,
                     "defaults.connect_timeout", "connect_timeout must be at least 1ms (got 0ms)");
}

TEST(Validate, SizeNeedsAUnit) {
  EXPECT_ONE_PROBLEM(withMinimal("io: { buffer_size: 16384 }\n"), 1, 20, "io.buffer_size",
                     "size '16384' needs a unit: B, KiB, MiB or GiB (e.g. 16384B)");
  EXPECT_ONE_PROBLEM(withMinimal("io: { buffer_size: 16KB }\n"), 1, 20, "io.buffer_size",
                     "size '16KB' has an unknown unit; use B, KiB, MiB or GiB");
  EXPECT_ONE_PROBLEM(withMinimal("io: { zerocopy_threshold: 99999999999GiB }\n"), 1, 27,
                     "io.zerocopy_threshold", "size '99999999999GiB' is too large");
}

// ---- io limits ----

TEST(Validate, BufferSizeRange) {
  EXPECT_ONE_PROBLEM(withMinimal("io: { buffer_size: 512B }\n"), 1, 20, "io.buffer_size",
                     "buffer_size must be between 1KiB and 1MiB (got 512B)");
  EXPECT_ONE_PROBLEM(withMinimal("io: { buffer_size: 2MiB, max_inflight_per_connection: 4MiB }\n"),
                     1, 20, "io.buffer_size",
                     "buffer_size must be between 1KiB and 1MiB (got 2MiB)");
  EXPECT_EQ(testing::load(withMinimal("io: { buffer_size: 1KiB }\n"))->io.buffer_size, 1024u);
  EXPECT_EQ(
      testing::load(withMinimal("io: { buffer_size: 1MiB, max_inflight_per_connection: 1MiB }\n"))
          ->io.buffer_size,
      1024u * 1024);
}

TEST(Validate, BuffersPerWorker) {
  EXPECT_ONE_PROBLEM(withMinimal("io: { buffers_per_worker: 100 }\n"), 1, 27,
                     "io.buffers_per_worker",
                     "buffers_per_worker must be a power of two (got 100)");
  EXPECT_ONE_PROBLEM(withMinimal("io: { buffers_per_worker: 4 }\n"), 1, 27, "io.buffers_per_worker",
                     "buffers_per_worker must be between 8 and 32768 (got 4)");
  EXPECT_ONE_PROBLEM(withMinimal("io: { buffers_per_worker: 65536 }\n"), 1, 27,
                     "io.buffers_per_worker",
                     "buffers_per_worker must be between 8 and 32768 (got 65536)");
  EXPECT_EQ(testing::load(withMinimal("io: { buffers_per_worker: 8 }\n"))->io.buffers_per_worker,
            8u);
  EXPECT_EQ(
      testing::load(withMinimal("io: { buffers_per_worker: 32768 }\n"))->io.buffers_per_worker,
      32768u);
}

TEST(Validate, RingEntries) {
  EXPECT_ONE_PROBLEM(withMinimal("io: { ring_entries: 1000 }\n"), 1, 21, "io.ring_entries",
                     "ring_entries must be a power of two (got 1000)");
  EXPECT_ONE_PROBLEM(withMinimal("io: { ring_entries: 32 }\n"), 1, 21, "io.ring_entries",
                     "ring_entries must be between 64 and 32768 (got 32)");
  EXPECT_ONE_PROBLEM(withMinimal("io: { ring_entries: -64 }\n"), 1, 21, "io.ring_entries",
                     "ring_entries must be between 64 and 32768 (got -64)");
  EXPECT_EQ(testing::load(withMinimal("io: { ring_entries: 64 }\n"))->io.ring_entries, 64u);
}

TEST(Validate, ZerocopyThreshold) {
  EXPECT_ONE_PROBLEM(withMinimal("io: { zerocopy_threshold: on }\n"), 1, 27,
                     "io.zerocopy_threshold", "invalid size 'on'");
  EXPECT_ONE_PROBLEM(withMinimal("io: { zerocopy_threshold: 4096 }\n"), 1, 27,
                     "io.zerocopy_threshold", "size '4096' needs a unit");
  EXPECT_EQ(testing::load(withMinimal("io: { zerocopy_threshold: 4KiB }\n"))->io.zerocopy_threshold,
            std::optional<std::size_t>(4096));
}

TEST(Validate, MaxInflightAtLeastBufferSize) {
  EXPECT_ONE_PROBLEM(
      withMinimal("io:\n  buffer_size: 64KiB\n  max_inflight_per_connection: 32KiB\n"), 3, 32,
      "io.max_inflight_per_connection",
      "max_inflight_per_connection (32KiB) must be at least buffer_size (64KiB)");
  // Not written: reported where the buffer size grew past the default inflight limit.
  EXPECT_ONE_PROBLEM(withMinimal("io: { buffer_size: 512KiB }\n"), 1, 20, "io.buffer_size",
                     "max_inflight_per_connection (256KiB) must be at least buffer_size (512KiB)");
}

// ---- top-level scalars ----

TEST(Validate, WorkersRange) {
  EXPECT_ONE_PROBLEM(withMinimal("workers: 0\n"), 1, 10, "workers",
                     "workers must be between 1 and 1024 (got 0)");
  EXPECT_ONE_PROBLEM(withMinimal("workers: 1025\n"), 1, 10, "workers",
                     "workers must be between 1 and 1024 (got 1025)");
  EXPECT_ONE_PROBLEM(withMinimal("workers: 99999999999999999999999\n"), 1, 10, "workers",
                     "expected a positive integer or 'auto'");
  EXPECT_EQ(testing::load(withMinimal("workers: 1024\n"))->workers, 1024u);
}

TEST(Validate, CpuAffinityBool) {
  EXPECT_ONE_PROBLEM(withMinimal("cpu_affinity: maybe\n"), 1, 15, "cpu_affinity",
                     "expected true or false, got 'maybe'");
}

TEST(Validate, AdminSpellings) {
  EXPECT_ONE_PROBLEM(withMinimal("admin: on\n"), 1, 8, "admin",
                     "expected a mapping or 'off', got 'on'");
  EXPECT_ONE_PROBLEM(withMinimal("admin: {}\n"), 1, 8, "admin", "missing required key 'address'");
  EXPECT_ONE_PROBLEM(withMinimal("admin: { address: \"localhost:9901\" }\n"), 1, 19,
                     "admin.address",
                     "invalid address 'localhost:9901': 'localhost' is not a numeric IPv4 address");
}

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
  EXPECT_ONE_PROBLEM(std::string("listeners:\n  - name: web\n    address: \"127.0.0.1:8080\"\n"
                                 "    protocol: http") +
                         tail,
                     4, 15, "listeners[0].protocol",
                     "protocol 'http' is not implemented in this build yet");
  EXPECT_ONE_PROBLEM(std::string("listeners:\n  - name: web\n    address: \"127.0.0.1:8443\"\n"
                                 "    protocol: tls_passthrough") +
                         tail,
                     4, 15, "listeners[0].protocol",
                     "protocol 'tls_passthrough' is not implemented in this build yet");
  EXPECT_ONE_PROBLEM(std::string("listeners:\n  - name: web\n    address: \"127.0.0.1:8443\"\n"
                                 "    protocol: udp") +
                         tail,
                     4, 15, "listeners[0].protocol",
                     "invalid protocol 'udp' (expected tcp, http or tls_passthrough)");
}

TEST(Validate, ProtocolImplementedIsTheSwitch) {
  EXPECT_TRUE(protocolImplemented(Protocol::Tcp));
  EXPECT_FALSE(protocolImplemented(Protocol::Http));
  EXPECT_FALSE(protocolImplemented(Protocol::TlsPassthrough));
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
                  IsProblem(3, 11, "clusters", "at least one cluster is required")));
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
