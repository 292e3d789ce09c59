// Incremental, zero-copy HTTP/1.1 parser for requests and responses: bytes in, events out, no I/O.
//
// Drive it with whatever the socket delivered, as often as it delivers:
//
//   for (;;) {
//     http::Step s = parser.parse(in);
//     in.remove_prefix(s.consumed);           // s.consumed raw bytes belong to this step
//     switch (s.event) {
//     case Event::NeedMore: return;           // all of `in` is used up; call again with more
//     case Event::Head: route(parser); parser.setBodyLimit(n); break;  // headers(), framing()...
//     case Event::Body: forward(s.body); break;  // decoded data, a view into `in`
//     case Event::Complete: done(parser.keepAlive()); break;  // the rest of `in` is the next one
//     case Event::Error: reply(parser.error().status); close(); return;
//     }
//   }
//
// and call finish() when the peer closes. A relay that forwards raw bytes instead of decoded body
// data forwards the `consumed` bytes of each Body/Complete step: framing is validated before it
// is counted as consumed.
//
// Lifetimes. When the whole head arrives in one parse() call, the views returned by method(),
// target(), headers() etc. point into that call's input: keep the buffer until you are done with
// them. When the head spans calls, the parser copies the partial head into its own buffer (sized to
// what arrived, growing up to Limits::maxHeadBytes) and the views point there. Either way they stay
// valid until the first parse() call after Event::Complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/error.h"
#include "http/message.h"

namespace ringway::http {

struct Limits {
  uint32_t maxHeadBytes =
      16 * 1024;             // start line + fields + blank line; 431 (414 in the start line)
  uint32_t maxHeaders = 100; // field lines; 431
  uint32_t maxTargetBytes = 8 * 1024; // request-target; 414
  uint32_t maxChunkLineBytes = 4096;  // chunk size + extensions; 400
  uint64_t maxBodyBytes = UINT64_MAX; // default per message; setBodyLimit() overrides; 413
};

enum class Event : uint8_t {
  NeedMore, // input exhausted (all of it consumed); call parse() again with more
  Head,     // start line and fields parsed; framing() is decided
  Body,     // Step::body holds the next piece of the (decoded) body
  Complete, // message done; remaining input belongs to the next message
  Error,    // error() says why; the parser stays failed, close the connection
  Closed,   // finish() only: the peer closed between messages
};

struct Step {
  Event event = Event::NeedMore;
  size_t consumed = 0;   // bytes of the input used by this step
  std::string_view body; // Event::Body: a view into the input
};

class Parser {
public:
  enum class Kind : uint8_t { Request, Response };

  explicit Parser(Kind kind, const Limits& limits = {});

  // Consumes a prefix of `in` and reports what it completed. Never throws. Allocates only to grow
  // per-connection buffers (the header list; the copy of a head or trailer split across calls),
  // which are kept for the next message.
  Step parse(std::string_view in);

  // The peer closed. Completes an until-close response; Closed if no message had started;
  // otherwise Error (UnexpectedEof).
  Step finish();

  // Body size limit for the current message; call after Event::Head (the router picks it). Reset to
  // Limits::maxBodyBytes when the next message starts.
  void setBodyLimit(uint64_t bytes) { bodyLimit_ = bytes; }

  // Response parsers: the method of the request being answered. HEAD responses have no body, nor
  // do 2xx answers to CONNECT. Kept across messages, so set it per request.
  void setRequestMethod(Method m) { requestMethod_ = m; }

  // Frees the assembly buffers. Call between messages on an idle connection.
  void releaseMemory();

  // Head, valid after Event::Head (see lifetimes above).
  Kind kind() const { return kind_; }
  Method method() const { return method_; }
  std::string_view methodName() const { return methodName_; }
  std::string_view target() const { return target_; }
  TargetForm targetForm() const { return targetForm_; }
  Version version() const { return version_; }
  uint16_t status() const { return status_; }
  std::string_view reason() const { return reason_; }
  std::span<const Header> headers() const { return headers_; }
  const Framing& framing() const { return framing_; }
  // Trailer fields of a chunked message, valid after Event::Complete.
  std::span<const Header> trailers() const { return trailers_; }

