// Test support for the integration tests: seeded random streams and their checkers, loopback
// sockets with deadlines, backend servers on threads, and an in-process proxy.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/probe.h"

namespace ringway::core {
class Server;
}

namespace ringway::itest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------
// Scale and seeds

// Every test that needs io_uring starts with this.
#define REQUIRE_URING()                                                          \
  do {                                                                           \
    if (!::ringway::io::probe().ok) GTEST_SKIP() << ::ringway::io::probe().why;  \
  } while (0)

// True under ASan/UBSan/TSan builds: tests shrink their volumes so `make sanitize` stays quick.
bool sanitized();
// n, divided by 4 under sanitizers; RINGWAY_IT_SCALE=<divisor> overrides (1 = full size).
std::size_t scaled(std::size_t n);
// RINGWAY_IT_SEED if set, else a fresh random seed. Tests print it in every failure.
uint64_t testSeed();
std::string hex64(uint64_t v);
// splitmix64: derives independent seeds and sizes from one test seed.
uint64_t mix(uint64_t x);

// ---------------------------------------------------------------------------------------
// Deadlines: turn hangs into failures. Never used to judge speed.

class Deadline {
 public:
  explicit Deadline(Ms d) : end_(Clock::now() + d) {}
  bool expired() const { return Clock::now() >= end_; }
  // Milliseconds left, clamped to [0, cap].
  int remainingMs(int cap = 1 << 30) const;

 private:
  Clock::time_point end_;
};

// Polls cond every few ms until it holds or the deadline passes; returns its last value.
bool waitFor(const std::function<bool()>& cond, Ms limit);

// ---------------------------------------------------------------------------------------
// Seeded random streams

// Byte i of a stream is a pure function of (seed, i): any slice can be regenerated, so a
// receiver checks what it got without keeping what was sent.
class RandomStream {
 public:
  explicit RandomStream(uint64_t seed) : seed_(seed) {}
  void fill(uint64_t offset, uint8_t* out, std::size_t n) const;
  uint64_t seed() const { return seed_; }
  // FNV-1a 64 of the first len bytes.
  uint64_t checksum(uint64_t len) const;

 private:
  uint64_t seed_;
};

uint64_t fnv1a(uint64_t h, const uint8_t* p, std::size_t n);
constexpr uint64_t FnvInit = 0xcbf29ce484222325ULL;

// Checks bytes arriving in one direction against the stream that should arrive. Keeps a
// checksum of what came and, at the first difference, the bytes around it for the report.
class StreamChecker {
 public:
  StreamChecker(std::string name, uint64_t seed, uint64_t expectedLen);
  void feed(const uint8_t* p, std::size_t n);
  uint64_t received() const { return received_; }
  uint64_t expected() const { return expected_; }
  uint64_t checksum() const { return hash_; }
  // All expected bytes came, no more, and none differed.
  bool intact() const;
  // What came so far matches the stream (for a stream whose length is learnt later).
  bool matchesSoFar() const { return !differs_ && received_ <= expected_; }
  // Seed, lengths, both checksums, first differing offset and hex around it.
  std::string report() const;

 private:
  std::string name_;
  RandomStream stream_;
  uint64_t expected_;
  uint64_t received_ = 0;
  uint64_t hash_ = FnvInit;
  bool differs_ = false;
  uint64_t diffAt_ = 0;
  std::vector<uint8_t> diffBytes_;  // received bytes from diffAt_, up to 32
};

// ---------------------------------------------------------------------------------------
// Sockets

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release();
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A listening socket on 127.0.0.1:0 (CLOEXEC, blocking).
Fd listenLoopback(int backlog = 4096);
uint16_t localPort(int fd);
std::string loopback(uint16_t port);  // "127.0.0.1:PORT"
// A port nobody listens on: bind 127.0.0.1:0, read the port, close the socket.
uint16_t unusedPort();

// Connects to 127.0.0.1:port within the deadline. On failure returns an empty Fd and sets
// *err (errno; ETIMEDOUT when the deadline passed).
Fd connectLoopback(uint16_t port, Ms limit = 5s, int* err = nullptr);
void setNonBlocking(int fd, bool on);
void setLinger0(int fd);  // close() then sends RST
// Close with RST (SO_LINGER 0).
void resetClose(Fd& fd);

