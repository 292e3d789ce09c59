// L4 proxying: a TcpListener accepts clients and gives each a TcpSession that connects to an
// endpoint of the route's cluster and splices bytes both ways.
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "io/loop.h"
#include "net/balancer.h"
#include "net/listener.h"
#include "net/listener_stats.h"

namespace ringway::net {

class TcpListener;

// Sessions sit in their listener's idle list, least recently active first.
struct IdleLink {
  IdleLink* prev = nullptr;
  IdleLink* next = nullptr;
  uint64_t lastActive = 0;
};

class TcpSession final : public io::StreamHandler, public io::Deferred, public IdleLink {
public:
  // `early`: bytes already read from the client (a peeked ClientHello), sent upstream first.
  TcpSession(TcpListener& l, std::unique_ptr<io::Stream> client, Balancer& balancer,
             std::vector<io::BufferRef> early = {});
  ~TcpSession();
  void start();
  // Close both sides now (idle timeout, end of drain).
  void closeNow();

private:
  friend class TcpListener;
  enum Bits : uint8_t {
    ClientDone = 1,   // client's FIN or error seen
    UpstreamDone = 2, // upstream's FIN or error seen
    ClientClosed = 4, // client stream's onClosed came
    UpstreamClosed = 8,
    Connected = 16,
    Finished = 32, // handed to the deferred-delete list
  };
  void connectUpstream();
  void failConnect(int err);
  void onConnect(io::Stream& s, int err) override;
  void onData(io::Stream& s, io::BufferRef data) override;
  void onReadEnd(io::Stream& s, int err) override;
  void onWritable(io::Stream& s) override;
  void onWriteError(io::Stream& s, int err) override;
  void onClosed(io::Stream& s) override;
  std::size_t readBudget(io::Stream& s) override;
  io::Stream* spliceTarget(io::Stream& s) override;
  void onSpliced(io::Stream& s, std::size_t n) override;
  void runDeferred() override;
  io::Stream& other(io::Stream& s) { return &s == client_.get() ? *upstream_ : *client_; }
  void closeBoth(io::CloseMode mode);
  void maybeFinish();

  TcpListener& listener_;
  // What only some sessions need, allocated on first use: an idle proxied connection costs
  // ~0.22 KiB in all (README), and two empty vectors would add 48 bytes to every one.
  struct Extras {
    std::vector<io::BufferRef> early; // client bytes read before the upstream was connected
    // Previous attempts, freed with the session. A TLS one may take a while to close (its
    // reads are cancelled), so more than one can be closing at once.
    std::vector<std::unique_ptr<io::Stream>> failed;
  };
  Extras& extras() {
    if (!extras_)
      extras_ = std::make_unique<Extras>();
    return *extras_;
  }

  Balancer& balancer_; // the route's cluster
  std::unique_ptr<Extras> extras_;
  std::unique_ptr<io::Stream> client_;
  std::unique_ptr<io::Stream> upstream_;
  uint16_t endpoint_ = 0;
  uint8_t attempts_ = 0;
  uint8_t bits_ = 0;
  // CLOCK_MONOTONIC in microseconds, low 32 bits, when the current connect attempt started
  // (upstream_connect_duration_seconds): fits the padding after bits_, so a session is no
  // larger; the difference is right for attempts shorter than 71 minutes.
  uint32_t connectStartUs_ = 0;
};

// Runs between accept and the session (a TLS handshake, a ClientHello peek): takes each
// accepted client and ends with TcpListener::startSession() or a close + gateDropped().
class AcceptGate {
public:
  virtual ~AcceptGate() = default;
  virtual void accept(std::unique_ptr<io::Stream> client) = 0;
  virtual void onTick(uint64_t nowMs) = 0;
  virtual void closeAll() = 0;
  virtual uint64_t pending() const = 0;
};

class TcpListener final : public Listener {
public:
  // upstreamTls: upstream streams go through net::upstreamStream (TLS to clusters that have
  // `tls:`); tls_passthrough listeners pass false. Sessions go to the first route's cluster
  // unless a gate picks another (startSession).
  TcpListener(WorkerContext& ctx, const config::Listener& cfg, int listenFd, bool upstreamTls);
  ~TcpListener() override;
  void onAccept(int fd) override;
  void onAcceptError(int err) override;
  void onTick() override;
  void stopAccepting() override;
  bool acceptStopped() const override { return !acceptor_ || acceptor_->stopped(); }
  void closeAll() override;
  uint64_t activeSessions() const override { return sessions_ + (gate_ ? gate_->pending() : 0); }
  ListenerStats& stats() override { return stats_; }
  const config::Listener& config() const override { return cfg_; }

  void setGate(std::unique_ptr<AcceptGate> gate) { gate_ = std::move(gate); }
  // A client the gate let through, to `balancer`'s cluster.
  void startSession(std::unique_ptr<io::Stream> client, Balancer& balancer,
                    std::vector<io::BufferRef> early = {});
  // A client the gate closed instead (counted as accepted and active until now).
  void gateDropped();
  io::Loop& loop() { return loop_; }

private:
  friend class TcpSession;
  void fdsAvailable();
  void touch(TcpSession& s);
  void unlink(TcpSession& s);
  void retire(TcpSession& s);
  // This listener's counters for b's cluster (one of its routes' clusters).
  UpstreamStats& upstreamStats(const Balancer& b);

  io::Loop& loop_;
  const config::Listener& cfg_;
  Balancer& balancer_;
  WorkerContext* ctx_;              // null: no TLS to clusters
  const config::Cluster* clusters_; // the configuration's, to index stats_.upstream
  std::unique_ptr<AcceptGate> gate_;
  std::unique_ptr<io::Acceptor> acceptor_;
  ListenerStats stats_;
  IdleLink idle_; // sentinel: idle_.next is the least recently active
  uint64_t sessions_ = 0;
  uint64_t acceptResumeAt_ = 0; // nonzero while paused after EMFILE
  bool acceptErrorLogged_ = false;
};

} // namespace ringway::net
