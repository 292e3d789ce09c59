#include "integration/in_process_proxy.h"

#include <cstdlib>
#include <fstream>

#include "config/loader.h"
#include "core/server.h"
#include "io/loop.h"
#include "io/uring_loop.h"

namespace ringway::itest {

// ---------------------------------------------------------------------------------------
// The proxy

std::string ProxyConfig::yaml() const {
  std::string eps;
  for (const auto& e : endpoints)
    eps += "{ address: \"" + e + "\", weight: 1 }, ";
  if (!eps.empty())
    eps.resize(eps.size() - 2);
  return "workers: " + std::to_string(workers) +
         "\n"
         "admin: " +
         admin +
         "\n"
         "io: { buffer_size: " +
         bufferSize + ", buffers_per_worker: " + std::to_string(buffersPerWorker) +
         ", zerocopy_threshold: " + zerocopy + ", max_inflight_per_connection: " + maxInflight +
         ", splice: " + splice +
         " }\n"
         "defaults: { connect_timeout: " +
         connectTimeout + ", idle_timeout: 60s, drain_timeout: " + drainTimeout +
         " }\n"
         "listeners:\n"
         "  - { name: raw, address: \"127.0.0.1:0\", protocol: tcp, routes: [ { cluster: be } ], "
         "idle_timeout: " +
         idleTimeout +
         " }\n"
         "clusters:\n"
         "  - { name: be, endpoints: [ " +
         eps + " ], lb: round_robin, connect_timeout: " + connectTimeout + " }\n";
}

InProcessProxy::InProcessProxy(const ProxyConfig& c) : buffers_(c.buffersPerWorker) {
  auto cfg = config::loadString(c.yaml(), "integration.yaml");
  server_ = std::make_unique<core::Server>(cfg);
  server_->start();
  const std::string& a = server_->boundAddresses().at(0);
  port_ = static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
}

InProcessProxy::~InProcessProxy() {
  server_->stopNow();
  server_->wait();
}

std::vector<uint64_t> InProcessProxy::buffersFree() const {
  std::vector<uint64_t> v;
  for (const auto& w : server_->workers())
    v.push_back(w->loop() ? w->loop()->stats().buffersFree.load(std::memory_order_relaxed) : 0);
  return v;
}

std::string InProcessProxy::waitPoolsFree(Ms limit) const {
  const bool ok = waitFor(
      [&] {
        for (uint64_t f : buffersFree())
          if (f != buffers_)
            return false;
        return true;
      },
      limit);
  if (ok)
    return "";
  return "buffers still taken after every connection closed (of " + std::to_string(buffers_) +
         " per worker):\n" + stats();
}

uint64_t InProcessProxy::zeroCopySends() const {
  uint64_t n = 0;
  for (const auto& w : server_->workers())
    if (io::Loop* l = w->loop())
      n += l->stats().sendZc.load(std::memory_order_relaxed);
  return n;
}

uint64_t InProcessProxy::splicedBytes() const {
  uint64_t n = 0;
  for (const auto& w : server_->workers())
    if (io::Loop* l = w->loop())
      n += l->stats().splicedBytes.load(std::memory_order_relaxed);
  return n;
}

std::string InProcessProxy::stats() const {
  std::string s;
  for (const auto& w : server_->workers()) {
    io::Loop* l = w->loop();
    if (l == nullptr)
      continue;
    const io::LoopStats& st = l->stats();
    s += "worker " + std::to_string(w->id()) + ": active=" + std::to_string(w->activeSessions()) +
         " enobufs=" + std::to_string(st.enobufs.load()) +
         " buffersFree=" + std::to_string(st.buffersFree.load()) +
         " sendZc=" + std::to_string(st.sendZc.load()) +
         " spliced=" + std::to_string(st.splicedBytes.load()) +
         " spliceFallbacks=" + std::to_string(st.spliceFallbacks.load()) +
         " syscalls=" + std::to_string(st.syscalls.load());
    if (auto* u = dynamic_cast<io::UringLoop*>(l)) {
      io::RingCounters& c = u->ring().counters();
      s += " sqes=" + std::to_string(c.sqes.load()) + " cqes=" + std::to_string(c.cqes.load()) +
           " cqesByTag=[";
      for (std::size_t i = 0; i < c.cqesByTag.size(); ++i)
        s += (i ? "," : "") + std::to_string(c.cqesByTag[i].load());
      s += "] sqesByOp={";
      for (std::size_t i = 0; i < c.sqesByOp.size(); ++i)
        if (c.sqesByOp[i].load() != 0)
          s += std::to_string(i) + ":" + std::to_string(c.sqesByOp[i].load()) + " ";
      s += "}";
    }
    s += "\n";
  }
  return s;
}

long rssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

} // namespace ringway::itest
