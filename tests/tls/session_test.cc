#include "tls/session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <cstring>

#include "fixtures.h"
#include "pump.h"

namespace ringway::tls::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class SessionTest : public ::testing::Test {
protected:
  ServerContext server_{standardServer()};
};

TEST_F(SessionTest, HandshakeTls13ReportsWhatWasNegotiated) {
  ClientContext client(clientFor("rsa.test"));
  Connection c = connect(client, server_);
  ASSERT_TRUE(c.outcome.ok()) << c.client.s.failure().reason << " / "
                              << c.server.s.failure().reason;
  for (const Peer* p : {&c.client, &c.server}) {
    EXPECT_TRUE(p->s.established());
    EXPECT_EQ(p->s.version(), TLS1_3_VERSION);
    EXPECT_STREQ(p->s.versionName(), "TLSv1.3");
    EXPECT_THAT(p->s.cipherName(), StartsWith("TLS_"));
    EXPECT_FALSE(p->s.resumed());
    EXPECT_EQ(p->s.alpn(), "");
    EXPECT_EQ(p->s.serverName(), "rsa.test");
  }
  EXPECT_TRUE(c.server.s.isServer());
  EXPECT_FALSE(c.client.s.isServer());
  EXPECT_EQ(peerCommonName(c.client.s), "rsa.test");
}

TEST_F(SessionTest, HandshakeTls12UsesEcdheAead) {
  ClientContext client(clientFor("rsa.test", "1.2"));
  Connection c = connect(client, server_);
  ASSERT_TRUE(c.outcome.ok()) << c.client.s.failure().reason;
  EXPECT_EQ(c.server.s.version(), TLS1_2_VERSION);
  EXPECT_STREQ(c.client.s.versionName(), "TLSv1.2");
  EXPECT_STREQ(c.server.s.cipherName(), "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_EQ(peerCommonName(c.client.s), "rsa.test");
}

TEST_F(SessionTest, Tls12ClientWithOnlyWeakCiphersIsRejected) {
  ClientContext client(clientFor("rsa.test", "1.2"));
  std::optional<Session> cs = client.newSession();
  ASSERT_TRUE(cs);
  ASSERT_EQ(SSL_set_cipher_list(cs->native(), "AES128-SHA:AES256-SHA"), 1); // static RSA, CBC
  Peer cp{std::move(*cs), {}};
  Peer sp{std::move(*server_.newSession()), {}};
  const HandshakeOutcome o = handshake(cp, sp);
  EXPECT_EQ(o.server, Status::Error);
  EXPECT_EQ(sp.s.failure().kind, ErrorKind::Protocol);
  EXPECT_STREQ(sp.s.failure().reason, "no shared cipher");
  EXPECT_EQ(o.client, Status::Error);
  EXPECT_EQ(cp.s.failure().kind, ErrorKind::PeerAlert);
}

class DataTest : public SessionTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(DataTest, SeveralMebibytesBothWaysArriveIntact) {
  ClientContext client(clientFor("ecdsa.test", GetParam()));
  Connection c = connect(client, server_);
  ASSERT_TRUE(c.outcome.ok());
  const uint64_t seed = 0x5eed0000 + std::strlen(GetParam());
  const std::vector<std::byte> up = randomBytes(5 * 1024 * 1024 + 17, seed);
  const std::vector<std::byte> down = randomBytes(3 * 1024 * 1024 + 5, seed + 1);
  const std::vector<std::byte> gotUp = transfer(c.client, c.server, up);
  const std::vector<std::byte> gotDown = transfer(c.server, c.client, down);
  EXPECT_EQ(fnv1a(gotUp), fnv1a(up)) << "seed " << seed << ": " << describeMismatch(up, gotUp);
  EXPECT_EQ(fnv1a(gotDown), fnv1a(down))
      << "seed " << seed + 1 << ": " << describeMismatch(down, gotDown);
  EXPECT_EQ(gotUp.size(), up.size());
  EXPECT_EQ(gotDown.size(), down.size());
}

INSTANTIATE_TEST_SUITE_P(Versions, DataTest, ::testing::Values("1.2", "1.3"));

TEST_F(SessionTest, CloseNotifyEndsEachDirection) {
  ClientContext client(clientFor("rsa.test"));
  Connection c = connect(client, server_);
  ASSERT_TRUE(c.outcome.ok());
  drain(c.client); // the server's tickets

  ASSERT_EQ(c.client.s.writePlaintext(bytesOf("last words")).status, Status::Ok);
  EXPECT_EQ(c.client.s.shutdown(), Status::Ok);
  EXPECT_EQ(c.client.s.shutdown(), Status::Ok); // idempotent
  deliver(c.client, c.server);
  Status last = Status::Ok;
  const std::vector<std::byte> got = drain(c.server, &last);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got.data()), got.size()), "last words");
  EXPECT_EQ(last, Status::Closed);
  EXPECT_EQ(c.server.s.state(), Session::State::Closed);
  std::byte buf[16];
  EXPECT_EQ(c.server.s.readPlaintext(buf).status, Status::Closed); // sticky

  EXPECT_EQ(c.server.s.shutdown(), Status::Ok);
  ASSERT_GT(deliver(c.server, c.client), 0u);
  drain(c.client, &last);
  EXPECT_EQ(last, Status::Closed);
}

