#include "tls/client_hello.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "fixtures.h"
#include "pump.h"

namespace ringway::tls::test {
namespace {

using ::testing::ElementsAre;
using Bytes = std::vector<std::byte>;

// The first flight of a real client Session: its ClientHello record(s).
Bytes capturedHello(const std::string& sni, const std::vector<std::string>& alpn) {
  ClientOptions o;
  o.server_name = sni;
  o.verify = false;
  o.alpn = alpn;
  ClientContext client(o);
  std::optional<Session> s = client.newSession();
  EXPECT_EQ(s->handshake(), Status::WantMore);
  Bytes out;
  s->takeCiphertext(out);
  return out;
}

void put16(Bytes& b, std::size_t v) {
  b.push_back(std::byte(v >> 8));
  b.push_back(std::byte(v));
}

// Wraps handshake bytes into records of the given fragment sizes (the last takes the rest).
Bytes frame(std::span<const std::byte> message, const std::vector<std::size_t>& sizes) {
  Bytes out;
  std::size_t at = 0;
  for (std::size_t i = 0; at < message.size(); ++i) {
    const std::size_t n =
        i < sizes.size() ? std::min(sizes[i], message.size() - at) : message.size() - at;
    out.insert(out.end(), {std::byte{0x16}, std::byte{0x03}, std::byte{0x01}});
    put16(out, n);
    out.insert(out.end(), message.begin() + at, message.begin() + at + n);
    at += n;
  }
  return out;
}

// The handshake message inside a captured single-record hello.
std::span<const std::byte> messageOf(const Bytes& record) { return std::span(record).subspan(5); }

Bytes extension(uint16_t type, const Bytes& data) {
  Bytes e;
  put16(e, type);
  put16(e, data.size());
  e.insert(e.end(), data.begin(), data.end());
  return e;
}

Bytes sniExtension(const std::string& name) {
  Bytes entry{std::byte{0}};
  put16(entry, name.size());
  for (char c : name)
    entry.push_back(std::byte(c));
  Bytes list;
  put16(list, entry.size());
  list.insert(list.end(), entry.begin(), entry.end());
  return extension(0, list);
}

// A hand-built ClientHello message; extensions == nullopt leaves the block out entirely.
Bytes helloMessage(const std::optional<Bytes>& extensions) {
  Bytes body{std::byte{3}, std::byte{3}};
  body.insert(body.end(), 32, std::byte{0x11}); // random
  body.push_back(std::byte{0});                 // session id
  body.insert(body.end(), {std::byte{0}, std::byte{2}, std::byte{0x13}, std::byte{0x01}});
  body.insert(body.end(), {std::byte{1}, std::byte{0}}); // compression: null
  if (extensions) {
    put16(body, extensions->size());
    body.insert(body.end(), extensions->begin(), extensions->end());
  }
  Bytes msg{std::byte{1}, std::byte(body.size() >> 16)};
  put16(msg, body.size() & 0xffff);
  msg.insert(msg.end(), body.begin(), body.end());
  return msg;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(ClientHelloTest, RealHelloWithSniAndAlpn) {
  const Bytes hello = capturedHello("backend.example", {"h2", "http/1.1"});
  const PeekResult r = peekClientHello(hello);
  ASSERT_EQ(r.status, PeekStatus::Done) << r.reason;
  EXPECT_EQ(r.hello.server_name, "backend.example");
  ASSERT_TRUE(r.hello.alpn);
  EXPECT_THAT(*r.hello.alpn, ElementsAre("h2", "http/1.1"));
  EXPECT_EQ(r.hello.legacy_version, 0x0303);
  EXPECT_EQ(r.hello.wire_bytes, hello.size());
}

TEST(ClientHelloTest, RealHelloWithoutSniOrAlpn) {
  const Bytes hello = capturedHello("", {});
  const PeekResult r = peekClientHello(hello);
  ASSERT_EQ(r.status, PeekStatus::Done) << r.reason;
  EXPECT_FALSE(r.hello.server_name);
  EXPECT_FALSE(r.hello.alpn);
  EXPECT_EQ(r.hello.wire_bytes, hello.size());
}

TEST(ClientHelloTest, EveryPrefixNeedsMore) {
  const Bytes hello = capturedHello("split.example", {"h2"});
  for (std::size_t k = 0; k < hello.size(); ++k) {
    const PeekResult r = peekClientHello(std::span(hello).first(k));
    ASSERT_EQ(r.status, PeekStatus::NeedMore) << "prefix " << k << ": " << r.reason;
  }
  EXPECT_EQ(peekClientHello(hello).hello.server_name, "split.example");
}

TEST(ClientHelloTest, HelloSpreadOverSeveralRecords) {
  const Bytes single = capturedHello("records.example", {"http/1.1"});
  const auto msg = messageOf(single);
  for (const std::vector<std::size_t>& sizes :
       std::vector<std::vector<std::size_t>>{{1}, {3}, {4}, {5, 5}, {100}, {1, 1, 1, 1, 1, 50}}) {
    const Bytes framed = frame(msg, sizes);
    const PeekResult r = peekClientHello(framed);
    ASSERT_EQ(r.status, PeekStatus::Done) << "first size " << sizes[0] << ": " << r.reason;
    EXPECT_EQ(r.hello.server_name, "records.example");
    EXPECT_THAT(*r.hello.alpn, ElementsAre("http/1.1"));
    EXPECT_EQ(r.hello.wire_bytes, framed.size());
    for (std::size_t k = 0; k < framed.size(); ++k)
      ASSERT_EQ(peekClientHello(std::span(framed).first(k)).status, PeekStatus::NeedMore) << k;
  }
  // One byte per record: the hostile extreme, still within the default limit.
  const Bytes bytewise = frame(msg, std::vector<std::size_t>(msg.size(), 1));
  const PeekResult r = peekClientHello(bytewise);
  ASSERT_EQ(r.status, PeekStatus::Done) << r.reason;
  EXPECT_EQ(r.hello.server_name, "records.example");
}

TEST(ClientHelloTest, BytesAfterTheHelloAreNotPartOfIt) {
  const Bytes hello = capturedHello("tail.example", {});
  // Early data or a compat ChangeCipherSpec may follow; the peek stops at the hello.
  const Bytes withTail =
      concat({hello, {std::byte{0x14}, std::byte{3}, std::byte{3}, std::byte{0}, std::byte{1}}});
  const PeekResult r = peekClientHello(withTail);
  ASSERT_EQ(r.status, PeekStatus::Done);
  EXPECT_EQ(r.hello.wire_bytes, hello.size());
}

TEST(ClientHelloTest, HandBuiltHellos) {
  PeekResult r = peekClientHello(frame(helloMessage(std::nullopt), {}));
  ASSERT_EQ(r.status, PeekStatus::Done) << r.reason;
  EXPECT_FALSE(r.hello.server_name);

  Bytes alpn;
  put16(alpn, 6);
  alpn.insert(alpn.end(), {std::byte{2}, std::byte{'h'}, std::byte{'2'}, std::byte{2},
                           std::byte{'h'}, std::byte{'3'}});
  r = peekClientHello(frame(
      helloMessage(concat({extension(0x2b, {}), sniExtension("Mixed.Case"), extension(16, alpn)})),
      {}));
  ASSERT_EQ(r.status, PeekStatus::Done) << r.reason;
  EXPECT_EQ(r.hello.server_name, "Mixed.Case"); // as sent: the router normalizes
  EXPECT_THAT(*r.hello.alpn, ElementsAre("h2", "h3"));
}

TEST(ClientHelloTest, MalformedHellosAreRejectedWithAReason) {
  struct Case {
    const char* what;
    Bytes message;
    const char* reason;
  };
  Bytes badSniList = sniExtension("a.example");
  badSniList[5] = std::byte{0x7f}; // list length beyond the extension
  Bytes nulInName = sniExtension(std::string("a\0bc", 4));
  Bytes emptyAlpnName;
  put16(emptyAlpnName, 1);
  emptyAlpnName.push_back(std::byte{0});
  Bytes shortBlock = helloMessage(sniExtension("x.example"));
  shortBlock.pop_back(); // the extensions block now claims one byte more than the message has
  shortBlock[3] = std::byte(static_cast<uint8_t>(shortBlock[3]) - 1);
  const std::vector<Case> cases = {
      {"sni list length", helloMessage(badSniList), "malformed server_name"},
      {"nul in host name", helloMessage(nulInName), "invalid server_name host name"},
      {"duplicate sni",
       helloMessage(concat({sniExtension("a.example"), sniExtension("b.example")})),
       "duplicate server_name"},
      {"empty alpn name", helloMessage(extension(16, emptyAlpnName)), "malformed ALPN"},
      {"extensions block", shortBlock, "malformed extensions block"},
      {"too short",
       Bytes{std::byte{1}, std::byte{0}, std::byte{0}, std::byte{2}, std::byte{3}, std::byte{3}},
       "ClientHello too short"},
  };
  for (const Case& c : cases) {
    const PeekResult r = peekClientHello(frame(c.message, {}));
    EXPECT_EQ(r.status, PeekStatus::NotTls) << c.what;
    EXPECT_STREQ(r.reason, c.reason) << c.what;
  }
}

TEST(ClientHelloTest, TruncatedHelloWaitsForTheRest) {
  const Bytes hello = capturedHello("trunc.example", {});
  const PeekResult r = peekClientHello(std::span(hello).first(hello.size() - 1));
  EXPECT_EQ(r.status, PeekStatus::NeedMore);
  // A record that ends before the handshake message does, with nothing after it yet.
  const Bytes split = frame(messageOf(hello), {40});
  EXPECT_EQ(peekClientHello(std::span(split).first(45)).status, PeekStatus::NeedMore);
}

TEST(ClientHelloTest, OversizedHelloIsTooLarge) {
  const Bytes hello = capturedHello("big.example", {});
  EXPECT_EQ(peekClientHello(hello, hello.size()).status, PeekStatus::Done);
  const PeekResult small = peekClientHello(hello, hello.size() - 1);
  EXPECT_EQ(small.status, PeekStatus::TooLarge);
  // ... known from the first nine bytes, before the rest arrives.
  EXPECT_EQ(peekClientHello(std::span(hello).first(9), hello.size() - 1).status,
            PeekStatus::TooLarge);

  // 20 KiB of padding: two full records.
  const Bytes huge = helloMessage(
      concat({sniExtension("huge.example"), extension(21, Bytes(20000, std::byte{0}))}));
  const Bytes framed = frame(huge, {16384});
  EXPECT_EQ(peekClientHello(framed).status, PeekStatus::TooLarge);
  EXPECT_EQ(peekClientHello(std::span(framed).first(100)).status, PeekStatus::TooLarge);
  const PeekResult ok = peekClientHello(framed, 64 * 1024);
  ASSERT_EQ(ok.status, PeekStatus::Done) << ok.reason;
  EXPECT_EQ(ok.hello.server_name, "huge.example");

  // Tiny records make the record headers count against the limit too.
  const Bytes msg(messageOf(hello).begin(), messageOf(hello).end());
  const Bytes bytewise = frame(msg, std::vector<std::size_t>(msg.size(), 1));
  EXPECT_EQ(peekClientHello(bytewise, 2 * msg.size()).status, PeekStatus::TooLarge);
  EXPECT_EQ(peekClientHello(bytewise, bytewise.size()).status, PeekStatus::Done);
}

TEST(ClientHelloTest, NonTlsBytesAreRecognizedEarly) {
  for (const std::string& s :
       {std::string("GET / HTTP/1.1\r\n"), std::string("G"), std::string("SSH-2.0-OpenSSH_9.2\r\n"),
        std::string("\x16\x02"), std::string("\x80\x2e\x01\x00\x02", 5)}) {
    const PeekResult r = peekClientHello(bytesOf(s));
    EXPECT_EQ(r.status, PeekStatus::NotTls) << s;
    EXPECT_GT(std::strlen(r.reason), 0u);
  }
  EXPECT_EQ(peekClientHello({}).status, PeekStatus::NeedMore);
  EXPECT_EQ(peekClientHello(bytesOf("\x16")).status, PeekStatus::NeedMore);
  EXPECT_EQ(peekClientHello(bytesOf("\x16\x03\x01")).status, PeekStatus::NeedMore);
}

TEST(ClientHelloTest, WrongRecordsAreNotTls) {
  const Bytes hello = capturedHello("x.example", {});
  Bytes serverHello = hello;
  serverHello[5] = std::byte{2};
  EXPECT_STREQ(peekClientHello(serverHello).reason, "first handshake message is not a ClientHello");
  const Bytes empty{std::byte{0x16}, std::byte{3}, std::byte{1}, std::byte{0}, std::byte{0}};
  EXPECT_STREQ(peekClientHello(empty).reason, "empty handshake record");
  const Bytes tooLong{std::byte{0x16}, std::byte{3}, std::byte{1}, std::byte{0x40},
                      std::byte{0x01}};
  EXPECT_STREQ(peekClientHello(tooLong).reason, "record longer than 2^14");
  // An alert where the hello's second record should be.
  Bytes split = frame(messageOf(hello), {10});
  split[15] = std::byte{0x15};
  const PeekResult r = peekClientHello(split);
  EXPECT_EQ(r.status, PeekStatus::NotTls);
  EXPECT_STREQ(r.reason, "not a TLS handshake record");
}

TEST(ClientHelloTest, MutatedHellosNeverMisbehave) {
  const Bytes hello = capturedHello("fuzz.example", {"h2", "http/1.1"});
  const Bytes framed = frame(messageOf(hello), {50, 7});
  std::mt19937_64 rng(12345);
  int done = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes m = (i % 2 == 0) ? hello : framed;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f)
      m[rng() % m.size()] = std::byte(rng());
    if (i % 7 == 0)
      m.resize(rng() % m.size());
    const PeekResult r = peekClientHello(m);
    ASSERT_TRUE(r.status == PeekStatus::NeedMore || r.status == PeekStatus::Done ||
                r.status == PeekStatus::NotTls || r.status == PeekStatus::TooLarge)
        << "iteration " << i;
    if (r.status == PeekStatus::Done) {
      ++done;
      ASSERT_LE(r.hello.wire_bytes, m.size()) << "iteration " << i;
      if (r.hello.server_name) {
        ASSERT_LE(r.hello.server_name->size(), 255u);
      }
    }
  }
  EXPECT_GT(done, 0); // flips inside the random bytes leave the hello valid
}

TEST(ClientHelloTest, PeekAgreesWithTheServerSession) {
  ServerContext server(standardServer());
  ClientContext client(clientFor("www.ecdsa.test"));
  Peer c{std::move(*client.newSession()), {}};
  Peer s{std::move(*server.newSession()), {}};
  ASSERT_EQ(c.s.handshake(), Status::WantMore);
  const PeekResult r = peekClientHello(c.s.pendingCiphertext());
  ASSERT_EQ(r.status, PeekStatus::Done);
  ASSERT_TRUE(handshake(c, s).ok());
  EXPECT_EQ(r.hello.server_name, std::string(s.s.serverName()));
}

} // namespace
} // namespace ringway::tls::test
