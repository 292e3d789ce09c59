#include "integration/support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include "config/loader.h"
#include "core/server.h"
#include "io/loop.h"
#include "io/uring_loop.h"

namespace ringway::itest {

namespace {

// Process-wide setup, before any test: a peer may reset us mid-send (MSG_NOSIGNAL covers
// our sends, this covers the rest), and 1,000 proxied connections need ~4,000 descriptors.
const bool g_setUp = [] {
  ::signal(SIGPIPE, SIG_IGN);
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
  return true;
}();

std::string hexBytes(const uint8_t* p, std::size_t n) {
  std::string s;
  char b[4];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    if (i > 0) s += ' ';
    s += b;
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Scale and seeds

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(undefined_behavior_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

std::size_t scaled(std::size_t n) {
  std::size_t div = sanitized() ? 4 : 1;
  if (const char* e = std::getenv("RINGWAY_IT_SCALE"); e != nullptr && std::atoi(e) > 0)
    div = static_cast<std::size_t>(std::atoi(e));
  return std::max<std::size_t>(1, n / div);
}

uint64_t testSeed() {
  if (const char* e = std::getenv("RINGWAY_IT_SEED"); e != nullptr && *e != '\0')
    return std::strtoull(e, nullptr, 0);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string hex64(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016llx", static_cast<unsigned long long>(v));
  return b;
}

// ---------------------------------------------------------------------------------------
// Deadlines

int Deadline::remainingMs(int cap) const {
  const auto left = std::chrono::duration_cast<Ms>(end_ - Clock::now()).count();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<long long>(left, cap));
}

bool waitFor(const std::function<bool()>& cond, Ms limit) {
  Deadline d(limit);
  for (;;) {
    if (cond()) return true;
    if (d.expired()) return cond();
    std::this_thread::sleep_for(5ms);
  }
}

// ---------------------------------------------------------------------------------------
// Random streams

void RandomStream::fill(uint64_t offset, uint8_t* out, std::size_t n) const {
  while (n > 0) {
    const uint64_t word = offset / 8;
    const unsigned skip = static_cast<unsigned>(offset % 8);
    const uint64_t v = mix(seed_ ^ (word * 0xd1342543de82ef95ULL));
    uint8_t bytes[8];
    for (unsigned i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(v >> (8 * i));
    const std::size_t take = std::min<std::size_t>(n, 8 - skip);
    std::memcpy(out, bytes + skip, take);
    out += take;
    offset += take;
    n -= take;
  }
}

uint64_t RandomStream::checksum(uint64_t len) const {
  uint64_t h = FnvInit;
  std::vector<uint8_t> buf(64 * 1024);
  for (uint64_t off = 0; off < len;) {
    const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), len - off));
    fill(off, buf.data(), n);
    h = fnv1a(h, buf.data(), n);
    off += n;
  }
  return h;
}

uint64_t fnv1a(uint64_t h, const uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

StreamChecker::StreamChecker(std::string name, uint64_t seed, uint64_t expectedLen)
    : name_(std::move(name)), stream_(seed), expected_(expectedLen) {}

void StreamChecker::feed(const uint8_t* p, std::size_t n) {
  hash_ = fnv1a(hash_, p, n);
  if (differs_) {
    const std::size_t more = std::min<std::size_t>(n, 32 - diffBytes_.size());
    diffBytes_.insert(diffBytes_.end(), p, p + more);
  } else {
    // Past the expected end nothing should come: compare against the stream anyway, so the
    // report shows the offset where the extra bytes start.
    uint8_t want[4096];
    std::size_t done = 0;
    while (done < n && !differs_) {
      const std::size_t k = std::min(sizeof want, n - done);
      const uint64_t off = received_ + done;
      stream_.fill(off, want, k);
      std::size_t i = 0;
      if (std::memcmp(want, p + done, k) != 0 || off + k > expected_) {
        while (i < k && want[i] == p[done + i] && off + i < expected_) ++i;
        if (i < k) {
          differs_ = true;
          diffAt_ = off + i;
          const std::size_t more = std::min<std::size_t>(n - done - i, 32);
          diffBytes_.assign(p + done + i, p + done + i + more);
          break;
        }
      }
      done += k;
    }
  }
  received_ += n;
}

bool StreamChecker::intact() const { return !differs_ && received_ == expected_; }

std::string StreamChecker::report() const {
  std::string r = name_ + ": seed=" + hex64(stream_.seed()) + " expected " +
                  std::to_string(expected_) + " bytes (fnv " + hex64(stream_.checksum(expected_)) +
                  "), received " + std::to_string(received_) + " bytes (fnv " + hex64(hash_) + ")";
  if (differs_) {
    const uint64_t from = diffAt_ >= 16 ? diffAt_ - 16 : 0;
    const std::size_t before = static_cast<std::size_t>(diffAt_ - from);
    uint8_t want[48];
    stream_.fill(from, want, sizeof want);
    // Bytes before diffAt_ matched, so the expected stream stands in for them.
    std::vector<uint8_t> got(want, want + before);
    got.insert(got.end(), diffBytes_.begin(), diffBytes_.end());
    const std::size_t wantAfter =
        static_cast<std::size_t>(std::min<uint64_t>(32, expected_ > diffAt_ ? expected_ - diffAt_ : 0));
    r += "; first difference at offset " + std::to_string(diffAt_) + "\n  expected @" +
         std::to_string(from) + ": " + hexBytes(want, before) + " | " +
         hexBytes(want + before, wantAfter) + (wantAfter == 0 ? "(end of stream)" : "") +
         "\n  received @" + std::to_string(from) + ": " + hexBytes(got.data(), before) + " | " +
         hexBytes(got.data() + before, got.size() - before);
  } else if (received_ < expected_) {
    r += "; all received bytes match, " + std::to_string(expected_ - received_) + " missing";
  }
  return r;
}

// ---------------------------------------------------------------------------------------
// Sockets

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

int Fd::release() { return std::exchange(fd_, -1); }

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {
sockaddr_in loopbackAddr(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}
}  // namespace

Fd listenLoopback(int backlog) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a = loopbackAddr(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 ||
      ::listen(fd.get(), backlog) < 0)
    throw std::runtime_error(std::string("bind/listen 127.0.0.1:0: ") + std::strerror(errno));
  return fd;
}

uint16_t localPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0) return 0;
  return ntohs(a.sin_port);
}

