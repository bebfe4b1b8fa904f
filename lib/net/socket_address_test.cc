#include "lib/net/socket_address.h"

#include <arpa/inet.h>

#include "gtest/gtest.h"

namespace cmsg {
namespace {

TEST(SocketAddressTest, RoundTripsIpv4AndIpv6) {
  for (const char* text : {"1.2.3.4:53", "0.0.0.0:0", "[::1]:53", "[2001:db8::7]:65535",
                           "unix:/run/x.sock", "unix:@abstract"}) {
    auto a = SocketAddress::Parse(text);
    ASSERT_TRUE(a.ok()) << text << ": " << a.status();
    EXPECT_EQ(a->ToString(), text);
  }
}

TEST(SocketAddressTest, ParsesFields) {
  auto a = SocketAddress::Parse("127.0.0.2:5300");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->port(), 5300);
  EXPECT_EQ(a->ipv4().sin_addr.s_addr, inet_addr("127.0.0.2"));
  EXPECT_FALSE(a->is_wildcard());
  EXPECT_TRUE(SocketAddress::Parse("[::]:1")->is_wildcard());
  EXPECT_EQ(SocketAddress::Parse("[::1%1]:53")->ipv6().sin6_scope_id, 1u);
}

TEST(SocketAddressTest, RejectsMalformed) {
  for (const char* text : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1",
                           "1.2.3.4:5x", "::1:53", "[::1]53", "[::1:53", "[zz]:1",
                           "300.1.1.1:1", "host:53", "unix:", "[::1%nosuchif]:1"}) {
    auto a = SocketAddress::Parse(text);
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  std::string long_path = "unix:/" + std::string(200, 'x');
  EXPECT_FALSE(SocketAddress::Parse(long_path).ok());
}

TEST(SocketAddressTest, EqualityAndPortChange) {
  auto a = *SocketAddress::Parse("10.0.0.1:1");
  auto b = *SocketAddress::Parse("10.0.0.1:2");
  EXPECT_FALSE(a == b);
  b.set_port(1);
  EXPECT_TRUE(a == b);
}

}  // namespace
}  // namespace cmsg
