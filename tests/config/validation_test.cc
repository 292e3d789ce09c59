// Every rejection: the message (or its distinctive part), the line:col and the YAML path.
#include "config_test_util.h"

namespace ringway::config {
namespace {

using ::testing::ElementsAre;
using testing::IsProblem;
using testing::load;
using testing::problemsOf;
using testing::withMinimal;

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

TEST(Validate, ListenersAreRequired) {
  EXPECT_THAT(problemsOf("workers: 1\n"),
              ElementsAre(IsProblem(1, 1, "", "missing required key 'listeners'")));
}

TEST(Validate, ClustersMayBeLeftOutWhenNoRouteUsesOne) {
  const auto cfg = load(R"(listeners:
  - name: web
    address: "127.0.0.1:1"
    protocol: http
    routes: [ { direct_response: { status: 200, body: "ok" } } ]
)");
  EXPECT_TRUE(cfg->clusters.empty());
  // ... but a route that names one still needs it defined.
  EXPECT_THAT(
      problemsOf(R"(listeners:
  - { name: raw, address: "127.0.0.1:1", routes: [ { cluster: pg } ] }
)"),
      ElementsAre(IsProblem(2, 63, "listeners[0].routes[0].cluster", "unknown cluster 'pg'")));
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

} // namespace
} // namespace ringway::config
