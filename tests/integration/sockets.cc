#include "integration/sockets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace ringway::itest {

// ---------------------------------------------------------------------------------------
// Sockets

using testsupport::loopbackAddr;

Fd listenLoopback(int backlog) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd)
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a = loopbackAddr(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 ||
      ::listen(fd.get(), backlog) < 0)
    throw std::runtime_error(std::string("bind/listen 127.0.0.1:0: ") + std::strerror(errno));
  return fd;
}

std::string loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

void setNonBlocking(int fd, bool on) {
  const int fl = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
}

void setLinger0(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void resetClose(Fd& fd) {
  setLinger0(fd.get());
  fd.reset();
}

Fd connectLoopback(uint16_t port, Ms limit, int* err) {
  int dummy = 0;
  int& e = err != nullptr ? *err : dummy;
  e = 0;
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    e = errno;
    return {};
  }
  sockaddr_in a = loopbackAddr(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    if (errno != EINPROGRESS) {
      e = errno;
      return {};
    }
    Deadline d(limit);
    pollfd p{fd.get(), POLLOUT, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, d.remainingMs());
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      e = ETIMEDOUT;
      return {};
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) {
      e = soerr;
      return {};
    }
  }
  setNonBlocking(fd.get(), false);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

const char* toString(End e) {
  switch (e) {
  case End::Open:
    return "open";
  case End::Eof:
    return "EOF";
  case End::Reset:
    return "reset";
  case End::Error:
    return "error";
  case End::Timeout:
    return "timeout";
  }
  return "?";
}

namespace {

// poll() one fd for `events` until ready or the deadline; false on timeout.
bool waitReady(int fd, short events, const Deadline& d, short* revents = nullptr) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, d.remainingMs(100));
    if (rc > 0) {
      if (revents != nullptr)
        *revents = p.revents;
      return true;
    }
    if (rc < 0 && errno != EINTR)
      return true; // let the caller's syscall report it
    if (d.expired())
      return false;
  }
}

ReadEnd endFromErrno(int e) { return {e == ECONNRESET ? End::Reset : End::Error, e}; }

} // namespace

int sendAll(int fd, const void* p, std::size_t n, const Deadline& d) {
  const auto* b = static_cast<const uint8_t*>(p);
  std::size_t done = 0;
  while (done < n) {
    if (!waitReady(fd, POLLOUT, d))
      return ETIMEDOUT;
    const ssize_t w = ::send(fd, b + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR)
        continue;
      return errno;
    }
    done += static_cast<std::size_t>(w);
  }
  return 0;
}

ReadEnd readExact(int fd, void* p, std::size_t n, const Deadline& d, std::size_t* got) {
  auto* b = static_cast<uint8_t*>(p);
  std::size_t done = 0;
  ReadEnd r;
  while (done < n) {
    if (!waitReady(fd, POLLIN, d)) {
      r.end = End::Timeout;
      break;
    }
    const ssize_t k = ::recv(fd, b + done, n - done, MSG_DONTWAIT);
    if (k == 0) {
      r.end = End::Eof;
      break;
    }
    if (k < 0) {
      if (errno == EAGAIN || errno == EINTR)
        continue;
      r = endFromErrno(errno);
      break;
    }
    done += static_cast<std::size_t>(k);
  }
  if (got != nullptr)
    *got = done;
  return r;
}

ReadEnd readToEnd(int fd, const Deadline& d, uint64_t* bytes) {
  std::vector<uint8_t> buf(64 * 1024);
  uint64_t total = 0;
  ReadEnd r;
  for (;;) {
    if (!waitReady(fd, POLLIN, d)) {
      r.end = End::Timeout;
      break;
    }
    const ssize_t k = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (k == 0) {
      r.end = End::Eof;
      break;
    }
    if (k < 0) {
      if (errno == EAGAIN || errno == EINTR)
        continue;
      r = endFromErrno(errno);
      break;
    }
    total += static_cast<uint64_t>(k);
  }
  if (bytes != nullptr)
    *bytes = total;
  return r;
}

ReadEnd readToEndOrReset(int fd, const Deadline& d) {
  ReadEnd r = readToEnd(fd, d);
  if (r.end != End::Eof)
    return r;
  // After a FIN, recv keeps returning 0 until an RST arrives; then ECONNRESET.
  while (!d.expired()) {
    char c;
    const ssize_t k = ::recv(fd, &c, 1, MSG_DONTWAIT);
    if (k < 0 && errno != EAGAIN && errno != EINTR)
      return endFromErrno(errno);
    std::this_thread::sleep_for(10ms);
  }
  return r;
}

