#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"

namespace ringway::config {
namespace {

using ::testing::HasSubstr;

TEST(ParseAddress, Ipv4) {
  Address a;
  std::string why;
  ASSERT_TRUE(parseAddress("127.0.0.1:5432", a, why)) << why;
  EXPECT_EQ(a.text, "127.0.0.1:5432");
  EXPECT_EQ(a.length, sizeof(sockaddr_in));
  EXPECT_EQ(a.sa()->sa_family, AF_INET);
  EXPECT_EQ(a.port(), 5432);
  const auto* sin = reinterpret_cast<const sockaddr_in*>(a.sa());
  EXPECT_EQ(ntohl(sin->sin_addr.s_addr), 0x7f000001u);
  EXPECT_EQ(ntohs(sin->sin_port), 5432);
}

TEST(ParseAddress, Ipv6) {
  Address a;
  std::string why;
  ASSERT_TRUE(parseAddress("[::1]:8443", a, why)) << why;
  EXPECT_EQ(a.length, sizeof(sockaddr_in6));
  EXPECT_EQ(a.sa()->sa_family, AF_INET6);
  EXPECT_EQ(a.port(), 8443);
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a.sa());
  EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));

  ASSERT_TRUE(parseAddress("[::]:15432", a, why)) << why;
  EXPECT_TRUE(IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr));
  ASSERT_TRUE(parseAddress("[2001:db8::10]:1", a, why)) << why;
  EXPECT_EQ(a.port(), 1);
  ASSERT_TRUE(parseAddress("[::ffff:10.0.0.1]:80", a, why)) << why;
  EXPECT_EQ(a.sa()->sa_family, AF_INET6);
}

TEST(ParseAddress, PortBounds) {
  Address a;
  std::string why;
  ASSERT_TRUE(parseAddress("0.0.0.0:0", a, why)) << "port 0 is the caller's decision";
  EXPECT_EQ(a.port(), 0);
  ASSERT_TRUE(parseAddress("0.0.0.0:65535", a, why));
  EXPECT_EQ(a.port(), 65535);

  EXPECT_FALSE(parseAddress("0.0.0.0:65536", a, why));
  EXPECT_THAT(why, HasSubstr("invalid port '65536'"));
  EXPECT_FALSE(parseAddress("0.0.0.0:99999999999", a, why));
  EXPECT_THAT(why, HasSubstr("invalid port"));
  EXPECT_FALSE(parseAddress("0.0.0.0:-1", a, why));
  EXPECT_FALSE(parseAddress("0.0.0.0:+80", a, why));
  EXPECT_FALSE(parseAddress("0.0.0.0:80x", a, why));
  EXPECT_FALSE(parseAddress("0.0.0.0:", a, why));
  EXPECT_THAT(why, HasSubstr("invalid port ''"));
  EXPECT_FALSE(parseAddress("[::1]:70000", a, why));
  EXPECT_THAT(why, HasSubstr("invalid port '70000'"));
}

TEST(ParseAddress, RejectsNonNumericAndMalformedHosts) {
  Address a;
  a.text = "untouched";
  std::string why;
  EXPECT_FALSE(parseAddress("localhost:80", a, why));
  EXPECT_EQ(why, "'localhost' is not a numeric IPv4 address (host names are not resolved)");
  EXPECT_FALSE(parseAddress("127.1:80", a, why)) << "inet_pton wants all four parts";
  EXPECT_FALSE(parseAddress("256.0.0.1:80", a, why));
  EXPECT_FALSE(parseAddress(":80", a, why));
  EXPECT_THAT(why, HasSubstr("missing host"));
  EXPECT_FALSE(parseAddress("127.0.0.1", a, why));
  EXPECT_THAT(why, HasSubstr("missing port"));
  EXPECT_FALSE(parseAddress("", a, why));
  EXPECT_THAT(why, HasSubstr("address is empty"));
  EXPECT_FALSE(parseAddress("::1:80", a, why));
  EXPECT_EQ(why, "IPv6 addresses need brackets, e.g. [::1]:8080");
  EXPECT_FALSE(parseAddress("[::1:80", a, why));
  EXPECT_THAT(why, HasSubstr("missing ']'"));
  EXPECT_FALSE(parseAddress("[::1]", a, why));
  EXPECT_THAT(why, HasSubstr("missing port after ']'"));
  EXPECT_FALSE(parseAddress("[::1]80", a, why));
  EXPECT_FALSE(parseAddress("[127.0.0.1]:80", a, why));
  EXPECT_EQ(why, "'127.0.0.1' is not a numeric IPv6 address");
  EXPECT_FALSE(parseAddress("[]:80", a, why));
  EXPECT_THAT(why, HasSubstr("missing host"));
  EXPECT_FALSE(parseAddress("[fe80::1%eth0]:80", a, why)) << "zone ids are not supported";
  EXPECT_EQ(a.text, "untouched") << "a failed parse must leave the output alone";
}

TEST(AddressPort, ZeroForUnset) { EXPECT_EQ(Address{}.port(), 0); }

} // namespace
} // namespace ringway::config