TEST_F(SessionTest, EofWithoutCloseNotifyIsUnexpectedEof) {
  ClientContext client(clientFor("rsa.test"));
  Connection c = connect(client, server_);
  ASSERT_TRUE(c.outcome.ok());
  c.server.s.feedEof();
  Status last = Status::Ok;
  drain(c.server, &last);
  EXPECT_EQ(last, Status::Error);
  EXPECT_EQ(c.server.s.failure().kind, ErrorKind::UnexpectedEof);
  EXPECT_STREQ(c.server.s.failure().reason, "unexpected eof while reading");
}

TEST_F(SessionTest, EofDuringHandshakeIsAnError) {
  Peer s{std::move(*server_.newSession()), {}};
  EXPECT_EQ(s.s.handshake(), Status::WantMore);
  s.s.feedEof();
  EXPECT_EQ(s.s.handshake(), Status::Error);
  EXPECT_EQ(s.s.failure().kind, ErrorKind::UnexpectedEof);
}

TEST(SessionAlpnTest, ServerPreferenceWins) {
  ServerOptions so = standardServer();
  so.alpn = {"h2", "http/1.1"};
  ServerContext server(so);
  ClientOptions co = clientFor("rsa.test");
  co.alpn = {"http/1.1", "h2"};
  ClientContext client(co);
  Connection c = connect(client, server);
  ASSERT_TRUE(c.outcome.ok());
  EXPECT_EQ(c.server.s.alpn(), "h2");
  EXPECT_EQ(c.client.s.alpn(), "h2");
}

TEST(SessionAlpnTest, OnlyCommonProtocolIsChosen) {
  ServerOptions so = standardServer();
  so.alpn = {"h2", "http/1.1"};
  ServerContext server(so);
  ClientOptions co = clientFor("rsa.test", "1.2");
  co.alpn = {"spdy/3", "http/1.1"};
  ClientContext client(co);
  Connection c = connect(client, server);
  ASSERT_TRUE(c.outcome.ok());
  EXPECT_EQ(c.client.s.alpn(), "http/1.1");
}

TEST(SessionAlpnTest, NoOverlapContinuesWithoutAlpn) {
  ServerOptions so = standardServer();
  so.alpn = {"http/1.1"};
  ServerContext server(so);
  ClientOptions co = clientFor("rsa.test");
  co.alpn = {"h2"};
  ClientContext client(co);
  Connection c = connect(client, server);
  ASSERT_TRUE(c.outcome.ok()) << c.server.s.failure().reason;
  EXPECT_EQ(c.server.s.alpn(), "");
  EXPECT_EQ(c.client.s.alpn(), "");
}

TEST(SessionAlpnTest, ClientWithoutAlpnGetsNone) {
  ServerOptions so = standardServer();
  so.alpn = {"h2", "http/1.1"};
  ServerContext server(so);
  ClientContext client(clientFor("rsa.test"));
  Connection c = connect(client, server);
  ASSERT_TRUE(c.outcome.ok());
  EXPECT_EQ(c.server.s.alpn(), "");
}

TEST_F(SessionTest, HttpRequestInsteadOfClientHelloIsACleanError) {
  Peer s{std::move(*server_.newSession()), {}};
  const std::string req = "GET / HTTP/1.1\r\nHost: rsa.test\r\n\r\n";
  s.s.feedCiphertext(bytesOf(req));
  EXPECT_EQ(s.s.handshake(), Status::Error);
  EXPECT_EQ(s.s.state(), Session::State::Failed);
  EXPECT_EQ(s.s.failure().kind, ErrorKind::Protocol);
  EXPECT_STREQ(s.s.failure().reason, "http request");
  // Sticky, and no further calls into the failed SSL.
  std::byte buf[16];
  EXPECT_EQ(s.s.readPlaintext(buf).status, Status::Error);
  EXPECT_EQ(s.s.writePlaintext(bytesOf("x")).status, Status::Error);
  EXPECT_EQ(s.s.handshake(), Status::Error);
  EXPECT_EQ(s.s.shutdown(), Status::Error);
}

