#include "tlsproxy/support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>

#include "config/loader.h"
#include "core/server.h"
#include "core/worker.h"
#include "io/log.h"

namespace ringway::tlsproxy {

int Deadline::remainingMs() const {
  const auto left = std::chrono::duration_cast<Ms>(end_ - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

bool waitFor(const std::function<bool()>& cond, Ms limit) {
  const Deadline d(limit);
  while (!cond()) {
    if (d.expired()) return cond();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

Fd connectTo(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

std::string readToEnd(int fd, Ms limit, std::string* end) {
  const Deadline d(limit);
  std::string out;
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, d.remainingMs()) <= 0) {
      if (end) *end = "timeout";
      return out;
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (end) *end = n == 0 ? "eof" : (errno == ECONNRESET ? "reset" : std::strerror(errno));
    return out;
  }
}

std::vector<uint8_t> randomBytes(std::size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<uint8_t> v(n);
  for (std::size_t i = 0; i < n; i += 8) {
    const uint64_t x = g();
    std::memcpy(v.data() + i, &x, std::min<std::size_t>(8, n - i));
  }
  return v;
}

std::string compareBytes(const std::vector<uint8_t>& sent, const std::vector<uint8_t>& got) {
  const std::size_t n = std::min(sent.size(), got.size());
  std::size_t i = 0;
  while (i < n && sent[i] == got[i]) ++i;
  if (i == n && sent.size() == got.size()) return "";
  return "sent " + std::to_string(sent.size()) + " bytes, got " + std::to_string(got.size()) +
         ", first difference at " + std::to_string(i);
}

// ---------------------------------------------------------------------------------------
// TlsClient

namespace {
std::string opensslErrors() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!s.empty()) s += "; ";
    s += buf;
  }
  return s.empty() ? "no detail" : s;
}
}  // namespace

TlsClient::TlsClient(uint16_t port, const ClientOptions& o) : splitHello_(o.splitHello) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  if (!o.ca.empty()) {
    SSL_CTX_load_verify_locations(ctx_, o.ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (o.maxVersion != 0) SSL_CTX_set_max_proto_version(ctx_, o.maxVersion);
  if (!o.alpn.empty()) {
    std::vector<unsigned char> wire;
    for (const auto& a : o.alpn) {
      wire.push_back(static_cast<unsigned char>(a.size()));
      wire.insert(wire.end(), a.begin(), a.end());
    }
    SSL_CTX_set_alpn_protos(ctx_, wire.data(), static_cast<unsigned>(wire.size()));
  }
  if (o.cert != nullptr) {
    SSL_CTX_use_certificate_chain_file(ctx_, o.cert->cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, o.cert->key.c_str(), SSL_FILETYPE_PEM);
  }
  ssl_ = SSL_new(ctx_);
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_, -1);  // empty means "retry" until the socket's EOF
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_connect_state(ssl_);
  if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl_, o.sni.c_str());
  const std::string host = o.verifyName.empty() ? o.sni : o.verifyName;
  if (!o.ca.empty() && !host.empty()) SSL_set1_host(ssl_, host.c_str());
  if (o.session != nullptr) SSL_set_session(ssl_, o.session);
  fd_ = connectTo(port);
  if (!fd_) error_ = std::string("connect: ") + std::strerror(errno);
}

TlsClient::~TlsClient() {
  // Freed without close_notify, OpenSSL marks the session not resumable; tests resume on.
  SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl_);  // frees the BIOs
  SSL_CTX_free(ctx_);
}

