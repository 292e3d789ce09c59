// config::toJson / toYaml: every effective value appears, the YAML loads back to the same
// config, and the JSON writer escapes what it must.
#include "config/dump.h"

#include <gtest/gtest.h>

#include "admin_test_support.h"
#include "config/loader.h"

namespace ringway::config {
namespace {

constexpr const char* kFull = R"(workers: 3
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
  - name: pg
    address: "0.0.0.0:15432"
    protocol: tcp
    routes: [ { cluster: db } ]
    idle_timeout: 90s
    backlog: 128
  - name: web
    address: "[::1]:8443"
    protocol: tcp
    routes: [ { cluster: www } ]
clusters:
  - name: db
    endpoints: [ { address: "10.0.0.1:5432", weight: 3 }, { address: "10.0.0.2:5432" } ]
    lb: random
    connect_timeout: 250ms
  - name: www
    endpoints: [ { address: "10.0.1.1:443" } ]
)";

TEST(ConfigDump, Formats) {
  EXPECT_EQ(formatDuration(Duration(0)), "0ms");
  EXPECT_EQ(formatDuration(Duration(250)), "250ms");
  EXPECT_EQ(formatDuration(Duration(1500)), "1500ms");
  EXPECT_EQ(formatDuration(Duration(30'000)), "30s");
  EXPECT_EQ(formatDuration(Duration(90'000)), "90s");
  EXPECT_EQ(formatDuration(Duration(300'000)), "5m");
  EXPECT_EQ(formatDuration(Duration(7'200'000)), "2h");
}

TEST(ConfigDump, JsonHasEveryEffectiveValue) {
  const auto cfg = loadString(kFull, "full.yaml");
  const std::string j = toJson(*cfg);
  const core::test::Json doc = core::test::parseJson(j);
  EXPECT_EQ(doc.get("workers")->number(), 3);
  EXPECT_EQ(doc.get("workers_resolved")->number(), 3);
  EXPECT_EQ(doc.get("log_level")->str(), "debug");
  EXPECT_EQ(doc.get("admin")->get("address")->str(), "127.0.0.1:9901");
  EXPECT_EQ(doc.get("io")->get("backend")->str(), "auto");
  EXPECT_EQ(doc.get("io")->get("buffer_size")->str(), "32KiB");
  EXPECT_EQ(doc.get("io")->get("zerocopy_threshold")->str(), "64KiB");
  EXPECT_EQ(doc.get("io")->get("max_inflight_per_connection")->str(), "1MiB");
  EXPECT_EQ(doc.get("defaults")->get("drain_timeout")->str(), "0ms");
  const auto& ls = doc.get("listeners")->array();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0].get("idle_timeout")->str(), "90s");
  EXPECT_EQ(ls[0].get("backlog")->number(), 128);
  EXPECT_EQ(ls[1].get("address")->str(), "[::1]:8443");
  EXPECT_EQ(ls[1].get("protocol")->str(), "tcp");
  EXPECT_EQ(ls[1].get("idle_timeout")->str(), "5m") << "listener default comes from defaults";
  const auto& cs = doc.get("clusters")->array();
  EXPECT_EQ(cs[0].get("lb")->str(), "random");
  EXPECT_EQ(cs[0].get("endpoints")->array()[0].get("weight")->number(), 3);
  EXPECT_EQ(cs[1].get("connect_timeout")->str(), "2s");
}

TEST(ConfigDump, OffAndAutoSpellings) {
  const auto cfg = loadString(
      "workers: auto\nadmin: off\nlisteners: [ { name: a, address: \"127.0.0.1:1\", routes: "
      "[ { cluster: c } ] } ]\nclusters: [ { name: c, endpoints: [ { address: "
      "\"127.0.0.1:2\" } ] } ]\n",
      "auto.yaml");
  const core::test::Json doc = core::test::parseJson(toJson(*cfg));
  EXPECT_EQ(doc.get("workers")->str(), "auto");
  EXPECT_GE(doc.get("workers_resolved")->number(), 1);
  EXPECT_EQ(doc.get("admin")->get("address")->str(), "off");
  EXPECT_EQ(doc.get("io")->get("zerocopy_threshold")->str(), "off");
  const std::string y = toYaml(*cfg);
  EXPECT_NE(y.find("(workers: auto = "), std::string::npos) << y;
  const auto back = loadString(y, "back.yaml");
  EXPECT_TRUE(back->workers_auto);
  EXPECT_FALSE(back->admin.address.has_value());
  EXPECT_FALSE(back->io.zerocopy_threshold.has_value());
}

TEST(ConfigDump, YamlLoadsBackToTheSameConfig) {
  const auto cfg = loadString(kFull, "full.yaml");
  const std::string y = toYaml(*cfg);
  EXPECT_EQ(y.rfind("# effective configuration of full.yaml\n", 0), 0u) << y;
  const auto back = loadString(y, "back.yaml");
  EXPECT_EQ(toJson(*back), toJson(*cfg)) << y;
  EXPECT_EQ(back->clusters[0].endpoints[1].address.port(), 5432);
}

TEST(ConfigDump, HttpTlsAndPassthroughLoadBackAndShowOnlyKeyPaths) {
  core::test::TempPki pki;
  if (!pki.ok)
    GTEST_SKIP() << "openssl CLI not available";
  const std::string yaml = R"(workers: 1
listeners:
  - name: web
    address: "127.0.0.1:8080"
    protocol: http
    request_header_timeout: 5s
    max_body_size: 1MiB
    max_headers: 50
    x_forwarded: replace
    routes:
      - name: api
        match: { host: "api.example.com", path_prefix: /v1/, method: [GET, POST],
                 headers: [ { name: x-env, value: prod }, { name: x-debug, present: true },
                            { name: x-id, regex: "[0-9]+" } ] }
        cluster: app
        timeout: 30s
        prefix_rewrite: /
        request_headers_to_add: [ { name: x-via, value: ringway } ]
        response_headers_to_remove: [ server ]
        max_body_size: 64KiB
      - match: { path: /old }
        redirect: { location: "https://example.com/new", status: 301 }
      - direct_response: { status: 404, body: "nothing here
" }
  - name: tls-in
    address: "127.0.0.1:8443"
    protocol: tcp
    tls:
      certificates: [ { cert: )" +
                           pki.cert + ", key: " + pki.key + R"(, server_names: [dump.test] } ]
      min_version: "1.3"
      alpn: [h2, http/1.1]
      session_tickets: false
    routes:
      - { match: { sni: dump.test }, cluster: app }
      - { cluster: secure }
  - name: pass
    address: "127.0.0.1:9443"
    protocol: tls_passthrough
    client_hello_timeout: 3s
    routes: [ { match: { sni: "*.example.com" }, cluster: app }, { cluster: app } ]
clusters:
  - name: app
    endpoints: [ { address: "127.0.0.1:9000" } ]
    keepalive: { max_idle: 8, idle_timeout: 10s }
  - name: secure
    endpoints: [ { address: "127.0.0.1:9001" } ]
    keepalive: off
    tls: { server_name: backend.test, verify: false, cert: )" +
                           pki.cert + ", key: " + pki.key + R"(, min_version: "1.2" }
)";
  const auto cfg = loadString(yaml, "http.yaml");
  const std::string j = toJson(*cfg);
  const std::string y = toYaml(*cfg);
  // Paths, never what the files hold.
  ASSERT_FALSE(pki.keyPem.empty());
  for (const std::string* text : {&j, &y}) {
    EXPECT_EQ(text->find("BEGIN"), std::string::npos) << *text;
    EXPECT_EQ(text->find(pki.keyPem.substr(40, 20)), std::string::npos) << *text;
    EXPECT_NE(text->find(pki.key), std::string::npos) << *text;
  }
  const core::test::Json doc = core::test::parseJson(j);
  const auto& web = doc.get("listeners")->array()[0];
  EXPECT_EQ(web.get("x_forwarded")->str(), "replace");
  EXPECT_EQ(web.get("max_body_size")->str(), "1MiB");
  const auto& api = web.get("routes")->array()[0];
  EXPECT_EQ(api.get("match")->get("method")->array().size(), 2u);
  EXPECT_EQ(api.get("match")->get("headers")->array()[1].get("present")->v.index(), 1u);
  EXPECT_EQ(web.get("routes")->array()[1].get("redirect")->get("status")->number(), 301);
  const auto& tlsIn = doc.get("listeners")->array()[1];
  EXPECT_EQ(tlsIn.get("tls")->get("certificates")->array()[0].get("key")->str(), pki.key);
  EXPECT_EQ(tlsIn.get("request_header_timeout"), nullptr) << "http-only keys stay off tcp";
  EXPECT_EQ(doc.get("listeners")->array()[2].get("client_hello_timeout")->str(), "3s");
  EXPECT_EQ(doc.get("clusters")->array()[1].get("keepalive")->get("max_idle")->number(), 0);

  const auto back = loadString(y, "back.yaml");
  EXPECT_EQ(toJson(*back), j) << y;
}

TEST(JsonWriter, EscapesAndNests) {
  JsonWriter w(false);
  w.beginObject();
  w.key("s").string("a\"b\\c\nd\x01\x7f\xc3\xa9");
  w.key("n").number(uint64_t{18446744073709551615u});
  w.key("i").number(int64_t{-3});
  w.key("e").beginArray().endArray();
  w.key("o").beginObject().endObject();
  w.key("a").beginArray().boolean(true).null().beginObject().key("k").number(int64_t{1});
  w.endObject().endArray();
  w.endObject();
  EXPECT_EQ(w.str(), R"({"s":"a\"b\\c\nd\u0001\u007f)"
                     "\xc3\xa9"
                     R"(","n":18446744073709551615,"i":-3,"e":[],"o":{},"a":[true,null,{"k":1}]})");
  const core::test::Json doc = core::test::parseJson(w.str());
  EXPECT_EQ(doc.get("s")->str(), "a\"b\\c\nd\x01\x7f\xc3\xa9");

  JsonWriter p; // pretty
  p.beginObject().key("x").beginArray().number(int64_t{1}).number(int64_t{2}).endArray();
  p.endObject();
  EXPECT_EQ(p.str(), "{\n  \"x\": [\n    1,\n    2\n  ]\n}");
}

} // namespace
} // namespace ringway::config
