#include "tls/session.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

namespace ringway::tls {

namespace {

// SSL_get_error() needs an empty error queue before each call. fromSsl() empties it after every
// failure, so it is almost always empty already: ERR_clear_error() would still walk and reset
// all 16 slots (32 OPENSSL_free(NULL) calls in OpenSSL 3.0), about 1% of the keep-alive CPU.
inline void clearErrors() {
  if (ERR_peek_error() != 0)
    ERR_clear_error();
}

} // namespace

// A source/sink BIO over the Session's buffers. A memory BIO pair would copy every received
// byte into the BIO first; this one lets the SSL read straight from the caller's buffer.
struct SessionBio {
  static Session* of(BIO* b) { return static_cast<Session*>(BIO_get_data(b)); }

  static int read(BIO* b, char* dst, size_t len, size_t* done) {
    BIO_clear_retry_flags(b);
    Session* s = of(b);
    if (s == nullptr)
      return 0;
    const std::size_t n = s->readInput(dst, len);
    *done = n;
    if (n > 0)
      return 1;
    if (!s->inEof_)
      BIO_set_retry_read(b); // no retry flag = EOF to the SSL
    return 0;
  }

  static int write(BIO* b, const char* src, size_t len, size_t* done) {
    BIO_clear_retry_flags(b);
    Session* s = of(b);
    if (s == nullptr || !s->appendOutput(src, len))
      return 0;
    *done = len;
    return 1;
  }

  static long ctrl(BIO* b, int cmd, long, void*) {
    Session* s = of(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1; // output is already in the caller's queue
    case BIO_CTRL_PENDING:
      return s == nullptr ? 0 : static_cast<long>(s->in_.size() - s->inHead_ + s->borrowed_.size());
    case BIO_CTRL_WPENDING:
      return 0;
    case BIO_CTRL_EOF:
      return s == nullptr || (s->inEof_ && s->in_.size() == s->inHead_ && s->borrowed_.empty());
    default:
      return 0; // no kTLS, no dgram, no push/pop
    }
  }

  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }

  static int destroy(BIO* b) {
    BIO_set_data(b, nullptr);
    return 1;
  }

  static const BIO_METHOD* method() {
    static BIO_METHOD* const m = [] { // once per process; OpenSSL keeps it until exit
      BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringway session");
      if (bm == nullptr)
        return bm;
      BIO_meth_set_read_ex(bm, read);
      BIO_meth_set_write_ex(bm, write);
      BIO_meth_set_ctrl(bm, ctrl);
      BIO_meth_set_create(bm, create);
      BIO_meth_set_destroy(bm, destroy);
      return bm;
    }();
    return m;
  }
};

std::optional<Session> Session::adopt(SSL* ssl) {
  if (ssl == nullptr)
    return std::nullopt;
  const BIO_METHOD* m = SessionBio::method();
  BIO* bio = m == nullptr ? nullptr : BIO_new(m);
  if (bio == nullptr) {
    SSL_free(ssl);
    return std::nullopt;
  }
  SSL_set_bio(ssl, bio, bio); // one reference, used for both directions
  return Session(ssl, bio);
}

Session::Session(SSL* ssl, BIO* bio) : ssl_(ssl), bio_(bio) { BIO_set_data(bio_, this); }

Session::Session(Session&& o) noexcept
    : ssl_(std::exchange(o.ssl_, nullptr)), bio_(std::exchange(o.bio_, nullptr)),
      in_(std::move(o.in_)), inHead_(std::exchange(o.inHead_, 0)),
      borrowed_(std::exchange(o.borrowed_, {})), inEof_(o.inEof_), out_(std::move(o.out_)),
      outHead_(std::exchange(o.outHead_, 0)), state_(o.state_), sentShutdown_(o.sentShutdown_),
      failure_(o.failure_) {
  if (bio_ != nullptr)
    BIO_set_data(bio_, this);
}

