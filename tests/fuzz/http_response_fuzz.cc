#include "fuzz_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ringway::http::fuzz::run(ringway::http::Parser::Kind::Response, data, size);
}