TEST_F(SessionTest, RandomGarbageIsACleanError) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    Peer s{std::move(*server_.newSession()), {}};
    std::vector<std::byte> junk = randomBytes(600, seed);
    if (seed % 2 == 0) { // a plausible record header over garbage
      junk[0] = std::byte{0x16};
      junk[1] = std::byte{0x03};
      junk[2] = std::byte{0x01};
    }
    s.s.feedCiphertext(junk);
    const Status st = s.s.handshake();
    ASSERT_NE(st, Status::Ok) << "seed " << seed;
    if (st == Status::Error) {
      EXPECT_NE(s.s.failure().kind, ErrorKind::None) << "seed " << seed;
      EXPECT_GT(std::strlen(s.s.failure().reason), 0u) << "seed " << seed;
    } else {
      EXPECT_FALSE(s.s.inputBorrowed()); // waiting for a record that will never come
    }
  }
}

TEST_F(SessionTest, RecordHeaderGarbageNamesTheReason) {
  Peer s{std::move(*server_.newSession()), {}};
  const unsigned char junk[] = {0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff};
  s.s.feedCiphertext(std::as_bytes(std::span(junk)));
  EXPECT_EQ(s.s.handshake(), Status::Error);
  EXPECT_EQ(s.s.failure().kind, ErrorKind::Protocol);
  EXPECT_GT(std::strlen(s.s.failure().reason), 0u);
  EXPECT_GT(s.s.pendingCiphertext().size(), 0u) << "an alert should be queued for the peer";
}

TEST_F(SessionTest, GarbageFromServerFailsTheClient) {
  ClientContext client(clientFor("rsa.test"));
  Peer c{std::move(*client.newSession()), {}};
  EXPECT_EQ(c.s.handshake(), Status::WantMore);
  EXPECT_GT(c.s.pendingCiphertext().size(), 100u);      // the ClientHello
  const std::string banner = "SSH-2.0-OpenSSH_9.2\r\n"; // fed input must outlive its reading
  c.s.feedCiphertext(bytesOf(banner));
  EXPECT_EQ(c.s.handshake(), Status::Error);
  EXPECT_EQ(c.s.failure().kind, ErrorKind::Protocol);
  EXPECT_STREQ(c.s.failure().reason, "wrong version number");
}

TEST_F(SessionTest, OneByteAtATimeStillHandshakesAndReadsInPlace) {
  ClientContext client(clientFor("www.ecdsa.test"));
  Peer c{std::move(*client.newSession()), {}};
  Peer s{std::move(*server_.newSession()), {}};
  std::vector<std::byte> c2s, s2c;
  std::size_t c2sAt = 0, s2cAt = 0;
  for (int i = 0; i < 20000 && !(c.s.established() && s.s.established()); ++i) {
    if (c.s.handshake() == Status::Error || s.s.handshake() == Status::Error)
      break;
    std::vector<std::byte> tmp;
    c.s.takeCiphertext(tmp);
    c2s.insert(c2s.end(), tmp.begin(), tmp.end());
    s.s.takeCiphertext(tmp);
    s2c.insert(s2c.end(), tmp.begin(), tmp.end());
    if (c2sAt < c2s.size()) {
      s.s.feedCiphertext(std::span(c2s).subspan(c2sAt++, 1));
      if (s.s.handshake() == Status::WantMore) {
        ASSERT_FALSE(s.s.inputBorrowed());
      }
      s.s.releaseInput(); // c2s may reallocate before the next call
    }
    if (s2cAt < s2c.size()) {
      c.s.feedCiphertext(std::span(s2c).subspan(s2cAt++, 1));
      c.s.releaseInput();
    }
  }
  ASSERT_TRUE(c.s.established()) << c.s.failure().reason;
  ASSERT_TRUE(s.s.established()) << s.s.failure().reason;
  EXPECT_EQ(s.s.serverName(), "www.ecdsa.test");
  EXPECT_EQ(peerCommonName(c.s), "ecdsa.test");
}

TEST_F(SessionTest, UnreadInputSurvivesReleaseInput) {
  ClientContext client(clientFor("rsa.test"));
  Connection c = connect(client, server_);
  ASSERT_TRUE(c.outcome.ok());
  drain(c.client);
  ASSERT_EQ(c.client.s.writePlaintext(bytesOf(std::string(40000, 'z'))).status, Status::Ok);
  std::vector<std::byte> wire;
  c.client.s.takeCiphertext(wire);
  c.server.s.feedCiphertext(wire);
  std::byte small[100];
  IoResult r = c.server.s.readPlaintext(small); // reads one record's worth of the input
  ASSERT_EQ(r.status, Status::Ok);
  EXPECT_TRUE(c.server.s.inputBorrowed());
  c.server.s.releaseInput();
  EXPECT_FALSE(c.server.s.inputBorrowed());
  std::fill(wire.begin(), wire.end(), std::byte{0}); // the caller recycles its buffer
  std::size_t total = r.bytes;
  std::byte buf[4096];
  while ((r = c.server.s.readPlaintext(buf)).status == Status::Ok) {
    total += r.bytes;
    for (std::size_t i = 0; i < r.bytes; ++i)
      ASSERT_EQ(buf[i], std::byte{'z'});
  }
  EXPECT_EQ(r.status, Status::WantMore);
  EXPECT_EQ(total, 40000u);
}