PumpResult pump(int fd, const RandomStream& out, uint64_t outLen, StreamChecker& in,
                const Deadline& d, const PumpOptions& o) {
  PumpResult r;
  std::vector<uint8_t> sbuf(256 * 1024);
  std::vector<uint8_t> rbuf(std::max<std::size_t>(o.readChunk, 1));
  std::size_t sHave = 0, sPos = 0; // sbuf[sPos, sHave) is generated but not yet sent
  bool finSent = !o.finAfterSend;
  bool sendDone = outLen == 0;
  bool readDone = !o.readToEof;
  for (;;) {
    if (sendDone && !finSent) {
      ::shutdown(fd, SHUT_WR);
      finSent = true;
    }
    if (sendDone && readDone)
      break;
    if (d.expired()) {
      if (!readDone)
        r.read.end = End::Timeout;
      if (!sendDone)
        r.sendErr = ETIMEDOUT;
      break;
    }
    pollfd p{fd, static_cast<short>((readDone ? 0 : POLLIN) | (sendDone ? 0 : POLLOUT)), 0};
    const int rc = ::poll(&p, 1, d.remainingMs(100));
    if (rc <= 0)
      continue;
    if (!sendDone && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
      if (sPos == sHave) {
        const uint64_t left = outLen - r.sent;
        sHave = static_cast<std::size_t>(std::min<uint64_t>(sbuf.size(), left));
        out.fill(r.sent, sbuf.data(), sHave);
        sPos = 0;
      }
      const ssize_t w = ::send(fd, sbuf.data() + sPos, sHave - sPos, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        sPos += static_cast<std::size_t>(w);
        r.sent += static_cast<uint64_t>(w);
        if (r.sent == outLen)
          sendDone = true;
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        r.sendErr = errno;
        sendDone = true;
        finSent = true; // the connection is broken: no FIN to send
      }
    }
    if (!readDone && (p.revents & (POLLIN | POLLERR | POLLHUP))) {
      const ssize_t k = ::recv(fd, rbuf.data(), rbuf.size(), MSG_DONTWAIT);
      if (k > 0) {
        in.feed(rbuf.data(), static_cast<std::size_t>(k));
        if (o.readPause.count() > 0)
          std::this_thread::sleep_for(o.readPause);
      } else if (k == 0) {
        r.read.end = End::Eof;
        readDone = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        r.read = endFromErrno(errno);
        readDone = true;
      }
    }
  }
  return r;
}

std::string echoRoundTrip(int fd, const RandomStream& s, uint64_t off, std::size_t n,
                          const Deadline& d) {
  std::vector<uint8_t> want(n), got(n);
  s.fill(off, want.data(), n);
  if (int e = sendAll(fd, want.data(), n, d); e != 0)
    return std::string("send: ") + std::strerror(e);
  std::size_t k = 0;
  ReadEnd r = readExact(fd, got.data(), n, d, &k);
  if (k != n)
    return "echo: got " + std::to_string(k) + " of " + std::to_string(n) + " bytes, then " +
           toString(r.end) + (r.err ? std::string(" (") + std::strerror(r.err) + ")" : "");
  if (want != got) {
    const std::size_t i = static_cast<std::size_t>(
        std::mismatch(want.begin(), want.end(), got.begin()).first - want.begin());
    return "echo: first difference at offset " + std::to_string(off + i) + " of seed " +
           hex64(s.seed());
  }
  return "";
}

// ---------------------------------------------------------------------------------------
// exchangeMany

