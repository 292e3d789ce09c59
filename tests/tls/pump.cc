#include "pump.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <random>

namespace ringway::tls::test {

std::size_t deliver(Peer& from, Peer& to) {
  std::vector<std::byte> buf;
  from.s.takeCiphertext(buf);
  if (buf.empty())
    return 0;
  to.s.feedCiphertext(buf);
  to.held = std::move(buf); // a moved vector keeps its storage: the borrowed span stays valid
  return to.held.size();
}

HandshakeOutcome handshake(Peer& client, Peer& server) {
  HandshakeOutcome o{Status::WantMore, Status::WantMore};
  for (int round = 0; round < 32; ++round) {
    o.client = client.s.handshake();
    const std::size_t c2s = deliver(client, server);
    o.server = server.s.handshake();
    const std::size_t s2c = deliver(server, client);
    if (o.client == Status::Error || o.server == Status::Error) {
      // Let the side that did not fail read the alert.
      if (o.client != Status::Error)
        o.client = client.s.handshake();
      if (o.server != Status::Error)
        o.server = server.s.handshake();
      return o;
    }
    if (o.client == Status::Ok && o.server == Status::Ok && c2s == 0 && s2c == 0)
      return o;
  }
  ADD_FAILURE() << "handshake did not settle in 32 rounds";
  return o;
}

std::vector<std::byte> drain(Peer& p, Status* last) {
  std::vector<std::byte> got;
  std::byte buf[16384];
  for (;;) {
    const IoResult r = p.s.readPlaintext(buf);
    if (r.status != Status::Ok) {
      if (last != nullptr)
        *last = r.status;
      return got;
    }
    got.insert(got.end(), buf, buf + r.bytes);
  }
}

std::vector<std::byte> transfer(Peer& from, Peer& to, std::span<const std::byte> data) {
  std::vector<std::byte> got;
  got.reserve(data.size());
  std::size_t sent = 0;
  std::size_t chunk = 1;
  while (sent < data.size()) {
    // Uneven chunk sizes so records straddle every kind of boundary.
    chunk = std::min<std::size_t>(chunk * 3 + 7, 200 * 1024);
    const std::size_t n = std::min(chunk, data.size() - sent);
    const IoResult w = from.s.writePlaintext(data.subspan(sent, n));
    if (w.status != Status::Ok || w.bytes != n) {
      ADD_FAILURE() << "write failed at " << sent << ": " << from.s.failure().reason;
      return got;
    }
    sent += n;
    deliver(from, to);
    std::vector<std::byte> part = drain(to);
    got.insert(got.end(), part.begin(), part.end());
    deliver(to, from); // nothing expected, but a real loop would
  }
  return got;
}

std::vector<std::byte> randomBytes(std::size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; i += 8) {
    const uint64_t x = rng();
    for (std::size_t j = 0; j < 8 && i + j < n; ++j)
      v[i + j] = std::byte(x >> (8 * j));
  }
  return v;
}

uint64_t fnv1a(std::span<const std::byte> data) {
  uint64_t h = 1469598103934665603ull;
  for (std::byte b : data)
    h = (h ^ static_cast<uint8_t>(b)) * 1099511628211ull;
  return h;
}

std::string describeMismatch(std::span<const std::byte> sent, std::span<const std::byte> got) {
  const std::size_t n = std::min(sent.size(), got.size());
  std::size_t i = 0;
  while (i < n && sent[i] == got[i])
    ++i;
  if (i == n && sent.size() == got.size())
    return "";
  std::string out = "sent " + std::to_string(sent.size()) + " bytes, got " +
                    std::to_string(got.size()) + "; first difference at " + std::to_string(i);
  auto hex = [&](std::span<const std::byte> b) {
    std::string h;
    const std::size_t from = i >= 8 ? i - 8 : 0;
    for (std::size_t k = from; k < std::min(b.size(), i + 8); ++k) {
      char x[4];
      std::snprintf(x, sizeof x, "%02x ", static_cast<unsigned>(b[k]));
      h += x;
    }
    return h;
  };
  return out + "\n sent: " + hex(sent) + "\n  got: " + hex(got);
}

std::span<const std::byte> bytesOf(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

Connection connect(ClientContext& cc, ServerContext& sc) {
  std::optional<Session> c = cc.newSession();
  std::optional<Session> s = sc.newSession();
  if (!c || !s)
    throw std::runtime_error("newSession failed");
  Connection conn{Peer{std::move(*c), {}}, Peer{std::move(*s), {}}, {}};
  conn.outcome = handshake(conn.client, conn.server);
  return conn;
}

std::string peerCommonName(const Session& s) {
  X509* cert = SSL_get0_peer_certificate(s.native());
  if (cert == nullptr)
    return "";
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  return cn;
}

} // namespace ringway::tls::test
