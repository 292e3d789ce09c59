// TlsStream: an io::Stream carrying plaintext over an inner io::Stream carrying TLS. Protocol
// code (TcpSession, the HTTP proxy) runs on it unchanged: same events, same backpressure,
// half-close (shutdownWrite sends close_notify, then FIN; the peer's close_notify is
// onReadEnd(0)), same lifetime (onClosed only once the inner stream has closed).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/loop.h"
#include "tls/session.h"

namespace ringway::net {

class TlsWorker;
class TlsStream;
struct TlsStats;

// Where a server-side handshake ends: 0 once established, else -ETIMEDOUT, -EPROTO (not TLS,
// bad handshake, alert), or the socket's error. The owner decides what next (close it, or
// hand the stream to a session).
class HandshakeHandler {
 public:
  virtual void onHandshake(TlsStream& s, int err) = 0;

 protected:
  ~HandshakeHandler() = default;
};

// Intrusive links for the worker's lists (TlsWorker): streams owing a delivery, and
// streams in a handshake (with its deadline).
struct TlsLink {
  TlsStream* owner = nullptr;
  TlsLink* prev = nullptr;
  TlsLink* next = nullptr;
  bool linked() const { return next != nullptr; }
  void unlink() {
    if (next == nullptr) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};

class TlsStream final : public io::Stream, private io::StreamHandler {
 public:
  // Server side: session from a ServerContext, inner an accepted socket; call accept().
  // Client side: session from a ClientContext, inner a socket from Loop::socket(); connect()
  // connects and handshakes, and onConnect(0) comes once the handshake is done. `label`
  // names the listener (server side) or cluster (client side) in log lines, and must outlive
  // the stream (config strings do).
  TlsStream(TlsWorker& worker, std::unique_ptr<io::Stream> inner, tls::Session session,
            TlsStats& stats, const char* label, uint64_t handshakeTimeoutMs);
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Server side: start the handshake now, reading the ClientHello whether or not the handler
  // reads yet. With hh, the end of the handshake is reported there; without, a failure shows
  // up as onReadEnd(err) once the handler reads (the handler closes the stream then).
  void accept(HandshakeHandler* hh);

  const tls::Session& session() const { return session_; }
  bool established() const { return established_; }
  // The peer ended its side with close_notify (false after a bare FIN: maybe a truncation).
  bool cleanEnd() const { return cleanEnd_; }

  // io::Stream
  void setHandler(io::StreamHandler* h) override { handler_ = h; }
  void connect(const sockaddr* addr, socklen_t len, uint64_t timeoutMs) override;
  void readStart() override;
  void readStop() override;
  void write(io::BufferRef data) override;
  std::size_t queuedBytes() const override;
  bool writeBlocked() const override;
  void shutdownWrite() override;
  void close(io::CloseMode mode) override;
  bool closing() const override { return closing_; }
  int fd() const override { return inner_->fd(); }

 private:
  friend class TlsWorker;
  // Plaintext queued before the handshake is done, at most this much before writeBlocked().
  static constexpr std::size_t MaxEarlyBytes = 256 * 1024;
  // Writes up to this size are copied together into one record per batch of events.
  static constexpr std::size_t MaxCoalesce = 4096;
  // Ciphertext made in one batch is sent at once past this much.
  static constexpr std::size_t MaxDeferredCipher = 64 * 1024;
  static constexpr uint32_t NoSlab = UINT32_MAX;

  // From the inner stream.
  void onConnect(io::Stream& s, int err) override;
  void onData(io::Stream& s, io::BufferRef data) override;
  void onReadEnd(io::Stream& s, int err) override;
  void onWritable(io::Stream& s) override;
  void onWriteError(io::Stream& s, int err) override;
  void onClosed(io::Stream& s) override;

  // From the worker.
  void runKick();
  void handshakeExpired();

  void startClientHandshake();
  void handshakeDone();
  void handshakeFailed(int err, const char* reason, const char* detail);
  void decrypt();
  void encrypt(io::BufferRef data);
  void sendCloseNotify();
  void flushCipher();
  void flushWrites();       // after the batch: what write() coalesced or encrypted goes out
  void encryptCoalesced();  // the coalesced plaintext becomes a record
  void dropCoalesced();
  void lendOutput();  // a spare output buffer for the session, if it has none
  void deliver();
  void syncInnerRead();
  void setEnd(int err, bool clean);
  void peerBroke(int err);  // the socket failed after the peer's close_notify
  // Log prefix: a server-side stream is labelled by its listener, a client one by cluster.
  const char* kind() const { return server_ ? "listener" : "cluster"; }

  TlsWorker& worker_;
  std::unique_ptr<io::Stream> inner_;
  tls::Session session_;
  TlsStats& stats_;
  const char* label_;
  uint64_t handshakeTimeoutMs_;
  io::StreamHandler* handler_ = nullptr;
  HandshakeHandler* hh_ = nullptr;

  TlsLink kickLink_;       // in the worker's delivery list
  TlsLink handshakeLink_;  // in the worker's handshake list
  uint64_t deadline_ = 0;  // handshake deadline (loop ms)
  uint64_t helloNs_ = 0;   // server side: when the ClientHello's first bytes arrived

  std::vector<io::BufferRef> plain_;  // decrypted, not yet delivered
  std::size_t plainHead_ = 0;
  std::vector<io::BufferRef> early_;  // written before the handshake was done
  uint32_t coalesced_ = NoSlab;       // plaintext slab of small writes not yet encrypted
  uint32_t coalescedLen_ = 0;
  std::size_t earlyBytes_ = 0;
  int endErr_ = 0;

  bool server_;
  bool established_ = false;
  bool failed_ = false;    // the session failed: nothing more is read or written
  bool started_ = false;   // accept() called, or connected: the handshake runs
  bool wantRead_ = false;  // the handler wants data
  bool innerReading_ = false;
  bool innerReadDone_ = false;  // the inner stream reported its end
  bool endSeen_ = false;        // close_notify, FIN or error: endErr_ is owed after plain_
  bool endDelivered_ = false;
  bool cleanEnd_ = false;
  bool shutdownRequested_ = false;
  bool closeNotifySent_ = false;
  bool earlyBlocked_ = false;  // writeBlocked() was true because of early_
  bool closing_ = false;
  bool innerClosed_ = false;
  bool delivering_ = false;
  bool writeOwed_ = false;  // kicked: flushWrites() after the batch
};

}  // namespace ringway::net
