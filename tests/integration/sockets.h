// Loopback sockets with deadlines: connect, send, read, full-duplex pump, many clients at
// once, a SYN-dropping endpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "integration/common.h"
#include "integration/random_stream.h"
#include "support/socket.h"

namespace ringway::itest {

// ---------------------------------------------------------------------------------------
// Sockets

// Fd, localPort, unusedPort: tests/support/socket.h.
using testsupport::Fd;
using testsupport::localPort;
using testsupport::unusedPort;

// A listening socket on 127.0.0.1:0 (CLOEXEC, blocking).
Fd listenLoopback(int backlog = 4096);
std::string loopback(uint16_t port); // "127.0.0.1:PORT"

// Connects to 127.0.0.1:port within the deadline. On failure returns an empty Fd and sets
// *err (errno; ETIMEDOUT when the deadline passed).
Fd connectLoopback(uint16_t port, Ms limit = 5s, int* err = nullptr);
void setNonBlocking(int fd, bool on);
void setLinger0(int fd); // close() then sends RST
// Close with RST (SO_LINGER 0).
void resetClose(Fd& fd);

// How a read ended.
enum class End { Open, Eof, Reset, Error, Timeout };
const char* toString(End e);

struct ReadEnd {
  End end = End::Open;
  int err = 0; // errno for Reset/Error
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
  bool finAfterSend = true; // shutdown(SHUT_WR) once everything is sent
  bool readToEof = true;    // keep reading until the peer's FIN
  std::size_t readChunk = 256 * 1024;
  std::chrono::microseconds readPause{0}; // sleep after each read: a slow reader
};

struct PumpResult {
  uint64_t sent = 0;
  int sendErr = 0; // errno that stopped sending, 0 if all went
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

// Connections waiting in the accept queues of the listening sockets on 127.0.0.1:port
// (rx_queue of LISTEN entries in /proc/net/tcp), or -1 if there is no such socket.
int acceptQueueLength(uint16_t port);

} // namespace ringway::itest
