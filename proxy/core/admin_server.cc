#include "core/admin_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "config/dump.h"
#include "core/metrics_collector.h"
#include "core/server.h"
#include "core/worker.h"
#include "http/head_writer.h"
#include "http/parser.h"
#include "io/log.h"
#include "net/http_rewrite.h"
#include "net/socket.h"

namespace ringway::core {

namespace {

using Clock = std::chrono::steady_clock;

// An admin request is a request line and a few fields; anything bigger is not a scrape.
http::Limits adminLimits() {
  http::Limits l;
  l.maxHeadBytes = 8 * 1024;
  l.maxHeaders = 64;
  l.maxTargetBytes = 2 * 1024;
  l.maxBodyBytes = 64 * 1024;
  return l;
}

constexpr auto kLinger = std::chrono::milliseconds(1000);

AdminServer::Response text(uint16_t status, std::string body) {
  AdminServer::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

AdminServer::Response json(std::string body) {
  AdminServer::Response r;
  r.contentType = "application/json";
  r.body = std::move(body);
  return r;
}

} // namespace

struct AdminServer::Client {
  enum class Phase { Reading, Writing, Lingering };
  explicit Client(int f) : fd(f), parser(http::Parser::Kind::Request, adminLimits()) {}
  ~Client() {
    if (fd >= 0)
      ::close(fd);
  }
  int fd;
  http::Parser parser;
  Phase phase = Phase::Reading;
  Clock::time_point accepted = Clock::now();
  Clock::time_point deadline;
  bool sawBytes = false;
  bool head = false; // the request was HEAD: no body in the answer
  std::string method, target;
  std::string out;
  std::size_t sent = 0;
  bool done = false; // remove after this pass
};

AdminServer::AdminServer(const Server& server, config::Address address)
    : AdminServer(server, std::move(address), Options{}) {}

AdminServer::AdminServer(const Server& server, config::Address address, Options opt)
    : server_(server), address_(std::move(address)), opt_(opt) {
  if (opt_.maxClients == 0)
    opt_.maxClients = 1;
  exposition_.add(std::make_shared<MetricsCollector>(server_));
  requests_ = &prometheus::BuildCounter()
                   .Name("ringway_admin_requests_total")
                   .Help("Requests answered by the admin endpoint, by status code.")
                   .Register(exposition_.registry());
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() {
  if (thread_.joinable())
    return;
  const sockaddr* sa = address_.sa();
  int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  auto fail = [&](const char* what) {
    const int e = errno;
    if (fd >= 0)
      ::close(fd);
    throw std::runtime_error("admin: cannot listen on " + address_.text + ": " + what + ": " +
                             std::strerror(e));
  };
  if (fd < 0)
    fail("socket");
  // SO_REUSEADDR for restarts over TIME_WAIT; no SO_REUSEPORT: a second ringway on the same
  // admin port must fail here rather than share it.
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
    fail("setsockopt");
  if (::bind(fd, sa, address_.length) < 0)
    fail("bind");
  if (::listen(fd, 64) < 0)
    fail("listen");
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0)
    fail("getsockname");
  wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0)
    fail("eventfd");
  listenFd_ = fd;
  bound_ = net::formatAddress(reinterpret_cast<sockaddr*>(&ss));
  thread_ = std::thread([this] { run(); });
  LOG_INFO("admin listening on %s", bound_.c_str());
}

void AdminServer::stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    ssize_t w = ::write(wakeFd_, &one, sizeof one);
    (void)w;
    thread_.join();
  }
  clients_.clear();
  if (listenFd_ >= 0)
    ::close(listenFd_);
  if (wakeFd_ >= 0)
    ::close(wakeFd_);
  listenFd_ = wakeFd_ = -1;
}

void AdminServer::count(uint16_t status) {
  requests_->Add({{"code", std::to_string(status)}}).Increment();
}

