// http::Router over routes loaded from YAML, the routing view of a parsed head, and the http
// keys of the configuration (validation errors, shadowed-route warnings).
// Designated initializers below name only the fields a case changes.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <gmock/gmock.h>
#include <atomic>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "http/parser.h"
#include "http/router.h"

namespace ringway::http {

// alloc_counter.cc: every operator new in this binary.
extern std::atomic<uint64_t> testAllocations;

namespace {

using ::testing::HasSubstr;

std::shared_ptr<const config::Config> load(const std::string& routes,
                                           const std::string& listenerExtra = "") {
  return config::loadString("admin: off\nlisteners:\n  - name: web\n    address: \"127.0.0.1:0\"\n"
                            "    protocol: http\n" +
                                listenerExtra + "    routes:\n" + routes +
                                "clusters:\n  - { name: a, endpoints: [ { address: \"127.0.0.1:1\" } ] }\n"
                                "  - { name: b, endpoints: [ { address: \"127.0.0.1:2\" } ] }\n",
                            "router.yaml");
}

std::vector<std::string> problems(const std::string& routes, const std::string& extra = "") {
  try {
    load(routes, extra);
  } catch (const config::ConfigError& e) {
    std::vector<std::string> out;
    for (const auto& p : e.problems()) out.push_back(p.str());
    return out;
  }
  return {};
}

struct Req {
  std::string host = "example.com";
  std::string path = "/";
  std::string method = "GET";
  std::vector<Header> headers;
};

int route(const Router& r, const Req& q) {
  std::vector<Header> hs = q.headers;
  return r.match(RouteInput{q.host, q.path, q.method, hs});
}

TEST(Router, FirstMatchWinsInOrder) {
  auto cfg = load(R"(      - { match: { path_prefix: "/api/" }, cluster: a }
      - { match: { path: "/api/exact" }, cluster: b }
      - { cluster: b }
)");
  Router r(cfg->listeners[0].routes);
  EXPECT_EQ(route(r, {.path = "/api/exact"}), 0);
  EXPECT_EQ(route(r, {.path = "/api/"}), 0);
  EXPECT_EQ(route(r, {.path = "/api"}), 2);
  EXPECT_EQ(route(r, {.path = "/"}), 2);
  EXPECT_FALSE(cfg->warnings.empty()) << "route 1 is shadowed by route 0";
}

TEST(Router, HostExactWildcardCaseAndPort) {
  auto cfg = load(R"(      - { match: { host: "API.example.com" }, cluster: a }
      - { match: { host: "*.example.com" }, cluster: b }
      - { direct_response: { status: 404 } }
)");
  Router r(cfg->listeners[0].routes);
  EXPECT_EQ(route(r, {.host = "api.example.com"}), 0);
  EXPECT_EQ(route(r, {.host = "Api.Example.Com:8443"}), 0) << "case and port ignored";
  EXPECT_EQ(route(r, {.host = "api.example.com."}), 0) << "one trailing dot ignored";
  EXPECT_EQ(route(r, {.host = "www.example.com"}), 1);
  EXPECT_EQ(route(r, {.host = "a.b.example.com"}), 1) << "any depth below the wildcard";
  EXPECT_EQ(route(r, {.host = "example.com"}), 2) << "the wildcard needs a label";
  EXPECT_EQ(route(r, {.host = "badexample.com"}), 2);
  EXPECT_EQ(route(r, {.host = ""}), 2);
  EXPECT_EQ(route(r, {.host = "[::1]:80"}), 2);
}

TEST(Router, PathKinds) {
  auto cfg = load(R"(      - { match: { path: "/exact" }, cluster: a }
      - { match: { path_regex: "/users/[0-9]+" }, cluster: a }
      - { match: { path_prefix: "/static/" }, cluster: b }
      - { direct_response: { status: 404 } }
)");
  Router r(cfg->listeners[0].routes);
  EXPECT_EQ(route(r, {.path = "/exact"}), 0);
  EXPECT_EQ(route(r, {.path = "/exact/"}), 3);
  EXPECT_EQ(route(r, {.path = "/users/42"}), 1);
  EXPECT_EQ(route(r, {.path = "/users/42/x"}), 3) << "regexes match the whole path";
  EXPECT_EQ(route(r, {.path = "/users/"}), 3);
  EXPECT_EQ(route(r, {.path = "/static/a.css"}), 2);
  EXPECT_EQ(route(r, {.path = "/static"}), 3);
}

TEST(Router, MethodsAndHeaders) {
  auto cfg = load(R"(      - match: { method: [GET, HEAD], headers: [ { name: X-Canary, value: "1" } ] }
        cluster: a
      - match: { headers: [ { name: x-debug, present: true } ] }
        cluster: b
      - match: { headers: [ { name: user-agent, regex: "curl/.*" } ], method: POST }
        cluster: b
      - direct_response: { status: 404 }
)");
  Router r(cfg->listeners[0].routes);
  EXPECT_EQ(route(r, {.headers = {{"x-canary", "1"}}}), 0);
  EXPECT_EQ(route(r, {.method = "HEAD", .headers = {{"X-CANARY", "1"}}}), 0) << "names any case";
  EXPECT_EQ(route(r, {.headers = {{"x-canary", "2"}}}), 3) << "values are exact";
  EXPECT_EQ(route(r, {.method = "get", .headers = {{"x-canary", "1"}}}), 3) << "methods exact";
  EXPECT_EQ(route(r, {.headers = {{"x-canary", "2"}, {"x-canary", "1"}}}), 0) << "any field";
  EXPECT_EQ(route(r, {.headers = {{"X-Debug", ""}}}), 1);
  EXPECT_EQ(route(r, {.method = "POST", .headers = {{"user-agent", "curl/8.0"}}}), 2);
  EXPECT_EQ(route(r, {.method = "POST", .headers = {{"user-agent", "wget curl/8"}}}), 3);
}

TEST(Router, RouteInputFromAParsedHead) {
  Parser p(Parser::Kind::Request);
  std::string in = "GET http://Host.Example:81/a/b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n";
  ASSERT_EQ(p.parse(in).event, Event::Head);
  RouteInput ri = routeInput(p);
  EXPECT_EQ(ri.host, "Host.Example:81") << "absolute-form authority wins over Host";
  EXPECT_EQ(ri.path, "/a/b");
  EXPECT_EQ(originForm(p.target(), p.targetForm()), "/a/b?q=1");
  Parser q(Parser::Kind::Request);
  in = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_EQ(q.parse(in).event, Event::Head);
  ri = routeInput(q);
  EXPECT_EQ(ri.path, "*");
  EXPECT_EQ(ri.host, "h");
  EXPECT_EQ(targetPath("http://h", TargetForm::Absolute), "/");
  EXPECT_EQ(hostWithoutPort("[::1]:8080"), "[::1]");
  EXPECT_EQ(hostWithoutPort("h:1"), "h");
}

TEST(Router, MatchDoesNotAllocate) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "allocations are not counted under ASan";
#endif
  auto cfg = load(R"(      - { match: { host: "*.x.com", path_regex: "/a/[a-z]+/[0-9]+" }, cluster: a }
      - { match: { headers: [ { name: ua, regex: "x.*y" } ] }, cluster: b }
      - { cluster: b }
)");
  Router r(cfg->listeners[0].routes);
  // Warm the RE2 caches, then count allocations over many matches.
  for (int i = 0; i < 100; ++i) {
    route(r, {.host = "q.x.com", .path = "/a/bc/12"});
    route(r, {.host = "q.y.com", .headers = {{"ua", "xzzy"}}});
  }
  std::vector<Header> hs = {{"ua", "xzzy"}};
  const uint64_t before = testAllocations.load();
  int sum = 0;
  for (int i = 0; i < 1000; ++i) {
    sum += r.match(RouteInput{"q.x.com", "/a/bc/12", "GET", hs});
    sum += r.match(RouteInput{"q.y.com", "/a/bc/12", "GET", hs});
  }
  EXPECT_EQ(testAllocations.load() - before, 0u);
  EXPECT_EQ(sum, 1000);
}

TEST(HttpConfig, ValidationErrors) {
  EXPECT_THAT(problems("      - { match: { path: \"/a\" } }\n"),
              ::testing::Contains(HasSubstr("exactly one of cluster, direct_response or redirect")));
  EXPECT_THAT(problems("      - { cluster: a, direct_response: { status: 200 } }\n"),
              ::testing::Contains(HasSubstr("exactly one of")));
  EXPECT_THAT(problems("      - { match: { path: \"a\" }, cluster: a }\n"),
              ::testing::Contains(HasSubstr("a path must start with '/'")));
  EXPECT_THAT(problems("      - { match: { path_regex: \"(\" }, cluster: a }\n"),
              ::testing::Contains(HasSubstr("invalid regular expression")));
  EXPECT_THAT(problems("      - { match: { path: \"/a\", path_prefix: \"/b\" }, cluster: a }\n"),
              ::testing::Contains(HasSubstr("at most one of path, path_prefix and path_regex")));
  EXPECT_THAT(problems("      - { match: { host: \"a.com:80\" }, cluster: a }\n"),
              ::testing::Contains(HasSubstr("no port")));
  EXPECT_THAT(problems("      - { match: { method: [\"G T\"] }, cluster: a }\n"),
              ::testing::Contains(HasSubstr("invalid method")));
  EXPECT_THAT(
      problems("      - { match: { headers: [ { name: x, value: a, present: true } ] }, cluster: a }\n"),
      ::testing::Contains(HasSubstr("exactly one of value, present or regex")));
  EXPECT_THAT(problems("      - { redirect: { location: \"/x\", status: 200 } }\n"),
              ::testing::Contains(HasSubstr("must be between 300 and 399")));
  EXPECT_THAT(problems("      - { redirect: { location: \"/x\", status: 305 } }\n"),
              ::testing::Contains(HasSubstr("301, 302, 303, 307 or 308")));
  EXPECT_THAT(problems("      - { cluster: a, prefix_rewrite: \"/x\" }\n"),
              ::testing::Contains(HasSubstr("prefix_rewrite needs a match on path_prefix")));
  EXPECT_THAT(problems("      - { cluster: a, request_headers_to_add: [ { name: \"a b\", value: v } ] }\n"),
              ::testing::Contains(HasSubstr("invalid header name")));
  EXPECT_THAT(problems("      - { cluster: a, response_headers_to_add: [ { name: a, value: \"x\\ny\" } ] }\n"),
              ::testing::Contains(HasSubstr("control characters")));
  EXPECT_THAT(problems("      - { direct_response: { status: 200 }, timeout: 1s }\n"),
              ::testing::Contains(HasSubstr("only applies to a route with a cluster")));
  EXPECT_THAT(problems("      - { cluster: nope }\n"),
              ::testing::Contains(HasSubstr("unknown cluster 'nope'")));
  EXPECT_THAT(problems("      - { cluster: a }\n", "    x_forwarded: sometimes\n"),
              ::testing::Contains(HasSubstr("expected append, replace or off")));
}

TEST(HttpConfig, TcpListenersRejectHttpKeys) {
  try {
    config::loadString(R"(admin: off
listeners:
  - name: raw
    address: "127.0.0.1:0"
    protocol: tcp
    request_header_timeout: 1s
    routes: [ { cluster: a, match: { path: "/" } } ]
clusters:
  - { name: a, endpoints: [ { address: "127.0.0.1:1" } ] }
)",
                       "tcp.yaml");
    FAIL() << "loaded";
  } catch (const config::ConfigError& e) {
    const std::string all = e.what();
    EXPECT_THAT(all, HasSubstr("'request_header_timeout' is only for protocol: http listeners"));
    EXPECT_THAT(all, HasSubstr("'match' is only for protocol: http routes"));
  }
}