Session& Session::operator=(Session&& o) noexcept {
  if (this == &o)
    return *this;
  freeSsl();
  ssl_ = std::exchange(o.ssl_, nullptr);
  bio_ = std::exchange(o.bio_, nullptr);
  in_ = std::move(o.in_);
  inHead_ = std::exchange(o.inHead_, 0);
  borrowed_ = std::exchange(o.borrowed_, {});
  inEof_ = o.inEof_;
  out_ = std::move(o.out_);
  outHead_ = std::exchange(o.outHead_, 0);
  state_ = o.state_;
  sentShutdown_ = o.sentShutdown_;
  failure_ = o.failure_;
  if (bio_ != nullptr)
    BIO_set_data(bio_, this);
  return *this;
}

Session::~Session() { freeSsl(); }

void Session::freeSsl() {
  if (ssl_ == nullptr)
    return;
  // SSL_free() drops the session from the cache, and marks it never to be resumed, unless
  // close_notify went out: the TLS 1.0 rule against resuming a possibly truncated connection
  // (RFC 4346 dropped it). A proxy closes idle connections without close_notify all the time,
  // so only a session that failed loses its resumability.
  if (state_ != State::Failed)
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl_); // frees bio_ too
  ssl_ = nullptr;
  bio_ = nullptr;
}

void Session::feedCiphertext(std::span<const std::byte> bytes) {
  releaseInput(); // the older remainder goes first, and the caller may drop its buffer
  borrowed_ = bytes;
}

void Session::feedEof() { inEof_ = true; }

bool Session::mayHaveMore() const {
  return inEof_ || !borrowed_.empty() || inHead_ < in_.size() || SSL_has_pending(ssl_) == 1;
}

void Session::releaseInput() {
  if (borrowed_.empty())
    return;
  if (inHead_ == in_.size()) {
    in_.clear();
    inHead_ = 0;
  }
  in_.insert(in_.end(), borrowed_.begin(), borrowed_.end());
  borrowed_ = {};
}

std::size_t Session::readInput(char* dst, std::size_t len) {
  std::size_t n = 0;
  if (inHead_ < in_.size()) {
    n = std::min(len, in_.size() - inHead_);
    std::memcpy(dst, in_.data() + inHead_, n);
    inHead_ += n;
    if (inHead_ == in_.size()) {
      in_.clear();
      inHead_ = 0;
    }
  }
  if (n < len && !borrowed_.empty()) {
    const std::size_t m = std::min(len - n, borrowed_.size());
    std::memcpy(dst + n, borrowed_.data(), m);
    borrowed_ = borrowed_.subspan(m);
    n += m;
  }
  return n;
}

bool Session::appendOutput(const char* src, std::size_t len) {
  if (outHead_ == out_.size()) {
    out_.clear();
    outHead_ = 0;
  } else if (outHead_ >= 64 * 1024 && outHead_ * 2 >= out_.size()) {
    // A caller consuming in pieces: reclaim the front instead of growing forever.
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(outHead_));
    outHead_ = 0;
  }
  try { // called from inside OpenSSL: an exception must not cross C frames
    const auto* p = reinterpret_cast<const std::byte*>(src);
    out_.insert(out_.end(), p, p + len);
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

void Session::consumeCiphertext(std::size_t n) {
  outHead_ += std::min(n, out_.size() - outHead_);
  if (outHead_ == out_.size()) {
    out_.clear();
    outHead_ = 0;
  }
}

void Session::takeCiphertext(std::vector<std::byte>& out) {
  if (outHead_ == 0) {
    out.clear();
    std::swap(out, out_);
    return;
  }
  out.assign(out_.begin() + static_cast<std::ptrdiff_t>(outHead_), out_.end());
  out_.clear();
  outHead_ = 0;
}

bool Session::lendOutput(std::vector<std::byte>& v) {
  if (outHead_ != out_.size() || out_.capacity() != 0)
    return false;
  v.clear();
  std::swap(out_, v);
  outHead_ = 0;
  return true;
}

void Session::fail(ErrorKind kind, const char* reason, const char* detail) {
  state_ = State::Failed;
  failure_ = Failure{kind, reason, detail};
}

void Session::noteHandshake() {
  if (state_ == State::Handshaking && SSL_is_init_finished(ssl_))
    state_ = State::Established;
}

Status Session::fromSsl(int ret) {
  const int err = SSL_get_error(ssl_, ret);
  switch (err) {
  case SSL_ERROR_WANT_READ:
  case SSL_ERROR_WANT_WRITE: // our BIO never refuses a write; kept for completeness
    noteHandshake();
    return Status::WantMore;
  case SSL_ERROR_ZERO_RETURN:
    state_ = State::Closed;
    return Status::Closed;
  default:
    break;
  }
  // The first queued error is the root cause; later ones are layers reporting it again.
  const unsigned long e = ERR_peek_error();
  if (e == 0) {
    if (err == SSL_ERROR_SYSCALL)
      fail(ErrorKind::UnexpectedEof, "unexpected eof while reading");
    else
      fail(ErrorKind::Internal, "internal error");
  } else {
    const char* reason = ERR_reason_error_string(e);
    if (reason == nullptr)
      reason = "unknown error";
    ErrorKind kind = ErrorKind::Internal;
    const char* detail = nullptr;
    if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
      const int r = ERR_GET_REASON(e);
      if (r == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        kind = ErrorKind::Verify;
        detail = X509_verify_cert_error_string(SSL_get_verify_result(ssl_));
      } else if (r == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        kind = ErrorKind::UnexpectedEof;
      } else if (r >= SSL_AD_REASON_OFFSET) { // alerts map to reasons above the offset
        kind = ErrorKind::PeerAlert;
      } else {
        kind = ErrorKind::Protocol;
      }
    }
    fail(kind, reason, detail);
  }
  ERR_clear_error(); // the queue is per thread: don't let the next session inherit it
  return Status::Error;
}

