// Counts operator new calls in this test binary (router_test: matching does not allocate).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace ringway::http {
std::atomic<uint64_t> testAllocations{0};
}

// ASan brings its own operator new (and checks new/free pairs across libraries): not there.
#ifndef __SANITIZE_ADDRESS__

void* operator new(std::size_t n) {
  ringway::http::testAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif
