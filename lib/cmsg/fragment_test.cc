// Kinds that need a small MTU: IP_RECVFRAGSIZE / IPV6_RECVFRAGSIZE on
// datagrams that arrive fragmented, IPV6_DONTFRAG per packet and the
// IPV6_PATHMTU report it causes. The test moves itself into a network
// namespace of its own (with a user namespace when it must) and lowers the
// loopback MTU there to 1280, the IPv6 minimum; the host is untouched.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

using ::cmsg::testing::BoundUdpSocket;
using ::cmsg::testing::EnterOwnNetworkNamespace;
using ::cmsg::testing::LocalAddress;
using ::cmsg::testing::SetLoopbackMtu;

constexpr int kMtu = 1280;

class FragmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = EnterOwnNetworkNamespace();
    if (why.empty()) why = SetLoopbackMtu(kMtu);
    if (!why.empty()) GTEST_SKIP() << "no network namespace with a small MTU: " << why;
  }
};

using FragBuffer = ControlBuffer<Ipv4RecvFragsize, Ipv6RecvFragsize, Ipv6PathMtu>;

// Sends `size` bytes from a new socket to `rx` and receives them there.
absl::StatusOr<ReceivedMessage> SendAndReceive(int family, int rx, size_t size,
                                               FragBuffer& control, std::vector<char>& data) {
  UniqueFd tx = BoundUdpSocket(family);
  SocketAddress to = LocalAddress(rx);
  std::string payload(size, 'f');
  absl::StatusOr<size_t> sent = SendMsg(tx.get(), payload, {}, {.to = &to});
  if (!sent.ok()) return sent.status();
  data.assign(65536, 0);
  return RecvMsg(rx, absl::MakeSpan(data), control.span());
}

TEST_F(FragmentTest, Ipv4RecvFragsizeOnlyOnFragmentedDatagrams) {
  UniqueFd rx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(rx.ok());
  ASSERT_TRUE(ReceiveFragsize(rx.get()).ok());
  FragBuffer control;
  std::vector<char> data;
  auto whole = SendAndReceive(AF_INET, rx.get(), 100, control, data);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->Find<Ipv4RecvFragsize>(), nullptr);
  auto cut = SendAndReceive(AF_INET, rx.get(), 3000, control, data);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(cut->bytes, 3000u);
  const auto* frag = cut->Find<Ipv4RecvFragsize>();
  ASSERT_NE(frag, nullptr);
  EXPECT_GT(frag->size, 1000);  // the largest fragment: as big as the MTU allows
  EXPECT_LE(frag->size, kMtu);
}

TEST_F(FragmentTest, Ipv6RecvFragsizeOnlyOnFragmentedDatagrams) {
  UniqueFd rx = BoundUdpSocket(AF_INET6);
  ASSERT_TRUE(rx.ok());
  ASSERT_TRUE(ReceiveFragsize(rx.get()).ok());
  FragBuffer control;
  std::vector<char> data;
  auto whole = SendAndReceive(AF_INET6, rx.get(), 100, control, data);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->Find<Ipv6RecvFragsize>(), nullptr);
  auto cut = SendAndReceive(AF_INET6, rx.get(), 3000, control, data);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(cut->bytes, 3000u);
  const auto* frag = cut->Find<Ipv6RecvFragsize>();
  ASSERT_NE(frag, nullptr);
  EXPECT_GT(frag->size, 1000);
  EXPECT_LE(frag->size, kMtu);
}

// IPV6_DONTFRAG per packet: the same 2000 bytes go out fragmented without
// it and fail with EMSGSIZE with it; IPV6_RECVPATHMTU then reports the MTU.
TEST_F(FragmentTest, Ipv6DontFragRefusesABigPacketAndPathMtuSaysWhy) {
  UniqueFd rx = BoundUdpSocket(AF_INET6);
  UniqueFd tx = BoundUdpSocket(AF_INET6);
  ASSERT_TRUE(rx.ok() && tx.ok());
  ASSERT_TRUE(ReceivePathMtu(tx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  std::string payload(2000, 'd');

  auto fragmented = SendMsg(tx.get(), payload, {Ipv6DontFrag{0}}, {.to = &to});
  ASSERT_TRUE(fragmented.ok()) << fragmented.status();
  std::vector<char> data(4096);
  ControlBuffer<Ipv6PathMtu> control;
  auto got = RecvMsg(rx.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bytes, payload.size());

  auto refused = SendMsg(tx.get(), payload, {Ipv6DontFrag{1}}, {.to = &to});
  EXPECT_EQ(ErrnoOf(refused.status()), EMSGSIZE) << refused.status();
  auto report = RecvMsg(tx.get(), absl::MakeSpan(data), control.span(), {.flags = MSG_DONTWAIT});
  ASSERT_TRUE(report.ok()) << report.status();
  const auto* mtu = report->Find<Ipv6PathMtu>();
  ASSERT_NE(mtu, nullptr);
  EXPECT_EQ(mtu->mtu, static_cast<uint32_t>(kMtu));
  EXPECT_EQ(mtu->addr.sin6_family, AF_INET6);
  EXPECT_EQ(std::memcmp(&mtu->addr.sin6_addr, &in6addr_loopback, sizeof(in6_addr)), 0);
}

}  // namespace
}  // namespace cmsg
