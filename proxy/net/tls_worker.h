// TlsWorker: what one worker keeps for TLS: buffer pools for plaintext and ciphertext, one
// ServerContext per TLS listener and one ClientContext per TLS cluster (this worker's session
// cache and upstream session reuse), the handshake deadlines, and deliveries owed to streams
// whose handler asked to read again. Plus the two calls protocol code uses to get a TLS
// stream: acceptStream() for a listener's client, upstreamStream() for a cluster's endpoint.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"
#include "io/buffer.h"
#include "io/loop.h"
#include "net/listener.h"
#include "net/listener_stats.h"
#include "net/tls_stream.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

namespace ringway::net {

// Fixed 16 KiB slabs (one TLS record of plaintext) with a free list; grows on demand, so the
// memory in use is bounded by what the streams' backpressure lets pile up.
class SlabPool final : public io::BufferPool {
 public:
  static constexpr uint32_t SlabSize = 16 * 1024;
  SlabPool() = default;
  SlabPool(const SlabPool&) = delete;
  SlabPool& operator=(const SlabPool&) = delete;
  uint32_t acquire();
  char* data(uint32_t id) { return slabs_[id].get(); }
  void release(uint32_t id) override { free_.push_back(id); }
  std::size_t slabs() const { return slabs_.size(); }
  std::size_t freeCount() const { return free_.size(); }

 private:
  std::vector<std::unique_ptr<char[]>> slabs_;
  std::vector<uint32_t> free_;
};

// Ciphertext as the Session hands it out (takeCiphertext swaps a vector): a slot per buffer
// in flight. A sent buffer is kept as a spare (cleared, up to MaxSpares of at most
// MaxSpareCapacity) that the next write lends the session to encrypt into, so steady traffic
// allocates no output buffer; the session gives it up again with its ciphertext, so an idle
// connection keeps none.
class VectorPool final : public io::BufferPool {
 public:
  static constexpr std::size_t MaxSpares = 64;
  static constexpr std::size_t MaxSpareCapacity = 64 * 1024;
  VectorPool() = default;
  VectorPool(const VectorPool&) = delete;
  VectorPool& operator=(const VectorPool&) = delete;
  uint32_t acquire();
  std::vector<std::byte>& at(uint32_t id) { return slots_[id]; }
  void release(uint32_t id) override {
    std::vector<std::byte>& v = slots_[id];
    if (v.capacity() > 0 && v.capacity() <= MaxSpareCapacity && spares_.size() < MaxSpares) {
      v.clear();
      spares_.push_back(std::move(v));
    }
    std::vector<std::byte>().swap(v);  // the slot itself holds nothing
    free_.push_back(id);
  }
  // A cleared vector with capacity from an earlier send (empty when there is none).
  std::vector<std::byte> spare() {
    if (spares_.empty()) return {};
    std::vector<std::byte> v = std::move(spares_.back());
    spares_.pop_back();
    return v;
  }
  void giveBack(std::vector<std::byte>&& v) {
    if (v.capacity() > 0 && v.capacity() <= MaxSpareCapacity && spares_.size() < MaxSpares) {
      v.clear();
      spares_.push_back(std::move(v));
    }
  }
  std::size_t inUse() const { return slots_.size() - free_.size(); }
  std::size_t spares() const { return spares_.size(); }

 private:
  std::vector<std::vector<std::byte>> slots_;
  std::vector<uint32_t> free_;
  std::vector<std::vector<std::byte>> spares_;
};

class TlsWorker final : private io::Deferred {
 public:
  explicit TlsWorker(io::Loop& loop) : loop_(loop) {}
  ~TlsWorker();
  TlsWorker(const TlsWorker&) = delete;
  TlsWorker& operator=(const TlsWorker&) = delete;

  io::Loop& loop() { return loop_; }
  SlabPool& plain() { return plain_; }
  VectorPool& cipher() { return cipher_; }

  // This worker's context for a listener with tls / a cluster with tls: built on first use
  // (throws tls::ContextError, e.g. a file changed since the config was loaded).
  tls::ServerContext& server(const config::Listener& l);
  tls::ClientContext& client(const config::Config& cfg, std::size_t clusterIndex);

  // Streams: a delivery owed after the current batch; a handshake deadline.
  void kick(TlsStream& s);
  void watch(TlsStream& s, uint64_t deadline);
  static void unwatch(TlsStream& s) { s.handshakeLink_.unlink(); }
  static void unkick(TlsStream& s) { s.kickLink_.unlink(); }
  // About every 100 ms, from any listener's tick (once per loop time): handshake deadlines,
  // and once a second, ticket key rotation when due.
  void tick();

 private:
  void runDeferred() override;

  io::Loop& loop_;
  SlabPool plain_;
  VectorPool cipher_;
  std::vector<std::pair<const config::Listener*, std::unique_ptr<tls::ServerContext>>> servers_;
  std::vector<std::unique_ptr<tls::ClientContext>> clients_;  // by cluster index
  TlsLink kicks_;                                             // sentinel
  TlsLink handshakes_;                                        // sentinel
  bool scheduled_ = false;
  uint64_t lastTick_ = 0;
  uint64_t nextRotationCheck_ = 0;
};

// The worker's TlsWorker, made on first use.
TlsWorker& tlsWorker(WorkerContext& ctx);

// An accepted client of listener `l`: wrapped in a TlsStream whose handshake has begun when
// l.tls is set (hh hears how it ends, see TlsStream::accept), else returned as it is. Counts
// go to `stats`. Never fails for a plain listener; for a TLS one, a session OpenSSL cannot
// allocate returns nullptr (plain is closed and freed then: `plain` had no handler).
std::unique_ptr<io::Stream> acceptStream(WorkerContext& ctx, const config::Listener& l,
                                         ListenerStats& stats, std::unique_ptr<io::Stream> plain,
                                         HandshakeHandler* hh = nullptr);

// A stream to an endpoint of cluster `clusterIndex` (made by Loop::stream on a Loop::socket):
// a client TlsStream when the cluster has tls (connect() then also handshakes within the
// cluster's connect_timeout, and onConnect(0) means the TLS session is up), else `plain`.
std::unique_ptr<io::Stream> upstreamStream(WorkerContext& ctx, std::size_t clusterIndex,
                                           ListenerStats& stats, std::unique_ptr<io::Stream> plain);

// True when listener l or a cluster its routes name uses TLS.
bool usesTls(const config::Config& cfg, const config::Listener& l);

}  // namespace ringway::net
