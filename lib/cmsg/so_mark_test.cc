// SO_RCVMARK -> SoMark through a real UDP socket. Setting SO_MARK needs
// CAP_NET_ADMIN; without it (as in a build sandbox) the test moves itself
// into a new user and network namespace, where it has that capability over
// its own loopback.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

using ::cmsg::testing::BoundUdpSocket;
using ::cmsg::testing::LocalAddress;

bool WriteFile(const char* path, const char* text) {
  UniqueFd fd(open(path, O_WRONLY | O_CLOEXEC));
  return fd.ok() && write(fd.get(), text, strlen(text)) ==
                        static_cast<ssize_t>(strlen(text));
}

// Enters a fresh user + network namespace with loopback up. Empty on success.
std::string EnterOwnNetworkNamespace() {
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
    return ErrnoError("unshare(CLONE_NEWUSER|CLONE_NEWNET)").ToString();
  char map[64];
  snprintf(map, sizeof(map), "0 %u 1", uid);
  if (!WriteFile("/proc/self/uid_map", map)) return "cannot write uid_map";
  WriteFile("/proc/self/setgroups", "deny");
  snprintf(map, sizeof(map), "0 %u 1", gid);
  if (!WriteFile("/proc/self/gid_map", map)) return "cannot write gid_map";
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) return "SIOCGIFFLAGS failed";
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0) return "SIOCSIFFLAGS failed";
  return "";
}

bool SetMark(int fd, uint32_t mark) {
  return setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == 0;
}

TEST(SoMarkTest, ReceiverSeesTheSendersMark) {
  {
    UniqueFd probe = BoundUdpSocket(AF_INET);
    if (!SetMark(probe.get(), 1)) {
      std::string error = EnterOwnNetworkNamespace();
      if (!error.empty()) GTEST_SKIP() << "no CAP_NET_ADMIN and " << error;
    }
  }
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

}  // namespace
}  // namespace cmsg
