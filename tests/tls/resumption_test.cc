#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "fixtures.h"
#include "pump.h"
#include "tls/ticket_keys.h"

namespace ringway::tls::test {
namespace {

// Connects, reads the server's tickets (TLS 1.3 sends them after the handshake), and says
// whether the connection was a resumption, asserting both sides agree.
bool connectAndSettle(ClientContext& client, ServerContext& server) {
  Connection c = connect(client, server);
  EXPECT_TRUE(c.outcome.ok()) << c.client.s.failure().reason << " / "
                              << c.server.s.failure().reason;
  drain(c.client);
  EXPECT_EQ(c.client.s.resumed(), c.server.s.resumed());
  return c.server.s.resumed();
}

ServerOptions withKeys(std::shared_ptr<TicketKeys> keys) {
  ServerOptions o = standardServer();
  o.ticket_keys = std::move(keys);
  return o;
}

class TicketTest : public ::testing::TestWithParam<const char*> {
protected:
  std::shared_ptr<TicketKeys> keys_ = std::make_shared<TicketKeys>();
  ServerContext server_{withKeys(keys_)};
  ClientContext client_{clientFor("rsa.test", GetParam())};
};

TEST_P(TicketTest, SecondConnectionResumes) {
  EXPECT_FALSE(client_.hasSavedSession());
  EXPECT_FALSE(connectAndSettle(client_, server_));
  EXPECT_TRUE(client_.hasSavedSession());
  EXPECT_TRUE(connectAndSettle(client_, server_));
  EXPECT_TRUE(connectAndSettle(client_, server_));
  EXPECT_EQ(server_.ticketKeys(), keys_);
}

TEST_P(TicketTest, TicketFromOneWorkerResumesOnAnother) {
  ServerContext otherWorker(withKeys(keys_)); // same listener, other core
  EXPECT_FALSE(connectAndSettle(client_, server_));
  EXPECT_TRUE(connectAndSettle(client_, otherWorker));
}

TEST_P(TicketTest, PreviousKeyStillDecryptsAfterOneRotation) {
  EXPECT_FALSE(connectAndSettle(client_, server_));
  ASSERT_TRUE(keys_->rotate());
  EXPECT_EQ(keys_->rotations(), 1u);
  EXPECT_TRUE(connectAndSettle(client_, server_));
  // That resumption renewed the ticket under the new key, so it survives one more rotation.
  ASSERT_TRUE(keys_->rotate());
  EXPECT_TRUE(connectAndSettle(client_, server_));
}

TEST_P(TicketTest, TicketUnderARetiredKeyFallsBackToFullHandshake) {
  EXPECT_FALSE(connectAndSettle(client_, server_));
  ASSERT_TRUE(keys_->rotate());
  ASSERT_TRUE(keys_->rotate());
  EXPECT_FALSE(connectAndSettle(client_, server_));
  EXPECT_TRUE(connectAndSettle(client_, server_)); // and the fresh ticket works
}

TEST_P(TicketTest, TicketFromAnotherListenerIsUnknown) {
  ServerContext stranger(withKeys(std::make_shared<TicketKeys>()));
  EXPECT_FALSE(connectAndSettle(client_, server_));
  EXPECT_FALSE(connectAndSettle(client_, stranger));
}

TEST_P(TicketTest, ResumedConnectionKeepsSniAndCarriesData) {
  ClientContext client(clientFor("www.ecdsa.test", GetParam()));
  EXPECT_FALSE(connectAndSettle(client, server_));
  Connection c = connect(client, server_);
  ASSERT_TRUE(c.outcome.ok());
  EXPECT_TRUE(c.server.s.resumed());
  EXPECT_EQ(c.server.s.serverName(), "www.ecdsa.test");
  const std::vector<std::byte> data = randomBytes(100000, 42);
  EXPECT_EQ(describeMismatch(data, transfer(c.client, c.server, data)), "");
}

INSTANTIATE_TEST_SUITE_P(Versions, TicketTest, ::testing::Values("1.2", "1.3"));

class SessionCacheTest : public ::testing::TestWithParam<const char*> {
protected:
  static ServerOptions noTickets() {
    ServerOptions o = standardServer();
    o.session_tickets = false;
    return o;
  }
  ServerContext server_{noTickets()};
  ClientContext client_{clientFor("rsa.test", GetParam())};
};

TEST_P(SessionCacheTest, SecondConnectionResumesFromThisWorkersCache) {
  EXPECT_EQ(server_.ticketKeys(), nullptr);
  EXPECT_FALSE(connectAndSettle(client_, server_));
  EXPECT_TRUE(client_.hasSavedSession());
  EXPECT_TRUE(connectAndSettle(client_, server_));
  EXPECT_GE(SSL_CTX_sess_number(server_.native()), 1);
}

TEST_P(SessionCacheTest, AnotherWorkersCacheDoesNotKnowTheSession) {
  ServerContext otherWorker(noTickets());
  EXPECT_FALSE(connectAndSettle(client_, server_));
  EXPECT_FALSE(connectAndSettle(client_, otherWorker));
}

INSTANTIATE_TEST_SUITE_P(Versions, SessionCacheTest, ::testing::Values("1.2", "1.3"));

TEST(ClientSessionReuseTest, OffMeansNoSavedSessionAndNoResumption) {
  ServerContext server(standardServer());
  ClientOptions o = clientFor("rsa.test");
  o.session_reuse = false;
  ClientContext client(o);
  EXPECT_FALSE(connectAndSettle(client, server));
  EXPECT_FALSE(client.hasSavedSession());
  EXPECT_FALSE(connectAndSettle(client, server));
}

TEST(ClientSessionReuseTest, ForgetSessionForcesAFullHandshake) {
  ServerContext server(standardServer());
  ClientContext client(clientFor("rsa.test"));
  EXPECT_FALSE(connectAndSettle(client, server));
  client.forgetSession();
  EXPECT_FALSE(client.hasSavedSession());
  EXPECT_FALSE(connectAndSettle(client, server));
}

// The OpenSSL ticket callback contract, driven directly.
class TicketKeysTest : public ::testing::Test {
protected:
  void SetUp() override {
    mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    ASSERT_NE(mac_, nullptr);
  }
  void TearDown() override { EVP_MAC_free(mac_); }

