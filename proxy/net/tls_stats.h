// TLS counters of one listener on one worker: written by the worker (relaxed load + store),
// read at scrape time by any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ringway::net {

// Counts by reason, for reasons that are static strings (OpenSSL's reason strings, ours). A
// fixed table: the owner fills a slot's count, then publishes its name (release); a reader
// sees a name (acquire) before its count. Reasons past the table go to the last slot.
class ReasonCounts {
 public:
  static constexpr std::size_t Slots = 24;
  static constexpr const char* Other = "other";

  void add(const char* reason) {
    for (std::size_t i = 0; i < Slots; ++i) {
      const char* n = names_[i].load(std::memory_order_relaxed);
      if (n == nullptr) {
        if (i == Slots - 1) reason = Other;
        counts_[i].store(1, std::memory_order_relaxed);
        names_[i].store(reason, std::memory_order_release);
        return;
      }
      if (n == reason || std::strcmp(n, reason) == 0 || (i == Slots - 1)) {
        counts_[i].store(counts_[i].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        return;
      }
    }
  }
  // Readers: slots in order until the first without a name.
  const char* name(std::size_t i) const { return names_[i].load(std::memory_order_acquire); }
  uint64_t count(std::size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  // The count for one reason (tests).
  uint64_t of(const char* reason) const {
    for (std::size_t i = 0; i < Slots; ++i) {
      const char* n = name(i);
      if (n == nullptr) break;
      if (std::strcmp(n, reason) == 0) return count(i);
    }
    return 0;
  }

 private:
  std::array<std::atomic<const char*>, Slots> names_{};
  std::array<std::atomic<uint64_t>, Slots> counts_{};
};

struct TlsStats {
  // Client side (listeners terminating TLS).
  std::atomic<uint64_t> handshakes{0};  // completed
  std::atomic<uint64_t> resumed{0};     // ... of which resumed a session
  std::atomic<uint64_t> handshakeTimeouts{0};
  std::atomic<uint64_t> notTls{0};  // garbage instead of a ClientHello
  ReasonCounts failures;            // failed handshakes and sessions, by reason
  ReasonCounts alerts;              // fatal alerts the client sent us, by reason
  // tls_passthrough.
  std::atomic<uint64_t> clientHelloTimeouts{0};
  std::atomic<uint64_t> clientHelloTooLarge{0};
  // No route for the SNI (nor a default): closed.
  std::atomic<uint64_t> noRoute{0};
  // Upstream side (clusters with tls).
  std::atomic<uint64_t> upstreamHandshakes{0};
  std::atomic<uint64_t> upstreamResumed{0};
  ReasonCounts upstreamFailures;  // by reason: "certificate verify failed", "handshake timeout"
};

}  // namespace ringway::net
