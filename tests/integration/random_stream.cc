#include "integration/random_stream.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "integration/common.h"

namespace ringway::itest {

namespace {

std::string hexBytes(const uint8_t* p, std::size_t n) {
  std::string s;
  char b[4];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    if (i > 0)
      s += ' ';
    s += b;
  }
  return s;
}

} // namespace

// ---------------------------------------------------------------------------------------
// Random streams

void RandomStream::fill(uint64_t offset, uint8_t* out, std::size_t n) const {
  while (n > 0) {
    const uint64_t word = offset / 8;
    const unsigned skip = static_cast<unsigned>(offset % 8);
    const uint64_t v = mix(seed_ ^ (word * 0xd1342543de82ef95ULL));
    uint8_t bytes[8];
    for (unsigned i = 0; i < 8; ++i)
      bytes[i] = static_cast<uint8_t>(v >> (8 * i));
    const std::size_t take = std::min<std::size_t>(n, 8 - skip);
    std::memcpy(out, bytes + skip, take);
    out += take;
    offset += take;
    n -= take;
  }
}

uint64_t RandomStream::checksum(uint64_t len) const {
  uint64_t h = FnvInit;
  std::vector<uint8_t> buf(64 * 1024);
  for (uint64_t off = 0; off < len;) {
    const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), len - off));
    fill(off, buf.data(), n);
    h = fnv1a(h, buf.data(), n);
    off += n;
  }
  return h;
}

uint64_t fnv1a(uint64_t h, const uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

StreamChecker::StreamChecker(std::string name, uint64_t seed, uint64_t expectedLen)
    : name_(std::move(name)), stream_(seed), expected_(expectedLen) {}

void StreamChecker::feed(const uint8_t* p, std::size_t n) {
  hash_ = fnv1a(hash_, p, n);
  if (differs_) {
    const std::size_t more = std::min<std::size_t>(n, 32 - diffBytes_.size());
    diffBytes_.insert(diffBytes_.end(), p, p + more);
  } else {
    // Past the expected end nothing should come: compare against the stream anyway, so the
    // report shows the offset where the extra bytes start.
    uint8_t want[4096];
    std::size_t done = 0;
    while (done < n && !differs_) {
      const std::size_t k = std::min(sizeof want, n - done);
      const uint64_t off = received_ + done;
      stream_.fill(off, want, k);
      std::size_t i = 0;
      if (std::memcmp(want, p + done, k) != 0 || off + k > expected_) {
        while (i < k && want[i] == p[done + i] && off + i < expected_)
          ++i;
        if (i < k) {
          differs_ = true;
          diffAt_ = off + i;
          const std::size_t more = std::min<std::size_t>(n - done - i, 32);
          diffBytes_.assign(p + done + i, p + done + i + more);
          break;
        }
      }
      done += k;
    }
  }
  received_ += n;
}

bool StreamChecker::intact() const { return !differs_ && received_ == expected_; }

std::string StreamChecker::report() const {
  std::string r = name_ + ": seed=" + hex64(stream_.seed()) + " expected " +
                  std::to_string(expected_) + " bytes (fnv " + hex64(stream_.checksum(expected_)) +
                  "), received " + std::to_string(received_) + " bytes (fnv " + hex64(hash_) + ")";
  if (differs_) {
    const uint64_t from = diffAt_ >= 16 ? diffAt_ - 16 : 0;
    const std::size_t before = static_cast<std::size_t>(diffAt_ - from);
    uint8_t want[48];
    stream_.fill(from, want, sizeof want);
    // Bytes before diffAt_ matched, so the expected stream stands in for them.
    std::vector<uint8_t> got(want, want + before);
    got.insert(got.end(), diffBytes_.begin(), diffBytes_.end());
    const std::size_t wantAfter = static_cast<std::size_t>(
        std::min<uint64_t>(32, expected_ > diffAt_ ? expected_ - diffAt_ : 0));
    r += "; first difference at offset " + std::to_string(diffAt_) + "\n  expected @" +
         std::to_string(from) + ": " + hexBytes(want, before) + " | " +
         hexBytes(want + before, wantAfter) + (wantAfter == 0 ? "(end of stream)" : "") +
         "\n  received @" + std::to_string(from) + ": " + hexBytes(got.data(), before) + " | " +
         hexBytes(got.data() + before, got.size() - before);
  } else if (received_ < expected_) {
    r += "; all received bytes match, " + std::to_string(expected_ - received_) + " missing";
  }
  return r;
}

} // namespace ringway::itest
