// Drives two Sessions against each other in memory, the way the io layer would over a socket.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tls/client_context.h"
#include "tls/server_context.h"
#include "tls/session.h"

namespace ringway::tls::test {

// A session plus the last buffer it was fed: the session reads it in place, so the buffer lives
// here until the next feed (which copies any unread remainder first).
struct Peer {
  Session s;
  std::vector<std::byte> held;
};

// Moves everything `from` has queued into `to`; returns the byte count.
std::size_t deliver(Peer& from, Peer& to);

struct HandshakeOutcome {
  Status client;
  Status server;
  bool ok() const { return client == Status::Ok && server == Status::Ok; }
};

// Runs both handshakes to completion or failure (bounded rounds); after a failure the alert
// is delivered to the other side so it can report it too.
HandshakeOutcome handshake(Peer& client, Peer& server);

// Reads whatever `p` has buffered (tickets, data) until WantMore; returns the plaintext.
std::vector<std::byte> drain(Peer& p, Status* last = nullptr);

// Sends `data` from `from` to `to` in chunks, delivering as it goes; returns what `to` read.
std::vector<std::byte> transfer(Peer& from, Peer& to, std::span<const std::byte> data);

std::vector<std::byte> randomBytes(std::size_t n, uint64_t seed);
uint64_t fnv1a(std::span<const std::byte> data);
// "" if equal, else a description: lengths, first differing offset, hex around it.
std::string describeMismatch(std::span<const std::byte> sent, std::span<const std::byte> got);

std::span<const std::byte> bytesOf(const std::string& s);

// One client connection: new sessions from both contexts, handshake run.
struct Connection {
  Peer client;
  Peer server;
  HandshakeOutcome outcome;
};
Connection connect(ClientContext& cc, ServerContext& sc);

// Subject CN of the certificate the client saw ("" if none).
std::string peerCommonName(const Session& s);

} // namespace ringway::tls::test
