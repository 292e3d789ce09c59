// Why a message was rejected, and the status a proxy answers with.
#pragma once

#include <cstdint>
#include <string_view>

namespace ringway::http {

// One reason per rule; proxy/http/README.md lists each with its status. Append only: metrics and
// logs may key on the numeric value.
enum class ErrorCode : uint8_t {
  None = 0,
  // Line syntax
  BareCr,
  BareLf,
  ObsFold,
  // Start line
  InvalidRequestLine,
  InvalidMethod,
  InvalidTarget,
  InvalidVersion,
  UnsupportedVersion,
  InvalidStatusLine,
  InvalidStatus,
  // Field lines
  InvalidHeaderName,
  WhitespaceBeforeColon,
  MissingColon,
  InvalidHeaderValue,
  MissingHost,
  MultipleHost,
  InvalidHost,
  // Framing
  InvalidContentLength,
  ConflictingContentLength,
  ContentLengthWithTransferEncoding,
  InvalidTransferEncoding,
  UnsupportedTransferEncoding,
  TransferEncodingHttp10,
  // Chunked coding
  InvalidChunkSize,
  ChunkSizeOverflow,
  InvalidChunkExtension,
  ChunkLineTooLong,
  InvalidChunkData,
  ForbiddenTrailer,
  // Connection
  UnexpectedEof,
  // Limits
  UriTooLong,
  HeadTooLarge,
  TooManyHeaders,
  TrailerTooLarge,
  BodyTooLarge,
};

struct ParseError {
  uint16_t status = 0; // 400, 413, 414, 431, 505; 502 for every response-parsing error
  ErrorCode code = ErrorCode::None;
};

// Stable snake_case name for logs and metrics labels, e.g. "bare_cr".
std::string_view errorName(ErrorCode code);

// The status a server answers a bad request with. Response errors are always 502: the client did
// nothing wrong, the upstream did.
uint16_t requestErrorStatus(ErrorCode code);

} // namespace ringway::http