ManyResult exchangeMany(uint16_t port, std::size_t n, uint64_t seed, std::size_t maxLen, Ms limit,
                        const std::function<void()>& whenConnected) {
  struct Conn {
    Fd fd;
    std::unique_ptr<StreamChecker> in;
    uint64_t seed = 0, len = 0, sent = 0;
    bool connected = false, finSent = false, done = false;
    End end = End::Open;
    int err = 0;
  };
  ManyResult res;
  std::vector<Conn> conns(n);
  for (std::size_t i = 0; i < n; ++i) {
    Conn& c = conns[i];
    c.seed = mix(seed ^ (i * 0x9e3779b97f4a7c15ULL));
    c.len = 1 + c.seed % maxLen;
    c.in = std::make_unique<StreamChecker>("conn " + std::to_string(i), c.seed, c.len);
    c.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in a = loopbackAddr(port);
    if (!c.fd || (::connect(c.fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 &&
                  errno != EINPROGRESS)) {
      res.failures = "conn " + std::to_string(i) + ": socket/connect: " + std::strerror(errno);
      return res;
    }
  }
  std::vector<pollfd> pfds(n);
  std::vector<uint8_t> buf(64 * 1024), out;
  Deadline d(limit);
  bool hookRan = false;
  while (res.done < n && !d.expired()) {
    if (res.connected == n && !hookRan) {
      hookRan = true;
      if (whenConnected)
        whenConnected();
    }
    for (std::size_t i = 0; i < n; ++i) {
      Conn& c = conns[i];
      short ev = 0;
      if (!c.connected)
        ev = POLLOUT;
      else if (res.connected == n)
        ev = static_cast<short>(POLLIN | (c.sent < c.len ? POLLOUT : 0));
      pfds[i] = {c.done ? -1 : c.fd.get(), ev, 0};
    }
    if (::poll(pfds.data(), n, d.remainingMs(100)) <= 0)
      continue;
    for (std::size_t i = 0; i < n; ++i) {
      Conn& c = conns[i];
      const short re = pfds[i].revents;
      if (re == 0 || c.done)
        continue;
      if (!c.connected) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        ::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0) {
          c.done = true, c.end = End::Error, c.err = soerr, ++res.done;
          continue;
        }
        c.connected = true;
        ++res.connected;
        continue;
      }
      if ((re & POLLOUT) && c.sent < c.len) {
        out.resize(c.len - c.sent);
        RandomStream(c.seed).fill(c.sent, out.data(), out.size());
        const ssize_t w = ::send(c.fd.get(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
          c.sent += static_cast<uint64_t>(w);
      }
      if (re & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t k = ::recv(c.fd.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (k > 0) {
          c.in->feed(buf.data(), static_cast<std::size_t>(k));
        } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
          c.end = k == 0 ? End::Eof : (errno == ECONNRESET ? End::Reset : End::Error);
          c.err = k == 0 ? 0 : errno;
          c.done = true;
          ++res.done;
          continue;
        }
      }
      // All echoed: say we are done; the echo's FIN comes back through the proxy.
      if (!c.finSent && c.in->received() >= c.len) {
        ::shutdown(c.fd.get(), SHUT_WR);
        c.finSent = true;
      }
    }
  }
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Conn& c = conns[i];
    if (c.in->intact() && c.end == End::Eof)
      continue;
    if (++bad > 10)
      continue; // the first ten tell the story
    res.failures += "conn " + std::to_string(i) + " (connected=" + std::to_string(c.connected) +
                    ", sent " + std::to_string(c.sent) + "/" + std::to_string(c.len) + ", ended " +
                    toString(c.end) + (c.err ? std::string(" ") + std::strerror(c.err) : "") +
                    "): " + c.in->report() + "\n";
  }
  if (bad > 0)
    res.failures += std::to_string(bad) + " of " + std::to_string(n) + " failed\n";
  return res;
}

// ---------------------------------------------------------------------------------------
// BlackHole

BlackHole::BlackHole() : listen_(listenLoopback(0)) {
  port_ = localPort(listen_.get());
  problem_ = "the accept queue never filled";
  for (int i = 0; i < 16; ++i) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in a = loopbackAddr(port_);
    const int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (rc < 0 && errno != EINPROGRESS) {
      problem_ = std::string("filler connect: ") + std::strerror(errno);
      return;
    }
    pollfd p{fd.get(), POLLOUT, 0};
    const bool done = rc == 0 || ::poll(&p, 1, 200) > 0;
    fillers_.push_back(std::move(fd));
    if (!done) { // its SYN was dropped: the queue is full
      problem_.clear();
      return;
    }
  }
}

int acceptQueueLength(uint16_t port) {
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line); // header
  int total = -1;
  char want[16];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  while (std::getline(f, line)) {
    // "  sl  local_address rem_address   st tx_queue:rx_queue ..."
    std::istringstream in(line);
    std::string sl, local, remote, st, queues;
    in >> sl >> local >> remote >> st >> queues;
    if (local != want || st != "0A")
      continue;
    const auto colon = queues.find(':');
    if (colon == std::string::npos)
      continue;
    total =
        std::max(total, 0) + static_cast<int>(std::stoul(queues.substr(colon + 1), nullptr, 16));
  }
  return total;
}

} // namespace ringway::itest