std::string loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

uint16_t unusedPort() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopbackAddr(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
  return localPort(fd.get());
}

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
    case End::Open: return "open";
    case End::Eof: return "EOF";
    case End::Reset: return "reset";
    case End::Error: return "error";
    case End::Timeout: return "timeout";
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
      if (revents != nullptr) *revents = p.revents;
      return true;
    }
    if (rc < 0 && errno != EINTR) return true;  // let the caller's syscall report it
    if (d.expired()) return false;
  }
}

ReadEnd endFromErrno(int e) {
  return {e == ECONNRESET ? End::Reset : End::Error, e};
}

}  // namespace

int sendAll(int fd, const void* p, std::size_t n, const Deadline& d) {
  const auto* b = static_cast<const uint8_t*>(p);
  std::size_t done = 0;
  while (done < n) {
    if (!waitReady(fd, POLLOUT, d)) return ETIMEDOUT;
    const ssize_t w = ::send(fd, b + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
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
      if (errno == EAGAIN || errno == EINTR) continue;
      r = endFromErrno(errno);
      break;
    }
    done += static_cast<std::size_t>(k);
  }
  if (got != nullptr) *got = done;
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
      if (errno == EAGAIN || errno == EINTR) continue;
      r = endFromErrno(errno);
      break;
    }
    total += static_cast<uint64_t>(k);
  }
  if (bytes != nullptr) *bytes = total;
  return r;
}

