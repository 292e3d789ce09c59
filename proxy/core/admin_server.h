// AdminServer: the operator's HTTP endpoint (admin.address), on a thread of its own so it keeps
// answering while the workers are saturated.
//
//   GET /metrics   Prometheus text format (MetricsCollector + the admin's own registry)
//   GET /healthz   200 "ok" while the process runs
//   GET /readyz    200 once every worker serves; 503 while starting, draining or failed
//   GET /config    the effective configuration, JSON (?format=yaml for YAML)
//   GET /workers   JSON: per worker id, state, backend, ring mode, connections, buffers free
//
// One thread, one poll() loop over non-blocking sockets: at most Options::maxClients
// connections at a time, each with a deadline, so a client that sends nothing (or reads
// nothing) holds one slot until its deadline and never the thread. Requests are parsed with
// ringway's http::Parser and answered with http::HeadWriter; every response closes the
// connection. Only GET and HEAD are served (405 with Allow otherwise).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.h"
#include "metrics/exposition.h"

namespace prometheus {
class Counter;
template <typename T> class Family;
} // namespace prometheus

namespace ringway::core {

class Server;

class AdminServer {
public:
  struct Options {
    std::size_t maxClients = 16;
    // From accept to the end of the request; then 408 and close.
    std::chrono::milliseconds requestTimeout{5000};
    // To send a response; then the connection is dropped.
    std::chrono::milliseconds writeTimeout{10000};
  };

  struct Response {
    uint16_t status = 200;
    std::string contentType = "text/plain; charset=utf-8";
    std::string body;
    bool allowHeader = false; // 405: "Allow: GET, HEAD"
  };

  // server must outlive this object and be started before start() is called.
  AdminServer(const Server& server, config::Address address);
  AdminServer(const Server& server, config::Address address, Options opt);
  ~AdminServer(); // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and starts the thread. Throws std::runtime_error ("admin: cannot listen on ...").
  void start();
  // Closes every connection and joins the thread; idempotent.
  void stop();
  // "127.0.0.1:9901", with port 0 resolved; empty before start().
  const std::string& boundAddress() const { return bound_; }

  // The answer to one request line, without any I/O (the poll loop calls it too).
  Response respond(std::string_view method, std::string_view target) const;

  metrics::Exposition& exposition() { return exposition_; }

private:
  struct Client;
  void run();
  void acceptAll();
  void onReadable(Client& c);
  void feed(Client& c, std::string_view in);
  void finishRequest(Client& c, uint16_t errorStatus);
  void reply(Client& c, const Response& r, bool withBody);
  void onWritable(Client& c);
  void drop(Client& c);
  void count(uint16_t status);

  const Server& server_;
  config::Address address_;
  Options opt_;
  std::string bound_;
  int listenFd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::vector<std::unique_ptr<Client>> clients_;
  metrics::Exposition exposition_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  // accept() failed for lack of descriptors or memory: the listening socket stays readable,
  // so it is left out of poll() until then (no spin), and the failure is logged once per burst.
  std::chrono::steady_clock::time_point acceptPausedUntil_{};
  bool acceptFailing_ = false;
};

} // namespace ringway::core
