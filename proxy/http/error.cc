#include "http/error.h"

namespace ringway::http {

std::string_view errorName(ErrorCode code) {
  switch (code) {
  case ErrorCode::None:
    return "none";
  case ErrorCode::BareCr:
    return "bare_cr";
  case ErrorCode::BareLf:
    return "bare_lf";
  case ErrorCode::ObsFold:
    return "obs_fold";
  case ErrorCode::InvalidRequestLine:
    return "invalid_request_line";
  case ErrorCode::InvalidMethod:
    return "invalid_method";
  case ErrorCode::InvalidTarget:
    return "invalid_target";
  case ErrorCode::InvalidVersion:
    return "invalid_version";
  case ErrorCode::UnsupportedVersion:
    return "unsupported_version";
  case ErrorCode::InvalidStatusLine:
    return "invalid_status_line";
  case ErrorCode::InvalidStatus:
    return "invalid_status";
  case ErrorCode::InvalidHeaderName:
    return "invalid_header_name";
  case ErrorCode::WhitespaceBeforeColon:
    return "whitespace_before_colon";
  case ErrorCode::MissingColon:
    return "missing_colon";
  case ErrorCode::InvalidHeaderValue:
    return "invalid_header_value";
  case ErrorCode::MissingHost:
    return "missing_host";
  case ErrorCode::MultipleHost:
    return "multiple_host";
  case ErrorCode::InvalidHost:
    return "invalid_host";
  case ErrorCode::InvalidContentLength:
    return "invalid_content_length";
  case ErrorCode::ConflictingContentLength:
    return "conflicting_content_length";
  case ErrorCode::ContentLengthWithTransferEncoding:
    return "content_length_with_transfer_encoding";
  case ErrorCode::InvalidTransferEncoding:
    return "invalid_transfer_encoding";
  case ErrorCode::UnsupportedTransferEncoding:
    return "unsupported_transfer_encoding";
  case ErrorCode::TransferEncodingHttp10:
    return "transfer_encoding_http10";
  case ErrorCode::InvalidChunkSize:
    return "invalid_chunk_size";
  case ErrorCode::ChunkSizeOverflow:
    return "chunk_size_overflow";
  case ErrorCode::InvalidChunkExtension:
    return "invalid_chunk_extension";
  case ErrorCode::ChunkLineTooLong:
    return "chunk_line_too_long";
  case ErrorCode::InvalidChunkData:
    return "invalid_chunk_data";
  case ErrorCode::ForbiddenTrailer:
    return "forbidden_trailer";
  case ErrorCode::UnexpectedEof:
    return "unexpected_eof";
  case ErrorCode::UriTooLong:
    return "uri_too_long";
  case ErrorCode::HeadTooLarge:
    return "head_too_large";
  case ErrorCode::TooManyHeaders:
    return "too_many_headers";
  case ErrorCode::TrailerTooLarge:
    return "trailer_too_large";
  case ErrorCode::BodyTooLarge:
    return "body_too_large";
  }
  return "unknown";
}

uint16_t requestErrorStatus(ErrorCode code) {
  switch (code) {
  case ErrorCode::None:
    return 0;
  case ErrorCode::UnsupportedVersion:
    return 505;
  case ErrorCode::UriTooLong:
    return 414;
  case ErrorCode::HeadTooLarge:
  case ErrorCode::TooManyHeaders:
  case ErrorCode::TrailerTooLarge:
    return 431;
  case ErrorCode::BodyTooLarge:
    return 413;
  default:
    return 400;
  }
}

} // namespace ringway::http
