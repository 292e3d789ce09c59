// The proxy configuration the integration tests share, and the backend parameter.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "httpproxy/support.h"
#include "support/uring_probe.h"

namespace ringway::httptest {

// {UP}: the test upstream; {DEAD}: a port nobody listens on; {BACKEND}: io_uring or epoll.
inline constexpr const char* ProxyYaml = R"(workers: 1
admin: off
io: { backend: {BACKEND} }
defaults: { connect_timeout: 500ms, idle_timeout: 10s, drain_timeout: 1s }
listeners:
  - name: web
    address: "127.0.0.1:0"
    protocol: http
    request_header_timeout: 400ms
    routes:
      - name: direct
        match: { path: "/direct" }
        direct_response: { status: 200, body: "direct\n" }
      - name: redirect
        match: { path_prefix: "/old/" }
        redirect: { location: "http://new.example/", status: 301 }
      - name: small
        match: { path_prefix: "/small/" }
        cluster: up
        max_body_size: 1KiB
        prefix_rewrite: "/"
      - name: slow
        match: { path_prefix: "/sleep" }
        cluster: up
        timeout: 300ms
      - name: refused
        match: { path_prefix: "/refused" }
        cluster: dead
      - name: rewrite
        match: { path: "/headers", headers: [ { name: x-route, value: "rewrite" } ] }
        cluster: up
        host_rewrite: "rewritten.example"
        request_headers_to_add: [ { name: x-added, value: "yes" } ]
        request_headers_to_remove: [ x-secret ]
        response_headers_to_add: [ { name: x-resp, value: "r" } ]
        response_headers_to_remove: [ content-type ]
      - name: put-only
        match: { path_prefix: "/m/", method: [PUT] }
        direct_response: { status: 202, body: "put\n" }
      - name: wildcard
        match: { host: "*.wild.test", path_prefix: "/" }
        direct_response: { status: 200, body: "wild\n" }
      - name: default
        cluster: up
clusters:
  - { name: up, endpoints: [ { address: "{UP}" } ] }
  - { name: dead, endpoints: [ { address: "127.0.0.1:{DEAD}" } ], connect_timeout: 300ms }
)";

class HttpProxyTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    REQUIRE_BACKEND(GetParam());
    proxy_ = std::make_unique<Proxy>(withTestPorts(ProxyYaml, upstream_), GetParam());
  }
  uint16_t port() const { return proxy_->port(); }

  Upstream upstream_;
  std::unique_ptr<Proxy> proxy_;
};

inline std::string backendName(const ::testing::TestParamInfo<std::string>& i) {
  return i.param == "io_uring" ? "IoUring" : "Epoll";
}

#define HTTPPROXY_BACKENDS(Suite)                                                         \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::Values("io_uring", "epoll"),       \
                           ::ringway::httptest::backendName)

}  // namespace ringway::httptest
