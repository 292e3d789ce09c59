// Support for the admin server tests: a tiny JSON reader, a blocking HTTP/1.1 client with
// deadlines, an echo backend on a thread, and a started Server + AdminServer pair.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "core/admin_server.h"
#include "core/server.h"
#include "support/json.h"
#include "support/prometheus_text.h"
#include "support/uring_probe.h"

namespace ringway::core::test {

// REQUIRE_URING(): tests/support/uring_probe.h.

// ---- JSON (tests/support/json.h) ----

using testsupport::Json;
using testsupport::parseJson;

// ---- HTTP client ----

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers; // names lower-cased
  std::string body;
  std::string raw;
};

// "127.0.0.1:1234" -> a connected blocking socket, or -1.
int connectTo(const std::string& address);
// Sends `request` as is (then FIN if halfClose), reads until EOF (or the deadline), parses
// status/headers/body. status 0: no parsable response (raw holds what came).
HttpResponse httpExchange(const std::string& address, std::string_view request,
                          std::chrono::milliseconds deadline = std::chrono::seconds(10),
                          bool halfClose = false);
HttpResponse get(const std::string& address, std::string_view path,
                 std::string_view method = "GET");

// ---- Prometheus text (tests/support/prometheus_text.h) ----

using testsupport::familyTypes;
using testsupport::sample;
using testsupport::sumOf;

// ---- echo backend ----

class EchoBackend {
public:
  EchoBackend(); // listens on 127.0.0.1:0
  ~EchoBackend();
  const std::string& address() const { return address_; }
  uint64_t accepted() const { return accepted_.load(); }

private:
  void serve(int fd);
  int listenFd_ = -1;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::thread acceptor_;
  std::vector<std::thread> conns_;
};

// ---- a running proxy with its admin endpoint ----

struct Proxy {
  std::unique_ptr<Server> server;
  std::unique_ptr<AdminServer> admin;
  std::string admin_address() const { return admin->boundAddress(); }
};

constexpr unsigned kBuffers = 128; // io.buffers_per_worker in proxyYaml()

// workers, one tcp listener per name (all on 127.0.0.1:0) routed to one cluster "backend"
// at backendAddress; admin on 127.0.0.1:0; io.backend = ioBackend, kBuffers buffers.
std::string proxyYaml(unsigned workers, const std::vector<std::string>& listeners,
                      const std::string& backendAddress, const std::string& ioBackend = "io_uring");
Proxy startProxy(const std::string& yaml, AdminServer::Options opt = {});

// A self-signed P-256 certificate for CN=dump.test made with the openssl CLI (a Makefile
// dependency) in a fresh temporary directory, removed again by the destructor.
struct TempPki {
  TempPki();
  ~TempPki();
  std::string dir, cert, key, keyPem;
  bool ok = false;
};

// A TLS client handshake over a fresh connection to address, then an orderly close. With
// verify, the client checks the certificate against an empty trust store, so it rejects it
// and sends the server a fatal alert (unknown CA). Success when the handshake completed; a
// failure says how it ended (connect errno, SSL_get_error, errno, OpenSSL's error queue).
::testing::AssertionResult tlsHandshake(const std::string& address, const std::string& sni,
                                        bool verify = false);

bool waitFor(const std::function<bool()>& cond,
             std::chrono::milliseconds limit = std::chrono::seconds(10));

} // namespace ringway::core::test