Status Session::handshake() {
  if (state_ == State::Failed)
    return Status::Error;
  if (state_ != State::Handshaking)
    return Status::Ok;
  clearErrors();
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    state_ = State::Established;
    return Status::Ok;
  }
  return fromSsl(ret);
}

IoResult Session::readPlaintext(std::span<std::byte> out) {
  if (state_ == State::Failed)
    return {Status::Error, 0};
  if (state_ == State::Closed)
    return {Status::Closed, 0};
  if (out.empty())
    return {Status::Ok, 0};
  clearErrors();
  std::size_t n = 0;
  const int ret = SSL_read_ex(ssl_, out.data(), out.size(), &n);
  if (ret == 1) {
    noteHandshake();
    return {Status::Ok, n};
  }
  return {fromSsl(ret), 0};
}

IoResult Session::writePlaintext(std::span<const std::byte> in) {
  if (state_ == State::Failed)
    return {Status::Error, 0};
  std::size_t total = 0;
  clearErrors();
  while (total < in.size()) { // partial-write mode returns after each record batch
    std::size_t n = 0;
    const int ret = SSL_write_ex(ssl_, in.data() + total, in.size() - total, &n);
    if (ret != 1)
      return {fromSsl(ret), total};
    total += n;
  }
  noteHandshake();
  return {Status::Ok, total};
}

Status Session::shutdown() {
  if (state_ == State::Failed)
    return Status::Error;
  if (sentShutdown_)
    return Status::Ok;
  clearErrors();
  const int ret = SSL_shutdown(ssl_);
  if (ret >= 0) { // 0: ours is queued, the peer's not yet seen; 1: both done
    sentShutdown_ = true;
    return Status::Ok;
  }
  return fromSsl(ret);
}

bool Session::isServer() const { return SSL_is_server(ssl_) == 1; }
int Session::version() const { return SSL_version(ssl_); }

int Session::negotiatedVersion() const {
  // The session is made once the ClientHello is taken and the version chosen.
  const SSL_SESSION* s = SSL_get_session(ssl_);
  return s == nullptr ? 0 : SSL_SESSION_get_protocol_version(s);
}
const char* Session::versionName() const { return SSL_get_version(ssl_); }

const char* Session::cipherName() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  return c == nullptr ? "" : SSL_CIPHER_get_name(c);
}

std::string_view Session::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p == nullptr ? std::string_view()
                      : std::string_view(reinterpret_cast<const char*>(p), len);
}

std::string_view Session::serverName() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name == nullptr ? std::string_view() : std::string_view(name);
}

bool Session::resumed() const { return SSL_session_reused(ssl_) == 1; }

} // namespace ringway::tls