// Sends what the SSL wrote; reads whatever arrives meanwhile into the SSL's input, so a
// peer echoing back never blocks us (nor we it).
bool TlsClient::flush(std::size_t piece) {
  char buf[65536];
  for (;;) {
    const std::size_t pending = BIO_ctrl_pending(out_);
    if (pending == 0) return true;
    const int want = static_cast<int>(std::min<std::size_t>(
        piece != 0 ? piece : sizeof buf, std::min<std::size_t>(pending, sizeof buf)));
    const int n = BIO_read(out_, buf, want);
    std::size_t off = 0;
    while (off < static_cast<std::size_t>(n)) {
      pollfd p{fd_.get(), static_cast<short>(POLLOUT | (eof_ ? 0 : POLLIN)), 0};
      if (::poll(&p, 1, 10000) <= 0) {
        error_ = "send timed out";
        return false;
      }
      if (p.revents & POLLIN) {
        char rb[65536];
        const ssize_t r = ::recv(fd_.get(), rb, sizeof rb, MSG_DONTWAIT);
        if (r > 0)
          BIO_write(in_, rb, static_cast<int>(r));
        else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          eof_ = true;
          BIO_set_mem_eof_return(in_, 0);
        }
      }
      if (p.revents & (POLLOUT | POLLERR | POLLHUP)) {
        const ssize_t w = ::send(fd_.get(), buf + off, static_cast<std::size_t>(n) - off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (w < 0) {
          error_ = std::string("send: ") + std::strerror(errno);
          return false;
        }
        off += static_cast<std::size_t>(w);
      }
    }
    if (piece != 0) std::this_thread::sleep_for(20ms);
  }
}

bool TlsClient::fill(const Deadline& d) {
  if (eof_) return false;
  pollfd p{fd_.get(), POLLIN, 0};
  if (::poll(&p, 1, d.remainingMs()) <= 0) return false;
  char buf[65536];
  const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
  if (n > 0) {
    BIO_write(in_, buf, static_cast<int>(n));
    return true;
  }
  eof_ = true;
  BIO_set_mem_eof_return(in_, 0);  // the SSL sees the end once it has read what came
  return false;
}

std::string TlsClient::handshake(Ms limit) {
  if (!fd_) return error_;
  const Deadline d(limit);
  bool first = true;
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (!flush(first ? splitHello_ : 0)) return error_;
    first = false;
    if (r == 1) return "";
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ) {
      if (!fill(d) && !eof_) return "handshake timed out";
      continue;
    }
    error_ = "handshake failed: " + opensslErrors();
    const long v = SSL_get_verify_result(ssl_);
    if (v != X509_V_OK)
      error_ += std::string(" (verify: ") + X509_verify_cert_error_string(v) + ")";
    if (eof_) error_ += " (eof)";
    return error_;
  }
}

bool TlsClient::send(const void* p, std::size_t n) {
  const auto* c = static_cast<const char*>(p);
  while (n > 0) {
    const int chunk = static_cast<int>(std::min<std::size_t>(n, 16384));
    const int w = SSL_write(ssl_, c, chunk);
    if (w <= 0) {
      error_ = "SSL_write: " + opensslErrors();
      return false;
    }
    c += w;
    n -= static_cast<std::size_t>(w);
    if (!flush()) return false;
  }
  return true;
}

long TlsClient::recv(void* p, std::size_t n, Ms limit) {
  const Deadline d(limit);
  for (;;) {
    ERR_clear_error();
    const int r = SSL_read(ssl_, p, static_cast<int>(n));
    if (r > 0) return r;
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_WANT_READ) {
      if (!flush()) return -1;  // e.g. a key update answer
      if (!fill(d) && !eof_) return -1;
      continue;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
      if (!flush()) return -1;
      continue;
    }
    error_ = "SSL_read: " + opensslErrors();
    return -1;
  }
}

std::vector<uint8_t> TlsClient::recvExactly(std::size_t n, Ms limit) {
  const Deadline d(limit);
  std::vector<uint8_t> out;
  out.reserve(n);
  uint8_t buf[16384];
  while (out.size() < n && !d.expired()) {
    const long r = recv(buf, std::min(sizeof buf, n - out.size()), Ms(d.remainingMs()));
    if (r <= 0) break;
    out.insert(out.end(), buf, buf + r);
  }
  return out;
}

std::string TlsClient::recvLine(Ms limit) {
  const Deadline d(limit);
  std::string line;
  char c;
  while (!d.expired()) {
    if (recv(&c, 1, Ms(d.remainingMs())) != 1) break;
    if (c == '\n') return line;
    line += c;
  }
  return line + "<no newline>";
}

void TlsClient::shutdown() {
  SSL_shutdown(ssl_);
  flush();
}

