#include "lib/cmsg/codec.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/udp.h>

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/space.h"

namespace cmsg {
namespace {

TEST(CodecTest, EncodesLikeTheRawMacros) {
  int fds[] = {0, 1, 2};
  ControlBuffer<Fds<3>, Ipv4Ttl> ours;
  auto n = Encode({ScmRights{fds}, Ipv4Ttl{7}}, ours.span());
  ASSERT_TRUE(n.ok()) << n.status();
  static_assert(decltype(ours)::kSize == CMSG_SPACE(12) + CMSG_SPACE(4));
  EXPECT_EQ(*n, decltype(ours)::kSize);

  alignas(cmsghdr) std::byte raw[CMSG_SPACE(12) + CMSG_SPACE(4)] = {};
  msghdr msg{};
  msg.msg_control = raw;
  msg.msg_controllen = sizeof(raw);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(fds));
  std::memcpy(CMSG_DATA(c), fds, sizeof(fds));
  c = CMSG_NXTHDR(&msg, c);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_TTL;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int ttl = 7;
  std::memcpy(CMSG_DATA(c), &ttl, sizeof(ttl));
  EXPECT_EQ(std::memcmp(ours.span().data(), raw, sizeof(raw)), 0);
}

TEST(CodecTest, RejectsTooManyFdsAndSmallBuffers) {
  std::vector<int> fds(254, 0);
  alignas(cmsghdr) std::byte buf[4096];
  auto n = Encode({ScmRights{fds}}, buf);
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(std::string(n.status().message()), testing::HasSubstr("254 fds"));
  auto small = Encode({Ipv4Ttl{1}}, absl::MakeSpan(buf, 8));
  EXPECT_EQ(small.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(CodecTest, DecodeRejectsBadLengthWithoutReadingPastTheEnd) {
  ControlBuffer<Ipv4Ttl> buf;
  ASSERT_TRUE(Encode({Ipv4Ttl{9}}, buf.span()).ok());
  cmsghdr h;
  std::memcpy(&h, buf.span().data(), sizeof(h));
  h.cmsg_len = 4096;
  std::memcpy(buf.span().data(), &h, sizeof(h));
  auto d = Decode(buf.span());
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), testing::HasSubstr("cmsg_len 4096"));
}

}  // namespace
}  // namespace cmsg