TEST_F(SessionTest, PendingAndConsumeInPieces) {
  ClientContext client(clientFor("rsa.test"));
  Connection c = connect(client, server_);
  ASSERT_TRUE(c.outcome.ok());
  drain(c.client);
  const std::vector<std::byte> data = randomBytes(300000, 7);
  ASSERT_EQ(c.client.s.writePlaintext(data).bytes, data.size());
  std::vector<std::byte> wire;
  while (!c.client.s.pendingCiphertext().empty()) {
    const auto p = c.client.s.pendingCiphertext();
    const std::size_t n = std::min<std::size_t>(p.size(), 777); // a short send
    wire.insert(wire.end(), p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n));
    c.client.s.consumeCiphertext(n);
  }
  c.server.s.feedCiphertext(wire);
  const std::vector<std::byte> got = drain(c.server);
  EXPECT_EQ(describeMismatch(data, got), "");
}

TEST_F(SessionTest, WriteBeforeHandshakeStartsItAndTakesNothing) {
  ClientContext client(clientFor("rsa.test"));
  Peer c{std::move(*client.newSession()), {}};
  Peer s{std::move(*server_.newSession()), {}};
  const IoResult w = c.s.writePlaintext(bytesOf("early"));
  EXPECT_EQ(w.status, Status::WantMore);
  EXPECT_EQ(w.bytes, 0u);
  EXPECT_GT(c.s.pendingCiphertext().size(), 0u);
  ASSERT_TRUE(handshake(c, s).ok());
  ASSERT_EQ(c.s.writePlaintext(bytesOf("early")).status, Status::Ok);
  deliver(c, s);
  const std::vector<std::byte> got = drain(s);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got.data()), got.size()), "early");
}

TEST_F(SessionTest, MovedSessionKeepsItsConnection) {
  ClientContext client(clientFor("rsa.test"));
  Peer c{std::move(*client.newSession()), {}};
  Peer s{std::move(*server_.newSession()), {}};
  EXPECT_EQ(c.s.handshake(), Status::WantMore);
  deliver(c, s);
  Session moved = std::move(s.s); // mid-handshake, with borrowed input
  std::vector<Session> many;
  many.push_back(std::move(moved));
  s.s = std::move(many.back());
  ASSERT_TRUE(handshake(c, s).ok());
  ASSERT_EQ(s.s.writePlaintext(bytesOf("hi")).status, Status::Ok);
  deliver(s, c);
  const std::vector<std::byte> got = drain(c);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got.data()), got.size()), "hi");
}

TEST_F(SessionTest, TakeCiphertextRecyclesTheCallersVector) {
  ClientContext client(clientFor("rsa.test"));
  Peer c{std::move(*client.newSession()), {}};
  ASSERT_EQ(c.s.handshake(), Status::WantMore);
  std::vector<std::byte> spare;
  spare.reserve(8192);
  const std::size_t helloSize = c.s.pendingCiphertext().size();
  c.s.takeCiphertext(spare);
  EXPECT_EQ(spare.size(), helloSize);
  EXPECT_TRUE(c.s.pendingCiphertext().empty());
  c.s.takeCiphertext(spare); // nothing pending: the vector comes back empty
  EXPECT_TRUE(spare.empty());
}

} // namespace
} // namespace ringway::tls::test

namespace ringway::tls::test {
namespace {

TEST(SessionLifetimeTest, SessionsOutlivingTheirContextsStillWork) {
  ServerOptions so = standardServer();
  so.alpn = {"h2"};
  auto server = std::make_unique<ServerContext>(so);
  ClientOptions co;
  co.server_name = "rsa.test";
  co.verify = false;
  auto client = std::make_unique<ClientContext>(co);
  Peer c{std::move(*client->newSession()), {}};
  Peer s{std::move(*server->newSession()), {}};
  server.reset(); // a misuse, but it must not crash: callbacks find no context
  client.reset();
  ASSERT_TRUE(handshake(c, s).ok()) << s.s.failure().reason;
  EXPECT_EQ(peerCommonName(c.s), "default.test"); // no SNI switch without the context
  EXPECT_EQ(s.s.alpn(), "");
  drain(c);
}

} // namespace
} // namespace ringway::tls::test
