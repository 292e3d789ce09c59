// The integration tests' support code (random streams, checkers, backends, the binary
// runner), compiled into this binary too: one GoogleTest binary per directory of tests/, and
// the two directories test the same proxy from different sides.
#include "integration/backends.cc"          // NOLINT(bugprone-suspicious-include)
#include "integration/common.cc"            // NOLINT(bugprone-suspicious-include)
#include "integration/in_process_proxy.cc"  // NOLINT(bugprone-suspicious-include)
#include "integration/proxy_process.cc"     // NOLINT(bugprone-suspicious-include)
#include "integration/random_stream.cc"     // NOLINT(bugprone-suspicious-include)
#include "integration/sockets.cc"           // NOLINT(bugprone-suspicious-include)
