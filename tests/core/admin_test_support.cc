#include "admin_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "config/loader.h"
#include "support/eintr.h"

namespace ringway::core::test {

using Clock = std::chrono::steady_clock;

namespace {

bool splitAddress(const std::string& address, sockaddr_in& sa) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos)
    return false;
  sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  return inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr) == 1;
}

} // namespace

// ---- HTTP client ----

int connectTo(const std::string& address) {
  sockaddr_in sa{};
  if (!splitAddress(address, sa))
    return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

HttpResponse httpExchange(const std::string& address, std::string_view request,
                          std::chrono::milliseconds deadline, bool halfClose) {
  HttpResponse r;
  const int fd = connectTo(address);
  if (fd < 0)
    return r;
  const auto end = Clock::now() + deadline;
  std::size_t off = 0;
  while (off < request.size()) {
    const ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    off += static_cast<std::size_t>(n);
  }
  if (halfClose)
    ::shutdown(fd, SHUT_WR);
  char buf[16384];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    r.raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto headEnd = r.raw.find("\r\n\r\n");
  if (headEnd == std::string::npos || r.raw.compare(0, 9, "HTTP/1.1 ") != 0)
    return r;
  r.status = std::stoi(r.raw.substr(9, 3));
  std::istringstream head(r.raw.substr(0, headEnd));
  std::string line;
  std::getline(head, line);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::string name = line.substr(0, colon);
    for (char& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.erase(0, 1);
    r.headers[name] = value;
  }
  r.body = r.raw.substr(headEnd + 4);
  return r;
}

HttpResponse get(const std::string& address, std::string_view path, std::string_view method) {
  std::string req(method);
  req += ' ';
  req += path;
  req += " HTTP/1.1\r\nHost: ringway-test\r\nUser-Agent: admin-test\r\n\r\n";
  return httpExchange(address, req);
}

// ---- echo backend ----

EchoBackend::EchoBackend() {
  listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(listenFd_, 128) != 0)
    throw std::runtime_error(std::string("echo backend: ") + std::strerror(errno));
  socklen_t len = sizeof sa;
  ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&sa), &len);
  address_ = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  acceptor_ = std::thread([this] {
    for (;;) {
      pollfd p{listenFd_, POLLIN, 0};
      if (::poll(&p, 1, 50) < 0 || stop_.load())
        return;
      if (p.revents == 0)
        continue;
      const int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      accepted_.fetch_add(1);
      conns_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

EchoBackend::~EchoBackend() {
  stop_.store(true);
  acceptor_.join();
  for (auto& t : conns_)
    t.join();
  ::close(listenFd_);
}

void EchoBackend::serve(int fd) {
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, 50);
    if (rc < 0 || (rc == 0 && stop_.load()))
      break;
    if (rc == 0)
      continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    std::size_t off = 0;
    while (off < static_cast<std::size_t>(n)) {
      const ssize_t w = ::send(fd, buf + off, static_cast<std::size_t>(n) - off, MSG_NOSIGNAL);
      if (w <= 0)
        break;
      off += static_cast<std::size_t>(w);
    }
  }
  ::close(fd);
}

// ---- proxy ----

std::string proxyYaml(unsigned workers, const std::vector<std::string>& listeners,
                      const std::string& backendAddress, const std::string& ioBackend) {
  std::string y = "workers: " + std::to_string(workers) + "\n";
  y += "io: { backend: " + ioBackend + ", buffers_per_worker: " + std::to_string(kBuffers) + " }\n";
  y += "admin: { address: \"127.0.0.1:0\" }\n";
  y += "defaults: { drain_timeout: 2s }\n";
  y += "listeners:\n";
  for (const auto& name : listeners)
    y += "  - { name: " + name +
         ", address: \"127.0.0.1:0\", protocol: tcp, routes: [ { cluster: backend } ] }\n";
  y += "clusters:\n  - { name: backend, endpoints: [ { address: \"" + backendAddress + "\" } ] }\n";
  return y;
}

Proxy startProxy(const std::string& yaml, AdminServer::Options opt) {
  Proxy p;
  auto cfg = config::loadString(yaml, "admin_test.yaml");
  p.server = std::make_unique<Server>(cfg);
  p.server->start();
  p.admin = std::make_unique<AdminServer>(*p.server, *cfg->admin.address, opt);
  p.admin->start();
  return p;
}

TempPki::TempPki() {
  char tmpl[] = "/tmp/ringway-admin-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    return;
  dir = tmpl;
  cert = dir + "/server.crt";
  key = dir + "/server.key";
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                          "-nodes -days 2 -subj /CN=dump.test -keyout " +
                          key + " -out " + cert + " >/dev/null 2>&1";
  ok = std::system(cmd.c_str()) == 0;
  std::ifstream in(key);
  std::stringstream ss;
  ss << in.rdbuf();
  keyPem = ss.str();
}

TempPki::~TempPki() {
  if (dir.empty())
    return;
  const int rc = std::system(("rm -rf " + dir).c_str());
  (void)rc;
}

::testing::AssertionResult tlsHandshake(const std::string& address, const std::string& sni,
                                        bool verify) {
  errno = 0;
  const int fd = connectTo(address);
  if (fd < 0)
    return ::testing::AssertionFailure()
           << "connect to " << address << ": " << std::strerror(errno);
  timeval tv{5, 0}; // a deadline, not a speed check
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (verify)
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, sni.c_str());
  const int rc = testsupport::sslRetryEintr(ssl, [&] { return SSL_connect(ssl); });
  const bool ok = rc == 1;
  std::string why;
  if (!ok) {
    const int err = errno;
    why = "TLS handshake with " + address + " failed: SSL_get_error " +
          std::to_string(SSL_get_error(ssl, rc)) + ", errno " + std::to_string(err) + " (" +
          std::strerror(err) + ")";
    char text[256];
    while (const unsigned long e = ERR_get_error()) {
      ERR_error_string_n(e, text, sizeof text);
      why += std::string(", ") + text;
    }
  }
  if (ok) {
    // close_notify, FIN, then read until the proxy closes: an orderly end, so the test does
    // not depend on how the proxy treats an RST (unread session tickets) after close_notify.
    SSL_shutdown(ssl);
    ::shutdown(fd, SHUT_WR);
    char b[4096];
    while (testsupport::retryEintr([&] { return ::recv(fd, b, sizeof b, 0); }) > 0) {
    }
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  if (!ok)
    return ::testing::AssertionFailure() << why;
  return ::testing::AssertionSuccess() << "TLS handshake with " << address << " completed";
}

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  for (;;) {
    if (cond())
      return true;
    if (Clock::now() >= end)
      return cond();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

} // namespace ringway::core::test
