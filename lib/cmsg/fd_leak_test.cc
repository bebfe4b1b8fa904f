// No received fd leaks: /proc/self/fd is counted before and after receiving
// fds that are ignored, truncated by a small control buffer (MSG_CTRUNC),
// cut short by RLIMIT_NOFILE, or sent by a socket that is gone.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"

namespace cmsg {
namespace {

using ::cmsg::testing::CountOpenFds;
using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::TempFileWith;
using ::cmsg::testing::UnixPair;
using ::testing::HasSubstr;

class FdLeakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pair_ = MakeUnixPair(SOCK_DGRAM);
    ASSERT_TRUE(pair_.a.ok());
    file_ = TempFileWith("leak?");
    ASSERT_TRUE(file_.ok());
  }
  // Sends `n` copies of the file in one message.
  void SendCopies(size_t n) {
    std::vector<int> fds(n, file_.get());
    auto sent = SendMsg(pair_.a.get(), "x", {ScmRights{fds}});
    ASSERT_TRUE(sent.ok()) << sent.status();
  }
  UnixPair pair_;
  UniqueFd file_;
};

TEST_F(FdLeakTest, IgnoredFdsAreClosed) {
  int before = CountOpenFds();
  SendCopies(5);
  {
    ControlBuffer<Fds<5>> control;
    char data[4];
    auto m = RecvMsg(pair_.b.get(), absl::MakeSpan(data), control.span());
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_EQ(m->Find<ScmRightsOwned>()->fds.size(), 5u);
    EXPECT_EQ(CountOpenFds(), before + 5);
  }
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(FdLeakTest, FdsInATooSmallBufferAreClosed) {
  int before = CountOpenFds();
  SendCopies(8);
  ControlBuffer<Fds<3>> control;
  char data[4];
  auto m = RecvMsg(pair_.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->bytes, 1u);
  EXPECT_THAT(std::string(m->control_status.message()), HasSubstr("MSG_CTRUNC"));
  // The kernel fills the alignment padding too: CMSG_SPACE(12) holds 4.
  size_t fit = (decltype(control)::kSize - CMSG_LEN(0)) / sizeof(int);
  EXPECT_THAT(std::string(m->control_status.message()),
              HasSubstr(absl::StrCat(fit, " received fds closed")));
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(FdLeakTest, FdsWithNoControlBufferAtAllAreDiscarded) {
  int before = CountOpenFds();
  SendCopies(2);
  char data[4];
  auto m = RecvMsg(pair_.b.get(), absl::MakeSpan(data), {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->bytes, 1u);
  EXPECT_THAT(std::string(m->control_status.message()), HasSubstr("MSG_CTRUNC"));
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(FdLeakTest, FdsCutShortByRlimitNofileAreClosed) {
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  SendCopies(8);
  int before = CountOpenFds();
  rlimit low = saved;
  low.rlim_cur = cmsg::testing::LimitAllowingNewFds(2);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  ControlBuffer<Fds<8>> control;
  char data[4];
  auto m = RecvMsg(pair_.b.get(), absl::MakeSpan(data), control.span());
  int after = CountOpenFds();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(std::string(m->control_status.message()), HasSubstr("MSG_CTRUNC"));
  EXPECT_THAT(std::string(m->control_status.message()), HasSubstr("2 received fds closed"));
  EXPECT_EQ(after, before);
}

TEST_F(FdLeakTest, FdsFromAClosedSenderAreOwnedAndClosed) {
  int before = CountOpenFds();
  SendCopies(3);
  pair_.a.reset();  // the sender is gone; its fds are still in flight
  file_.reset();
  int without_sender = CountOpenFds();
  {
    ControlBuffer<Fds<3>> control;
    char data[4];
    auto m = RecvMsg(pair_.b.get(), absl::MakeSpan(data), control.span());
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->Find<ScmRightsOwned>()->fds.size(), 3u);
  }
  EXPECT_EQ(CountOpenFds(), without_sender);
  EXPECT_EQ(without_sender, before - 2);
}

TEST_F(FdLeakTest, BatchReceiveClosesIgnoredAndTruncatedFds) {
  int before = CountOpenFds();
  SendCopies(2);
  SendCopies(6);  // more than each slot holds
  SendCopies(1);
  {
    RecvBatch batch(4, 16, kSpaceFor<Fds<2>>);
    auto n = batch.Recv(pair_.b.get(), MSG_DONTWAIT);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, 3u);
    EXPECT_TRUE(batch.control_status(0).ok());
    EXPECT_FALSE(batch.control_status(1).ok());
    EXPECT_THAT(std::string(batch.control_status(1).message()), HasSubstr("MSG_CTRUNC"));
    EXPECT_TRUE(batch.control_status(2).ok());
    EXPECT_EQ(CountOpenFds(), before + 3);
    // The next call drops what the previous one held.
    SendCopies(1);
    n = batch.Recv(pair_.b.get(), MSG_DONTWAIT);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 1u);
    EXPECT_EQ(CountOpenFds(), before + 1);
  }
  EXPECT_EQ(CountOpenFds(), before);
}

TEST(DecodeTest, FdsBeforeAMessageTheKernelCutShortAreCountedAndClosed) {
  // What put_cmsg leaves when space runs out: SCM_RIGHTS, then a message
  // whose cmsg_len was cut to the bytes that remained, and MSG_CTRUNC.
  int a = dup(0), b = dup(0);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(8) + CMSG_LEN(4)] = {};
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = sizeof(buf);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(8);
  int fds[] = {a, b};
  memcpy(CMSG_DATA(c), fds, sizeof(fds));
  cmsghdr cut{};
  cut.cmsg_level = IPPROTO_IP;
  cut.cmsg_type = IP_PKTINFO;
  cut.cmsg_len = CMSG_LEN(4);  // in_pktinfo is 12 bytes
  memcpy(buf + CMSG_SPACE(8), &cut, sizeof(cut));
  msg.msg_flags = MSG_CTRUNC;
  auto d = Decode(ReceivedControl::Adopt(msg));
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("2 received fds closed"));
  EXPECT_LT(fcntl(a, F_GETFD), 0);
  EXPECT_LT(fcntl(b, F_GETFD), 0);
}

}  // namespace
}  // namespace cmsg
