#include "httpproxy/support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "config/loader.h"
#include "core/server.h"
#include "io/loop.h"
#include "http/chars.h"
#include "http/parser.h"

namespace ringway::httptest {

void fillBody(uint64_t seed, uint64_t offset, char* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    uint64_t x = seed ^ ((offset + i) >> 3) * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 32;
    out[i] = static_cast<char>(x >> (((offset + i) & 7) * 8));
  }
}

std::string makeBody(uint64_t seed, std::size_t n) {
  std::string s(n, '\0');
  fillBody(seed, 0, s.data(), n);
  return s;
}

uint64_t fnv(const void* p, std::size_t n, uint64_t h) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string sumOf(const std::string& body) {
  char out[64];
  std::snprintf(out, sizeof out, "%zu:%016llx", body.size(),
                static_cast<unsigned long long>(fnv(body.data(), body.size())));
  return out;
}

namespace {

using testsupport::loopbackAddr;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = http::asciiLower(c);
  return out;
}

// Query parameter `key` of a target, or "".
std::string param(const std::string& target, const std::string& key) {
  const std::size_t q = target.find('?');
  if (q == std::string::npos) return "";
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view kv = rest.substr(0, amp);
    const std::size_t eq = kv.find('=');
    if (kv.substr(0, eq) == key) return std::string(eq == std::string_view::npos ? "" : kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return "";
}

std::string pathOf(const std::string& target) { return target.substr(0, target.find('?')); }

}  // namespace

Fd connectTo(uint16_t port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopbackAddr(port);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  int one = 1;
  ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{20, 0};  // a hung proxy fails the test instead of hanging it
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return s;
}

// ---------------------------------------------------------------------------------------
// Upstream

Upstream::Upstream() {
  listen_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopbackAddr(0);
  ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(listen_.get(), 4096);
  port_ = testsupport::localPort(listen_.get());
  acceptor_ = std::thread([this] { acceptLoop(); });
}

Upstream::~Upstream() {
  stop_ = true;
  ::shutdown(listen_.get(), SHUT_RDWR);
  acceptor_.join();
  {
    std::lock_guard<std::mutex> g(mu_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  }
  for (std::thread& t : threads_) t.join();
}

std::string Upstream::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::vector<std::pair<std::string, std::string>> Upstream::lastHeaders() {
  std::lock_guard<std::mutex> g(mu_);
  return lastHeaders_;
}

std::string Upstream::lastTarget() {
  std::lock_guard<std::mutex> g(mu_);
  return lastTarget_;
}

void Upstream::acceptLoop() {
  while (!stop_) {
    const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stop_) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    accepts_.fetch_add(1);
    std::lock_guard<std::mutex> g(mu_);
    open_.insert(fd);
    threads_.emplace_back([this, fd] {
      serve(fd);
      {
        std::lock_guard<std::mutex> g2(mu_);
        open_.erase(fd);
      }
      ::close(fd);
    });
  }
}

