// TLS counters of one listener on one worker: written by the worker (relaxed load + store),
// read at scrape time by any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

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

// The protocol version of a handshake, as the version label shows it. Unknown: it failed
// before a version was agreed (not TLS, a timeout before the ClientHello, no common version).
enum class TlsVersion : uint8_t { Tls12, Tls13, Unknown };
inline constexpr std::size_t TlsVersions = 3;
inline constexpr const char* tlsVersionLabel(std::size_t v) {
  return v == 0 ? "TLSv1.2" : v == 1 ? "TLSv1.3" : "unknown";
}

// Upper bounds (seconds) of the handshake duration buckets: sub-millisecond at the low end
// (a resumed TLS 1.3 handshake over loopback takes well under a millisecond), up to the
// default handshake_timeout (10 s); the same bounds as the HTTP duration histograms. One more
// bucket counts what is above the last bound.
inline constexpr std::array<double, 16> HandshakeBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

// A certificate's expiry for one of its configured names (server_name "" for a default
// certificate without names): set when the listener starts, never changed afterwards.
struct CertificateExpiry {
  std::string serverName;
  int64_t notAfter = 0;  // unix seconds
};

struct TlsStats {
  // Client side (listeners terminating TLS).
  std::atomic<uint64_t> handshakes{0};  // completed
  std::atomic<uint64_t> resumed{0};     // ... of which resumed a session
  std::atomic<uint64_t> handshakeTimeouts{0};
  std::atomic<uint64_t> notTls{0};  // garbage instead of a ClientHello
  // Handshakes by version: completed (each also counted in handshakes) and failed (each also
  // counted in failures, by reason).
  std::array<std::atomic<uint64_t>, TlsVersions> succeededByVersion{};
  std::array<std::atomic<uint64_t>, TlsVersions> failedByVersion{};
  // Completed handshakes by duration (from the first bytes of the ClientHello to handshake
  // done): per-bucket counts (not cumulative), and the sum in nanoseconds.
  std::array<std::atomic<uint64_t>, HandshakeBounds.size() + 1> durationBuckets{};
  std::atomic<uint64_t> durationNanos{0};
  ReasonCounts failures;        // failed handshakes, by reason
  ReasonCounts sessionErrors;   // established sessions that failed (bad record, alert), by reason
  ReasonCounts alerts;          // fatal alerts the client sent us, by reason
  // The listener's certificates, one entry per configured name; written once on the worker
  // thread before the worker serves (readers read it after seeing the worker serving).
  std::vector<CertificateExpiry> certificates;
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