ReadEnd readToEndOrReset(int fd, const Deadline& d) {
  ReadEnd r = readToEnd(fd, d);
  if (r.end != End::Eof) return r;
  // After a FIN, recv keeps returning 0 until an RST arrives; then ECONNRESET.
  while (!d.expired()) {
    char c;
    const ssize_t k = ::recv(fd, &c, 1, MSG_DONTWAIT);
    if (k < 0 && errno != EAGAIN && errno != EINTR) return endFromErrno(errno);
    std::this_thread::sleep_for(10ms);
  }
  return r;
}

PumpResult pump(int fd, const RandomStream& out, uint64_t outLen, StreamChecker& in,
                const Deadline& d, const PumpOptions& o) {
  PumpResult r;
  std::vector<uint8_t> sbuf(256 * 1024);
  std::vector<uint8_t> rbuf(std::max<std::size_t>(o.readChunk, 1));
  std::size_t sHave = 0, sPos = 0;  // sbuf[sPos, sHave) is generated but not yet sent
  bool finSent = !o.finAfterSend;
  bool sendDone = outLen == 0;
  bool readDone = !o.readToEof;
  for (;;) {
    if (sendDone && !finSent) {
      ::shutdown(fd, SHUT_WR);
      finSent = true;
    }
    if (sendDone && readDone) break;
    if (d.expired()) {
      if (!readDone) r.read.end = End::Timeout;
      if (!sendDone) r.sendErr = ETIMEDOUT;
      break;
    }
    pollfd p{fd, static_cast<short>((readDone ? 0 : POLLIN) | (sendDone ? 0 : POLLOUT)), 0};
    const int rc = ::poll(&p, 1, d.remainingMs(100));
    if (rc <= 0) continue;
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
        if (r.sent == outLen) sendDone = true;
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        r.sendErr = errno;
        sendDone = true;
        finSent = true;  // the connection is broken: no FIN to send
      }
    }
    if (!readDone && (p.revents & (POLLIN | POLLERR | POLLHUP))) {
      const ssize_t k = ::recv(fd, rbuf.data(), rbuf.size(), MSG_DONTWAIT);
      if (k > 0) {
        in.feed(rbuf.data(), static_cast<std::size_t>(k));
        if (o.readPause.count() > 0) std::this_thread::sleep_for(o.readPause);
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
      if (whenConnected) whenConnected();
    }
    for (std::size_t i = 0; i < n; ++i) {
      Conn& c = conns[i];
      short ev = 0;
      if (!c.connected) ev = POLLOUT;
      else if (res.connected == n) ev = static_cast<short>(POLLIN | (c.sent < c.len ? POLLOUT : 0));
      pfds[i] = {c.done ? -1 : c.fd.get(), ev, 0};
    }
    if (::poll(pfds.data(), n, d.remainingMs(100)) <= 0) continue;
    for (std::size_t i = 0; i < n; ++i) {
      Conn& c = conns[i];
      const short re = pfds[i].revents;
      if (re == 0 || c.done) continue;
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
        if (w > 0) c.sent += static_cast<uint64_t>(w);
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
    if (c.in->intact() && c.end == End::Eof) continue;
    if (++bad > 10) continue;  // the first ten tell the story
    res.failures += "conn " + std::to_string(i) + " (connected=" + std::to_string(c.connected) +
                    ", sent " + std::to_string(c.sent) + "/" + std::to_string(c.len) +
                    ", ended " + toString(c.end) +
                    (c.err ? std::string(" ") + std::strerror(c.err) : "") + "): " +
                    c.in->report() + "\n";
  }
  if (bad > 0) res.failures += std::to_string(bad) + " of " + std::to_string(n) + " failed\n";
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
    if (!done) {  // its SYN was dropped: the queue is full
      problem_.clear();
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Backend

Backend::Backend(Handler h, int backlog) : handler_(std::move(h)), listen_(listenLoopback(backlog)) {
  port_ = localPort(listen_.get());
  acceptor_ = std::thread([this] { acceptLoop(); });
}

Backend::~Backend() { stop(); }

void Backend::acceptLoop() {
  while (!stop_.load()) {
    pollfd p{listen_.get(), POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++accepted_;
    std::lock_guard<std::mutex> g(mu_);
    if (stop_.load()) {
      ::close(fd);
      break;
    }
    open_.insert(fd);
    threads_.emplace_back([this, fd] {
      handler_(fd);
      {
        std::lock_guard<std::mutex> g2(mu_);
        open_.erase(fd);
        ::close(fd);  // under the lock: stop() never shuts down a reused number
      }
      ++finished_;
    });
  }
}

void Backend::stop() {
  if (stop_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> ts;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    ts.swap(threads_);
  }
  for (auto& t : ts) t.join();
  listen_.reset();
}

namespace handlers {

Backend::Handler sink(std::shared_ptr<std::vector<SinkRecord>> out,
                      std::shared_ptr<std::mutex> mu) {
  return [out, mu](int fd) {
    SinkRecord rec;
    std::vector<uint8_t> buf(64 * 1024);
    Deadline d(60s);
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, d.remainingMs(100)) <= 0) {
        if (d.expired()) {
          rec.end = End::Timeout;
          break;
        }
        continue;
      }
      const ssize_t k = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (k > 0) {
        rec.bytes += static_cast<uint64_t>(k);
        rec.checksum = fnv1a(rec.checksum, buf.data(), static_cast<std::size_t>(k));
      } else if (k == 0) {
        rec.end = End::Eof;
        break;
      } else if (errno != EAGAIN && errno != EINTR) {
        rec.end = errno == ECONNRESET ? End::Reset : End::Error;
        break;
      }
    }
    std::lock_guard<std::mutex> g(*mu);
    out->push_back(rec);
  };
}

Backend::Handler source(uint64_t seed, uint64_t n) {
  return [seed, n](int fd) {
    RandomStream s(seed);
    StreamChecker ignore("ignored", 0, 0);
    PumpOptions o;
    pump(fd, s, n, ignore, Deadline(60s), o);
  };
}

Backend::Handler resetter(std::size_t before) {
  return [before](int fd) {
    std::vector<uint8_t> buf(before);
    std::size_t got = 0;
    readExact(fd, buf.data(), before, Deadline(10s), &got);
    setLinger0(fd);  // the Backend's close() now sends RST
  };
}

Backend::Handler neverReads() {
  return [](int fd) {
    Deadline d(60s);
    while (!d.expired()) {
      pollfd p{fd, POLLRDHUP, 0};  // the peer's FIN shows without reading anything
      if (::poll(&p, 1, 50) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return;
    }
  };
}

uint64_t downSeed(uint64_t seed) { return mix(seed ^ 0x646f776e73747265ULL); }

Backend::Handler duplex(std::shared_ptr<std::vector<DuplexRecord>> out,
                        std::shared_ptr<std::mutex> mu, PumpOptions o) {
  return [out, mu, o](int fd) {
    DuplexRecord rec;
    Deadline d(90s);
    std::size_t got = 0;
    ReadEnd h = readExact(fd, &rec.header, sizeof rec.header, d, &got);
    if (got != sizeof rec.header) {
      rec.report = std::string("backend: no duplex header (") + std::to_string(got) +
                   " bytes, then " + toString(h.end) + ")";
    } else {
      StreamChecker in("client->upstream", rec.header.seed, rec.header.up);
      rec.pump = pump(fd, RandomStream(downSeed(rec.header.seed)), rec.header.down, in, d, o);
      rec.intact = in.intact();
      rec.report = in.report();
    }
    std::lock_guard<std::mutex> g(*mu);
    out->push_back(std::move(rec));
  };
}

}  // namespace handlers

std::string runDuplexClient(uint16_t port, uint64_t seed, uint64_t up, uint64_t down, Ms limit,
                            const PumpOptions& o) {
  Deadline d(limit);
  int err = 0;
  Fd fd = connectLoopback(port, limit, &err);
  if (!fd) return std::string("connect to the proxy: ") + std::strerror(err);
  const handlers::DuplexHeader h{seed, up, down};
  if (int e = sendAll(fd.get(), &h, sizeof h, d); e != 0)
    return std::string("send header: ") + std::strerror(e);
  StreamChecker in("upstream->client", handlers::downSeed(seed), down);
  PumpResult r = pump(fd.get(), RandomStream(seed), up, in, d, o);
  std::string problems;
  if (r.sendErr != 0)
    problems += "client send stopped after " + std::to_string(r.sent) + " of " +
                std::to_string(up) + " bytes: " + std::strerror(r.sendErr) + "\n";
  if (r.read.end != End::Eof)
    problems += std::string("client read ended with ") + toString(r.read.end) +
                (r.read.err ? std::string(" (") + std::strerror(r.read.err) + ")" : "") +
                " instead of EOF\n";
  if (!in.intact() || !problems.empty()) problems += in.report();
  return problems;
}

// ---------------------------------------------------------------------------------------
// EchoServer

EchoServer::EchoServer() : listen_(listenLoopback()) {
  port_ = localPort(listen_.get());
  setNonBlocking(listen_.get(), true);
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listen_.get(), &ev);
  ev.data.fd = wake_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  thread_ = std::thread([this] { run(); });
}

