// dashboards/: the Grafana dashboard parses, the alert rules pass promtool, and every metric
// they (and the README) name is one a running ringway really exposes.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "admin_test_support.h"
#include "support/eintr.h"

namespace ringway::core::test {
namespace {

const std::string kDir = std::string(RINGWAY_SOURCE_DIR) + "/dashboards";

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void collectExprs(const Json& j, std::vector<std::string>& out) {
  if (j.isObject()) {
    for (const auto& [k, v] : j.object()) {
      if ((k == "expr" || k == "definition") && v.isString())
        out.push_back(v.str());
      if (k == "query" && v.isObject() && v.get("query") && v.get("query")->isString())
        out.push_back(v.get("query")->str());
      collectExprs(v, out);
    }
  } else if (j.isArray()) {
    for (const auto& v : j.array())
      collectExprs(v, out);
  }
}

std::vector<std::string> dashboardExprs() {
  std::vector<std::string> out;
  collectExprs(parseJson(readFile(kDir + "/ringway.json")), out);
  return out;
}

std::vector<std::string> alertExprs() {
  std::vector<std::string> out;
  const YAML::Node doc = YAML::LoadFile(kDir + "/alerts.yaml");
  for (const auto& g : doc["groups"])
    for (const auto& r : g["rules"])
      out.push_back(r["expr"].as<std::string>());
  const YAML::Node tests = YAML::LoadFile(kDir + "/alerts_test.yaml");
  for (const auto& t : tests["tests"])
    for (const auto& s : t["input_series"])
      out.push_back(s["series"].as<std::string>());
  return out;
}

// A TLS session that breaks after its handshake: a record the server cannot decrypt, so that
// ringway_tls_session_errors_total (no series until one happens) has one.
void brokenTlsSession(const std::string& address) {
  const int fd = connectTo(address);
  ASSERT_GE(fd, 0);
  timeval tv{5, 0}; // a deadline, not a speed check
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "dump.test");
  EXPECT_EQ(testsupport::sslRetryEintr(ssl, [&] { return SSL_connect(ssl); }), 1);
  const char garbage[] = "\x17\x03\x03\x00\x20"
                         "0123456789abcdef0123456789abcdef"; // application data, not encrypted
  EXPECT_EQ(testsupport::retryEintr(
                [&] { return ::send(fd, garbage, sizeof garbage - 1, MSG_NOSIGNAL); }),
            static_cast<ssize_t>(sizeof garbage - 1));
  char b[4096];
  while (testsupport::retryEintr([&] { return ::recv(fd, b, sizeof b, 0); }) > 0) {
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
}

std::set<std::string> metricNames(const std::vector<std::string>& texts) {
  static const std::regex name("ringway_[a-zA-Z0-9_]+");
  std::set<std::string> out;
  for (const auto& t : texts)
    for (auto it = std::sregex_iterator(t.begin(), t.end(), name); it != std::sregex_iterator();
         ++it)
      out.insert(it->str());
  return out;
}

TEST(Dashboards, GrafanaJsonIsWellFormed) {
  const Json d = parseJson(readFile(kDir + "/ringway.json"));
  ASSERT_TRUE(d.isObject());
  EXPECT_EQ(d.get("title")->str(), "ringway");
  EXPECT_FALSE(d.get("uid")->str().empty());
  EXPECT_GE(d.get("schemaVersion")->number(), 36);
  // The datasource is a variable, and worker / listener / cluster (and instance) filter.
  std::set<std::string> vars;
  for (const Json& v : d.get("templating")->get("list")->array())
    vars.insert(v.get("name")->str());
  for (const char* want : {"datasource", "instance", "worker", "listener", "cluster"})
    EXPECT_EQ(vars.count(want), 1u) << "template variable " << want;
  const auto& panels = d.get("panels")->array();
  ASSERT_GE(panels.size(), 15u);
  std::set<double> ids;
  std::set<std::string> titles;
  std::string row;
  std::set<std::string> uringRow; // the panels under the io_uring row
  for (const Json& p : panels) {
    const std::string title = p.get("title")->str();
    EXPECT_TRUE(ids.insert(p.get("id")->number()).second) << "duplicate panel id: " << title;
    ASSERT_NE(p.get("gridPos"), nullptr) << title;
    if (p.get("type")->str() == "row") {
      row = title;
      continue;
    }
    titles.insert(title);
    if (row == "io_uring")
      uringRow.insert(title);
    ASSERT_NE(p.get("targets"), nullptr) << title;
    ASSERT_FALSE(p.get("targets")->array().empty()) << title;
    EXPECT_EQ(p.get("datasource")->get("uid")->str(), "${datasource}") << title;
    for (const Json& t : p.get("targets")->array()) {
      const std::string e = t.get("expr")->str();
      EXPECT_NE(e.find("ringway_"), std::string::npos) << title;
      EXPECT_NE(e.find("$instance"), std::string::npos) << title << ": not filtered by instance";
      EXPECT_EQ(e.find("[5m]"), std::string::npos) << title << ": use $__rate_interval";
    }
  }
  // What the issue asks the dashboard to show.
  for (const char* want :
       {"Request rate by listener and route", "Error ratio by listener and route",
        "Request latency p50/p90/p99", "Active connections by listener",
        "Bytes/s by listener and direction", "Upstream connect errors/s", "TLS handshakes/s",
        "Syscalls/s per worker", "Syscalls per request", "SQEs/s by op", "CQEs/s by op",
        "CQEs per wakeup", "Provided buffers free per worker", "ENOBUFS/s per worker",
        "SEND_ZC copied ratio", "Context switches/s per worker", "CPU per worker",
        "Upstream connect errors/s by endpoint"})
    EXPECT_EQ(titles.count(want), 1u) << want;
  // The issue's io_uring row.
  for (const char* want :
       {"Syscalls per request", "SQEs/s by op", "CQEs/s by op", "CQEs per wakeup",
        "Provided buffers free per worker", "ENOBUFS/s per worker", "SEND_ZC copied ratio",
        "Context switches/s per worker"})
    EXPECT_EQ(uringRow.count(want), 1u) << want << " is not in the io_uring row";
}

TEST(Dashboards, AlertRulesPassPromtool) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool not installed (Debian: apt-get install prometheus)";
  const std::string check = "promtool check rules " + kDir + "/alerts.yaml";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
  const std::string unit = "cd " + kDir + " && promtool test rules alerts_test.yaml";
  EXPECT_EQ(std::system(unit.c_str()), 0) << unit;
}

TEST(Dashboards, EveryReferencedMetricIsExposedAndDocumented) {
  REQUIRE_URING();
  TempPki pki;
  if (!pki.ok)
    GTEST_SKIP() << "openssl CLI not available (needed for the TLS families)";
  EchoBackend backend;
  // One listener of each kind, so every family has series: plain tcp, TLS termination,
  // passthrough, and a cluster reached over TLS (the echo backend does not speak TLS, so
  // that handshake fails and the upstream failure family has a reason).
  const std::string yaml = R"(workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: l, address: "127.0.0.1:0", routes: [ { cluster: backend } ] }
  - name: tls-in
    address: "127.0.0.1:0"
    tls: { certificates: [ { cert: )" +
                           pki.cert + ", key: " + pki.key + R"( } ] }
    routes: [ { cluster: backend } ]
  - { name: pass, address: "127.0.0.1:0", protocol: tls_passthrough,
      routes: [ { cluster: backend } ] }
  - { name: up, address: "127.0.0.1:0", routes: [ { cluster: secure } ] }
  - name: web
    address: "127.0.0.1:0"
    protocol: http
    routes: [ { match: { path: "/" }, direct_response: { status: 200, body: "ok" } },
              { cluster: backend } ]
clusters:
  - { name: backend, endpoints: [ { address: ")" +
                           backend.address() + R"(" } ] }
  - name: secure
    endpoints: [ { address: ")" +
                           backend.address() + R"(" } ]
    tls: { verify: false }
)";
  Proxy p = startProxy(yaml);
  {
    const int fd = connectTo(p.server->boundAddresses()[0]); // make every family non-empty
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, "x", 1, MSG_NOSIGNAL), 1);
    char c;
    EXPECT_EQ(::recv(fd, &c, 1, 0), 1);
    ::close(fd);
  }
  ASSERT_TRUE(tlsHandshake(p.server->boundAddresses()[1], "dump.test"));
  brokenTlsSession(p.server->boundAddresses()[1]);
  EXPECT_FALSE(tlsHandshake(p.server->boundAddresses()[1], "dump.test", true)); // an alert
  httpExchange(p.server->boundAddresses()[1], "GET / HTTP/1.1\r\n\r\n", std::chrono::seconds(10),
               true);
  httpExchange(p.server->boundAddresses()[3], "hello", std::chrono::seconds(10), true);
  EXPECT_EQ(get(p.server->boundAddresses()[4], "/").status, 200); // an HTTP request counted
  ASSERT_TRUE(waitFor([&] {
    const std::string m = get(p.admin_address(), "/metrics").body;
    return m.find("ringway_upstream_tls_handshake_failures_total{") != std::string::npos &&
           m.find("ringway_tls_handshake_failures_total{") != std::string::npos &&
           m.find("ringway_tls_alerts_received_total{") != std::string::npos &&
           m.find("ringway_tls_session_errors_total{") != std::string::npos;
  }));
  ASSERT_EQ(get(p.admin_address(), "/healthz").status, 200); // admin_requests_total exists
  const std::string m = get(p.admin_address(), "/metrics").body;
  const auto types = familyTypes(m);
  ASSERT_GT(types.size(), 20u) << m;

  auto exposed = [&](const std::string& name) {
    if (types.count(name))
      return true;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        const auto it = types.find(name.substr(0, name.size() - s.size()));
        if (it != types.end() && it->second == "histogram")
          return true;
      }
    }
    return false;
  };
  const auto dash = metricNames(dashboardExprs());
  EXPECT_GE(dash.size(), 15u);
  for (const auto& n : dash)
    EXPECT_TRUE(exposed(n)) << "dashboard uses " << n << "\n" << m;
  for (const auto& n : metricNames(alertExprs()))
    EXPECT_TRUE(exposed(n)) << "alerts use " << n << "\n" << m;

  // And the other way round: every family the exposer emits is documented.
  const std::string readme = readFile(kDir + "/README.md");
  for (const auto& [name, type] : types)
    EXPECT_NE(readme.find("`" + name + "`"), std::string::npos)
        << name << " (" << type << ") is not documented in dashboards/README.md";
  const auto documented = metricNames({readme});
  for (const auto& n : documented) {
    if (n.back() == '_')
      continue; // a prefix such as `ringway_io_uring_*`
    EXPECT_TRUE(exposed(n)) << "README documents " << n;
  }
}

} // namespace
} // namespace ringway::core::test