AdminServer::Response AdminServer::respond(std::string_view method, std::string_view target) const {
  std::string_view path = target, query;
  if (const auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  static constexpr std::string_view kPaths[] = {"/",       "/metrics", "/healthz",
                                                "/readyz", "/config",  "/workers"};
  if (std::find(std::begin(kPaths), std::end(kPaths), path) == std::end(kPaths))
    return text(404, "not found; try /metrics, /healthz, /readyz, /config, /workers\n");
  if (method != "GET" && method != "HEAD") {
    Response r = text(405, "only GET and HEAD\n");
    r.allowHeader = true;
    return r;
  }

  if (path == "/metrics") {
    Response r;
    r.contentType = metrics::Exposition::kContentType;
    r.body = exposition_.render();
    return r;
  }
  if (path == "/healthz")
    return text(200, "ok\n");
  if (path == "/readyz") {
    std::string why;
    for (const auto& w : server_.workers()) {
      const Worker::State s = w->state();
      if (s != Worker::State::Serving)
        why += "worker " + std::to_string(w->id()) + ": " + workerStateName(s) + "\n";
    }
    if (server_.workers().empty())
      why = "no workers\n";
    return why.empty() ? text(200, "ready\n") : text(503, "not ready\n" + why);
  }
  if (path == "/config") {
    if (query == "format=yaml") {
      Response r;
      r.contentType = "application/yaml";
      r.body = config::toYaml(server_.config());
      return r;
    }
    return json(config::toJson(server_.config()));
  }
  if (path == "/workers") {
    config::JsonWriter w;
    w.beginObject().key("workers").beginArray();
    for (const auto& wk : server_.workers()) {
      const Worker::State s = wk->state();
      const bool live = (s == Worker::State::Serving || s == Worker::State::Draining ||
                         s == Worker::State::Stopped) &&
                        wk->loop() != nullptr;
      w.beginObject();
      w.key("id").number(static_cast<int64_t>(wk->id()));
      w.key("state").string(workerStateName(s));
      w.key("backend").string(live ? wk->loop()->backend() : backendName(server_));
      w.key("ring_mode").string(live ? wk->loop()->ringMode() : "");
      w.key("active_connections").number(wk->activeSessions());
      w.key("buffers_free")
          .number(live ? wk->loop()->stats().buffersFree.load(std::memory_order_relaxed)
                       : uint64_t{0});
      if (s == Worker::State::Failed)
        w.key("failure").string(wk->failure());
      w.endObject();
    }
    w.endArray().endObject();
    return json(w.str() + "\n");
  }
  return text(200, "ringway admin: /metrics /healthz /readyz /config /workers\n");
}

// ---- the poll loop ----

void AdminServer::run() {
  io::setLogWorker(-1);
  std::vector<pollfd> pfds;
  for (;;) {
    pfds.clear();
    pfds.push_back({wakeFd_, POLLIN, 0});
    const bool acceptPaused = Clock::now() < acceptPausedUntil_;
    pfds.push_back({listenFd_, static_cast<short>(acceptPaused ? 0 : POLLIN), 0});
    Clock::time_point next = Clock::now() + std::chrono::seconds(1);
    if (acceptPaused)
      next = std::min(next, acceptPausedUntil_);
    for (const auto& c : clients_) {
      pfds.push_back(
          {c->fd, static_cast<short>(c->phase == Client::Phase::Writing ? POLLOUT : POLLIN), 0});
      next = std::min(next, c->deadline);
    }
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
    const int rc = ::poll(pfds.data(), pfds.size(), static_cast<int>(std::max<int64_t>(wait, 0)));
    if (rc < 0 && errno != EINTR) {
      LOG_ERROR("admin: poll: %s", std::strerror(errno));
      return;
    }
    if (pfds[0].revents != 0)
      return; // stop()

    // Clients first (pfds[2 + i] belongs to clients_[i]); accepting may reorder the list.
    for (std::size_t i = 0; rc > 0 && i < clients_.size(); ++i) {
      Client& c = *clients_[i];
      const short ev = pfds[2 + i].revents;
      if (ev == 0)
        continue;
      if (c.phase == Client::Phase::Writing)
        onWritable(c);
      else
        onReadable(c);
    }
    const auto now = Clock::now();
    for (auto& c : clients_) {
      if (c->done || now < c->deadline)
        continue;
      if (c->phase == Client::Phase::Reading)
        finishRequest(*c, 408); // slow or silent client: answer and give the slot back soon
      else
        drop(*c);
    }
    std::erase_if(clients_, [](const auto& c) { return c->done; });
    if (rc > 0 && pfds[1].revents != 0)
      acceptAll();
  }
}

void AdminServer::acceptAll() {
  for (int n = 0; n < 64; ++n) {
    const int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // Out of descriptors: the pending connection stays queued and the socket readable.
        // Stop polling it for a moment instead of spinning, and say so once per burst.
        acceptPausedUntil_ = Clock::now() + std::chrono::milliseconds(100);
        if (!acceptFailing_)
          LOG_WARN("admin: accept: %s; pausing accepts, retrying every 100ms", std::strerror(err));
        acceptFailing_ = true;
      } else if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED) {
        LOG_WARN("admin: accept: %s", std::strerror(err));
      }
      return;
    }
    if (acceptFailing_) {
      LOG_INFO("admin: accepting again");
      acceptFailing_ = false;
    }
    if (clients_.size() >= opt_.maxClients) {
      // Full: the oldest connection still waiting for its request gives its slot to the new
      // one (an idle or slowloris client must not lock scrapes out). If every slot is busy
      // sending a response, the newcomer gets a short 503.
      auto oldest = clients_.end();
      for (auto it = clients_.begin(); it != clients_.end(); ++it)
        if ((*it)->phase == Client::Phase::Reading &&
            (oldest == clients_.end() || (*it)->accepted < (*oldest)->accepted))
          oldest = it;
      if (oldest != clients_.end()) {
        clients_.erase(oldest);
      } else {
        static constexpr char kBusy[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
            "busy\n";
        ssize_t w = ::send(fd, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        ::close(fd);
        count(503);
        continue;
      }
    }
    auto c = std::make_unique<Client>(fd);
    c->deadline = c->accepted + opt_.requestTimeout;
    clients_.push_back(std::move(c));
  }
}

