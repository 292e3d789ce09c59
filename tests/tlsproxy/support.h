// Support for the TLS proxy tests: a TLS client over memory BIOs (so a ClientHello can be sent
// in pieces), backends on threads (plain echo, banner, TLS echo), an in-process proxy.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "net/listener_stats.h"
#include "support/pki.h"
#include "support/socket.h"
#include "support/uring_probe.h"

namespace ringway::core {
class Server;
}

namespace ringway::tlsproxy {

using testsupport::CertFiles;
using testsupport::Pki;
using testsupport::pki;
using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Each test runs on both backends; io_uring ones skip where the kernel has none:
// REQUIRE_BACKEND(backend), tests/support/uring_probe.h.

class Deadline {
 public:
  explicit Deadline(Ms d) : end_(Clock::now() + d) {}
  bool expired() const { return Clock::now() >= end_; }
  int remainingMs() const;

 private:
  Clock::time_point end_;
};

bool waitFor(const std::function<bool()>& cond, Ms limit);

using testsupport::Fd; // tests/support/socket.h

Fd connectTo(uint16_t port);
// Sends all of it (blocking socket); false on error.
inline bool sendRaw(int fd, const void* p, std::size_t n) { return testsupport::sendAll(fd, p, n); }
// Reads until EOF/RST/the deadline; returns what came. *end: "eof", "reset", "timeout".
std::string readToEnd(int fd, Ms limit, std::string* end = nullptr);

std::vector<uint8_t> randomBytes(std::size_t n, uint64_t seed);
// "" if equal, else lengths and the first differing offset.
std::string compareBytes(const std::vector<uint8_t>& sent, const std::vector<uint8_t>& got);

// ---------------------------------------------------------------------------------------
// A blocking TLS client driven over memory BIOs on a socket, with deadlines.

struct ClientOptions {
  std::string sni;         // empty: no SNI
  std::string ca;          // verify against this CA file (empty: no verification)
  std::string verifyName;  // hostname to check (default: sni)
  std::vector<std::string> alpn;
  int maxVersion = 0;               // TLS1_2_VERSION to force 1.2
  SSL_SESSION* session = nullptr;   // offered for resumption
  std::size_t splitHello = 0;       // send the first flight in pieces of this size (20 ms apart)
  const CertFiles* cert = nullptr;  // client certificate
};

class TlsClient {
 public:
  TlsClient(uint16_t port, const ClientOptions& o);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // "" once established, else why not.
  std::string handshake(Ms limit = 5s);
  bool send(const void* p, std::size_t n);
  bool send(const std::string& s) { return send(s.data(), s.size()); }
  // Plaintext: >0 bytes; 0 the peer's close_notify; -1 EOF without it, error or timeout.
  long recv(void* p, std::size_t n, Ms limit = 5s);
  // Reads exactly n bytes (or less if it ends first).
  std::vector<uint8_t> recvExactly(std::size_t n, Ms limit = 10s);
  // Reads a line ending in '\n' (without it).
  std::string recvLine(Ms limit = 5s);
  void shutdown();  // send close_notify
  // Sends `data` while reading the echo; returns what came back.
  std::vector<uint8_t> echo(const std::vector<uint8_t>& data, Ms limit = 20s);

  std::string peerCommonName() const;
  std::string alpn() const;
  bool resumed() const { return SSL_session_reused(ssl_) == 1; }
  int version() const { return SSL_version(ssl_); }
  // The session to offer next time (owned by the caller: SSL_SESSION_free).
  SSL_SESSION* session() const { return SSL_get1_session(ssl_); }
  std::string error() const { return error_; }
  int fd() const { return fd_.get(); }
  bool eof() const { return eof_; }

 private:
  bool flush(std::size_t piece = 0);
  bool fill(const Deadline& d);  // one read from the socket into the SSL
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // socket -> SSL
  BIO* out_ = nullptr;  // SSL -> socket
  Fd fd_;
  bool eof_ = false;
  std::size_t splitHello_ = 0;
  std::string error_;
};

// ---------------------------------------------------------------------------------------
// Backends: a thread per connection on 127.0.0.1:0.

class Backend {
 public:
  using Handler = std::function<void(int fd)>;
  explicit Backend(Handler h);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

 private:
  void loop();
  Handler handler_;
  Fd listen_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::set<int> open_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// Echo until EOF, then FIN.
Backend::Handler echo();
// Sends "<name>\n", then echoes.
Backend::Handler banner(std::string name);
// TLS server with cert (and, with clientCa, a required client certificate): sends
// "<name>\n", echoes, answers close_notify with its own.
Backend::Handler tlsBanner(std::string name, const CertFiles& cert, std::string clientCa = "");

// ---------------------------------------------------------------------------------------
// The proxy in this process.

class Proxy {
 public:
  explicit Proxy(const std::string& yaml);  // throws what loading or starting throws
  ~Proxy();
  uint16_t port(std::size_t listener = 0) const;
  core::Server& server() { return *server_; }
  // Sum over workers of a counter of listener `li`.
  uint64_t sum(std::size_t li, const std::function<uint64_t(const net::ListenerStats&)>& f) const;
  // Sessions still open across workers (0 once everything closed).
  uint64_t active() const;

 private:
  std::unique_ptr<core::Server> server_;
};

// `io: { backend: X }` plus a quiet log level: the top of every test's config.
std::string header(const std::string& backend, unsigned workers = 1);

}  // namespace ringway::tlsproxy
