#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstring>

#include "tls/context_error.h"
#include "tls/openssl_util.h"

namespace ringway::tls {

namespace {

bool fill(TicketKeys::Key& k) {
  return RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) == 1 &&
         RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size())) == 1 &&
         RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size())) == 1;
}

// Key material copied out of the lock is wiped when the callback is done with it.
struct Wiped {
  TicketKeys::Key key;
  ~Wiped() { OPENSSL_cleanse(&key, sizeof key); }
};

bool keyMac(EVP_MAC_CTX* mac, TicketKeys::Key& k) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac.data(), k.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

} // namespace

TicketKeys::TicketKeys(std::chrono::seconds rotation_interval)
    : interval_(rotation_interval), rotatedAt_(std::chrono::steady_clock::now()) {
  if (interval_.count() <= 0)
    throw ContextError("ticket keys: rotation interval must be > 0");
  if (!fill(current_))
    throw ContextError("ticket keys: cannot generate a key: " + detail::drainErrors());
}

TicketKeys::~TicketKeys() {
  OPENSSL_cleanse(&current_, sizeof current_);
  OPENSSL_cleanse(&previous_, sizeof previous_);
}

bool TicketKeys::rotate() { return replace(std::chrono::steady_clock::now(), false); }

bool TicketKeys::rotateIfDue(std::chrono::steady_clock::time_point now) {
  {
    std::lock_guard lock(mu_);
    if (now - rotatedAt_ < interval_)
      return false; // the common case: no RNG call
  }
  return replace(now, true);
}

bool TicketKeys::replace(std::chrono::steady_clock::time_point now, bool onlyIfDue) {
  Wiped next;
  if (!fill(next.key))
    return false;
  std::lock_guard lock(mu_);
  // Two workers may both have seen the key due; only the first rotates, or the second would
  // drop a previous key that is barely one interval old.
  if (onlyIfDue && now - rotatedAt_ < interval_)
    return false;
  previous_ = current_;
  hasPrevious_ = true;
  current_ = next.key;
  rotatedAt_ = now;
  ++rotations_;
  return true;
}

uint64_t TicketKeys::rotations() const {
  std::lock_guard lock(mu_);
  return rotations_;
}

TicketKeys::Key TicketKeys::current(std::chrono::steady_clock::time_point now) {
  rotateIfDue(now);
  std::lock_guard lock(mu_);
  return current_;
}

TicketKeys::Found TicketKeys::find(const unsigned char* name, Key& out) const {
  std::lock_guard lock(mu_);
  if (std::memcmp(name, current_.name.data(), NameSize) == 0) {
    out = current_;
    return Found::Current;
  }
  if (hasPrevious_ && std::memcmp(name, previous_.name.data(), NameSize) == 0) {
    out = previous_;
    return Found::Previous;
  }
  return Found::Unknown;
}

int TicketKeys::onTicket(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac, int enc) {
  Wiped w;
  if (enc != 0) {
    w.key = current(std::chrono::steady_clock::now());
    const int ivLen = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
    if (RAND_bytes(iv, ivLen) != 1)
      return -1;
    std::memcpy(key_name, w.key.name.data(), NameSize);
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, w.key.aes.data(), iv) != 1)
      return -1;
    return keyMac(mac, w.key) ? 1 : -1;
  }
  const Found found = find(key_name, w.key);
  if (found == Found::Unknown)
    return 0;
  if (!keyMac(mac, w.key))
    return -1;
  if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, w.key.aes.data(), iv) != 1)
    return -1;
  return found == Found::Current ? 1 : 2;
}

} // namespace ringway::tls
