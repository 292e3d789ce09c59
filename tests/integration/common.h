// Integration-test basics: scale, seeds, deadlines.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "support/sanitized.h"
#include "support/uring_probe.h"

namespace ringway::itest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------
// Scale and seeds

// Every test that needs io_uring starts with REQUIRE_URING() (tests/support/uring_probe.h).

// True under ASan/UBSan/TSan builds: tests shrink their volumes so `make sanitize` stays quick
// (tests/support/sanitized.h).
using testsupport::sanitized;
// n, divided by 4 under sanitizers; RINGWAY_IT_SCALE=<divisor> overrides (1 = full size).
std::size_t scaled(std::size_t n);
// RINGWAY_IT_SEED if set, else a fresh random seed. Tests print it in every failure.
uint64_t testSeed();
std::string hex64(uint64_t v);
// splitmix64: derives independent seeds and sizes from one test seed.
uint64_t mix(uint64_t x);

// ---------------------------------------------------------------------------------------
// Deadlines: turn hangs into failures. Never used to judge speed.

class Deadline {
public:
  explicit Deadline(Ms d) : end_(Clock::now() + d) {}
  bool expired() const { return Clock::now() >= end_; }
  // Milliseconds left, clamped to [0, cap].
  int remainingMs(int cap = 1 << 30) const;

private:
  Clock::time_point end_;
};

// Polls cond every few ms until it holds or the deadline passes; returns its last value.
bool waitFor(const std::function<bool()>& cond, Ms limit);

} // namespace ringway::itest