EchoServer::~EchoServer() {
  stop_.store(true);
  uint64_t one = 1;
  ssize_t w = ::write(wake_.get(), &one, sizeof one);
  (void)w;
  thread_.join();
}

void EchoServer::run() {
  struct Conn {
    std::vector<uint8_t> pending;  // read, not yet echoed
    bool eof = false;
  };
  std::unordered_map<int, Conn> conns;
  std::vector<uint8_t> buf(64 * 1024);
  auto closeConn = [&](int fd) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
    --open_;
  };
  auto watch = [&](int fd, Conn& c) {
    epoll_event ev{};
    // Stop reading while we owe bytes: the echo pushes back like a real server would.
    ev.events = c.pending.empty() ? (c.eof ? 0u : static_cast<uint32_t>(EPOLLIN)) : EPOLLOUT;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
  };
  epoll_event evs[128];
  while (!stop_.load()) {
    const int n = ::epoll_wait(epoll_.get(), evs, 128, 100);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == wake_.get()) continue;
      if (fd == listen_.get()) {
        for (;;) {
          const int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          ++accepted_;
          ++open_;
          conns.emplace(c, Conn{});
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = c;
          ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      bool dead = false;
      if (!c.pending.empty()) {
        const ssize_t w = ::send(fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
          c.pending.erase(c.pending.begin(), c.pending.begin() + w);
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
          dead = true;
        }
      } else if (!c.eof) {
        const ssize_t k = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (k > 0) {
          c.pending.assign(buf.begin(), buf.begin() + k);
        } else if (k == 0) {
          c.eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          dead = true;
        }
      }
      if (dead) {
        closeConn(fd);
        continue;
      }
      if (c.eof && c.pending.empty()) {
        ::shutdown(fd, SHUT_WR);
        closeConn(fd);
        continue;
      }
      watch(fd, c);
    }
  }
  for (auto& [fd, c] : conns) ::close(fd);
}

