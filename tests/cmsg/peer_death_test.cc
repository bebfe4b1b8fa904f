// Peers that die with fds in flight: whatever arrives is owned and closed,
// nothing leaks in this process (counted in /proc/self/fd), and a dead
// receiver is an error (EPIPE), never a SIGPIPE.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"
#include "tests/cmsg/python_peer.h"

namespace cmsg {
namespace {

using ::cmsg::testing::CountOpenFds;
using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::PythonPeer;
using ::cmsg::testing::TempFileWith;
using ::cmsg::testing::UnixPair;

class PeerDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(::cmsg::testing::kPython, X_OK) != 0)
      GTEST_SKIP() << ::cmsg::testing::kPython << " is not installed";
  }
};

// Sends five fds (files it opened) and exits at once, before we read.
constexpr char kSendAndExit[] = R"py(
import os, socket, tempfile
s = socket.socket(fileno=3)
files = [tempfile.TemporaryFile() for _ in range(5)]
socket.send_fds(s, [b"bye"], [f.fileno() for f in files])
os._exit(0)
)py";

TEST_F(PeerDeathTest, FdsFromAPeerThatExitedAreOwnedAndClosed) {
  UnixPair pair = MakeUnixPair(SOCK_SEQPACKET);
  int before = CountOpenFds();
  PythonPeer peer = PythonPeer::Start(kSendAndExit, pair.b.get());
  ASSERT_GT(peer.pid(), 0) << peer.error();
  pair.b.reset();
  ASSERT_EQ(peer.Wait(), 0);  // dead before we look
  {
    ControlBuffer<Fds<8>> control;
    char data[8];
    auto m = RecvMsg(pair.a.get(), absl::MakeSpan(data), control.span());
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_NE(m->Find<ScmRightsOwned>(), nullptr);
    EXPECT_EQ(m->Find<ScmRightsOwned>()->fds.size(), 5u);
    EXPECT_EQ(CountOpenFds(), before - 1 + 5);
  }
  EXPECT_EQ(CountOpenFds(), before - 1);  // only pair.b is gone
  // Then the end of the conversation, not an error.
  char data[8];
  auto eof = RecvMsg(pair.a.get(), absl::MakeSpan(data), {});
  ASSERT_TRUE(eof.ok()) << eof.status();
  EXPECT_EQ(eof->bytes, 0u);
}

// Sends three fds, then hangs until killed.
constexpr char kSendAndHang[] = R"py(
import socket, tempfile, time
s = socket.socket(fileno=3)
files = [tempfile.TemporaryFile() for _ in range(3)]
socket.send_fds(s, [b"fds"], [f.fileno() for f in files])
time.sleep(60)
)py";

TEST_F(PeerDeathTest, FdsFromAKilledPeerTooSmallABufferAreClosed) {
  UnixPair pair = MakeUnixPair(SOCK_SEQPACKET);
  int before = CountOpenFds();
  PythonPeer peer = PythonPeer::Start(kSendAndHang, pair.b.get());
  ASSERT_GT(peer.pid(), 0) << peer.error();
  pair.b.reset();
  // Once the fds message is queued, kill the sender.
  char data[8];
  pollfd p{pair.a.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 20000), 1);
  peer.Kill();
  // One slot for three fds: MSG_CTRUNC, and the one that arrived is closed.
  ControlBuffer<Fds<1>> control;
  auto m = RecvMsg(pair.a.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->control_truncated());
  EXPECT_NE(std::string(m->control_status.message()).find("MSG_CTRUNC"), std::string::npos);
  EXPECT_EQ(CountOpenFds(), before - 1);
}

// Reads nothing, exits when told to start.
constexpr char kExitAtOnce[] = R"py(
import os
os._exit(0)
)py";

TEST_F(PeerDeathTest, SendingFdsToADeadPeerFailsWithEpipeAndKeepsOurs) {
  UnixPair pair = MakeUnixPair(SOCK_SEQPACKET);
  PythonPeer peer = PythonPeer::Start(kExitAtOnce, pair.b.get());
  ASSERT_GT(peer.pid(), 0) << peer.error();
  pair.b.reset();
  ASSERT_EQ(peer.Wait(), 0);
  UniqueFd file = TempFileWith("mine");
  int before = CountOpenFds();
  std::vector<int> fds(16, file.get());
  // MSG_NOSIGNAL is always on: an error value, not a SIGPIPE.
  auto sent = SendMsg(pair.a.get(), "x", {ScmRights{fds}});
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(ErrnoOf(sent.status()), EPIPE) << sent.status();
  EXPECT_EQ(CountOpenFds(), before);
  char c;
  EXPECT_EQ(pread(file.get(), &c, 1, 0), 1);  // still ours, still open
}

}  // namespace
}  // namespace cmsg
