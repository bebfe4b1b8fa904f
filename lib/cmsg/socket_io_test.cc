// SendMsg / RecvMsg over real unix sockets: fd passing, credentials, peer
// addresses, truncation and SO_PASSRIGHTS.
#include "lib/cmsg/socket_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/codec.h"
#include "lib/cmsg/sockopts.h"
#include "lib/cmsg/space.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg {
namespace {

using ::cmsg::testing::CountOpenFds;
using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::ReadFromStart;
using ::cmsg::testing::TempFileWith;
using ::cmsg::testing::UnixPair;
using ::testing::HasSubstr;

TEST(SocketIoTest, PassesFdsThatWorkOnTheOtherSide) {
  for (int type : {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET}) {
    UnixPair pair = MakeUnixPair(type);
    ASSERT_TRUE(pair.a.ok());
    UniqueFd file = TempFileWith("contents of the file");
    ASSERT_TRUE(file.ok());
    int pipe_fds[2];
    ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
    UniqueFd pipe_r(pipe_fds[0]), pipe_w(pipe_fds[1]);

    int fds[] = {file.get(), pipe_w.get()};
    auto sent = SendMsg(pair.a.get(), "x", {ScmRights{fds}});
    ASSERT_TRUE(sent.ok()) << sent.status();
    EXPECT_EQ(*sent, 1u);

    ControlBuffer<Fds<2>> control;
    char data[8];
    auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->bytes, 1u);
    auto* rights = m->Find<ScmRightsOwned>();
    ASSERT_NE(rights, nullptr);
    ASSERT_EQ(rights->fds.size(), 2u);
    // New fd numbers, same open files, always close-on-exec.
    EXPECT_NE(rights->fds[0].get(), file.get());
    EXPECT_EQ(ReadFromStart(rights->fds[0].get()), "contents of the file");
    for (const UniqueFd& fd : rights->fds) {
      EXPECT_EQ(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
    ASSERT_EQ(write(rights->fds[1].get(), "p", 1), 1);
    char c = 0;
    ASSERT_EQ(read(pipe_r.get(), &c, 1), 1);
    EXPECT_EQ(c, 'p');
  }
}

TEST(SocketIoTest, TakenFdsOutliveTheMessage) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  UniqueFd file = TempFileWith("kept");
  int fds[] = {file.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "x", {ScmRights{fds}}).ok());
  UniqueFd kept;
  {
    ControlBuffer<Fds<1>> control;
    char data[8];
    auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
    ASSERT_TRUE(m.ok()) << m.status();
    kept = std::move(m->Find<ScmRightsOwned>()->fds[0]);
  }
  EXPECT_EQ(ReadFromStart(kept.get()), "kept");
}

TEST(SocketIoTest, CredentialsAreTheSendersAndCanBeClaimed) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  ASSERT_TRUE(ReceiveCredentials(pair.b.get()).ok());
  ControlBuffer<ScmCredentials> control;
  char data[8];
  // Without an explicit message the kernel attaches the sender's own.
  ASSERT_TRUE(SendMsg(pair.a.get(), "a", {}).ok());
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  const auto* creds = m->Find<ScmCredentials>();
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->pid, getpid());
  EXPECT_EQ(creds->uid, getuid());
  EXPECT_EQ(creds->gid, getgid());

  // An explicit, truthful claim goes through as sent.
  ASSERT_TRUE(
      SendMsg(pair.a.get(), "b", {ScmCredentials{getpid(), getuid(), getgid()}}).ok());
  m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  creds = m->Find<ScmCredentials>();
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->pid, getpid());
}

TEST(SocketIoTest, ClaimedCredentialsAreCheckedByTheKernel) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  ASSERT_TRUE(ReceiveCredentials(pair.b.get()).ok());
  // Claiming pid 1 needs CAP_SYS_ADMIN: without it the kernel's EPERM must
  // come back as the status; with it the claim must arrive unchanged.
  auto sent = SendMsg(pair.a.get(), "x", {ScmCredentials{1, getuid(), getgid()}});
  if (!sent.ok()) {
    EXPECT_EQ(ErrnoOf(sent.status()), EPERM) << sent.status();
    return;
  }
  ControlBuffer<ScmCredentials> control;
  char data[8];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_NE(m->Find<ScmCredentials>(), nullptr);
  EXPECT_EQ(m->Find<ScmCredentials>()->pid, 1);
}

