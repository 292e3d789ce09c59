// Test support for the integration tests: everything in one include.
#pragma once

#include "integration/backends.h"
#include "integration/common.h"
#include "integration/in_process_proxy.h"
#include "integration/random_stream.h"
#include "integration/sockets.h"
