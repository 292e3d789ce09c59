// Exchanges the HTTP tests run against any proxy in front of the test Upstream: the in-process
// proxy on io_uring and epoll (tests/httpproxy) and the real binary on every backend
// (tests/backends). Each checks with gtest assertions; a caller that goes on afterwards wraps
// it in ASSERT_NO_FATAL_FAILURE.
#pragma once

#include <cstdint>
#include <string>

#include "httpproxy/support.h"

namespace ringway::httptest {

// POST `path` with `body` chunked in uneven pieces (5, 11, 23, ... bytes, 999 again past
// 70,000), each chunk with an extension, then a trailer.
std::string unevenChunkedPost(const std::string& path, const std::string& body);

// Chunked both ways: an uneven chunked upload summed by the upstream; a chunked download to
// an HTTP/1.1 client (passed on chunked) and to an HTTP/1.0 one (decoded, ended by the close).
// The upload is sent from a thread while the answer is read.
void chunkedBothWays(uint16_t port, Ms readLimit);

// An 8 MiB (1 MiB sanitized) upload echoed back, then a download of as much, both checked by
// checksum, on one connection.
void largeBodiesKeepTheirChecksums(uint16_t port, Ms readLimit);

// On c: POST /sum with Expect: 100-continue: the 100 comes before any of the body is sent,
// then the sum; the upstream never sees Expect.
void expectContinue(Client& c, Upstream& upstream);

// On c: HEAD, 204 and 304 answers have no body, and the connection stays in step.
void bodilessAnswers(Client& c);

// HTTP/1.0 clients: without keep-alive answered, then closed; with keep-alive kept, and said
// so; an HTTP/1.0 upstream's body ended by its close passed on, then the client closed.
void http10KeepAliveSemantics(uint16_t port);

// `total` clients on `threads` threads, every connection open at once; each makes two
// requests; every answer must come.
void concurrentClients(uint16_t port, int total, int threads, Ms readLimit);

} // namespace ringway::httptest
