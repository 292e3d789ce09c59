// The integration tests' support code (random streams, checkers, backends, the binary
// runner), compiled into this binary too: one GoogleTest binary per directory of tests/, and
// the two directories test the same proxy from different sides.
#include "integration/proxy_process.cc"  // NOLINT(bugprone-suspicious-include)
#include "integration/support.cc"        // NOLINT(bugprone-suspicious-include)
