// SO_PASSSEC -> ScmSecurity over a unix socketpair. The kernel sends the
// message only when an LSM labels sockets (SELinux, Smack, AppArmor on
// 6.x); SO_PEERSEC answers ENOPROTOOPT when none does, and then the socket
// test skips, saying so.
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::UnixPair;

TEST(ScmSecurityTest, TheSendersContextArrives) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  ASSERT_TRUE(pair.a.ok() && pair.b.ok());
  char peer[4096];
  socklen_t len = sizeof(peer);
  if (getsockopt(pair.b.get(), SOL_SOCKET, SO_PEERSEC, peer, &len) < 0) {
    if (errno == ENOPROTOOPT) {
      GTEST_SKIP() << "no LSM labels sockets on this kernel (getsockopt(SO_PEERSEC): "
                      "ENOPROTOOPT), so it sends no SCM_SECURITY";
    }
    FAIL() << ErrnoError("getsockopt(SO_PEERSEC)");
  }
  ASSERT_TRUE(ReceiveSecurity(pair.b.get()).ok());
  ASSERT_TRUE(SendMsg(pair.a.get(), "s", {}).ok());
  ControlBuffer<ScmSecurity> control;
  char data[4];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  const auto* security = m->Find<ScmSecurity>();
  ASSERT_NE(security, nullptr);
  std::string want(peer, len);
  while (!want.empty() && want.back() == '\0') want.pop_back();
  EXPECT_EQ(security->text(), want);
}

// The kernel's payload may end in a NUL (SELinux counts it): text() drops it.
TEST(ScmSecurityTest, TextDropsTheTerminatingNul) {
  const char context[] = "system_u:system_r:init_t:s0";  // with its NUL
  std::vector<std::byte> b(CMSG_SPACE(sizeof(context)));
  cmsghdr h{};
  h.cmsg_len = CMSG_LEN(sizeof(context));
  h.cmsg_level = SOL_SOCKET;
  h.cmsg_type = SCM_SECURITY;
  std::memcpy(b.data(), &h, sizeof(h));
  std::memcpy(b.data() + CMSG_LEN(0), context, sizeof(context));
  auto d = Decode(b);
  ASSERT_TRUE(d.ok()) << d.status();
  const auto* security = Find<ScmSecurity>(*d);
  ASSERT_NE(security, nullptr);
  EXPECT_EQ(security->context.size(), sizeof(context));
  EXPECT_EQ(security->text(), "system_u:system_r:init_t:s0");
}

}  // namespace
}  // namespace cmsg
