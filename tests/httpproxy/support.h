// Test support for the HTTP proxy tests: a scriptable HTTP/1.1 upstream on threads, a blocking
// HTTP client that parses responses with http::Parser, deterministic bodies with checksums,
// and an in-process core::Server built from a YAML string.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/config.h"
#include "support/sanitized.h"
#include "support/socket.h"

namespace ringway::core {
class Server;
}

namespace ringway::httptest {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

// True under ASan/UBSan: tests shrink their volumes (tests/support/sanitized.h).
using testsupport::sanitized;

// Body byte i of stream `seed`: a pure function, so either side can check a slice.
void fillBody(uint64_t seed, uint64_t offset, char* out, std::size_t n);
std::string makeBody(uint64_t seed, std::size_t n);
uint64_t fnv(const void* p, std::size_t n, uint64_t h = 0xcbf29ce484222325ULL);
// "len:hex" of a body, as the upstream's /sum answers.
std::string sumOf(const std::string& body);

// Fd, unusedPort (a port nothing listens on), sendAll: tests/support/socket.h.
using testsupport::Fd;
using testsupport::sendAll;
using testsupport::unusedPort;
Fd connectTo(uint16_t port);
inline bool sendAll(int fd, const std::string& s) { return sendAll(fd, s.data(), s.size()); }

// ---------------------------------------------------------------------------------------
// The upstream. Keep-alive; requests parsed with http::Parser; the path picks the answer:
//   /headers      body lists the request line and fields ("name: value" lines)
//   /echo         body is the request body (Content-Length)
//   /sum          body is sumOf(request body)
//   /bytes?n=N&seed=S[&chunked=1]   N body bytes (chunked in uneven pieces with chunked=1)
//   /close-mid?n=N   head says N bytes, half of them come, then the connection closes
//   /sleep?ms=M   answers after M ms
//   /bad          a response with both Content-Length and Transfer-Encoding (invalid)
//   /status?code=C   that status, no body (for 204/304); HEAD anywhere: Content-Length, no body
//   /http10       an HTTP/1.0 response delimited by the close
//   /close        answers with Connection: close and closes
//   /early        413 at once, without reading the body, then closes
//   /ws           101 Switching Protocols, then echoes bytes until EOF
// Anything else: 200 "ok <path>".
class Upstream {
 public:
  Upstream();
  ~Upstream();
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;
  uint16_t port() const { return port_; }
  std::string address() const;
  int accepts() const { return accepts_.load(); }
  int requests() const { return requests_.load(); }
  // Fields of the last request's head, lower-cased names.
  std::vector<std::pair<std::string, std::string>> lastHeaders();
  std::string lastTarget();

 private:
  void acceptLoop();
  void serve(int fd);

  Fd listen_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepts_{0};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::set<int> open_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
  std::vector<std::pair<std::string, std::string>> lastHeaders_;
  std::string lastTarget_;
};

// ---------------------------------------------------------------------------------------
// The client side.

struct Response {
  bool ok = false;      // a complete response was read
  std::string error;    // why not
  int status = 0;
  std::string version;  // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;     // decoded
  std::vector<int> interim;  // 1xx statuses seen before it
  std::string header(const std::string& name) const;  // "" when absent
  bool has(const std::string& name) const;
  std::string describe() const;
};

class Client {
 public:
  explicit Client(uint16_t port);
  bool connected() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }
  bool send(const std::string& bytes) { return sendAll(fd_.get(), bytes); }
  // Reads the next response (bytes already read for a later one are kept).
  Response read(bool headRequest = false, Ms limit = 10s);
  // Waits for the peer's FIN (true) or a reset/timeout (false). Drops any bytes.
  bool waitEof(Ms limit = 5s, std::string* rest = nullptr);
  std::string get(const std::string& path, const std::string& extra = "");  // request text
  void close() { fd_.reset(); }

 private:
  Fd fd_;
  std::string buf_;
};

std::string request(const std::string& method, const std::string& path,
                    const std::string& extraHeaders = "", const std::string& body = "");

// ---------------------------------------------------------------------------------------
// The proxy.

class Proxy {
 public:
  // `yaml` with "{UP}" replaced by the upstream address and "{BACKEND}" by the io backend.
  Proxy(const std::string& yaml, const std::string& backend);
  ~Proxy();
  uint16_t port(std::size_t listener = 0) const { return ports_.at(listener); }
  core::Server& server() { return *server_; }
  // Watches the fewest free provided buffers any worker had (sampled every millisecond) from
  // now until stopWatching(), which returns it.
  void watchBuffers();
  uint64_t stopWatching();

 private:
  std::unique_ptr<core::Server> server_;
  std::vector<uint16_t> ports_;
  std::thread watcher_;
  std::atomic<bool> watching_{false};
  std::atomic<uint64_t> minFree_{UINT64_MAX};
};

std::string replaceAll(std::string s, const std::string& from, const std::string& to);
// yaml with "{UP}" replaced by the upstream's address and "{DEAD}" by a port nobody listens on.
std::string withTestPorts(const std::string& yaml, const Upstream& upstream);

}  // namespace ringway::httptest
