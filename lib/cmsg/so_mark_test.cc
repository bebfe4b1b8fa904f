// SO_RCVMARK -> SoMark through a real UDP socket, and SoMark sent per
// packet. Setting a mark needs CAP_NET_ADMIN; without it (as in a build
// sandbox) the test moves itself into a new user and network namespace,
// where it has that capability over its own loopback.
#include <sys/socket.h>

#include <string>

#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

using ::cmsg::testing::BoundUdpSocket;
using ::cmsg::testing::EnterOwnNetworkNamespace;
using ::cmsg::testing::LocalAddress;

bool SetMark(int fd, uint32_t mark) {
  return setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == 0;
}

// Empty if this process may set marks (in a namespace of its own if need
// be), else why not.
std::string CanSetMarks() {
  UniqueFd probe = BoundUdpSocket(AF_INET);
  if (SetMark(probe.get(), 1)) return "";
  std::string error = EnterOwnNetworkNamespace();
  return error.empty() ? "" : "no CAP_NET_ADMIN and " + error;
}

TEST(SoMarkTest, ReceiverSeesTheSendersMark) {
  if (std::string why = CanSetMarks(); !why.empty()) GTEST_SKIP() << why;
  UniqueFd rx = BoundUdpSocket(AF_INET);
  UniqueFd tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(rx.ok() && tx.ok());
  ASSERT_TRUE(SetMark(tx.get(), 0x2a)) << ErrnoError("setsockopt(SO_MARK)");
  absl::Status on = ReceiveMark(rx.get());
  if (ErrnoOf(on) == ENOPROTOOPT) GTEST_SKIP() << on << " (needs Linux 6.1+)";
  ASSERT_TRUE(on.ok()) << on;
  SocketAddress to = LocalAddress(rx.get());
  ASSERT_TRUE(SendMsg(tx.get(), "m", {}, {.to = &to}).ok());
  ControlBuffer<SoMark> control;
  char data[4];
  auto m = RecvMsg(rx.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  const auto* mark = m->Find<SoMark>();
  ASSERT_NE(mark, nullptr);
  EXPECT_EQ(mark->mark, 0x2au);
}

// SO_MARK as a message (Linux 4.19+): marks one packet, not the socket.
TEST(SoMarkTest, SoMarkMessageMarksOnePacket) {
  if (std::string why = CanSetMarks(); !why.empty()) GTEST_SKIP() << why;
  UniqueFd rx = BoundUdpSocket(AF_INET);
  UniqueFd tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(rx.ok() && tx.ok());
  absl::Status on = ReceiveMark(rx.get());
  if (ErrnoOf(on) == ENOPROTOOPT) GTEST_SKIP() << on << " (needs Linux 6.1+)";
  ASSERT_TRUE(on.ok()) << on;
  SocketAddress to = LocalAddress(rx.get());
  ASSERT_TRUE(SendMsg(tx.get(), "m", {SoMark{0x2b}}, {.to = &to}).ok());
  ASSERT_TRUE(SendMsg(tx.get(), "n", {}, {.to = &to}).ok());
  ControlBuffer<SoMark> control;
  char data[4];
  auto m = RecvMsg(rx.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  const auto* mark = m->Find<SoMark>();
  ASSERT_NE(mark, nullptr);
  EXPECT_EQ(mark->mark, 0x2bu);
  // The next packet, sent without the message, has the socket's mark (0).
  m = RecvMsg(rx.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  if (const auto* unmarked = m->Find<SoMark>()) {
    EXPECT_EQ(unmarked->mark, 0u);
  }
}

}  // namespace
}  // namespace cmsg
