#include "core/server.h"

#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "io/log.h"
#include "net/socket.h"

namespace ringway::core {

Server::Server(std::shared_ptr<const config::Config> cfg) : cfg_(std::move(cfg)) {}

Server::~Server() {
  if (!finished()) stopNow();
  wait();
}

void Server::start() {
  const unsigned n = cfg_->workers;
  // fds[w][l]: worker w's socket for listener l. Port 0 is resolved by the first bind and
  // reused by the others, so every worker shares one port through SO_REUSEPORT.
  std::vector<std::vector<int>> fds(n, std::vector<int>(cfg_->listeners.size(), -1));
  auto closeAll = [&] {
    for (auto& w : fds)
      for (int fd : w)
        if (fd >= 0) ::close(fd);
  };
  for (std::size_t l = 0; l < cfg_->listeners.size(); ++l) {
    const config::Listener& lc = cfg_->listeners[l];
    sockaddr_storage addr = lc.address.storage;
    for (unsigned w = 0; w < n; ++w) {
      auto r = net::listenOn(reinterpret_cast<sockaddr*>(&addr), lc.address.length, lc.backlog);
      if (!r.ok()) {
        closeAll();
        throw std::runtime_error("listener '" + lc.name + "': cannot listen on " +
                                 lc.address.text + ": " + r.error().what + ": " +
                                 std::strerror(r.error().code));
      }
      fds[w][l] = r.value();
      if (w == 0) {
        const uint16_t port = htons(net::boundPort(r.value()));
        if (addr.ss_family == AF_INET6)
          reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = port;
        else
          reinterpret_cast<sockaddr_in*>(&addr)->sin_port = port;
        bound_.push_back(net::formatAddress(reinterpret_cast<sockaddr*>(&addr)));
      }
    }
  }
  for (unsigned w = 0; w < n; ++w)
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(w), cfg_, std::move(fds[w])));
  for (auto& w : workers_) w->start();
  for (auto& w : workers_) {
    while (w->state() == Worker::State::Starting)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (w->state() == Worker::State::Failed) {
      const std::string why = "worker " + std::to_string(w->id()) + ": " + w->failure();
      stopNow();
      wait();
      throw std::runtime_error(why);
    }
  }
  for (std::size_t l = 0; l < cfg_->listeners.size(); ++l)
    LOG_INFO("listener=%s protocol=%s listening on %s (%u workers, %s)",
             cfg_->listeners[l].name.c_str(),
             std::string(config::toString(cfg_->listeners[l].protocol)).c_str(), bound_[l].c_str(), n,
             std::string(config::toString(cfg_->io.backend)).c_str());
}

void Server::drain() {
  for (auto& w : workers_) w->drain();
}

void Server::reopenLogs() {
  for (auto& w : workers_) w->reopenLogs();
}

void Server::stopNow() {
  for (auto& w : workers_) w->stopNow();
}

bool Server::finished() const {
  for (auto& w : workers_) {
    const auto s = w->state();
    if (s != Worker::State::Stopped && s != Worker::State::Failed) return false;
  }
  return true;
}

void Server::wait() {
  for (auto& w : workers_) w->join();
}

}  // namespace ringway::core