// ---------------------------------------------------------------------------------------
// The proxy

std::string ProxyConfig::yaml() const {
  std::string eps;
  for (const auto& e : endpoints) eps += "{ address: \"" + e + "\", weight: 1 }, ";
  if (!eps.empty()) eps.resize(eps.size() - 2);
  return "workers: " + std::to_string(workers) +
         "\n"
         "admin: off\n"
         "io: { buffer_size: " +
         bufferSize + ", buffers_per_worker: " + std::to_string(buffersPerWorker) +
         ", zerocopy_threshold: " + zerocopy + ", max_inflight_per_connection: " + maxInflight +
         " }\n"
         "defaults: { connect_timeout: " +
         connectTimeout + ", idle_timeout: 60s, drain_timeout: " + drainTimeout +
         " }\n"
         "listeners:\n"
         "  - { name: raw, address: \"127.0.0.1:0\", protocol: tcp, routes: [ { cluster: be } ], "
         "idle_timeout: " +
         idleTimeout +
         " }\n"
         "clusters:\n"
         "  - { name: be, endpoints: [ " +
         eps + " ], lb: round_robin, connect_timeout: " + connectTimeout + " }\n";
}

InProcessProxy::InProcessProxy(const ProxyConfig& c) : buffers_(c.buffersPerWorker) {
  auto cfg = config::loadString(c.yaml(), "integration.yaml");
  server_ = std::make_unique<core::Server>(cfg);
  server_->start();
  const std::string& a = server_->boundAddresses().at(0);
  port_ = static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
}