TEST(SocketIoTest, CarriesFdsAndCredentialsInOneMessage) {
  UnixPair pair = MakeUnixPair(SOCK_SEQPACKET);
  ASSERT_TRUE(ReceiveCredentials(pair.b.get()).ok());
  UniqueFd file = TempFileWith("both");
  int fds[] = {file.get(), file.get(), file.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "x",
                      {ScmCredentials{getpid(), getuid(), getgid()}, ScmRights{fds}})
                  .ok());
  ControlBuffer<Fds<3>, ScmCredentials> control;
  char data[8];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_NE(m->Find<ScmCredentials>(), nullptr);
  ASSERT_NE(m->Find<ScmRightsOwned>(), nullptr);
  EXPECT_EQ(m->Find<ScmRightsOwned>()->fds.size(), 3u);
  EXPECT_EQ(ReadFromStart(m->Find<ScmRightsOwned>()->fds[2].get()), "both");
}

TEST(SocketIoTest, MaximumFdsPerMessage) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  UniqueFd file = TempFileWith("many");
  std::vector<int> fds(kMaxFdsPerMessage, file.get());
  ASSERT_TRUE(SendMsg(pair.a.get(), "x", {ScmRights{fds}}).ok());
  ControlBuffer<Fds<kMaxFdsPerMessage>> control;
  char data[8];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->Find<ScmRightsOwned>()->fds.size(), kMaxFdsPerMessage);

  std::vector<int> too_many(kMaxFdsPerMessage + 1, file.get());
  auto refused = SendMsg(pair.a.get(), "x", {ScmRights{too_many}});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
}

// MSG_CTRUNC: the data the kernel consumed comes back; the control status
// says what was lost; the fds that did arrive are closed.
TEST(SocketIoTest, TruncatedControlKeepsTheDataAndReportsTheLoss) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  UniqueFd file = TempFileWith("t");
  int fds[] = {file.get(), file.get(), file.get(), file.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "hello", {ScmRights{fds}}).ok());
  int before = CountOpenFds();
  ControlBuffer<Fds<1>> control;
  char data[8];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(absl::string_view(data, m->bytes), "hello");
  EXPECT_TRUE(m->flags & MSG_CTRUNC);
  EXPECT_TRUE(m->control_truncated());
  EXPECT_EQ(m->control_status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(m->control_status.message()), HasSubstr("MSG_CTRUNC"));
  EXPECT_TRUE(m->control.empty());
  EXPECT_EQ(CountOpenFds(), before);
}

// On a stream socket a peer that attaches one fd too many cannot put the
// stream out of step: every byte arrives, in order.
TEST(SocketIoTest, TruncatedControlOnAStreamLosesNoBytes) {
  UnixPair pair = MakeUnixPair(SOCK_STREAM);
  UniqueFd file = TempFileWith("t");
  // Fds<1> has room for two (the kernel fills the padding too): send four.
  int fds[] = {file.get(), file.get(), file.get(), file.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "first", {ScmRights{fds}}).ok());
  ASSERT_TRUE(SendMsg(pair.a.get(), "second", {ScmRights{absl::MakeConstSpan(fds, 1)}}).ok());
  ControlBuffer<Fds<1>> control;
  std::string got;
  while (got.size() < 11) {
    char data[5];
    auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_GT(m->bytes, 0u);
    got.append(data, m->bytes);
  }
  EXPECT_EQ(got, "firstsecond");
}