  // May the connection carry another message after this one? HTTP/1.1 unless "Connection: close";
  // HTTP/1.0 only with "Connection: keep-alive"; never after an error or an until-close body.
  bool keepAlive() const;
  // "Connection: upgrade" was sent (the caller checks the Upgrade header and the status).
  bool connectionUpgrade() const { return facts_.upgrade; }

  const ParseError& error() const { return error_; }
  bool failed() const { return state_ == State::Failed; }
  uint64_t bodyBytes() const { return bodyBytes_; }

private:
  enum class State : uint8_t {
    Head,
    BodyStart,
    Fixed,
    ChunkSize,
    ChunkExt,
    ChunkLf,
    ChunkData,
    ChunkDataCr,
    ChunkDataLf,
    Trailers,
    UntilClose,
    Ending, // message complete, not yet reported
    Done,   // Complete reported; the next parse() starts a new message
    Failed,
  };
  // Position inside chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ).
  enum class ExtState : uint8_t {
    Ws,
    AfterSemi,
    Name,
    AfterName,
    AfterEq,
    Token,
    Quoted,
    QuotedPair,
    AfterQuoted
  };
  // Where the line scanner is inside a CRLF-terminated block (head or trailer section).
  struct LineScan {
    uint64_t total = 0;   // bytes scanned in this block (after leading empty lines)
    uint64_t leading = 0; // bytes of empty lines before a start line
    size_t line = 0;      // bytes of the current line so far, CR included
    bool prevCr = false;  // last byte of the previous input was CR
    bool sawLine = false;
  };

  void startMessage();
  Step fail(ErrorCode code, size_t at = 0);
  Step parseHead(std::string_view in);
  Step parseChunked(std::string_view in, size_t off);
  Step parseTrailers(std::string_view in, size_t off);
  Step parseBody(std::string_view in, size_t off);

  // parser_head.cc
  ErrorCode parseHeadBlock(std::string_view head);
  ErrorCode parseRequestLine(std::string_view line);
  ErrorCode parseStatusLine(std::string_view line);
  ErrorCode parseTarget();
  ErrorCode addField(const Header& h);
  ErrorCode addContentLength(std::string_view value);
  void addTransferEncoding(std::string_view value);
  ErrorCode decideFraming();
  ErrorCode parseTrailerBlock(std::string_view block);

  const Kind kind_;
  const Limits limits_;
  State state_ = State::Head;
  ExtState ext_ = ExtState::Ws;
  ParseError error_;

  // Head
  LineScan scan_;
  std::string headBuf_; // partial head, only when split across inputs
  std::vector<Header> headers_;
  std::string_view methodName_, target_, reason_;
  Method method_ = Method::Other;
  Method requestMethod_ = Method::Get;
  TargetForm targetForm_ = TargetForm::Origin;
  Version version_ = Version::Http11;
  uint16_t status_ = 0;
  // What the fields said about framing and the connection, gathered before deciding.
  struct FieldFacts {
    uint32_t hosts = 0;
    uint32_t teCodings = 0;
    uint32_t teChunked = 0;
    uint64_t contentLength = 0;
    bool hasContentLength = false;
    bool hasTransferEncoding = false;
    bool teMalformed = false;
    bool teLastChunked = false;
    bool close = false;
    bool keepAlive = false;
    bool upgrade = false;
  } facts_;
  Framing framing_;

  // Body
  uint64_t bodyLimit_ = UINT64_MAX;
  uint64_t bodyBytes_ = 0;
  uint64_t remaining_ = 0; // of the content-length body or of the current chunk
  uint64_t chunkSize_ = 0;
  size_t chunkLine_ = 0;
  bool chunkDigits_ = false;

  // Trailers
  LineScan trailerScan_;
  std::string trailerBuf_;
  std::vector<Header> trailers_;
};

} // namespace ringway::http
