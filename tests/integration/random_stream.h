// Seeded random streams and the checker that compares what arrives against them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ringway::itest {

// ---------------------------------------------------------------------------------------
// Seeded random streams

// Byte i of a stream is a pure function of (seed, i): any slice can be regenerated, so a
// receiver checks what it got without keeping what was sent.
class RandomStream {
public:
  explicit RandomStream(uint64_t seed) : seed_(seed) {}
  void fill(uint64_t offset, uint8_t* out, std::size_t n) const;
  uint64_t seed() const { return seed_; }
  // FNV-1a 64 of the first len bytes.
  uint64_t checksum(uint64_t len) const;

private:
  uint64_t seed_;
};

uint64_t fnv1a(uint64_t h, const uint8_t* p, std::size_t n);
constexpr uint64_t FnvInit = 0xcbf29ce484222325ULL;

// Checks bytes arriving in one direction against the stream that should arrive. Keeps a
// checksum of what came and, at the first difference, the bytes around it for the report.
class StreamChecker {
public:
  StreamChecker(std::string name, uint64_t seed, uint64_t expectedLen);
  void feed(const uint8_t* p, std::size_t n);
  uint64_t received() const { return received_; }
  uint64_t expected() const { return expected_; }
  uint64_t checksum() const { return hash_; }
  // All expected bytes came, no more, and none differed.
  bool intact() const;
  // What came so far matches the stream (for a stream whose length is learnt later).
  bool matchesSoFar() const { return !differs_ && received_ <= expected_; }
  // Seed, lengths, both checksums, first differing offset and hex around it.
  std::string report() const;

private:
  std::string name_;
  RandomStream stream_;
  uint64_t expected_;
  uint64_t received_ = 0;
  uint64_t hash_ = FnvInit;
  bool differs_ = false;
  uint64_t diffAt_ = 0;
  std::vector<uint8_t> diffBytes_; // received bytes from diffAt_, up to 32
};

} // namespace ringway::itest