TEST(HttpConfig, ValuesAndDefaults) {
  auto cfg = load(R"(      - name: r1
        match: { path_prefix: "/v1/", method: POST }
        cluster: b
        timeout: 15s
        max_body_size: 1MiB
        host_rewrite: "up.internal:8080"
        prefix_rewrite: "/"
)",
                  "    request_header_timeout: 3s\n    max_body_size: 2MiB\n    x_forwarded: off\n");
  const config::Listener& l = cfg->listeners[0];
  EXPECT_EQ(l.http.request_header_timeout, config::Duration(3000));
  EXPECT_EQ(l.http.max_body_size, 2u << 20);
  EXPECT_EQ(l.http.x_forwarded, config::XForwarded::Off);
  const config::Route& r = l.routes[0];
  EXPECT_EQ(r.name, "r1");
  EXPECT_EQ(r.cluster_index, 1u);
  EXPECT_EQ(r.timeout, config::Duration(15000));
  EXPECT_EQ(*r.max_body_size, 1u << 20);
  EXPECT_EQ(r.match.methods, std::vector<std::string>{"POST"});
  EXPECT_EQ(cfg->clusters[0].keepalive.max_idle, 64u);
  EXPECT_TRUE(cfg->warnings.empty());
}

TEST(HttpConfig, ShadowWarnings) {
  auto cfg = load(R"(      - { match: { host: "*.a.com" }, cluster: a }
      - { match: { host: "x.a.com", path: "/p" }, cluster: a }
      - { match: { path_prefix: "/s/" }, cluster: a }
      - { match: { path_prefix: "/s/t/", method: [GET] }, cluster: a }
      - { match: { path_prefix: "/s" }, cluster: a }
      - { match: { method: [GET] }, cluster: a }
      - { match: { method: [GET, PUT] }, cluster: a }
      - { cluster: b }
)");
  ASSERT_EQ(cfg->warnings.size(), 2u) << ::testing::PrintToString(cfg->warnings);
  EXPECT_THAT(cfg->warnings[0], HasSubstr("route 1 can never match: route 0"));
  EXPECT_THAT(cfg->warnings[0], HasSubstr("router.yaml:8:"));
  EXPECT_THAT(cfg->warnings[1], HasSubstr("route 3 can never match: route 2"));
}

}  // namespace
}  // namespace ringway::http
