// Shared oracle of the parser fuzz targets. The first input byte picks limits, the request method
// a response answers and a seed for split points; the rest is the stream. Parsed whole and split,
// the transcripts must be equal (tests/http/driver.h renders them), and the driver's contract
// checks (consumed within the input, body inside it, NeedMore only when it is used up, body
// bytes counted) must hold. ASan catches a
// view kept into an input buffer after the parser said NeedMore: the driver frees each one.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/driver.h"
#include "http/parser.h"

namespace ringway::http::fuzz {

inline int run(Parser::Kind kind, const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  const uint8_t ctl = data[0];
  const std::string stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  Limits limits;
  if (ctl & 1) { // small limits, so the limit paths are reachable by short inputs
    limits.maxHeadBytes = 256;
    limits.maxHeaders = 8;
    limits.maxTargetBytes = 64;
    limits.maxChunkLineBytes = 32;
  }
  test::DriveOptions opt;
  opt.eof = (ctl & 2) != 0;
  opt.bodyLimit = (ctl & 4) ? 100 : 0;
  static constexpr Method Methods[] = {Method::Get, Method::Head, Method::Connect, Method::Post};
  opt.requestMethod = Methods[(ctl >> 3) & 3];

  bool broken = false;
  opt.broken = &broken;
  Parser whole(kind, limits);
  const std::string expected = test::drive(whole, {stream}, opt);

  std::vector<std::string> pieces;
  uint32_t rng = ctl * 2654435761u + 1;
  for (size_t at = 0; at < stream.size();) {
    rng = rng * 1664525u + 1013904223u;
    const size_t n = (rng >> 24) % 17; // 0..16, empty pieces included
    pieces.push_back(stream.substr(at, n));
    at += n;
  }
  Parser split(kind, limits);
  const std::string got = test::drive(split, pieces, opt);

  if (expected != got || broken) {
    std::fprintf(stderr, "whole:\n%s\nsplit:\n%s\n", expected.c_str(), got.c_str());
    std::abort();
  }
  if (whole.failed() && (whole.error().status == 0 || whole.error().code == ErrorCode::None))
    std::abort();
  if (kind == Parser::Kind::Response && whole.failed() && whole.error().status != 502)
    std::abort();
  return 0;
}

} // namespace ringway::http::fuzz
