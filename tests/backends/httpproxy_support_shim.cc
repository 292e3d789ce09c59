// The HTTP proxy tests' upstream, client, helpers and exchanges (tests/httpproxy/support.h,
// exchanges.h), compiled into this binary too for the http tests on every backend
// (http_test.cc); a translation unit of its own, apart from the integration support in
// support_shim.cc.
#include "httpproxy/exchanges.cc" // NOLINT(bugprone-suspicious-include)
#include "httpproxy/support.cc"   // NOLINT(bugprone-suspicious-include)
