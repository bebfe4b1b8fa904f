// TCP_INQ -> TcpInq over a real loopback TCP connection: each recvmsg says
// how many bytes are still queued after it.
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

struct TcpPair {
  UniqueFd client;
  UniqueFd server;
};

TcpPair Connected() {
  TcpPair p;
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddress any = SocketAddress::Ipv4({htonl(INADDR_LOOPBACK)}, 0);
  if (bind(listener.get(), any.addr(), any.size()) < 0 || listen(listener.get(), 1) < 0) {
    return p;
  }
  auto at = SocketAddress::LocalOf(listener.get());
  if (!at.ok()) return p;
  p.client = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(p.client.get(), at->addr(), at->size()) < 0) return p;
  p.server = UniqueFd(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  return p;
}

// Waits until `fd` has `n` bytes queued for reading.
bool WaitForQueued(int fd, int n) {
  for (int i = 0; i < 500; ++i) {
    int queued = 0;
    if (ioctl(fd, SIOCINQ, &queued) == 0 && queued >= n) return true;
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 10);
  }
  return false;
}

TEST(TcpInqTest, EachReadSaysWhatIsLeft) {
  TcpPair p = Connected();
  ASSERT_TRUE(p.client.ok() && p.server.ok()) << ErrnoError("tcp setup");
  absl::Status on = ReceiveInq(p.server.get());
  if (ErrnoOf(on) == ENOPROTOOPT) GTEST_SKIP() << on << " (needs Linux 4.18+)";
  ASSERT_TRUE(on.ok()) << on;
  ASSERT_TRUE(SendMsg(p.client.get(), "0123456789", {}).ok());
  ASSERT_TRUE(WaitForQueued(p.server.get(), 10));
  ControlBuffer<TcpInq> control;
  char data[4];
  auto first = RecvMsg(p.server.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->bytes, 4u);
  const auto* inq = first->Find<TcpInq>();
  ASSERT_NE(inq, nullptr);
  EXPECT_EQ(inq->bytes, 6);
  char rest[16];
  auto second = RecvMsg(p.server.get(), absl::MakeSpan(rest), control.span());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->bytes, 6u);
  inq = second->Find<TcpInq>();
  ASSERT_NE(inq, nullptr);
  EXPECT_EQ(inq->bytes, 0);
}

}  // namespace
}  // namespace cmsg
