// Keys for stateless session tickets, shared by all workers of a listener.
#pragma once

#include <openssl/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace ringway::tls {

// One TicketKeys per listener, shared (shared_ptr) by every worker's ServerContext: a client's
// next connection usually lands on another worker (SO_REUSEPORT), which must decrypt the ticket.
// New tickets use the current key. After a rotation the previous key still decrypts, and a ticket
// it decrypts is renewed with the current key, so a ticket works for one to two intervals and a
// leaked key stops mattering two intervals later. Thread-safe: a mutex guards the keys, held only
// to copy 80 bytes out, once per ticket issued or decrypted (a handshake, not a read).
class TicketKeys {
public:
  static constexpr std::size_t NameSize = 16;
  struct Key {
    std::array<unsigned char, NameSize> name{};
    std::array<unsigned char, 32> aes{};  // AES-256-CBC
    std::array<unsigned char, 32> hmac{}; // HMAC-SHA256
  };
  enum class Found { Current, Previous, Unknown };

  // Throws ContextError if the RNG fails (startup only).
  explicit TicketKeys(std::chrono::seconds rotation_interval = std::chrono::hours(1));
  ~TicketKeys();
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // Makes a new current key; the current one becomes the previous, the old previous is gone.
  // False (keys unchanged) only if the RNG fails.
  bool rotate();
  // Rotates if a full interval has passed since the last rotation.
  bool rotateIfDue(std::chrono::steady_clock::time_point now);

  std::chrono::seconds interval() const { return interval_; }
  uint64_t rotations() const;

  // The SSL_CTX_set_tlsext_ticket_key_evp_cb contract: enc=1 fills key_name and iv and keys both
  // contexts (1 = ok, -1 = error); enc=0 looks key_name up (0 = unknown key: full handshake,
  // 1 = ok, 2 = ok but issue a fresh ticket).
  int onTicket(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
               int enc);

private:
  bool replace(std::chrono::steady_clock::time_point now, bool onlyIfDue);
  Key current(std::chrono::steady_clock::time_point now);
  Found find(const unsigned char* name, Key& out) const;

  mutable std::mutex mu_;
  Key current_;
  Key previous_;
  bool hasPrevious_ = false;
  std::chrono::seconds interval_;
  std::chrono::steady_clock::time_point rotatedAt_;
  uint64_t rotations_ = 0;
};

} // namespace ringway::tls