TEST(SocketIoTest, PeerAddressOfUnnamedAndNamedUnixSockets) {
  char dir[] = "/tmp/cmsg_io.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/rx";
  auto addr = SocketAddress::Unix(path);
  ASSERT_TRUE(addr.ok());
  UniqueFd rx(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  UniqueFd tx(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(bind(rx.get(), addr->addr(), addr->size()), 0);
  std::string tx_path = std::string(dir) + "/tx";
  auto tx_addr = SocketAddress::Unix(tx_path);
  ASSERT_EQ(bind(tx.get(), tx_addr->addr(), tx_addr->size()), 0);
  SendOptions to{.to = &*addr};
  ASSERT_TRUE(SendMsg(tx.get(), "hello", {}, to).ok());
  char data[16];
  auto m = RecvMsg(rx.get(), absl::MakeSpan(data), {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "hello");
  EXPECT_EQ(m->peer.ToString(), "unix:" + tx_path);
  unlink(path.c_str());
  unlink(tx_path.c_str());
  rmdir(dir);
}

// RecvOptions::peer = false: no msg_name, so the sender's address is not
// filled in, and everything else arrives as before (both receive entries).
TEST(SocketIoTest, ThePeerAddressIsLeftOutWhenNotAskedFor) {
  char dir[] = "/tmp/cmsg_io.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/rx", tx_path = std::string(dir) + "/tx";
  auto addr = SocketAddress::Unix(path);
  auto tx_addr = SocketAddress::Unix(tx_path);
  ASSERT_TRUE(addr.ok() && tx_addr.ok());
  UniqueFd rx(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  UniqueFd tx(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(bind(rx.get(), addr->addr(), addr->size()), 0);
  ASSERT_EQ(bind(tx.get(), tx_addr->addr(), tx_addr->size()), 0);
  UniqueFd file = TempFileWith("passed");
  int fds[] = {file.get()};
  ASSERT_TRUE(SendMsg(tx.get(), "one", {ScmRights{fds}}, {.to = &*addr}).ok());
  ASSERT_TRUE(SendMsg(tx.get(), "two", ScmRights{fds}, SendOptions{.to = &*addr}).ok());

  ControlBuffer<Fds<1>> control;
  char data[16];
  auto listed = RecvMsg(rx.get(), absl::MakeSpan(data), control.span(), {.peer = false});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(std::string(data, listed->bytes), "one");
  EXPECT_TRUE(listed->peer.empty()) << listed->peer.ToString();
  ASSERT_TRUE(listed->control_status.ok()) << listed->control_status;
  const ScmRightsOwned* rights = listed->Find<ScmRightsOwned>();
  ASSERT_NE(rights, nullptr);
  EXPECT_EQ(ReadFromStart(rights->fds.at(0).get()), "passed");

  UniqueFd taken;
  auto visited = RecvMsg(rx.get(), absl::MakeSpan(data), control.span(),
                         [&](OwnedFdRange& r) { taken = r.Take(0); },
                         {.flags = MSG_DONTWAIT, .peer = false});
  ASSERT_TRUE(visited.ok()) << visited.status();
  EXPECT_EQ(std::string(data, visited->bytes), "two");
  EXPECT_TRUE(visited->peer.empty()) << visited->peer.ToString();
  EXPECT_EQ(ReadFromStart(taken.get()), "passed");

  // The flags still reach recvmsg: nothing is left, so MSG_DONTWAIT says so.
  auto none = RecvMsg(rx.get(), absl::MakeSpan(data), {}, {.flags = MSG_DONTWAIT, .peer = false});
  EXPECT_TRUE(IsWouldBlock(none.status())) << none.status();
  unlink(path.c_str());
  unlink(tx_path.c_str());
  rmdir(dir);
}

TEST(SocketIoTest, DataTruncationIsReportedInFlags) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  ASSERT_TRUE(SendMsg(pair.a.get(), "0123456789", {}).ok());
  char data[4];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), {}, {.flags = MSG_TRUNC});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->data_truncated());
  EXPECT_EQ(m->bytes, 10u);
}

TEST(SocketIoTest, EndOfStreamIsZeroBytes) {
  UnixPair pair = MakeUnixPair(SOCK_STREAM);
  pair.a.reset();
  char data[4];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->bytes, 0u);
}

TEST(SocketIoTest, ErrorsNameTheCallAndErrno) {
  char data[4];
  auto m = RecvMsg(-1, absl::MakeSpan(data), {});
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("recvmsg: EBADF"));
  auto s = SendMsg(-1, "x", {});
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("sendmsg: EBADF"));
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  auto again = RecvMsg(pair.b.get(), absl::MakeSpan(data), {}, {.flags = MSG_DONTWAIT});
  EXPECT_EQ(ErrnoOf(again.status()), EAGAIN);
  EXPECT_TRUE(IsWouldBlock(again.status()));
}