void AdminServer::onReadable(Client& c) {
  char buf[4096];
  const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return;
    drop(c);
    return;
  }
  if (c.phase == Client::Phase::Lingering) {
    if (n == 0)
      drop(c); // the client read our answer and closed: done
    return;    // else discard what it still sends
  }
  if (n == 0) {
    if (!c.sawBytes) {
      drop(c); // connected and left: nothing to answer
      return;
    }
    const http::Step s = c.parser.finish();
    if (s.event == http::Event::Error)
      finishRequest(c, c.parser.error().status);
    else
      drop(c);
    return;
  }
  c.sawBytes = true;
  feed(c, std::string_view(buf, static_cast<std::size_t>(n)));
}

void AdminServer::feed(Client& c, std::string_view in) {
  for (;;) {
    const http::Step s = c.parser.parse(in);
    in.remove_prefix(s.consumed);
    switch (s.event) {
    case http::Event::NeedMore:
      return;
    case http::Event::Head:
      // The views die with `in`: keep copies (both are short, bounded by adminLimits()).
      c.method = c.parser.methodName();
      c.target = c.parser.target();
      break;
    case http::Event::Body:
      break; // a body on an admin request is read and ignored
    case http::Event::Complete:
      finishRequest(c, 0);
      return;
    case http::Event::Error:
    case http::Event::Closed:
      finishRequest(c, c.parser.error().status ? c.parser.error().status : 400);
      return;
    }
  }
}

void AdminServer::finishRequest(Client& c, uint16_t errorStatus) {
  if (errorStatus != 0) {
    reply(c, text(errorStatus, std::string(net::reasonPhrase(errorStatus)) + "\n"), true);
    return;
  }
  reply(c, respond(c.method, c.target), c.method != "HEAD");
}

void AdminServer::reply(Client& c, const Response& r, bool withBody) {
  count(r.status);
  const std::string length = std::to_string(r.body.size());
  char buf[1024];
  http::HeadWriter w(buf);
  w.statusLine(r.status, net::reasonPhrase(r.status));
  w.header("Content-Type", r.contentType);
  w.header("Content-Length", length);
  w.header("Cache-Control", "no-store");
  if (r.allowHeader)
    w.header("Allow", "GET, HEAD");
  w.header("Connection", "close");
  if (!w.finish()) { // cannot happen with these fixed fields; never send a broken head
    LOG_ERROR("admin: response head does not fit (%zu bytes)", w.size());
    drop(c);
    return;
  }
  c.out.assign(w.view());
  if (withBody)
    c.out += r.body;
  c.sent = 0;
  c.phase = Client::Phase::Writing;
  c.deadline = Clock::now() + opt_.writeTimeout;
  onWritable(c); // usually all of it fits in the socket buffer at once
}

void AdminServer::onWritable(Client& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return; // wait for POLLOUT
      if (errno == EINTR)
        continue;
      drop(c);
      return;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  // Everything sent: FIN, then read until the client closes (briefly), so bytes it sent that
  // we did not read don't turn our close into an RST that could destroy the response.
  ::shutdown(c.fd, SHUT_WR);
  c.out.clear();
  c.out.shrink_to_fit();
  c.phase = Client::Phase::Lingering;
  c.deadline = Clock::now() + kLinger;
}

void AdminServer::drop(Client& c) {
  if (c.fd >= 0)
    ::close(c.fd);
  c.fd = -1;
  c.done = true;
}

} // namespace ringway::core
