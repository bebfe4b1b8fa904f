// SCM_PIDFD (Linux 6.5+): with SO_PASSPIDFD on the receiver the kernel
// installs a pidfd of the sender into the receiver with every message. Each
// one is owned from the moment it is parsed, on every path: RecvMsg,
// ForEachMessage, RecvBatch, truncation. Skips, saying why, on kernels
// without SO_PASSPIDFD.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"

namespace cmsg {
namespace {

using ::cmsg::testing::CountOpenFds;
using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::UnixPair;

// The "Pid:" line of /proc/self/fdinfo/FD (a pidfd's process), or -1.
int PidOfPidfd(int fd) {
  UniqueFd info(open(("/proc/self/fdinfo/" + std::to_string(fd)).c_str(),
                     O_RDONLY | O_CLOEXEC));
  if (!info.ok()) return -1;
  char buf[1024];
  ssize_t n = read(info.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* pid = strstr(buf, "\nPid:");
  return pid ? atoi(pid + 5) : -1;
}

class PidfdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pair_ = MakeUnixPair(SOCK_DGRAM);
    ASSERT_TRUE(pair_.a.ok());
    absl::Status on = PassPidfd(pair_.b.get());
    if (absl::IsUnimplemented(on)) GTEST_SKIP() << on;
    ASSERT_TRUE(on.ok()) << on;
  }
  void Send(int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(SendMsg(pair_.a.get(), "p", {}).ok());
  }
  UnixPair pair_;
};

TEST_F(PidfdTest, RecvMsgOwnsThePidfdAndIgnoredOnesAreClosed) {
  const int before = CountOpenFds();
  Send(100);
  ControlBuffer<ScmPidfd, ScmCredentials> control;
  char data[4];
  for (int i = 0; i < 100; ++i) {
    auto m = RecvMsg(pair_.b.get(), absl::MakeSpan(data), control.span());
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(m->control_status.ok()) << m->control_status;
  }
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(PidfdTest, TheTakenPidfdIsTheSenders) {
  Send(1);
  ControlBuffer<ScmPidfd, ScmCredentials> control;
  char data[4];
  auto m = RecvMsg(pair_.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  ScmPidfd* pidfd = m->Find<ScmPidfd>();
  ASSERT_NE(pidfd, nullptr);
  UniqueFd taken = std::move(pidfd->fd);
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(PidOfPidfd(taken.get()), getpid());
  EXPECT_GE(fcntl(taken.get(), F_GETFD) & FD_CLOEXEC, 1);
}

TEST_F(PidfdTest, ForEachMessageOwnsThePidfd) {
  const int before = CountOpenFds();
  Send(20);
  ControlBuffer<ScmPidfd, ScmCredentials> control;
  char data[4];
  UniqueFd kept;
  for (int i = 0; i < 20; ++i) {
    iovec iov{data, sizeof(data)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.span().data();
    msg.msg_controllen = control.kSize;
    ASSERT_GE(recvmsg(pair_.b.get(), &msg, MSG_CMSG_CLOEXEC), 0);
    absl::Status s;
    if (i == 0) {
      s = ForEachMessage(ReceivedControl::Adopt(msg),
                         [&](ScmPidfd& p) { kept = std::move(p.fd); });
    } else {  // a visitor that never looks at pidfds
      s = ForEachMessage(ReceivedControl::Adopt(msg), [&](const ScmCredentials&) {});
    }
    ASSERT_TRUE(s.ok()) << s;
  }
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(PidOfPidfd(kept.get()), getpid());
  kept.reset();
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(PidfdTest, BatchesOwnThePidfds) {
  const int before = CountOpenFds();
  Send(8);
  {
    RecvBatch batch(8, 16, kSpaceFor<ScmPidfd, ScmCredentials>);
    auto n = batch.Recv(pair_.b.get(), MSG_DONTWAIT);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, 8u);
    EXPECT_NE(batch.message(7).Find<ScmPidfd>(), nullptr);
  }
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(PidfdTest, NoRoomForThePidfdLeaksNothing) {
  const int before = CountOpenFds();
  Send(10);
  ControlBuffer<ScmCredentials> control;  // no room for the pidfd
  char data[4];
  for (int i = 0; i < 10; ++i) {
    auto m = RecvMsg(pair_.b.get(), absl::MakeSpan(data), control.span());
    ASSERT_TRUE(m.ok()) << m.status();
  }
  EXPECT_EQ(CountOpenFds(), before);
}

TEST(PeerTest, PeerPidfdAndCredentialsAreOurs) {
  UnixPair pair = MakeUnixPair(SOCK_STREAM);
  auto creds = PeerCredentials(pair.a.get());
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_EQ(creds->pid, getpid());
  EXPECT_EQ(creds->uid, getuid());
  EXPECT_EQ(creds->gid, getgid());
  auto pidfd = PeerPidfd(pair.a.get());
  if (absl::IsUnimplemented(pidfd.status())) GTEST_SKIP() << pidfd.status();
  ASSERT_TRUE(pidfd.ok()) << pidfd.status();
  EXPECT_EQ(PidOfPidfd(pidfd->get()), getpid());
}

}  // namespace
}  // namespace cmsg
