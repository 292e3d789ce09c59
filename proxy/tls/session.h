// One TLS connection: an SSL driven over in-memory I/O; the caller owns the socket.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace ringway::tls {

enum class Status : uint8_t {
  Ok,       // the call did what it was asked
  WantMore, // needs ciphertext from the peer: send pendingCiphertext(), then feed what arrives
  Closed,   // the peer sent close_notify
  Error,    // fatal; failure() says why. Send pendingCiphertext() (it may hold an alert), close.
};

enum class ErrorKind : uint8_t {
  None,
  Protocol,      // the peer's bytes are not valid TLS, or no common version/cipher/group
  PeerAlert,     // the peer sent a fatal alert (reason like "tlsv1 alert unknown ca")
  Verify,        // the peer's certificate failed verification (detail says how)
  UnexpectedEof, // feedEof() before close_notify: a truncation, or just a rude peer
  Internal,      // allocation or RNG failure
};

struct Failure {
  ErrorKind kind = ErrorKind::None;
  const char* reason = "";      // static OpenSSL reason string, never null
  const char* detail = nullptr; // static; for Verify, e.g. "hostname mismatch"
};

struct IoResult {
  Status status;
  std::size_t bytes; // plaintext bytes read into the buffer, or taken from it by a write
};

// Made by ServerContext::newSession() or ClientContext::newSession(); the context must outlive
// the session. Not thread-safe: one worker drives it. Nothing here throws.
//
// Input is read in place: feedCiphertext() borrows the caller's span and copies only what the
// SSL has not read when the caller feeds again or calls releaseInput(). Every call that returns
// WantMore has read all input, so a caller that loops until WantMore never copies.
// Output is appended to an owned buffer the caller drains, by takeCiphertext() (swap in a
// recycled vector; good for async sends) or pendingCiphertext() + consumeCiphertext().
class Session {
public:
  enum class State : uint8_t { Handshaking, Established, Closed, Failed };

  // Takes ownership of ssl (freed even on failure); nullopt only if a BIO cannot be allocated.
  static std::optional<Session> adopt(SSL* ssl);

  Session(Session&& other) noexcept;
  Session& operator=(Session&& other) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();

  // Bytes received from the socket. They must stay valid until inputBorrowed() is false, which
  // every WantMore return guarantees, or until the next feedCiphertext()/releaseInput().
  void feedCiphertext(std::span<const std::byte> bytes);
  // The socket reached EOF: once the input is read, the SSL sees the end of the stream.
  void feedEof();
  bool inputBorrowed() const { return !borrowed_.empty(); }
  // False when neither the caller's input, the copied input, nor the SSL's buffers hold
  // anything and no EOF is pending: readPlaintext() would return WantMore.
  bool mayHaveMore() const;
  // Copies what is still borrowed, so the caller may recycle its buffer now.
  void releaseInput();

  // Advances the handshake: Ok once established (and on every later call), WantMore, Error.
  Status handshake();
  // Ok with bytes > 0, WantMore (no whole record buffered), Closed, or Error.
  // Drives the handshake first if it is not done.
  IoResult readPlaintext(std::span<std::byte> out);
  // Encrypts into the output buffer. Ok takes everything; WantMore (handshake waiting on the
  // peer) may take less. The caller bounds memory by checking pendingCiphertext().size().
  IoResult writePlaintext(std::span<const std::byte> in);
  // Queues close_notify (Ok). The peer's close_notify still shows up as Closed from
  // readPlaintext(); a caller closing the socket anyway need not wait for it.
  Status shutdown();

  // Ciphertext to send; valid until the next non-const call.
  std::span<const std::byte> pendingCiphertext() const {
    return std::span<const std::byte>(out_).subspan(outHead_);
  }
  void consumeCiphertext(std::size_t n);
  // Moves all pending ciphertext into `out` (its old contents are dropped); the session keeps
  // out's previous capacity, so swapping one vector back and forth allocates nothing.
  void takeCiphertext(std::vector<std::byte>& out);
  // Lends the session an empty buffer (its capacity is what counts) to write ciphertext into,
  // when it has no output buffer: true if taken. takeCiphertext() hands it back out.
  bool lendOutput(std::vector<std::byte>& v);

  State state() const { return state_; }
  bool established() const { return state_ == State::Established; }
  const Failure& failure() const { return failure_; }
  bool isServer() const;

  // After the handshake:
  int version() const; // TLS1_2_VERSION, TLS1_3_VERSION
  // The version the handshake agreed on, 0 if it failed before (SSL_version() of a server
  // reports TLS 1.3 from the start).
  int negotiatedVersion() const;
  const char* versionName() const; // "TLSv1.3"
  const char* cipherName() const;
  std::string_view alpn() const;       // empty if none was negotiated
  std::string_view serverName() const; // SNI: the one received (server) or sent (client)
  bool resumed() const;

  SSL* native() const { return ssl_; } // escape hatch for tests and metrics

private:
  Session(SSL* ssl, BIO* bio);
  friend struct SessionBio;

  void freeSsl();
  Status fromSsl(int ret);
  void fail(ErrorKind kind, const char* reason, const char* detail = nullptr);
  void noteHandshake();
  std::size_t readInput(char* dst, std::size_t len);
  bool appendOutput(const char* src, std::size_t len);

  SSL* ssl_ = nullptr;
  BIO* bio_ = nullptr;        // owned by ssl_; its data pointer is `this`, updated on move
  std::vector<std::byte> in_; // copied input, read before borrowed_
  std::size_t inHead_ = 0;
  std::span<const std::byte> borrowed_;
  bool inEof_ = false;
  std::vector<std::byte> out_;
  std::size_t outHead_ = 0;
  State state_ = State::Handshaking;
  bool sentShutdown_ = false;
  Failure failure_;
};

} // namespace ringway::tls