std::vector<uint8_t> TlsClient::echo(const std::vector<uint8_t>& data, Ms limit) {
  const Deadline d(limit);
  std::vector<uint8_t> got;
  got.reserve(data.size());
  uint8_t buf[16384];
  for (std::size_t off = 0; off < data.size() && !d.expired(); off += 16384) {
    if (!send(data.data() + off, std::min<std::size_t>(16384, data.size() - off))) break;
    for (;;) {  // what is here already, without waiting
      const long r = recv(buf, sizeof buf, 0ms);
      if (r <= 0) break;
      got.insert(got.end(), buf, buf + r);
    }
  }
  while (got.size() < data.size() && !d.expired()) {
    const long r = recv(buf, sizeof buf, Ms(d.remainingMs()));
    if (r <= 0) break;
    got.insert(got.end(), buf, buf + r);
  }
  return got;
}

std::string TlsClient::peerCommonName() const {
  X509* c = SSL_get1_peer_certificate(ssl_);
  if (c == nullptr) return "";
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof cn);
  X509_free(c);
  return cn;
}

std::string TlsClient::alpn() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return std::string(reinterpret_cast<const char*>(p), len);
}

// ---------------------------------------------------------------------------------------
// Backends

Backend::Backend(Handler h) : handler_(std::move(h)) {
  listen_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_.get(), 1024) != 0)
    throw std::runtime_error("backend: bind/listen failed");
  socklen_t len = sizeof a;
  ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { loop(); });
}

Backend::~Backend() {
  stop_ = true;
  acceptor_.join();
  {
    std::lock_guard<std::mutex> g(mu_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
}

void Backend::loop() {
  while (!stop_) {
    pollfd p{listen_.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    ++accepted_;
    {
      std::lock_guard<std::mutex> g(mu_);
      open_.insert(c);
    }
    threads_.emplace_back([this, c] {
      handler_(c);
      {
        std::lock_guard<std::mutex> g(mu_);
        open_.erase(c);
      }
      ::close(c);
    });
  }
}

namespace {
void echoLoop(int fd) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!sendRaw(fd, buf, static_cast<std::size_t>(n))) return;
  }
  ::shutdown(fd, SHUT_WR);
}
}  // namespace

Backend::Handler echo() {
  return [](int fd) { echoLoop(fd); };
}

Backend::Handler banner(std::string name) {
  return [name](int fd) {
    const std::string line = name + "\n";
    if (sendRaw(fd, line.data(), line.size())) echoLoop(fd);
  };
}

Backend::Handler tlsBanner(std::string name, const CertFiles& cert, std::string clientCa) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  SSL_CTX_use_certificate_chain_file(ctx.get(), cert.cert.c_str());
  SSL_CTX_use_PrivateKey_file(ctx.get(), cert.key.c_str(), SSL_FILETYPE_PEM);
  if (!clientCa.empty()) {
    SSL_CTX_load_verify_locations(ctx.get(), clientCa.c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return [name, ctx](int fd) {
    SSL* ssl = SSL_new(ctx.get());
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      const std::string line = name + "\n";
      if (SSL_write(ssl, line.data(), static_cast<int>(line.size())) > 0) {
        char buf[16384];
        for (;;) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          if (SSL_write(ssl, buf, n) <= 0) break;
        }
        SSL_shutdown(ssl);
      }
    }
    SSL_free(ssl);
  };
}

// ---------------------------------------------------------------------------------------
// Proxy

Proxy::Proxy(const std::string& yaml) {
  if (std::getenv("TLSPROXY_DEBUG") != nullptr) io::setLogLevel(io::Level::Debug);
  auto cfg = config::loadString(yaml, "tlsproxy.yaml");
  server_ = std::make_unique<core::Server>(cfg);
  server_->start();
}

Proxy::~Proxy() {
  server_->stopNow();
  server_->wait();
}

uint16_t Proxy::port(std::size_t listener) const {
  const std::string& a = server_->boundAddresses().at(listener);
  return static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
}

uint64_t Proxy::sum(std::size_t li,
                    const std::function<uint64_t(const net::ListenerStats&)>& f) const {
  uint64_t n = 0;
  for (const auto& w : server_->workers())
    if (li < w->listeners().size()) n += f(w->listeners()[li]->stats());
  return n;
}

uint64_t Proxy::active() const {
  uint64_t n = 0;
  for (const auto& w : server_->workers()) n += w->activeSessions();
  return n;
}

std::string header(const std::string& backend, unsigned workers) {
  return "workers: " + std::to_string(workers) +
         "\nadmin: off\nlog_level: warn\nio: { backend: " + backend + " }\n";
}

}  // namespace ringway::tlsproxy