InProcessProxy::~InProcessProxy() {
  server_->stopNow();
  server_->wait();
}

std::vector<uint64_t> InProcessProxy::buffersFree() const {
  std::vector<uint64_t> v;
  for (const auto& w : server_->workers())
    v.push_back(w->loop() ? w->loop()->stats().buffersFree.load(std::memory_order_relaxed) : 0);
  return v;
}

std::string InProcessProxy::waitPoolsFree(Ms limit) const {
  const bool ok = waitFor(
      [&] {
        for (uint64_t f : buffersFree())
          if (f != buffers_) return false;
        return true;
      },
      limit);
  if (ok) return "";
  return "buffers still taken after every connection closed (of " + std::to_string(buffers_) +
         " per worker):\n" + stats();
}

uint64_t InProcessProxy::zeroCopySends() const {
  uint64_t n = 0;
  for (const auto& w : server_->workers())
    if (io::Loop* l = w->loop()) n += l->stats().sendZc.load(std::memory_order_relaxed);
  return n;
}

std::string InProcessProxy::stats() const {
  std::string s;
  for (const auto& w : server_->workers()) {
    io::Loop* l = w->loop();
    if (l == nullptr) continue;
    const io::LoopStats& st = l->stats();
    s += "worker " + std::to_string(w->id()) + ": active=" + std::to_string(w->activeSessions()) +
         " enobufs=" + std::to_string(st.enobufs.load()) +
         " buffersFree=" + std::to_string(st.buffersFree.load()) +
         " sendZc=" + std::to_string(st.sendZc.load()) +
         " syscalls=" + std::to_string(st.syscalls.load());
    if (auto* u = dynamic_cast<io::UringLoop*>(l)) {
      io::RingCounters& c = u->ring().counters();
      s += " sqes=" + std::to_string(c.sqes.load()) + " cqes=" + std::to_string(c.cqes.load()) +
           " cqesByTag=[";
      for (std::size_t i = 0; i < c.cqesByTag.size(); ++i)
        s += (i ? "," : "") + std::to_string(c.cqesByTag[i].load());
      s += "] sqesByOp={";
      for (std::size_t i = 0; i < c.sqesByOp.size(); ++i)
        if (c.sqesByOp[i].load() != 0)
          s += std::to_string(i) + ":" + std::to_string(c.sqesByOp[i].load()) + " ";
      s += "}";
    }
    s += "\n";
  }
  return s;
}

int acceptQueueLength(uint16_t port) {
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line);  // header
  int total = -1;
  char want[16];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  while (std::getline(f, line)) {
    // "  sl  local_address rem_address   st tx_queue:rx_queue ..."
    std::istringstream in(line);
    std::string sl, local, remote, st, queues;
    in >> sl >> local >> remote >> st >> queues;
    if (local != want || st != "0A") continue;
    const auto colon = queues.find(':');
    if (colon == std::string::npos) continue;
    total = std::max(total, 0) + static_cast<int>(std::stoul(queues.substr(colon + 1), nullptr, 16));
  }
  return total;
}

long rssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

}  // namespace ringway::itest
