// RINGWAY_ASSERT guards invariants (never untrusted input); it stays on in release builds.
#pragma once

#include <cstdio>
#include <cstdlib>

#define RINGWAY_ASSERT(cond)                                                              \
  do {                                                                                    \
    if (!(cond)) [[unlikely]] {                                                           \
      std::fprintf(stderr, "ringway: assertion failed: %s (%s:%d)\n", #cond, __FILE__,    \
                   __LINE__);                                                             \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