// How a read ended.
enum class End { Open, Eof, Reset, Error, Timeout };
const char* toString(End e);

struct ReadEnd {
  End end = End::Open;
  int err = 0;  // errno for Reset/Error
};

// Sends everything within the deadline (poll-based; works on blocking and non-blocking fds).
// Returns 0 or the errno that stopped it (ETIMEDOUT at the deadline).
int sendAll(int fd, const void* p, std::size_t n, const Deadline& d);
// Reads exactly n bytes unless the stream ends first; *got says how many came.
ReadEnd readExact(int fd, void* p, std::size_t n, const Deadline& d, std::size_t* got);
// Reads and discards until EOF, error or the deadline; counts what it dropped.
ReadEnd readToEnd(int fd, const Deadline& d, uint64_t* bytes = nullptr);
// Like readToEnd, but keeps reading after EOF until the deadline to learn whether a reset
// follows (recv returns ECONNRESET once an RST has come).
ReadEnd readToEndOrReset(int fd, const Deadline& d);

struct PumpOptions {
  bool finAfterSend = true;    // shutdown(SHUT_WR) once everything is sent
  bool readToEof = true;       // keep reading until the peer's FIN
  std::size_t readChunk = 256 * 1024;
  std::chrono::microseconds readPause{0};  // sleep after each read: a slow reader
};

struct PumpResult {
  uint64_t sent = 0;
  int sendErr = 0;  // errno that stopped sending, 0 if all went
  ReadEnd read;
};

// Full duplex on one socket: sends `outLen` bytes of `out` while feeding everything read to
// `in`, until both are done or the deadline passes.
PumpResult pump(int fd, const RandomStream& out, uint64_t outLen, StreamChecker& in,
                const Deadline& d, const PumpOptions& o = {});

// Echo request/response over a connected socket: sends n bytes of the stream from offset
// off and expects them back. Returns "" or what went wrong.
std::string echoRoundTrip(int fd, const RandomStream& s, uint64_t off, std::size_t n,
                          const Deadline& d);

// A listener on 127.0.0.1:0 with listen(fd, 0) whose accept queue is filled and never
// accepted from: further SYNs to it are dropped, so connects to it hang (all on loopback).
class BlackHole {
 public:
  BlackHole();
  uint16_t port() const { return port_; }
  std::string address() const { return loopback(port_); }
  // "" if the queue is full (a connect was seen hanging), else why not.
  const std::string& problem() const { return problem_; }

 private:
  Fd listen_;
  std::vector<Fd> fillers_;
  uint16_t port_ = 0;
  std::string problem_;
};

// n echo clients at once, in one poll loop: all connect first (then whenConnected() runs),
// then each sends 1..maxLen bytes of its own stream, reads the echo, sends FIN and expects
// the echo's FIN back. failures lists the first ten that went wrong, "" if none.
struct ManyResult {
  std::string failures;
  std::size_t connected = 0;
  std::size_t done = 0;
};
ManyResult exchangeMany(uint16_t port, std::size_t n, uint64_t seed, std::size_t maxLen, Ms limit,
                        const std::function<void()>& whenConnected = {});

// ---------------------------------------------------------------------------------------
// Backend servers

// Accepts on 127.0.0.1:0 and runs `handler(fd)` on a thread per connection; closes the fd
// when the handler returns. stop() (also the destructor) stops accepting, shuts down every
// open connection so blocked handlers return, and joins.
class Backend {
 public:
  using Handler = std::function<void(int fd)>;
  explicit Backend(Handler h, int backlog = 4096);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;
  uint16_t port() const { return port_; }
  std::string address() const { return loopback(port_); }
  int accepted() const { return accepted_.load(); }
  int finished() const { return finished_.load(); }
  bool stopping() const { return stop_.load(); }
  void stop();

 private:
  void acceptLoop();
  Handler handler_;
  Fd listen_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> finished_{0};
  std::mutex mu_;
  std::set<int> open_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// Handlers for Backend.
namespace handlers {
// Reads until EOF, then closes. Records (bytes, checksum) per connection in *out.
struct SinkRecord {
  uint64_t bytes = 0;
  uint64_t checksum = FnvInit;
  End end = End::Open;
};
Backend::Handler sink(std::shared_ptr<std::vector<SinkRecord>> out,
                      std::shared_ptr<std::mutex> mu);
// Sends n bytes of RandomStream(seed), then FIN; then reads (and drops) until EOF.
Backend::Handler source(uint64_t seed, uint64_t n);
// Reads `before` bytes, then closes with RST.
Backend::Handler resetter(std::size_t before);
// Never reads; holds the connection until the peer hangs up or the backend stops.
Backend::Handler neverReads();

// Full duplex, self-describing: the client first sends a DuplexHeader, then `up` bytes of
// RandomStream(seed); the backend answers with `down` bytes of RandomStream(downSeed(seed)),
// both at once, each side sending its FIN when done. The backend records its side.
struct DuplexHeader {
  uint64_t seed;
  uint64_t up;
  uint64_t down;
};
uint64_t downSeed(uint64_t seed);
struct DuplexRecord {
  DuplexHeader header{};
  bool intact = false;
  std::string report;  // the checker's report of client -> upstream
  PumpResult pump;
};
Backend::Handler duplex(std::shared_ptr<std::vector<DuplexRecord>> out,
                        std::shared_ptr<std::mutex> mu, PumpOptions o = {});
}  // namespace handlers

// The client side of handlers::duplex. Returns "" or everything that went wrong, with the
// checker's report.
std::string runDuplexClient(uint16_t port, uint64_t seed, uint64_t up, uint64_t down, Ms limit,
                            const PumpOptions& o = {});

// An echo server for many connections: one epoll thread, non-blocking sockets. Sends back
// what it reads; on the peer's FIN, flushes and sends its own FIN.
class EchoServer {
 public:
  EchoServer();
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  uint16_t port() const { return port_; }
  std::string address() const { return loopback(port_); }
  int accepted() const { return accepted_.load(); }
  int open() const { return open_.load(); }

 private:
  void run();
  Fd listen_;
  Fd epoll_;
  Fd wake_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------
// The proxy

// Builds a ringway.yaml with one tcp listener "raw" on 127.0.0.1:0 and one cluster "be".
struct ProxyConfig {
  unsigned workers = 1;
  std::vector<std::string> endpoints;  // "127.0.0.1:PORT"
  std::string connectTimeout = "1s";
  std::string idleTimeout = "60s";
  std::string drainTimeout = "30s";
  std::string zerocopy = "off";
  std::string bufferSize = "16KiB";
  unsigned buffersPerWorker = 512;
  std::string maxInflight = "256KiB";
  std::string yaml() const;
};

// A core::Server running in this process on the config above.
class InProcessProxy {
 public:
  explicit InProcessProxy(const ProxyConfig& c);
  ~InProcessProxy();
  uint16_t port() const { return port_; }
  core::Server& server() { return *server_; }
  // Free buffers of each worker's pool, as the loops last published them.
  std::vector<uint64_t> buffersFree() const;
  // Waits until every worker's pool is entirely free again (all connections are gone);
  // returns "" or the pools' state.
  std::string waitPoolsFree(Ms limit) const;
  // Zero-copy sends issued, summed over the workers.
  uint64_t zeroCopySends() const;
  // Per worker: loop and ring counters, for failure messages.
  std::string stats() const;

 private:
  std::unique_ptr<core::Server> server_;
  uint16_t port_ = 0;
  unsigned buffers_ = 0;
};

// Connections waiting in the accept queues of the listening sockets on 127.0.0.1:port
// (rx_queue of LISTEN entries in /proc/net/tcp), or -1 if there is no such socket.
int acceptQueueLength(uint16_t port);

// "/proc/PID/status" VmRSS in KiB, or -1.
long rssKiB(pid_t pid);

}  // namespace ringway::itest
