// The HttpSession state machine: client input, the exchange with the upstream, timers and
// closing. Heads and local responses are written in http_heads.cc.
#include "net/http_session.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "http/chars.h"
#include "http/error.h"
#include "io/assert.h"
#include "io/log.h"
#include "io/send_queue.h"
#include "net/access_log.h"

namespace ringway::net {

using io::bump;

namespace {
constexpr std::size_t NoForward = SIZE_MAX;
// Client buffers held unparsed (a pipelined request behind the current one) before reading
// pauses: bounded memory per connection however fast a client pipelines.
constexpr unsigned MaxHeldBuffers = 2;
// How long a graceful close waits for the client to take some of the last bytes.
constexpr uint64_t CloseGraceMs = 2000;
}  // namespace

HttpSession::HttpSession(HttpListener& l, std::unique_ptr<io::Stream> client)
    : l_(l), client_(std::move(client)) {
  client_->setHandler(this);
}

HttpSession::~HttpSession() {
  logEnd();
  if (inq_ != nullptr) l_.giveQueue(inq_);
  dropParser();
  freePartial();
  if (x_ != nullptr) l_.giveExchange(x_);
}

void HttpSession::start() {
  // From accept on: a client that connects and sends nothing (or dribbles) is cut off after
  // request_header_timeout, not after the much longer idle timeout.
  setTimer(TimerKind::Header, 0);
  updateReading();
}

// ---------------------------------------------------------------------------------------
// Client stream events

void HttpSession::onConnect(io::Stream&, int) {}  // the client stream is accepted, not dialled

void HttpSession::onData(io::Stream&, io::BufferRef data) {
  bump(l_.stats().bytesIn, data.size());
  if (has(Closing) || has(Finished)) return;
  l_.touch(*this);
  if (has(Tunnel)) {
    tunnelData(*client_, std::move(data));
    return;
  }
  if (has(Lingering)) return;  // dropped: the answer is out, the connection is closing
  if (reqPhase_ == ReqPhase::Head && !has(HeadBytes)) {
    set(HeadBytes);
    startNs_ = monotonicNs();
    if (timer_ == TimerKind::None) setTimer(TimerKind::Header, 0);
  }
  if (inq_ == nullptr) inq_ = l_.takeQueue();
  inq_->push(std::move(data));
  pumpClient();
}

void HttpSession::onReadEnd(io::Stream&, int err) {
  if (has(Closing)) return;
  if (err != 0) {
    if (err == -ECONNRESET) bump(l_.stats().resets);
    LOG_DEBUG("listener=%s: client read error: %s", l_.config().name.c_str(), std::strerror(-err));
    closeClient(io::CloseMode::Now);
    return;
  }
  set(ClientEof);
  clear(ClientReading);
  if (has(Tunnel)) {
    if (up_ != nullptr) up_->stream().shutdownWrite();
    if (has(UpEof) || up_ == nullptr) closeClient(io::CloseMode::Graceful);
    return;
  }
  if (has(Lingering)) {
    closeClient(io::CloseMode::Graceful);
    return;
  }
  if (inq_ == nullptr) onClientEofDrained();  // else the pump sees it once the held bytes are parsed
}

void HttpSession::onClientEofDrained() {
  switch (reqPhase_) {
    case ReqPhase::Head:
      // Closed between requests, or in the middle of a head: either way nobody is left to
      // answer.
      if (partialLen_ > 0 || (req_ != nullptr && req_->finish().event != http::Event::Closed))
        LOG_DEBUG("listener=%s: client closed in the middle of a request head",
                  l_.config().name.c_str());
      closeClient(io::CloseMode::Graceful);
      return;
    case ReqPhase::Body:
      LOG_DEBUG("listener=%s: client closed in the middle of a request body",
                l_.config().name.c_str());
      closeClient(io::CloseMode::Graceful);
      return;
    case ReqPhase::Done:
      return;  // the response goes on; endExchange() closes after it
  }
}

void HttpSession::onWritable(io::Stream&) {
  if (has(ClientBlocked)) {
    clear(ClientBlocked);
    if (up_ != nullptr) up_->stream().readStart();
  }
}

void HttpSession::onWriteError(io::Stream&, int err) {
  if (err == -ECONNRESET || err == -EPIPE) bump(l_.stats().resets);
  closeClient(io::CloseMode::Now);
}

void HttpSession::onClosed(io::Stream&) {
  set(ClientClosed | Closing);
  releaseUpstream(false);
  clearTimer();
  maybeFinish();
}

void HttpSession::maybeFinish() {
  if (!has(ClientClosed) || has(Finished)) return;
  set(Finished);
  l_.retire(*this);
}

void HttpSession::runDeferred() { delete this; }

// ---------------------------------------------------------------------------------------
// Client input

void HttpSession::pumpClient() {
  if (has(Pumping)) {
    set(Repump);
    return;
  }
  set(Pumping);
  do {
    clear(Repump);
    while (canParse()) {
      if (inq_ != nullptr && inq_->count > 0) {
        parseFront();
        continue;
      }
      // A message without a body completes on the parse() after its head, which may not have
      // happened yet if the head ended the buffer and the upstream was not ready then.
      if (reqPhase_ != ReqPhase::Body || has(Lingering) || req_ == nullptr) break;
      const http::Step s = req_->parse({});
      if (s.event == http::Event::Complete)
        onRequestComplete();
      else if (s.event == http::Event::Error)
        onRequestError();
      else
        break;
    }
  } while (has(Repump));
  clear(Pumping);
  if (inq_ != nullptr && inq_->count == 0) {
    l_.giveQueue(std::exchange(inq_, nullptr));
    inOff_ = 0;
  }
  if (has(ClientEof) && inq_ == nullptr && !has(Closing) && !has(Tunnel)) onClientEofDrained();
  updateReading();
}

bool HttpSession::canParse() const {
  if (has(Closing) || has(Tunnel)) return false;
  if (has(Lingering)) return true;  // to drop what arrives
  switch (reqPhase_) {
    case ReqPhase::Head: return true;
    case ReqPhase::Body:
      return has(Discard) || (!has(WaitUpstream) && !has(UpBlocked));
    case ReqPhase::Done: return false;  // pipelined bytes wait for the response
  }
  return false;
}

void HttpSession::parseFront() {
  io::BufferRef& b = inq_->at(0);
  if (has(Lingering)) {
    inq_->popFront();
    inOff_ = 0;
    return;
  }
  if (req_ == nullptr && bufferHead(b)) return;
  const std::size_t size = b.size();
  std::size_t off = inOff_;
  const auto forwarding = [this] {
    return reqPhase_ == ReqPhase::Body && has(Proxying) && !has(Discard);
  };
  std::size_t fwd = forwarding() ? off : NoForward;
  bool moved = false;
  // Parse until NeedMore, also on an empty rest: a head without a body completes only on the
  // next call.
  // req_ goes back to the pool when an exchange ends: the next head starts in bufferHead().
  while (req_ != nullptr && canParse() && !has(Lingering)) {
    const http::Step s = req_->parse({b.data() + off, size - off});
    off += s.consumed;
    if (s.event == http::Event::NeedMore) break;
    if (s.event == http::Event::Head) {
      onRequestHead();
      if (forwarding()) fwd = off;
    } else if (s.event == http::Event::Complete) {
      if (fwd != NoForward) moved = forwardRange(b, fwd, off);
      fwd = NoForward;
      onRequestComplete();
      if (moved) break;
    } else if (s.event == http::Event::Error) {
      onRequestError();
      inq_->popFront();  // the connection is closing: what is left is dropped anyway
      inOff_ = 0;
      return;
    }
    // Body: the raw bytes (chunk framing included) are forwarded as a range below.
  }
  if (has(Lingering) && !moved) {  // answered and closing: the rest is dropped
    inq_->popFront();
    inOff_ = 0;
    return;
  }
  if (!moved && fwd != NoForward && off > fwd) moved = forwardRange(b, fwd, off);
  if (moved || off >= size) {
    inq_->popFront();
    inOff_ = 0;
  } else if (!canParse() && size - off <= HeapPool::SmallSize) {
    // Parsing waits (for an upstream connection, or for the response before a pipelined
    // request): keep a copy of the few bytes left, not a provided buffer out of the ring.
    b = l_.heap().copy({b.data() + off, size - off});
    inOff_ = 0;
  } else {
    inOff_ = static_cast<uint32_t>(off);
  }
}

bool HttpSession::forwardRange(io::BufferRef& b, std::size_t from, std::size_t to) {
  if (to <= from) return false;
  if (to == b.size()) {  // the rest of the buffer: send the buffer itself, no copy
    b.consume(static_cast<uint32_t>(from));
    writeUp(std::move(b));
    return true;
  }
  // A request ends inside the buffer (the next one follows): copy this part out.
  writeUp(l_.heap().copy({b.data() + from, to - from}));
  return false;
}

void HttpSession::updateReading() {
  if (has(Closing) || has(ClientEof)) return;
  bool want = true;
  if (has(UpBlocked)) want = false;
  if (!has(Lingering) && !has(Tunnel) && inq_ != nullptr && inq_->count >= MaxHeldBuffers)
    want = false;
  if (want == has(ClientReading)) return;
  if (want) {
    set(ClientReading);
    client_->readStart();
  } else {
    clear(ClientReading);
    client_->readStop();
  }
}

// Before a head is complete its bytes are kept in partial_, the buffer goes back to the ring,
// and no parser is held. Once the head's blank line is in (or anything the parser must judge:
// a bare LF, more bytes than a head may have), the parser gets it all in one piece, which gives
// the same answer as feeding it piecewise (proxy/http/README.md). Returns true when it dealt
// with the front buffer.
bool HttpSession::bufferHead(io::BufferRef& b) {
  if (has(Lingering)) return false;
  const std::string_view v(b.data() + inOff_, b.size() - inOff_);
  const http::Limits& lim = l_.requestLimits();
  const std::size_t maxBuffered = std::min<std::size_t>(lim.maxHeadBytes, lim.maxTargetBytes + 64);
  const std::size_t end = headEndIn(v);
  if (end == std::string_view::npos && partialLen_ + v.size() <= maxBuffered) {
    appendPartial(v);
    inq_->popFront();
    inOff_ = 0;
    return true;
  }
  req_ = l_.takeParser();
  if (partialLen_ == 0) return false;  // the whole head is in this buffer: parse it in place
  const std::size_t take = end == std::string_view::npos ? v.size() : end;
  appendPartial(v.substr(0, take));
  inOff_ += static_cast<uint32_t>(take);
  if (inOff_ >= b.size()) {
    inq_->popFront();
    inOff_ = 0;
  }
  const http::Step st = req_->parse({partial_, partialLen_});
  if (st.event == http::Event::Head)
    onRequestHead();
  else if (st.event == http::Event::Error)
    onRequestError();
  // NeedMore (only empty lines before a request line, or a long line): the parser kept them.
  freePartial();  // the head's views into it are used up by now
  return true;
}

// Where buffering a head must stop in v: just past the blank line that ends it (or an empty line
// before a request line), or past a bare LF; npos if neither is there yet.
std::size_t HttpSession::headEndIn(std::string_view v) const {
  const char last = partialLen_ >= 1 ? partial_[partialLen_ - 1] : '\0';
  const char last2 = partialLen_ >= 2 ? partial_[partialLen_ - 2] : '\0';
  std::size_t i = 0;
  while (i < v.size()) {
    const auto* lf = static_cast<const char*>(std::memchr(v.data() + i, '\n', v.size() - i));
    if (lf == nullptr) return std::string_view::npos;
    const std::size_t at = static_cast<std::size_t>(lf - v.data());
    const char before = at >= 1 ? v[at - 1] : last;
    if (before != '\r') return at + 1;
    const char before2 = at >= 2 ? v[at - 2] : at == 1 ? last : last2;
    if (before2 == '\n' || partialLen_ + at == 1) return at + 1;
    i = at + 1;
  }
  return std::string_view::npos;
}

void HttpSession::appendPartial(std::string_view v) {
  if (v.empty()) return;
  const std::size_t need = partialLen_ + v.size();
  if (need > partialCap_) {
    // Exactly what came the first time (most heads that span buffers are then complete);
    // doubling after that, so a head dribbled byte by byte does not reallocate each time.
    const std::size_t cap = std::min<std::size_t>(
        partialCap_ == 0 ? need : std::max<std::size_t>(need, 2 * partialCap_), UINT16_MAX);
    auto* p = static_cast<char*>(std::realloc(partial_, cap));
    RINGWAY_ASSERT(p != nullptr);
    partial_ = p;
    partialCap_ = static_cast<uint16_t>(cap);
  }
  std::memcpy(partial_ + partialLen_, v.data(), v.size());
  partialLen_ = static_cast<uint16_t>(need);
}

void HttpSession::freePartial() {
  std::free(partial_);
  partial_ = nullptr;
  partialLen_ = partialCap_ = 0;
}

void HttpSession::dropParser() {
  if (req_ == nullptr) return;
  http::Parser* p = std::exchange(req_, nullptr);
  if (p->failed() || reqPhase_ != ReqPhase::Head) {  // mid-message or failed: a fresh one
    delete p;
    return;
  }
  l_.giveParser(p);
}

void HttpSession::onRequestHead() {
  clearTimer();
  clear(HeadBytes);
  reqPhase_ = ReqPhase::Body;
  http::Parser& req = *req_;
  method_ = req.method();
  version_ = req.version();
  logBegin(true);
  if (req.keepAlive()) set(KeepAlive);
  if (req.framing().kind != http::BodyKind::None) set(ReqHasBody);
  if (method_ == http::Method::Connect) {  // a reverse proxy does not open tunnels by CONNECT
    countError(HttpStats::Error::NotImplemented, 501);
    sendError(501, "connect_not_supported");
    return;
  }
  if (const http::Header* e = http::findHeader(req.headers(), "expect")) {
    if (!http::equalsIgnoreCase(e->value, "100-continue")) {
      countError(HttpStats::Error::ExpectationFailed, 417);
      sendError(417, "unsupported_expectation");
      return;
    }
    // Answered here (as Envoy does), not passed on: we know when the upstream is ready.
    if (version_ == http::Version::Http11 && has(ReqHasBody)) set(Expect100);
  }
  const http::RouteInput in = http::routeInput(req);
  route_ = static_cast<int16_t>(l_.router().match(in));
  if (route_ < 0) {
    countError(HttpStats::Error::NoRoute, 404);
    localError(404, "no_route");
    return;
  }
  const config::Route& r = *route();
  const uint64_t limit = r.max_body_size ? *r.max_body_size : l_.config().http.max_body_size;
  req.setBodyLimit(limit);
  if (req.framing().kind == http::BodyKind::ContentLength && req.framing().contentLength > limit) {
    // Refused before any of it is read, and before an upstream is bothered.
    countError(HttpStats::Error::BodyTooLarge, 413);
    sendError(413, "body_too_large");
    return;
  }
  if (r.direct_response || r.redirect) {
    set(Discard);
    if (r.direct_response)
      writeLocal(r.direct_response->status, r.direct_response->body,
                 r.direct_response->content_type);
    else
      writeLocal(r.redirect->status, {}, {}, r.redirect->location);
    countRequest(r.direct_response ? r.direct_response->status : r.redirect->status);
    // A client waiting for 100 Continue will not send its body: don't wait for it.
    if (has(Expect100)) linger();
    return;
  }
  set(Proxying);
  if (req.connectionUpgrade() && http::findHeader(req.headers(), "upgrade") != nullptr &&
      method_ == http::Method::Get)
    set(UpgradeAsked);
  if (!buildUpstreamHead()) {
    countError(HttpStats::Error::HeadTooLarge, 431);
    sendError(431, "head_too_large");
    return;
  }
  startUpstream();
}

void HttpSession::onRequestComplete() {
  reqPhase_ = ReqPhase::Done;
  if (has(RespDone)) endExchange(false);  // a local answer, or an upstream that answered early
}

void HttpSession::onRequestError() {
  const http::ParseError& e = req_->error();
  const char* why = http::errorName(e.code).data();  // names are string literals
  if (has(RespStarted)) {
    abortExchange(why);
    return;
  }
  releaseUpstream(false);
  HttpStats::Error stat = HttpStats::Error::BadRequest;
  switch (e.status) {
    case 413: stat = HttpStats::Error::BodyTooLarge; break;
    case 414: stat = HttpStats::Error::UriTooLong; break;
    case 431: stat = HttpStats::Error::HeadTooLarge; break;
    case 501: stat = HttpStats::Error::NotImplemented; break;
    case 505: stat = HttpStats::Error::VersionNotSupported; break;
    default: break;
  }
  countError(stat, e.status);
  sendError(e.status, why);
}

// ---------------------------------------------------------------------------------------
// Upstream side

void HttpSession::startUpstream() {
  const config::Route& r = *route();
  UpstreamPool& pool = l_.pool(r.cluster_index);
  if (r.timeout.count() > 0 && timer_ == TimerKind::None)
    setTimer(TimerKind::Route, l_.loop().nowMs() + static_cast<uint64_t>(r.timeout.count()));
  if (!has(Retried)) {
    if (UpstreamConn* c = pool.takeIdle(*this)) {
      up_ = c;
      onUpstreamReady();
      return;
    }
  }
  attempts_ = 0;
  endpoint_ = static_cast<uint8_t>(pool.pickEndpoint());
  connectNext();
}

void HttpSession::connectNext() {
  UpstreamPool& pool = l_.pool(route()->cluster_index);
  ++attempts_;
  set(WaitUpstream);
  int err = 0;
  up_ = pool.connect(*this, endpoint_, &err);
  if (up_ == nullptr) {
    LOG_ERROR("listener=%s cluster=%s: upstream socket: %s", l_.config().name.c_str(),
              clusterName(), std::strerror(err));
    countError(HttpStats::Error::NoUpstreamSocket, 503);
    localError(503, "no_upstream_connection");
  }
}

void HttpSession::upConnected(UpstreamConn& c, int err) {
  if (&c != up_) return;
  if (err == 0) {
    onUpstreamReady();
    return;
  }
  const config::Cluster& cl = c.pool().cluster();
  const bool timeout = err == -ETIMEDOUT;
  bump(timeout ? l_.stats().connectTimeouts : l_.stats().connectErrors);
  bump(timeout ? c.pool().stats().connectTimeouts : c.pool().stats().connectErrors);
  const bool retry = attempts_ < cl.endpoints.size() && !has(Closing);
  char rn[32];
  LOG_WARN("listener=%s route=%s cluster=%s endpoint=%s: connect failed: %s (attempt %u of %zu)%s",
           l_.config().name.c_str(), routeName(rn, sizeof rn), cl.name.c_str(),
           cl.endpoints[c.endpoint()].address.text.c_str(),
           timeout ? "timed out" : std::strerror(-err), attempts_, cl.endpoints.size(),
           retry ? ", trying the next endpoint" : "");
  releaseUpstream(false);
  if (retry) {
    endpoint_ = static_cast<uint8_t>((endpoint_ + 1) % cl.endpoints.size());
    connectNext();
    return;
  }
  upstreamFailed(timeout ? 504 : 502, timeout ? "connect_timeout" : "connect_failed",
                 timeout ? HttpStats::Error::ConnectTimeout : HttpStats::Error::ConnectFailed);
}

void HttpSession::onUpstreamReady() {
  clear(WaitUpstream);
  UpstreamConn& c = *up_;
  c.parser().setRequestMethod(method_);
  if (c.reused() && !has(ReqHasBody) && !has(Retried)) {
    // A kept-alive connection may have been closed by the upstream just now; keep the head
    // to resend it once on a fresh connection (only without a body, which is streamed).
    writeUp(l_.heap().copy({x_->upHead.data(), x_->upHead.size()}));
  } else {
    writeUp(std::move(x_->upHead));
  }
  x_->sentNs = monotonicNs();
  if (has(Expect100)) {
    clear(Expect100);
    writeClient(l_.heap().copy("HTTP/1.1 100 Continue\r\n\r\n"));
  }
  c.stream().readStart();
  pumpClient();
}

bool HttpSession::retryOnFresh(const char* why) {
  if (up_ == nullptr || !up_->reused() || has(Retried) || has(ReqHasBody) || !x_->upHead ||
      has(RespBytes) || has(Closing))
    return false;
  set(Retried);
  LOG_DEBUG("listener=%s cluster=%s: kept-alive upstream connection %s before answering; "
            "resending on a new connection",
            l_.config().name.c_str(), clusterName(), why);
  releaseUpstream(false);
  startUpstream();
  return true;
}

void HttpSession::upData(UpstreamConn& c, io::BufferRef b) {
  if (&c != up_ || has(Closing)) return;
  l_.touch(*this);
  if (has(Tunnel)) {
    tunnelData(c.stream(), std::move(b));
    return;
  }
  if (has(RespDone)) {  // bytes after the response: the connection's framing is off
    set(UpDirty);
    return;
  }
  if (!has(RespBytes) && x_ != nullptr && x_->sentNs != 0)
    c.pool().stats().responseDuration.observe(monotonicNs() - x_->sentNs);
  set(RespBytes);
  http::Parser& p = c.parser();
  const std::size_t size = b.size();
  std::size_t off = 0;
  std::size_t fwd = has(RespStarted) && !has(Decode) ? 0 : NoForward;
  for (;;) {
    const http::Step s = p.parse({b.data() + off, size - off});
    off += s.consumed;
    if (s.event == http::Event::NeedMore) break;
    if (s.event == http::Event::Head) {
      if (!onResponseHead(c) || &c != up_) return;
      if (has(Tunnel)) {  // what follows the 101 already belongs to the new protocol
        if (off < size) {
          b.consume(static_cast<uint32_t>(off));
          writeClient(std::move(b));
        }
        return;
      }
      if (!has(Interim) && !has(Decode)) fwd = off;
    } else if (s.event == http::Event::Body) {
      if (has(Decode) && !s.body.empty()) writeClient(l_.heap().copy(s.body));
      if (&c != up_) return;  // the exchange ended (the client went away)
    } else if (s.event == http::Event::Complete) {
      if (has(Interim)) {
        clear(Interim);
        continue;
      }
      if (fwd != NoForward && off > fwd) {
        if (off == size) {
          b.consume(static_cast<uint32_t>(fwd));
          writeClient(std::move(b));
        } else {
          writeClient(l_.heap().copy({b.data() + fwd, off - fwd}));
        }
      }
      onResponseComplete(off == size);
      return;
    } else {  // Error
      responseError(c);
      return;
    }
  }
  if (fwd != NoForward && off > fwd) {
    b.consume(static_cast<uint32_t>(fwd));
    writeClient(std::move(b));
  }
}

void HttpSession::responseError(UpstreamConn& c) {
  const char* why = http::errorName(c.parser().error().code).data();
  if (has(RespStarted)) {
    abortExchange(why);
    return;
  }
  upstreamFailed(502, why, HttpStats::Error::UpstreamInvalid);
}

bool HttpSession::onResponseHead(UpstreamConn& c) {
  const http::Parser& p = c.parser();
  const uint16_t status = p.status();
  if (status < 200) {
    if (status == 101) {
      if (!has(UpgradeAsked)) {
        upstreamFailed(502, "unexpected_101", HttpStats::Error::UpstreamInvalid);
        return false;
      }
      startTunnel();
      return true;
    }
    set(Interim);
    // We answered Expect ourselves; other 1xx (103 Early Hints...) go to HTTP/1.1 clients.
    if (status != 100 && version_ == http::Version::Http11) writeInterim(p);
    return true;
  }
  x_->upHead.reset();
  x_->status = status;
  set(RespStarted);
  writeResponseHead(p);
  return true;
}

void HttpSession::onResponseComplete(bool clean) {
  set(RespDone);
  if (x_ != nullptr) countRequest(x_->status);
  if (timer_ == TimerKind::Route) clearTimer();
  const bool reusable =
      clean && !has(UpDirty) && up_ != nullptr && up_->parser().keepAlive() &&
      reqPhase_ == ReqPhase::Done;
  if (reqPhase_ == ReqPhase::Done) {
    endExchange(reusable);
    return;
  }
  // The upstream answered before the whole request body came: its connection can't be reused
  // (it may not read the rest), and the rest of the body is read and dropped; the response
  // said Connection: close.
  releaseUpstream(false);
  clear(Proxying | UpBlocked);
  set(Discard);
  pumpClient();
}

void HttpSession::upReadEnd(UpstreamConn& c, int err) {
  if (&c != up_ || has(Closing)) return;
  if (has(Tunnel)) {
    if (err != 0) {
      closeClient(io::CloseMode::Reset);
      return;
    }
    set(UpEof);
    client_->shutdownWrite();
    if (has(ClientEof)) closeClient(io::CloseMode::Graceful);
    return;
  }
  if (has(RespDone)) return;
  if (err == 0) {
    const http::Step s = c.parser().finish();
    if (s.event == http::Event::Complete && has(RespStarted)) {
      onResponseComplete(false);  // a body delimited by the close
      return;
    }
    if (has(RespStarted)) {
      abortExchange("upstream_closed_mid_response");
      return;
    }
    if (retryOnFresh("closed")) return;
    upstreamFailed(502, has(RespBytes) ? "upstream_closed_mid_head" : "upstream_closed",
                   HttpStats::Error::UpstreamClosed);
    return;
  }
  if (err == -ECONNRESET) bump(l_.stats().resets);
  if (has(RespStarted)) {
    abortExchange("upstream_reset");
    return;
  }
  if (retryOnFresh("was reset")) return;
  upstreamFailed(502, "upstream_reset", HttpStats::Error::UpstreamReset);
}

void HttpSession::upWritable(UpstreamConn& c) {
  if (&c != up_ || !has(UpBlocked)) return;
  clear(UpBlocked);
  pumpClient();
}

void HttpSession::upWriteError(UpstreamConn& c, int err) {
  if (&c != up_ || has(Closing)) return;
  if (err == -ECONNRESET || err == -EPIPE) bump(l_.stats().resets);
  if (has(Tunnel)) {
    closeClient(io::CloseMode::Reset);
    return;
  }
  if (has(RespStarted)) {
    abortExchange("upstream_write_failed");
    return;
  }
  if (retryOnFresh("failed a write")) return;
  upstreamFailed(502, "upstream_write_failed", HttpStats::Error::UpstreamWriteFailed);
}

void HttpSession::upClosed(UpstreamConn& c) {
  if (&c != up_) return;
  up_ = nullptr;
  if (has(Closing) || has(RespDone) || !has(Proxying)) return;
  // Closed under us (end of drain): the exchange can't finish.
  if (has(RespStarted))
    abortExchange("upstream_closed");
  else
    upstreamFailed(502, "upstream_closed", HttpStats::Error::UpstreamClosed);
}

void HttpSession::releaseUpstream(bool reusable) {
  if (up_ == nullptr) return;
  UpstreamConn* c = std::exchange(up_, nullptr);
  // A broken exchange's queued request bytes are dropped (an upstream that stopped reading
  // must not hold the connection open); a tunnel's last bytes are flushed before the FIN.
  c->pool().release(*c, reusable, has(Tunnel) ? io::CloseMode::Graceful : io::CloseMode::Now);
}

void HttpSession::upstreamFailed(int status, const char* reason, HttpStats::Error why) {
  if (has(RespStarted)) {
    abortExchange(reason);
    return;
  }
  countError(why, static_cast<uint16_t>(status));
  localError(static_cast<uint16_t>(status), reason);
}

void HttpSession::abortExchange(const char* reason) {
  // The response head is out: the client can only learn of the failure from a truncated
  // body (Content-Length or chunked) and the close.
  if (!has(RespDone)) {
    if (x_ != nullptr && x_->status != 0) countRequest(x_->status);  // as the client saw it
    statAdd(l_.httpStats().errors[static_cast<std::size_t>(HttpStats::Error::ResponseAborted)]);
  }
  logError(0, reason);
  releaseUpstream(false);
  closeClient(io::CloseMode::Graceful);
}

void HttpSession::endExchange(bool upReusable) {
  logEnd();
  releaseUpstream(upReusable);
  clearTimer();
  if (x_ != nullptr) l_.giveExchange(std::exchange(x_, nullptr));
  const bool keep = has(KeepAlive) && !has(ClientEof) && !l_.draining();
  bits_ &= ConnectionBits;
  reqPhase_ = ReqPhase::Head;
  dropParser();  // at a message boundary: back to the pool
  route_ = -1;
  attempts_ = 0;
  if (!keep) {
    closeClient(io::CloseMode::Graceful);
    return;
  }
  if (inq_ != nullptr && inq_->count > 0) {
    set(HeadBytes);
    startNs_ = monotonicNs();  // a pipelined request's time starts when it is taken up
    setTimer(TimerKind::Header, 0);
  }
  pumpClient();
}

void HttpSession::startTunnel() {
  // 101 Switching Protocols: from here on the connection carries the upgraded protocol's bytes
  // both ways, like the L4 path; the idle timeout still applies.
  set(Tunnel | RespStarted);
  clearTimer();
  x_->upHead.reset();
  x_->status = 101;
  writeInterim(up_->parser());
  countRequest(101);  // the exchange ends here; the tunnel's bytes are not timed
  // Bytes the client sent after its request (held as a "pipelined" request) go up now.
  while (inq_ != nullptr && inq_->count > 0) {
    io::BufferRef& b = inq_->at(0);
    if (inOff_ < b.size()) {
      b.consume(inOff_);
      writeUp(std::move(b));
    }
    inq_->popFront();
    inOff_ = 0;
  }
  up_->stream().readStart();
  updateReading();
}

void HttpSession::tunnelData(io::Stream& from, io::BufferRef data) {
  if (&from == client_.get()) {
    writeUp(std::move(data));
    if (has(UpBlocked)) updateReading();
  } else {
    writeClient(std::move(data));
  }
}

// ---------------------------------------------------------------------------------------
// Timers and closing

void HttpSession::onIdleTimeout() {
  if (has(Closing)) {
    if (!has(ClientClosed)) client_->close(io::CloseMode::Now);
    return;
  }
  if (has(Proxying) && !has(RespStarted) && reqPhase_ != ReqPhase::Head) {
    clear(KeepAlive);
    upstreamFailed(504, "idle_timeout", HttpStats::Error::IdleTimeout);
    return;
  }
  closeNow();
}

void HttpSession::onTimer() {
  const TimerKind k = timer_;
  timer_ = TimerKind::None;
  if (has(Closing)) {
    if (k != TimerKind::Linger || has(ClientClosed)) return;
    // A slow client still taking the last bytes gets more time; one that takes nothing, or a
    // close that has nothing left to send and still has not finished, ends now.
    const std::size_t queued = client_->queuedBytes();
    if (queued > 0 && queued < closeQueued_) {
      closeQueued_ = static_cast<uint32_t>(queued);
      setTimer(TimerKind::Linger, l_.loop().nowMs() + CloseGraceMs);
      return;
    }
    client_->close(io::CloseMode::Now);
    return;
  }
  switch (k) {
    case TimerKind::Header:
      if (has(HeadBytes)) {
        countError(HttpStats::Error::HeaderTimeout, 408);
        sendError(408, "request_header_timeout");
      } else {
        closeClient(io::CloseMode::Now);  // nothing was asked: nothing to answer
      }
      return;
    case TimerKind::Route:
      clear(KeepAlive);
      upstreamFailed(504, "route_timeout", HttpStats::Error::UpstreamTimeout);
      return;
    case TimerKind::Linger:
      closeClient(io::CloseMode::Now);
      return;
    case TimerKind::None:
      return;
  }
}

void HttpSession::onDrain() {
  if (reqPhase_ == ReqPhase::Head && !has(HeadBytes) && up_ == nullptr && !has(Closing))
    closeClient(io::CloseMode::Graceful);
  // Otherwise the current exchange finishes, says Connection: close, and the connection ends.
}

void HttpSession::closeNow() { closeClient(io::CloseMode::Now); }

void HttpSession::closeClient(io::CloseMode mode) {
  if (has(Closing)) {
    if (mode != io::CloseMode::Graceful && !has(ClientClosed)) client_->close(mode);
    return;
  }
  logEnd();
  set(Closing);
  clearTimer();
  releaseUpstream(false);
  client_->close(mode);  // onClosed() may run inside this call
  // A graceful close waits for the queued bytes; if the client stopped reading, or the last
  // send fails (UringStream then never finishes the close: /tmp/ringway-requests.txt), don't
  // wait for ever.
  if (mode == io::CloseMode::Graceful && !has(ClientClosed)) {
    closeQueued_ = static_cast<uint32_t>(std::min<std::size_t>(client_->queuedBytes(), UINT32_MAX));
    setTimer(TimerKind::Linger, l_.loop().nowMs() + CloseGraceMs);
  }
}

void HttpSession::setTimer(TimerKind k, uint64_t at) {
  if (has(Finished)) return;
  timer_ = k;
  if (k == TimerKind::Header)
    l_.armHeaderTimer(*this);
  else
    l_.armDeadline(*this, at);
}

void HttpSession::clearTimer() {
  if (timer_ == TimerKind::None) return;
  l_.disarmTimer(*this);
  timer_ = TimerKind::None;
}

void HttpSession::writeClient(io::BufferRef b) {
  if (has(Closing)) return;
  bump(l_.stats().bytesOut, b.size());
  if (log_ != nullptr) log_->sent += b.size();
  client_->write(std::move(b));
  if (!has(ClientBlocked) && client_->writeBlocked() && up_ != nullptr) {
    set(ClientBlocked);
    up_->stream().readStop();
  }
}

void HttpSession::writeUp(io::BufferRef b) {
  if (up_ == nullptr) return;
  io::Stream& s = up_->stream();
  s.write(std::move(b));
  if (s.writeBlocked()) set(UpBlocked);
}

const config::Route* HttpSession::route() const {
  return route_ < 0 ? nullptr : &l_.config().routes[static_cast<std::size_t>(route_)];
}

const char* HttpSession::routeName(char* buf, std::size_t n) const {
  const config::Route* r = route();
  if (r == nullptr) return "-";
  if (!r->name.empty()) return r->name.c_str();
  std::snprintf(buf, n, "#%d", route_);
  return buf;
}

namespace {

std::size_t methodIndex(http::Method m) {
  switch (m) {  // HttpStats::kMethodNames' order
    case http::Method::Get: return 0;
    case http::Method::Head: return 1;
    case http::Method::Post: return 2;
    case http::Method::Put: return 3;
    case http::Method::Delete: return 4;
    case http::Method::Patch: return 5;
    case http::Method::Options: return 6;
    case http::Method::Connect: return 7;
    case http::Method::Trace: return 8;
    case http::Method::Other: break;
  }
  return 9;
}

}  // namespace

void HttpSession::countRequest(uint16_t status) {
  if (has(Counted)) return;
  set(Counted);
  HttpStats& hs = l_.httpStats();
  const std::size_t slot = route_ < 0 ? hs.routeSlots - 1 : static_cast<std::size_t>(route_);
  // A head that did not parse (or never ended) has no method we could trust: OTHER.
  const std::size_t method =
      reqPhase_ == ReqPhase::Head ? HttpStats::kMethods - 1 : methodIndex(method_);
  const std::size_t cls =
      status >= 100 && status < 600 ? status / 100 - 1 : HttpStats::kClasses - 1;
  statAdd(hs.request(slot, method, cls));
  const uint64_t now = monotonicNs();
  hs.durations[slot].observe(startNs_ != 0 && now > startNs_ ? now - startNs_ : 0);
}

void HttpSession::countError(HttpStats::Error why, uint16_t status) {
  statAdd(l_.httpStats().errors[static_cast<std::size_t>(why)]);
  countRequest(status);
}

const char* HttpSession::clusterName() const {
  const config::Route* r = route();
  if (r == nullptr || r->cluster.empty()) return "-";
  return r->cluster.c_str();
}

}  // namespace ringway::net