void Upstream::serve(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  http::Parser p(http::Parser::Kind::Request);
  std::string target, method, body, in;
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t used = 0;  // of `in`
  char buf[65536];
  auto reply = [&](int status, const std::string& extra, const std::string& b,
                   bool withLength = true) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\n" + extra;
    if (withLength) r += "Content-Length: " + std::to_string(b.size()) + "\r\n";
    r += "\r\n";
    if (method != "HEAD") r += b;
    return sendAll(fd, r);
  };
  for (;;) {
    const http::Step s = p.parse(std::string_view(in).substr(used));
    used += s.consumed;
    if (s.event == http::Event::NeedMore) {  // only then: a bodiless message completes next
      in.clear();
      used = 0;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.assign(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (s.event == http::Event::Error) return;
    if (s.event == http::Event::Head) {
      method = std::string(p.methodName());
      target = std::string(p.target());
      headers.clear();
      for (const http::Header& h : p.headers())
        headers.emplace_back(lower(h.name), std::string(h.value));
      body.clear();
      {
        std::lock_guard<std::mutex> g(mu_);
        lastHeaders_ = headers;
        lastTarget_ = target;
      }
      const std::string path = pathOf(target);
      if (path == "/early") {
        reply(413, "Connection: close\r\n", "too big\n");
        ::shutdown(fd, SHUT_WR);
        // Drain what the proxy still sends so our close does not reset the response away.
        while (::recv(fd, buf, sizeof buf, 0) > 0) {
        }
        return;
      }
      if (path == "/ws") {
        sendAll(fd, std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\n\r\n"));
        if (used < in.size()) sendAll(fd, in.data() + used, in.size() - used);
        for (;;) {
          const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          if (!sendAll(fd, buf, static_cast<std::size_t>(n))) break;
        }
        ::shutdown(fd, SHUT_WR);
        return;
      }
      continue;
    }
    if (s.event == http::Event::Body) {
      body.append(s.body);
      continue;
    }
    if (s.event != http::Event::Complete) continue;
    requests_.fetch_add(1);
    const std::string path = pathOf(target);
    if (path == "/headers") {
      std::string b = method + " " + target + "\n";
      for (const auto& [n, v] : headers) b += n + ": " + v + "\n";
      if (!reply(200, "Content-Type: text/plain\r\n", b)) return;
    } else if (path == "/echo") {
      if (!reply(200, "", body)) return;
    } else if (path == "/sum") {
      if (!reply(200, "", sumOf(body))) return;
    } else if (path == "/bytes") {
      const std::size_t n = std::stoull(param(target, "n"));
      const uint64_t seed = std::stoull(param(target, "seed").empty() ? "1" : param(target, "seed"));
      const std::string b = makeBody(seed, n);
      if (param(target, "chunked") == "1") {
        std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        if (!sendAll(fd, r)) return;
        if (method != "HEAD") {
          std::size_t off = 0, piece = 1;
          while (off < n) {
            const std::size_t k = std::min(piece, n - off);
            char line[32];
            std::snprintf(line, sizeof line, "%zx\r\n", k);
            r = line;
            r.append(b, off, k);
            r += "\r\n";
            if (!sendAll(fd, r)) return;
            off += k;
            piece = piece * 3 + 7;  // uneven pieces: 1, 10, 37, ...
            if (piece > 100000) piece = 4093;
          }
          if (!sendAll(fd, std::string("0\r\nX-Trailer: t\r\n\r\n"))) return;
        }
      } else if (!reply(200, "", b)) {
        return;
      }
    } else if (path == "/close-mid") {
      const std::size_t n = std::stoull(param(target, "n"));
      const std::string b = makeBody(7, n);
      std::string r = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n";
      r.append(b, 0, n / 2);
      sendAll(fd, r);
      return;
    } else if (path == "/sleep") {
      std::this_thread::sleep_for(Ms(std::stoi(param(target, "ms"))));
      if (!reply(200, "", "slept\n")) return;
    } else if (path == "/bad") {
      sendAll(fd, std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
      return;
    } else if (path == "/status") {
      const int code = std::stoi(param(target, "code"));
      std::string r = "HTTP/1.1 " + std::to_string(code) + " X\r\n";
      if (code == 304) r += "ETag: \"x\"\r\n";
      r += "\r\n";
      if (!sendAll(fd, r)) return;
    } else if (path == "/http10") {
      sendAll(fd, std::string("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close\n"));
      return;
    } else if (path == "/close") {
      reply(200, "Connection: close\r\n", "bye\n");
      return;
    } else {
      if (!reply(200, "", "ok " + path + "\n")) return;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Client

std::string Response::header(const std::string& name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "";
}

bool Response::has(const std::string& name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return true;
  return false;
}

std::string Response::describe() const {
  std::string s = ok ? "status " + std::to_string(status) : "no response: " + error;
  for (const auto& [n, v] : headers) s += "\n  " + n + ": " + v;
  s += "\n  body (" + std::to_string(body.size()) + " bytes): " + body.substr(0, 200);
  return s;
}

Client::Client(uint16_t port) : fd_(connectTo(port)) {}

Response Client::read(bool headRequest, Ms limit) {
  Response r;
  http::Parser p(http::Parser::Kind::Response);
  if (headRequest) p.setRequestMethod(http::Method::Head);
  const auto end = std::chrono::steady_clock::now() + limit;
  char tmp[65536];
  for (;;) {
    std::size_t used = 0;
    bool done = false;
    while (!done) {
      const http::Step s = p.parse(std::string_view(buf_).substr(used));
      used += s.consumed;
      switch (s.event) {
        case http::Event::Head:
          if (p.status() < 200) {
            r.interim.push_back(p.status());
            break;
          }
          r.status = p.status();
          r.version = p.version() == http::Version::Http10 ? "HTTP/1.0" : "HTTP/1.1";
          for (const http::Header& h : p.headers())
            r.headers.emplace_back(lower(h.name), std::string(h.value));
          break;
        case http::Event::Body: r.body.append(s.body); break;
        case http::Event::Complete:
          if (r.status == 0) break;  // the end of a 1xx
          buf_.erase(0, used);
          r.ok = true;
          return r;
        case http::Event::Error:
          r.error = "parse error " + std::string(http::errorName(p.error().code));
          return r;
        default: done = true; break;
      }
    }
    // The parser keeps a partial head itself; body bytes were delivered. Drop what it used.
    buf_.erase(0, used);
    if (std::chrono::steady_clock::now() > end) {
      r.error = "timeout";
      return r;
    }
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n == 0) {
      const http::Step s = p.finish();
      if (s.event == http::Event::Complete && r.status != 0) {
        r.ok = true;
        return r;
      }
      r.error = "EOF after " + std::to_string(r.body.size()) + " body bytes";
      return r;
    }
    if (n < 0) {
      r.error = std::string("recv: ") + std::strerror(errno);
      return r;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

bool Client::waitEof(Ms limit, std::string* rest) {
  const auto end = std::chrono::steady_clock::now() + limit;
  if (rest) *rest = buf_;
  char tmp[4096];
  while (std::chrono::steady_clock::now() < end) {
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n == 0) return true;
    if (n < 0) return false;
    if (rest) rest->append(tmp, static_cast<std::size_t>(n));
  }
  return false;
}

std::string request(const std::string& method, const std::string& path,
                    const std::string& extraHeaders, const std::string& body) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: test.local\r\n" + extraHeaders;
  if (!body.empty()) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "\r\n" + body;
  return r;
}

std::string Client::get(const std::string& path, const std::string& extra) {
  return request("GET", path, extra);
}

// ---------------------------------------------------------------------------------------
// Proxy

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string withTestPorts(const std::string& yaml, const Upstream& upstream) {
  return replaceAll(replaceAll(yaml, "{UP}", upstream.address()), "{DEAD}",
                    std::to_string(unusedPort()));
}

Proxy::Proxy(const std::string& yaml, const std::string& backend) {
  auto cfg = config::loadString(replaceAll(yaml, "{BACKEND}", backend), "httpproxy.yaml");
  server_ = std::make_unique<core::Server>(cfg);
  server_->start();
  for (const std::string& a : server_->boundAddresses())
    ports_.push_back(static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1))));
}

Proxy::~Proxy() {
  if (watching_) stopWatching();
  server_->stopNow();
  server_->wait();
}

void Proxy::watchBuffers() {
  watching_ = true;
  minFree_ = UINT64_MAX;
  watcher_ = std::thread([this] {
    // A loop publishes the gauge after its first turn; 0 before that means "not yet".
    std::vector<bool> seen(server_->workers().size(), false);
    while (watching_) {
      for (std::size_t i = 0; i < seen.size(); ++i)
        if (io::Loop* l = server_->workers()[i]->loop()) {
          const uint64_t f = l->stats().buffersFree.load(std::memory_order_relaxed);
          seen[i] = seen[i] || f > 0;
          if (seen[i] && f < minFree_) minFree_ = f;
        }
      std::this_thread::sleep_for(1ms);
    }
  });
}

uint64_t Proxy::stopWatching() {
  watching_ = false;
  if (watcher_.joinable()) watcher_.join();
  return minFree_;
}

}  // namespace ringway::httptest
