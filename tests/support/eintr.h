// Blocking socket calls in tests, made again when interrupted (EINTR).
//
// A socket with SO_RCVTIMEO or SO_SNDTIMEO is not restarted after an interruption: recv,
// send, connect and accept return EINTR, even for an interruption that is no signal at all
// (io_uring's task work when a ring this thread used is torn down; see uring_probe.h). A test
// client that takes that for a failure fails at random.
#pragma once

#include <openssl/ssl.h>

#include <cerrno>

namespace ringway::testsupport {

// f() is a socket call returning < 0 with errno on failure; made again while it is
// interrupted (at most 100 times: each one is a separate event).
template <class F> auto retryEintr(F f) -> decltype(f()) {
  for (int i = 0;; ++i) {
    errno = 0;
    const auto r = f();
    if (r >= 0 || errno != EINTR || i == 100)
      return r;
  }
}

// The same for SSL_connect, SSL_read, SSL_write on a blocking socket, where an interrupted
// read or write shows as SSL_ERROR_WANT_READ/WANT_WRITE with errno EINTR. (A timeout also
// shows as WANT_READ, with EAGAIN: not retried.)
template <class F> int sslRetryEintr(SSL* ssl, F f) {
  for (int i = 0;; ++i) {
    errno = 0;
    const int r = f();
    if (r > 0)
      return r;
    const int e = SSL_get_error(ssl, r);
    if (!((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && errno == EINTR) || i == 100)
      return r;
  }
}

} // namespace ringway::testsupport
