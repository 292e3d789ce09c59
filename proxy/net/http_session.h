// HttpSession: one client connection of an http listener. Requests are parsed as they arrive,
// routed, and either answered here (direct_response, redirect, errors) or sent to a pooled
// upstream connection; bodies are streamed both ways as the raw, validated bytes (chunked
// framing included), never buffered whole. One exchange at a time: the bytes of a pipelined
// request wait (bounded, reading paused) until the response before it is done, so responses
// leave in request order.
//
// Lifetime as in TcpSession: the client stream's onClosed() ends the session, which is freed
// from the loop's deferred list after the batch. Upstream connections belong to the pool; the
// session borrows one per exchange and gives it back (reusable or not) when done.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "http/parser.h"
#include "io/loop.h"
#include "net/http_listener.h"
#include "net/upstream_pool.h"

namespace ringway::net {

struct AccessEntry;

class HttpSession final : public io::StreamHandler,
                          public io::Deferred,
                          public UpstreamOwner,
                          public Link<SessionIdleTag>,
                          public Link<SessionTimerTag> {
 public:
  HttpSession(HttpListener& l, std::unique_ptr<io::Stream> client);
  ~HttpSession();
  void start();
  // Idle timeout: 504 if a response is awaited, else close.
  void onIdleTimeout();
  // The armed deadline passed (request head, route timeout, lingering close).
  void onTimer();
  // Drain: close now if between requests; else close after the current exchange.
  void onDrain();
  // End of drain: close both sides now.
  void closeNow();

  uint64_t lastActive = 0;
  uint64_t deadline = 0;

 private:
  enum class ReqPhase : uint8_t { Head, Body, Done };
  enum class TimerKind : uint8_t { None, Header, Route, Linger };
  enum Bits : uint32_t {
    Proxying = 1u << 0,      // the current request goes upstream
    Discard = 1u << 1,       // the current request's body is read and dropped
    WaitUpstream = 1u << 2,  // connecting; the request head is not written yet
    UpBlocked = 1u << 3,     // upstream send queue full: client input waits
    ClientBlocked = 1u << 4, // client send queue full: upstream reads paused
    RespStarted = 1u << 5,   // a final response head went to the client
    RespDone = 1u << 6,
    Interim = 1u << 7,       // the upstream message being parsed is a 1xx
    Decode = 1u << 8,        // chunked response to an HTTP/1.0 client: send decoded data
    KeepAlive = 1u << 9,     // the client connection goes on after this exchange
    ClientEof = 1u << 10,
    Closing = 1u << 11,
    Lingering = 1u << 12,
    ClientClosed = 1u << 13,
    Finished = 1u << 14,
    Expect100 = 1u << 15,    // send "100 Continue" once the upstream is ready
    Retried = 1u << 16,      // the request was resent once on a fresh connection
    UpDirty = 1u << 17,      // the upstream sent bytes after its response: never reuse
    ClientReading = 1u << 18,
    Pumping = 1u << 19,
    Repump = 1u << 20,
    HeadBytes = 1u << 21,    // some bytes of the next request head arrived
    Tunnel = 1u << 22,       // after 101 Switching Protocols: bytes both ways
    UpgradeAsked = 1u << 23,
    ReqHasBody = 1u << 24,
    RespBytes = 1u << 25,    // some bytes of the upstream's answer arrived
    UpEof = 1u << 26,        // tunnel: the upstream sent its FIN
    Counted = 1u << 27,      // the request is in http_requests_total
  };
  // What survives from one exchange to the next on a keep-alive connection.
  static constexpr uint32_t ConnectionBits = ClientReading | Pumping | Repump | ClientEof;

  // io::StreamHandler (the client stream)
  void onConnect(io::Stream& s, int err) override;
  void onData(io::Stream& s, io::BufferRef data) override;
  void onReadEnd(io::Stream& s, int err) override;
  void onWritable(io::Stream& s) override;
  void onWriteError(io::Stream& s, int err) override;
  void onClosed(io::Stream& s) override;
  void runDeferred() override;

  // UpstreamOwner
  void upConnected(UpstreamConn& c, int err) override;
  void upData(UpstreamConn& c, io::BufferRef data) override;
  void upReadEnd(UpstreamConn& c, int err) override;
  void upWritable(UpstreamConn& c) override;
  void upWriteError(UpstreamConn& c, int err) override;
  void upClosed(UpstreamConn& c) override;

  // Client input (http_session.cc)
  void pumpClient();
  bool canParse() const;
  void parseFront();
  bool bufferHead(io::BufferRef& b);
  std::size_t headEndIn(std::string_view v) const;
  void appendPartial(std::string_view v);
  void freePartial();
  void dropParser();
  bool forwardRange(io::BufferRef& b, std::size_t from, std::size_t to);
  void onRequestHead();
  void onRequestComplete();
  void onRequestError();
  void onClientEofDrained();
  void updateReading();

  // Upstream (http_session.cc)
  void startUpstream();
  void connectNext();
  void onUpstreamReady();
  bool retryOnFresh(const char* why);
  void upstreamFailed(int status, const char* reason, HttpStats::Error why);
  bool onResponseHead(UpstreamConn& c);
  void onResponseComplete(bool reusable);
  void releaseUpstream(bool reusable);
  void endExchange(bool upReusable);
  void abortExchange(const char* reason);
  void responseError(UpstreamConn& c);
  void tunnelData(io::Stream& from, io::BufferRef data);

  // Heads and local responses (http_heads.cc)
  bool buildUpstreamHead();
  void writeResponseHead(const http::Parser& p);
  void writeInterim(const http::Parser& p);
  void writeLocal(uint16_t status, std::string_view body, std::string_view contentType,
                  std::string_view location = {});
  // The request can't go on (bad request, upstream failure midway): answer and close.
  void sendError(uint16_t status, const char* reason);
  // The request is fine but gets an error answer: keep the connection when possible.
  void localError(uint16_t status, const char* reason);
  void logError(uint16_t status, const char* reason);
  void startTunnel();
  void linger();
  void formatPeer(char* out, std::size_t n);

  // Access log (http_access.cc, net/access_log.h): an entry from the head (or the error
  // answer) to the end of the exchange.
  void logBegin(bool withRequest);
  void logHead(uint16_t status);
  void logLocal(uint16_t status, std::size_t body);
  void logEnd();

  // Writing
  void writeClient(io::BufferRef b);
  void writeUp(io::BufferRef b);
  void closeClient(io::CloseMode mode);
  void setTimer(TimerKind k, uint64_t at);
  void clearTimer();
  void maybeFinish();
  const config::Route* route() const;
  const char* routeName(char* buf, std::size_t n) const;
  const char* clusterName() const;

  // Metrics (http_session.cc). Each request is counted once, when its response is complete
  // (the last byte queued for the client) or known to fail; call before writing a local answer:
  // writing it may start the next pipelined request.
  void countRequest(uint16_t status);
  void countError(HttpStats::Error why, uint16_t status);

  bool has(uint32_t b) const { return (bits_ & b) != 0; }
  void set(uint32_t b) { bits_ |= b; }
  void clear(uint32_t b) { bits_ &= ~b; }

  HttpListener& l_;
  std::unique_ptr<io::Stream> client_;
  // The request parser, from the listener's pool, held from a head's completion to the end of
  // its exchange. Until a head is complete its bytes wait in partial_ (exactly what arrived),
  // so an idle or slow connection holds neither a parser nor a provided buffer.
  http::Parser* req_ = nullptr;
  char* partial_ = nullptr;
  uint16_t partialLen_ = 0;
  uint16_t partialCap_ = 0;
  uint32_t inOff_ = 0;            // parsed bytes of inq_'s front buffer (here: no padding hole)
  io::SendQueue* inq_ = nullptr;  // client bytes not parsed yet (taken only when needed)
  UpstreamConn* up_ = nullptr;
  Exchange* x_ = nullptr;         // while a request is proxied
  uint32_t bits_ = 0;
  int16_t route_ = -1;
  uint8_t attempts_ = 0;
  uint8_t endpoint_ = 0;
  ReqPhase reqPhase_ = ReqPhase::Head;
  TimerKind timer_ = TimerKind::None;
  http::Method method_ = http::Method::Get;
  http::Version version_ = http::Version::Http11;
  uint8_t peer_[16];              // client address, read once for X-Forwarded-For
  uint8_t peerFamily_ = 0;        // 0: not read yet
  uint32_t closeQueued_ = 0;      // bytes still queued at a graceful close's last check
  AccessEntry* log_ = nullptr;    // access log entry of the current exchange
  uint64_t startNs_ = 0;          // the request's first byte came (monotonicNs)
};

}  // namespace ringway::net
