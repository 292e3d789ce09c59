#include "net/tls_stream.h"

#include <openssl/ssl.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>
#include <utility>

#include "io/assert.h"
#include "io/log.h"
#include "net/tls_stats.h"
#include "net/tls_worker.h"

namespace ringway::net {

using io::bump;

namespace {

std::span<const std::byte> bytesOf(const io::BufferRef& b) {
  return {reinterpret_cast<const std::byte*>(b.data()), b.size()};
}

// The first bytes were not a TLS handshake at all (an HTTP request on the TLS port, a port
// scanner): counted apart from real handshake failures.
bool notTls(const tls::Failure& f) {
  const std::string_view r = f.reason;
  return f.kind == tls::ErrorKind::Protocol &&
         (r == "wrong version number" || r == "http request" || r == "https proxy request" ||
          r == "packet length too long" || r == "unknown protocol" || r == "record layer failure" ||
          r == "unexpected message");
}

// CLOCK_MONOTONIC in nanoseconds: a vDSO read (no syscall), twice per handshake. The loop's
// millisecond clock is too coarse for handshakes that take a fraction of a millisecond.
uint64_t handshakeClockNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

std::size_t versionIndex(int version) {
  switch (version) {
    case TLS1_2_VERSION: return static_cast<std::size_t>(TlsVersion::Tls12);
    case TLS1_3_VERSION: return static_cast<std::size_t>(TlsVersion::Tls13);
    default: return static_cast<std::size_t>(TlsVersion::Unknown);
  }
}

void observeHandshake(TlsStats& st, uint64_t nanos) {
  const double seconds = static_cast<double>(nanos) / 1e9;
  const std::size_t b = static_cast<std::size_t>(
      std::lower_bound(HandshakeBounds.begin(), HandshakeBounds.end(), seconds) -
      HandshakeBounds.begin());
  bump(st.durationBuckets[b]);
  st.durationNanos.store(st.durationNanos.load(std::memory_order_relaxed) + nanos,
                         std::memory_order_relaxed);
}

}  // namespace

TlsStream::TlsStream(TlsWorker& worker, std::unique_ptr<io::Stream> inner, tls::Session session,
                     TlsStats& stats, const char* label, uint64_t handshakeTimeoutMs)
    : worker_(worker),
      inner_(std::move(inner)),
      session_(std::move(session)),
      stats_(stats),
      label_(label),
      handshakeTimeoutMs_(handshakeTimeoutMs),
      server_(session_.isServer()) {
  kickLink_.owner = handshakeLink_.owner = this;
  inner_->setHandler(this);
}

TlsStream::~TlsStream() {
  kickLink_.unlink();
  handshakeLink_.unlink();
  dropCoalesced();
}

// ---------------------------------------------------------------------------------------
// Handshake

void TlsStream::accept(HandshakeHandler* hh) {
  RINGWAY_ASSERT(server_);
  hh_ = hh;
  started_ = true;
  worker_.watch(*this, worker_.loop().nowMs() + handshakeTimeoutMs_);
  syncInnerRead();
}

void TlsStream::connect(const sockaddr* addr, socklen_t len, uint64_t timeoutMs) {
  RINGWAY_ASSERT(!server_);
  inner_->connect(addr, len, timeoutMs);
}

void TlsStream::onConnect(io::Stream&, int err) {
  if (closing_) return;
  if (err != 0) {
    if (handler_ != nullptr) handler_->onConnect(*this, err);
    return;
  }
  startClientHandshake();
}

void TlsStream::startClientHandshake() {
  started_ = true;
  worker_.watch(*this, worker_.loop().nowMs() + handshakeTimeoutMs_);
  const tls::Status st = session_.handshake();  // the ClientHello
  flushCipher();
  if (st == tls::Status::Error) {
    handshakeFailed(-EPROTO, session_.failure().reason, session_.failure().detail);
    return;
  }
  syncInnerRead();
}

void TlsStream::handshakeDone() {
  established_ = true;
  TlsWorker::unwatch(*this);
  const bool resumed = session_.resumed();
  if (server_) {
    bump(stats_.handshakes);
    if (resumed) bump(stats_.resumed);
    bump(stats_.succeededByVersion[versionIndex(session_.version())]);
    if (helloNs_ != 0) observeHandshake(stats_, handshakeClockNs() - helloNs_);
  } else {
    bump(stats_.upstreamHandshakes);
    if (resumed) bump(stats_.upstreamResumed);
  }
  if (io::logEnabled(io::Level::Debug)) {
    const std::string_view sni = session_.serverName();
    const std::string_view alpn = session_.alpn();
    LOG_DEBUG("%s=%s: %s TLS handshake done: %s %s sni=%.*s alpn=%.*s%s", kind(), label_,
              server_ ? "client" : "upstream", session_.versionName(), session_.cipherName(),
              static_cast<int>(sni.size()), sni.data(), static_cast<int>(alpn.size()), alpn.data(),
              resumed ? " resumed" : "");
  }
  // What the handler wrote meanwhile goes out first, then a close_notify it asked for.
  std::vector<io::BufferRef> early = std::move(early_);
  earlyBytes_ = 0;
  for (io::BufferRef& b : early) encrypt(std::move(b));
  if (shutdownRequested_) sendCloseNotify();
  flushCipher();
  if (shutdownRequested_) inner_->shutdownWrite();
  if (server_) {
    // Once: the handler may hand the stream over and go away.
    if (HandshakeHandler* hh = std::exchange(hh_, nullptr)) hh->onHandshake(*this, 0);
  } else if (handler_ != nullptr) {
    handler_->onConnect(*this, 0);
  }
  if (closing_) return;
  if (earlyBlocked_ && !inner_->writeBlocked()) {
    earlyBlocked_ = false;
    if (handler_ != nullptr) handler_->onWritable(*this);
  }
}

void TlsStream::handshakeFailed(int err, const char* reason, const char* detail) {
  failed_ = true;
  TlsWorker::unwatch(*this);
  flushCipher();  // our alert, if the session made one
  if (server_) {
    const tls::Failure& f = session_.failure();
    if (err == -ETIMEDOUT) {
      bump(stats_.handshakeTimeouts);
    } else if (notTls(f)) {
      bump(stats_.notTls);
    } else if (f.kind == tls::ErrorKind::PeerAlert) {
      stats_.alerts.add(reason);
    }
    stats_.failures.add(reason);
    bump(stats_.failedByVersion[versionIndex(session_.negotiatedVersion())]);
    LOG_DEBUG("%s=%s: client TLS handshake failed: %s%s%s%s", kind(), label_, reason,
              detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
    if (HandshakeHandler* hh = std::exchange(hh_, nullptr)) {
      hh->onHandshake(*this, err);
    } else {
      setEnd(err, false);
      deliver();
    }
    return;
  }
  stats_.upstreamFailures.add(reason);
  LOG_WARN("%s=%s: upstream TLS handshake failed: %s%s%s%s", kind(), label_, reason,
           detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
  if (handler_ != nullptr) handler_->onConnect(*this, err);
}

void TlsStream::handshakeExpired() {
  if (closing_ || established_ || failed_) return;
  handshakeFailed(-ETIMEDOUT, "handshake timeout", nullptr);
}

// ---------------------------------------------------------------------------------------
// Reading

void TlsStream::onData(io::Stream&, io::BufferRef data) {
  if (closing_ || failed_ || endSeen_) return;  // dropped: the buffer goes back at once
  if (server_ && helloNs_ == 0 && !established_) helloNs_ = handshakeClockNs();
  // The session reads the received buffer in place; every WantMore has read all of it, and
  // releaseInput() copies what a stop left before `data` goes back to its pool.
  session_.feedCiphertext(bytesOf(data));
  if (!established_) {
    const tls::Status st = session_.handshake();
    flushCipher();
    if (st == tls::Status::WantMore) return;
    if (st == tls::Status::Error) {
      session_.releaseInput();
      handshakeFailed(-EPROTO, session_.failure().reason, session_.failure().detail);
      return;
    }
    handshakeDone();
    if (closing_ || failed_) {
      session_.releaseInput();
      return;
    }
  }
  decrypt();
  session_.releaseInput();
  flushCipher();  // reading may answer (a key update, an alert)
  deliver();
}

void TlsStream::decrypt() {
  SlabPool& pool = worker_.plain();
  uint32_t id = pool.acquire();
  uint32_t filled = 0;
  for (;;) {
    const tls::IoResult r = session_.readPlaintext(std::span<std::byte>(
        reinterpret_cast<std::byte*>(pool.data(id)) + filled, SlabPool::SlabSize - filled));
    if (r.status == tls::Status::Ok) {
      filled += static_cast<uint32_t>(r.bytes);
      if (filled == SlabPool::SlabSize) {
        plain_.emplace_back(&pool, id, pool.data(id), filled);
        id = pool.acquire();
        filled = 0;
      }
      // Nothing left to read anywhere: another SSL_read would only say WantMore (one failed
      // SSL_read per request on keep-alive traffic, where each recv carries one record).
      if (session_.mayHaveMore()) continue;
    }
    if (filled > 0)
      plain_.emplace_back(&pool, id, pool.data(id), filled);
    else
      pool.release(id);
    if (r.status == tls::Status::Closed) {
      setEnd(0, true);
    } else if (r.status == tls::Status::Error) {
      const tls::Failure& f = session_.failure();
      if (f.kind == tls::ErrorKind::UnexpectedEof) {
        setEnd(0, false);  // a FIN without close_notify: an end, as on a plain socket
      } else {
        failed_ = true;
        (server_ ? stats_.sessionErrors : stats_.upstreamFailures).add(f.reason);
        if (server_ && f.kind == tls::ErrorKind::PeerAlert) stats_.alerts.add(f.reason);
        LOG_DEBUG("%s=%s: %s TLS session failed: %s", kind(), label_,
                  server_ ? "client" : "upstream", f.reason);
        setEnd(-EPROTO, false);
      }
    }
    return;
  }
}

void TlsStream::setEnd(int err, bool clean) {
  if (endSeen_) return;
  endSeen_ = true;
  endErr_ = err;
  cleanEnd_ = clean;
}

void TlsStream::onReadEnd(io::Stream&, int err) {
  innerReadDone_ = true;
  innerReading_ = false;
  if (closing_ || failed_) return;
  if (!established_) {
    if (err == 0) {
      session_.feedEof();
      (void)session_.handshake();
    }
    handshakeFailed(err == 0 ? -ECONNRESET : err,
                    err == 0 ? "connection closed during handshake" : "socket error", nullptr);
    return;
  }
  if (endSeen_) {
    // After close_notify the socket is read only to see how it ends. A reset means the peer
    // is gone: the handler hears it even if it is done reading (a request in flight, a
    // half-closed tcp session), or it would wait on a connection nobody is at.
    if (err != 0) peerBroke(err);
    return;
  }
  if (err == 0) {
    session_.feedEof();
    decrypt();  // what is left, then Closed, or UnexpectedEof for a bare FIN
    flushCipher();
  }
  setEnd(err, false);
  deliver();
}

void TlsStream::peerBroke(int err) {
  if (closing_ || handler_ == nullptr) return;
  if (!endDelivered_) {
    endErr_ = err;  // delivered after what is still owed, instead of the clean end
    deliver();
    return;
  }
  failed_ = true;
  handler_->onWriteError(*this, err);
}

void TlsStream::readStart() {
  wantRead_ = true;
  if (closing_) return;
  if (plainHead_ < plain_.size() || (endSeen_ && !endDelivered_)) {
    // Delivered after this batch, never from inside the caller's own call.
    worker_.kick(*this);
    return;
  }
  syncInnerRead();
}

void TlsStream::readStop() {
  wantRead_ = false;
  syncInnerRead();
}

void TlsStream::runKick() {
  if (writeOwed_) flushWrites();
  if (!closing_) deliver();
}

void TlsStream::deliver() {
  if (delivering_ || handler_ == nullptr) return;  // a handler's readStart() inside onData
  delivering_ = true;
  while (wantRead_ && !closing_ && plainHead_ < plain_.size()) {
    io::BufferRef b = std::move(plain_[plainHead_++]);
    handler_->onData(*this, std::move(b));
  }
  if (plainHead_ == plain_.size()) {
    plain_.clear();
    plainHead_ = 0;
  }
  if (wantRead_ && !closing_ && plain_.empty() && endSeen_ && !endDelivered_) {
    endDelivered_ = true;
    handler_->onReadEnd(*this, endErr_);
  }
  delivering_ = false;
  syncInnerRead();
}

// The inner stream reads while a handshake runs, and afterwards only while the handler
// wants data and none is waiting: its backpressure holds the socket, as on a plain stream.
// After the peer's close_notify it reads on regardless (what comes is dropped), to see the
// FIN or the reset that follows.
void TlsStream::syncInnerRead() {
  if (closing_ || innerReadDone_) return;
  const bool draining = endSeen_ && cleanEnd_;
  const bool want = started_ && !failed_ &&
                    (draining || (!endSeen_ && (!established_ || (wantRead_ && plain_.empty()))));
  if (want == innerReading_) return;
  innerReading_ = want;
  if (want)
    inner_->readStart();
  else
    inner_->readStop();
}

// ---------------------------------------------------------------------------------------
// Writing

void TlsStream::write(io::BufferRef data) {
  if (closing_ || shutdownRequested_ || failed_) return;  // dropped, as on a plain stream
  if (!established_) {
    earlyBytes_ += data.size();
    early_.push_back(std::move(data));
    if (earlyBytes_ >= MaxEarlyBytes) earlyBlocked_ = true;
    return;
  }
  // What the handler writes in one batch of events leaves in one send after the batch
  // (TlsWorker::kick): a response written as head + body is one TLS record and one send, not
  // two of each. Small writes are copied together into one record; a large one is encrypted
  // at once (after the small ones before it), its records joining the same send.
  if (data.size() <= MaxCoalesce && coalescedLen_ + data.size() <= SlabPool::SlabSize) {
    SlabPool& pool = worker_.plain();
    if (coalesced_ == NoSlab) coalesced_ = pool.acquire();
    std::memcpy(pool.data(coalesced_) + coalescedLen_, data.data(), data.size());
    coalescedLen_ += static_cast<uint32_t>(data.size());
  } else {
    encryptCoalesced();
    encrypt(std::move(data));
  }
  if (session_.pendingCiphertext().size() >= MaxDeferredCipher) {
    flushCipher();  // bulk: don't let a batch's records pile up unseen by backpressure
  }
  if (!writeOwed_) {
    writeOwed_ = true;
    worker_.kick(*this);
  }
}

void TlsStream::lendOutput() {
  if (!session_.pendingCiphertext().empty()) return;
  std::vector<std::byte> v = worker_.cipher().spare();
  if (v.capacity() > 0 && !session_.lendOutput(v)) worker_.cipher().giveBack(std::move(v));
}

void TlsStream::encryptCoalesced() {
  if (coalesced_ == NoSlab) return;
  SlabPool& pool = worker_.plain();
  if (coalescedLen_ > 0 && !failed_) {
    lendOutput();
    const tls::IoResult r = session_.writePlaintext(std::span<const std::byte>(
        reinterpret_cast<const std::byte*>(pool.data(coalesced_)), coalescedLen_));
    if (r.status == tls::Status::Error) failed_ = true;  // the read side reports it
  }
  dropCoalesced();
}

void TlsStream::dropCoalesced() {
  if (coalesced_ == NoSlab) return;
  worker_.plain().release(coalesced_);
  coalesced_ = NoSlab;
  coalescedLen_ = 0;
}

void TlsStream::flushWrites() {
  writeOwed_ = false;
  if (closing_ || innerClosed_) {
    dropCoalesced();
    return;
  }
  encryptCoalesced();
  flushCipher();
}

void TlsStream::encrypt(io::BufferRef data) {
  // Established: Ok takes everything. The plaintext buffer goes back as soon as it is
  // encrypted (for a proxied stream, straight to the receiving ring).
  lendOutput();
  const tls::IoResult r = session_.writePlaintext(bytesOf(data));
  if (r.status == tls::Status::Error) failed_ = true;  // the read side reports it
}

std::size_t TlsStream::queuedBytes() const {
  return inner_->queuedBytes() + earlyBytes_ + coalescedLen_ + session_.pendingCiphertext().size();
}

bool TlsStream::writeBlocked() const {
  return inner_->writeBlocked() || earlyBytes_ >= MaxEarlyBytes;
}

void TlsStream::flushCipher() {
  if (session_.pendingCiphertext().empty()) return;
  if (innerClosed_) {
    session_.consumeCiphertext(session_.pendingCiphertext().size());
    return;
  }
  VectorPool& pool = worker_.cipher();
  const uint32_t id = pool.acquire();
  std::vector<std::byte>& v = pool.at(id);
  session_.takeCiphertext(v);
  inner_->write(
      io::BufferRef(&pool, id, reinterpret_cast<char*>(v.data()), static_cast<uint32_t>(v.size())));
}

void TlsStream::sendCloseNotify() {
  if (closeNotifySent_ || failed_ || !established_) return;
  encryptCoalesced();  // what was written first goes first
  closeNotifySent_ = true;
  (void)session_.shutdown();
}

void TlsStream::shutdownWrite() {
  if (closing_ || shutdownRequested_) return;
  shutdownRequested_ = true;
  if (!established_) return;  // after the handshake, behind what was written meanwhile
  sendCloseNotify();
  flushCipher();
  inner_->shutdownWrite();
}

void TlsStream::onWritable(io::Stream&) {
  if (closing_ || handler_ == nullptr) return;
  earlyBlocked_ = false;
  handler_->onWritable(*this);
}

void TlsStream::onWriteError(io::Stream&, int err) {
  if (closing_) return;
  if (!established_ && !failed_) {
    handshakeFailed(err, "socket error", nullptr);
    return;
  }
  failed_ = true;
  if (handler_ != nullptr) handler_->onWriteError(*this, err);
}

// ---------------------------------------------------------------------------------------
// Closing

void TlsStream::close(io::CloseMode mode) {
  if (innerClosed_) return;
  if (closing_ && mode == io::CloseMode::Graceful) return;
  const bool first = !closing_;
  closing_ = true;
  wantRead_ = false;
  TlsWorker::unwatch(*this);
  TlsWorker::unkick(*this);
  plain_.clear();
  plainHead_ = 0;
  if (first && mode == io::CloseMode::Graceful && established_) {
    for (io::BufferRef& b : early_) encrypt(std::move(b));
    encryptCoalesced();
    sendCloseNotify();  // as nginx does on a normal close
    flushCipher();
  }
  dropCoalesced();
  writeOwed_ = false;
  early_.clear();
  earlyBytes_ = 0;
  inner_->close(mode);  // may report onClosed before it returns
}

void TlsStream::onClosed(io::Stream&) {
  innerClosed_ = true;
  closing_ = true;
  TlsWorker::unwatch(*this);
  TlsWorker::unkick(*this);
  dropCoalesced();
  writeOwed_ = false;
  plain_.clear();
  plainHead_ = 0;
  if (handler_ != nullptr) handler_->onClosed(*this);
}

}  // namespace ringway::net