  // Returns the callback's result for encrypt (enc=1) or decrypt of `name`.
  int call(TicketKeys& keys, unsigned char* name, int enc) {
    unsigned char iv[EVP_MAX_IV_LENGTH] = {};
    EVP_CIPHER_CTX* cipher = EVP_CIPHER_CTX_new();
    EVP_MAC_CTX* mac = EVP_MAC_CTX_new(mac_);
    const int r = keys.onTicket(name, iv, cipher, mac, enc);
    EVP_MAC_CTX_free(mac);
    EVP_CIPHER_CTX_free(cipher);
    return r;
  }

  EVP_MAC* mac_ = nullptr;
};

TEST_F(TicketKeysTest, CurrentPreviousAndRetiredKeys) {
  TicketKeys keys;
  unsigned char name[TicketKeys::NameSize] = {};
  ASSERT_EQ(call(keys, name, 1), 1);
  EXPECT_EQ(call(keys, name, 0), 1); // current key
  ASSERT_TRUE(keys.rotate());
  EXPECT_EQ(call(keys, name, 0), 2); // previous key: decrypt and renew
  unsigned char fresh[TicketKeys::NameSize] = {};
  ASSERT_EQ(call(keys, fresh, 1), 1);
  EXPECT_NE(std::memcmp(name, fresh, sizeof name), 0);
  ASSERT_TRUE(keys.rotate());
  EXPECT_EQ(call(keys, name, 0), 0); // retired: full handshake
  EXPECT_EQ(call(keys, fresh, 0), 2);
  unsigned char zeros[TicketKeys::NameSize] = {};
  EXPECT_EQ(call(keys, zeros, 0), 0);
}

TEST_F(TicketKeysTest, RotatesOnlyWhenDue) {
  TicketKeys keys(std::chrono::seconds(60));
  EXPECT_EQ(keys.interval(), std::chrono::seconds(60));
  const auto now = std::chrono::steady_clock::now();
  EXPECT_FALSE(keys.rotateIfDue(now));
  EXPECT_TRUE(keys.rotateIfDue(now + std::chrono::seconds(61)));
  EXPECT_FALSE(keys.rotateIfDue(now + std::chrono::seconds(62)));
  EXPECT_TRUE(keys.rotateIfDue(now + std::chrono::seconds(122)));
  EXPECT_EQ(keys.rotations(), 2u);
}

TEST_F(TicketKeysTest, SessionLifetimeNeverExceedsRotationInterval) {
  ServerOptions o = standardServer();
  o.ticket_keys = std::make_shared<TicketKeys>(std::chrono::seconds(600));
  o.session_lifetime = std::chrono::seconds(7200);
  ServerContext server(o);
  EXPECT_EQ(SSL_CTX_get_timeout(server.native()), 600);
}

TEST_F(TicketKeysTest, WorkersIssueAndDecryptWhileKeysRotate) {
  TicketKeys keys;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        unsigned char name[TicketKeys::NameSize] = {};
        if (call(keys, name, 1) != 1)
          ++bad;
        const int r = call(keys, name, 0);
        if (r != 0 && r != 1 && r != 2)
          ++bad;
      }
    });
  }
  std::thread rotator([&] {
    while (!stop.load())
      keys.rotate();
  });
  for (std::thread& w : workers)
    w.join();
  stop = true;
  rotator.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(keys.rotations(), 0u);
}

} // namespace
} // namespace ringway::tls::test