TEST(SocketIoTest, RefusedRightsFailTheSenderAndNothingArrives) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  absl::Status refused = RefuseRights(pair.b.get());
  if (absl::IsUnimplemented(refused)) GTEST_SKIP() << refused;
  ASSERT_TRUE(refused.ok()) << refused;
  UniqueFd file = TempFileWith("no");
  int fds[] = {file.get()};
  int before = CountOpenFds();
  auto sent = SendMsg(pair.a.get(), "x", {ScmRights{fds}});
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(ErrnoOf(sent.status()), EPERM) << sent.status();
  // Plain data still flows.
  ASSERT_TRUE(SendMsg(pair.a.get(), "y", {}).ok());
  ControlBuffer<Fds<1>> control;
  char data[4];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(data[0], 'y');
  EXPECT_EQ(m->Find<ScmRightsOwned>(), nullptr);
  EXPECT_EQ(CountOpenFds(), before);
}

TEST(SocketIoTest, InvalidFdToSendIsRejectedBeforeTheCall) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  int fds[] = {-1};
  auto sent = SendMsg(pair.a.get(), "x", {ScmRights{fds}});
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kInvalidArgument);
  int closed_fd[] = {1000000};
  auto ebadf = SendMsg(pair.a.get(), "x", {ScmRights{closed_fd}});
  EXPECT_EQ(ErrnoOf(ebadf.status()), EBADF) << ebadf.status();
}

volatile sig_atomic_t g_alarms = 0;
int g_alarm_pipe = -1;  // told of each alarm (write is async-signal-safe)
void CountAlarm(int) {
  g_alarms = g_alarms + 1;
  char one = 1;
  (void)!write(g_alarm_pipe, &one, 1);
}

// Receives one message with `receive(fd, data)` (which returns the bytes
// received) while a SIGALRM interrupts it; checks that it was retried.
template <typename Receive>
void ExpectRetriedAfterASignal(Receive receive) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  struct sigaction action {}, saved{};
  action.sa_handler = CountAlarm;  // no SA_RESTART: recvmsg sees EINTR
  ASSERT_EQ(sigaction(SIGALRM, &action, &saved), 0);
  g_alarms = 0;
  int alarmed[2];
  ASSERT_EQ(pipe2(alarmed, O_CLOEXEC), 0);
  UniqueFd alarmed_read(alarmed[0]), alarmed_write(alarmed[1]);
  g_alarm_pipe = alarmed[1];
  // The sender is a forked child that sends only once the alarm has gone
  // off (read and send are async-signal-safe), however late that is.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char one;
    if (read(alarmed[0], &one, 1) != 1) _exit(2);
    _exit(send(pair.a.get(), "late", 4, 0) == 4 ? 0 : 1);
  }
  itimerval alarm{};
  alarm.it_value.tv_usec = 50 * 1000;
  ASSERT_EQ(setitimer(ITIMER_REAL, &alarm, nullptr), 0);
  char data[8];
  absl::StatusOr<size_t> bytes = receive(pair.b.get(), absl::MakeSpan(data));
  const itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &saved, nullptr);
  g_alarm_pipe = -1;
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(std::string(data, *bytes), "late");
  EXPECT_EQ(g_alarms, 1);
  EXPECT_EQ(status, 0);
}

TEST(SocketIoTest, RecvMsgRetriesWhenASignalInterruptsIt) {
  ExpectRetriedAfterASignal([](int fd, absl::Span<char> data) -> absl::StatusOr<size_t> {
    CMSGLIB_ASSIGN_OR_RETURN(ReceivedMessage m, RecvMsg(fd, data, {}));
    return m.bytes;
  });
}

TEST(SocketIoTest, RecvMsgWithAVisitorRetriesWhenASignalInterruptsIt) {
  ExpectRetriedAfterASignal([](int fd, absl::Span<char> data) -> absl::StatusOr<size_t> {
    CMSGLIB_ASSIGN_OR_RETURN(ReceivedInfo m, RecvMsg(fd, data, {}, [](OwnedFdRange&) {}));
    return m.bytes;
  });
}

}  // namespace
}  // namespace cmsg
