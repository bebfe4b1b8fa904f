// The socket-level fast path over real sockets: RecvMsg with a visitor,
// RecvBatch::Recv with a visitor, and the typed variadic SendMsg.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <concepts>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

using ::cmsg::testing::BoundUdpSocket;
using ::cmsg::testing::CountOpenFds;
using ::cmsg::testing::LocalAddress;
using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::ReadFromStart;
using ::cmsg::testing::TempFileWith;
using ::cmsg::testing::UnixPair;
using ::testing::HasSubstr;

in_addr Loopback() {
  in_addr a{};
  a.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// ---------------------------------------------------------- typed SendMsg

// What the typed SendMsg accepts, checked at compile time.
template <typename... Args>
concept CanSend = requires(int fd, Args... args) { SendMsg(fd, "x", args...); };
static_assert(CanSend<ScmRights>);
static_assert(CanSend<ScmRights, ScmCredentials>);
static_assert(CanSend<Ipv4PacketInfo, Ipv4Ttl, SendOptions>);
static_assert(CanSend<SendOptions>);
static_assert(!CanSend<int>);
static_assert(!CanSend<ScmRightsOwned>);             // receive side only
static_assert(!CanSend<ScmTimestampns>);             // the kernel's to send
static_assert(!CanSend<SendOptions, Ipv4Ttl>);       // options come last
static_assert(!CanSend<Ipv4Ttl, SendOptions, SendOptions>);

// The stack buffer is the CMSG_SPACE sum of the kinds given.
static_assert(kMaxEncodedSize<Ipv4PacketInfo, Ipv4Ttl> ==
              CMSG_SPACE(sizeof(in_pktinfo)) + CMSG_SPACE(sizeof(int)));
static_assert(kMaxEncodedSize<ScmRights> == CMSG_SPACE(kMaxFdsPerMessage * sizeof(int)));

TEST(EncodeTypedTest, SameBytesAsTheListEncoding) {
  int fds[] = {3, 4, 5};
  Ipv4PacketInfo info{.ifindex = 2, .spec_dst = Loopback(), .addr = {}};
  uint8_t iv[] = {1, 2, 3, 4, 5};
  alignas(cmsghdr) std::byte typed[256], listed[256];
  std::memset(typed, 0xaa, sizeof(typed));
  std::memset(listed, 0x55, sizeof(listed));
  auto a = EncodeTyped(typed, ScmRights{fds}, info, Ipv4Ttl{7}, UdpGsoSegments{1200},
                       AlgSetIv{iv});
  auto b = Encode({ScmRights{fds}, info, Ipv4Ttl{7}, UdpGsoSegments{1200}, AlgSetIv{iv}},
                  listed);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(*a, *b);
  EXPECT_EQ(std::memcmp(typed, listed, *a), 0);
}

template <typename Buffer, typename... Ms>
concept EncodesUnchecked = requires(Buffer& b, const Ms&... ms) {
  { EncodeTyped(b, ms...) } -> std::same_as<size_t>;
};

// Into a ControlBuffer with room for its kinds by type: the size, and the
// span form's bytes, padding zeroed (the buffer starts dirty).
TEST(EncodeTypedTest, IntoAControlBufferOfRoomEnoughReturnsTheSize) {
  using Buffer = ControlBuffer<Ipv4PacketInfo, Ipv4Ttl, Ipv4Tos, UdpGsoSegments>;
  Ipv4PacketInfo info{.ifindex = 2, .spec_dst = Loopback(), .addr = {}};
  Buffer buf;
  std::memset(buf.span().data(), 0xaa, buf.span().size());
  size_t n = EncodeTyped(buf, info, Ipv4Ttl{7}, Ipv4Tos{0x10}, UdpGsoSegments{1200});
  alignas(cmsghdr) std::byte spanned[256];
  std::memset(spanned, 0x55, sizeof(spanned));
  auto want = EncodeTyped(spanned, info, Ipv4Ttl{7}, Ipv4Tos{0x10}, UdpGsoSegments{1200});
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_EQ(n, *want);
  EXPECT_EQ(n, (kMaxEncodedSize<Ipv4PacketInfo, Ipv4Ttl, Ipv4Tos, UdpGsoSegments>));
  EXPECT_EQ(std::memcmp(buf.span().data(), spanned, n), 0);
  // Only kinds of one size, and only into a buffer with room for them.
  static_assert(EncodesUnchecked<Buffer, Ipv4Ttl, Ipv4PacketInfo>);
  static_assert(!EncodesUnchecked<ControlBuffer<Fds<4>>, ScmRights>);
  static_assert(!EncodesUnchecked<ControlBuffer<Ipv4Ttl>, Ipv4Ttl, Ipv4Tos>);
}

TEST(EncodeTypedTest, RejectsWhatTheListEncodingRejects) {
  alignas(cmsghdr) std::byte buf[2048];
  int negative[] = {3, -1};
  auto bad = EncodeTyped(buf, ScmRights{negative});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("invalid fd -1"));
  std::vector<int> many(kMaxFdsPerMessage + 1, 3);
  auto too_many = EncodeTyped(buf, ScmRights{many});
  EXPECT_THAT(too_many.status().message(), HasSubstr("254 fds exceed"));
  auto small = EncodeTyped(absl::MakeSpan(buf, 16), Ipv4Ttl{1}, Ipv4Tos{2});
  EXPECT_EQ(small.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(TypedSendTest, PassesFdsThatWorkOnTheOtherSide) {
  UnixPair pair = MakeUnixPair(SOCK_SEQPACKET);
  UniqueFd file = TempFileWith("typed");
  int fds[] = {file.get(), file.get()};
  auto sent = SendMsg(pair.a.get(), "hi", ScmRights{fds});
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, 2u);
  ControlBuffer<Fds<2>> control;
  char data[8];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "hi");
  auto* r = m->Find<ScmRightsOwned>();
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->fds.size(), 2u);
  EXPECT_EQ(ReadFromStart(r->fds[1].get()), "typed");
}

TEST(TypedSendTest, ToAPeerWithASourceAddressAndTtl) {
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  ASSERT_TRUE(ReceiveTtl(rx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  auto sent = SendMsg(tx.get(), "dgram", Ipv4PacketInfo{.ifindex = 0, .spec_dst = Loopback(), .addr = {}},
                      Ipv4Ttl{9}, SendOptions{.to = &to});
  ASSERT_TRUE(sent.ok()) << sent.status();
  ControlBuffer<Ipv4PacketInfo, Ipv6PacketInfo, Ipv4Ttl> control;
  char data[16];
  auto m = RecvMsg(rx.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "dgram");
  EXPECT_EQ(m->peer, LocalAddress(tx.get()));
  ASSERT_NE(m->Find<Ipv4Ttl>(), nullptr);
  EXPECT_EQ(m->Find<Ipv4Ttl>()->ttl, 9);
  ASSERT_NE(m->Find<Ipv4PacketInfo>(), nullptr);
  EXPECT_EQ(m->Find<Ipv4PacketInfo>()->addr.s_addr, Loopback().s_addr);
}

TEST(TypedSendTest, IovecsFlagsAndNoControl) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  char a[] = "ab", b[] = "cd";
  iovec iov[] = {{a, 2}, {b, 2}};
  auto sent = SendMsg(pair.a.get(), absl::MakeConstSpan(iov), SendOptions{.flags = MSG_DONTWAIT});
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, 4u);
  char data[8];
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "abcd");
  // Fill the socket: MSG_DONTWAIT then reports would-block.
  absl::StatusOr<size_t> more;
  do more = SendMsg(pair.a.get(), "fill", SendOptions{.flags = MSG_DONTWAIT});
  while (more.ok());
  EXPECT_TRUE(IsWouldBlock(more.status())) << more.status();
}

TEST(TypedSendTest, InvalidFdsAreRejectedBeforeTheCall) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  int negative[] = {-1};
  auto sent = SendMsg(pair.a.get(), "x", ScmRights{negative});
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kInvalidArgument);
  char data[4];
  auto nothing = RecvMsg(pair.b.get(), absl::MakeSpan(data), {}, {.flags = MSG_DONTWAIT});
  EXPECT_TRUE(IsWouldBlock(nothing.status())) << nothing.status();
  int closed_fd[] = {1000000};
  auto ebadf = SendMsg(pair.a.get(), "x", ScmRights{closed_fd});
  EXPECT_EQ(ErrnoOf(ebadf.status()), EBADF) << ebadf.status();
  EXPECT_THAT(ebadf.status().message(), HasSubstr("sendmsg: EBADF"));
}

// ------------------------------------------------------- RecvMsg + visitor

TEST(VisitRecvTest, TakenFdsWorkAndTheRestAreClosed) {
  UnixPair pair = MakeUnixPair(SOCK_SEQPACKET);
  UniqueFd file = TempFileWith("visited");
  int fds[] = {file.get(), file.get(), file.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "three", ScmRights{fds}).ok());
  int before = CountOpenFds();
  ControlBuffer<Fds<4>> control;
  char data[8];
  UniqueFd taken;
  size_t seen = 0;
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span(),
                   [&](OwnedFdRange& r) {
                     seen = r.size();
                     taken = r.Take(1);
                   });
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->control_status.ok()) << m->control_status;
  EXPECT_EQ(std::string(data, m->bytes), "three");
  EXPECT_FALSE(m->control_truncated());
  EXPECT_EQ(seen, 3u);
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(ReadFromStart(taken.get()), "visited");
  EXPECT_EQ(fcntl(taken.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(CountOpenFds(), before + 1);  // only the taken one
}

TEST(VisitRecvTest, AVisitorThatIgnoresRightsLeavesNoFd) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  ASSERT_TRUE(ReceiveCredentials(pair.b.get()).ok());
  UniqueFd file = TempFileWith("x");
  int fds[] = {file.get(), file.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "x", ScmRights{fds}).ok());
  int before = CountOpenFds();
  ControlBuffer<Fds<2>, ScmCredentials> control;
  char data[4];
  pid_t pid = 0;
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span(),
                   [&](const ScmCredentials& c) { pid = c.pid; });
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->control_status.ok()) << m->control_status;
  EXPECT_EQ(pid, getpid());
  EXPECT_EQ(CountOpenFds(), before);
}

// MSG_CTRUNC: the data comes back, the status says what was lost, the fds
// that arrived are closed and the visitor sees nothing.
TEST(VisitRecvTest, TruncatedControlKeepsTheDataAndClosesTheFds) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  UniqueFd file = TempFileWith("t");
  int fds[] = {file.get(), file.get(), file.get(), file.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "hello", ScmRights{fds}).ok());
  int before = CountOpenFds();
  ControlBuffer<Fds<1>> control;
  char data[8];
  int calls = 0;
  auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span(),
                   [&](auto&&) { ++calls; });
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "hello");
  EXPECT_TRUE(m->control_truncated());
  EXPECT_EQ(m->control_status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(m->control_status.message(),
              HasSubstr(absl::StrCat("the ", control.span().size(), "-byte control buffer")));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(CountOpenFds(), before);
}

TEST(VisitRecvTest, TruncatedControlOnAStreamLosesNoBytes) {
  UnixPair pair = MakeUnixPair(SOCK_STREAM);
  UniqueFd file = TempFileWith("t");
  int fds[] = {file.get(), file.get(), file.get(), file.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "first", ScmRights{fds}).ok());
  ASSERT_TRUE(SendMsg(pair.a.get(), "second", ScmRights{absl::MakeConstSpan(fds, 1)}).ok());
  int before = CountOpenFds();
  ControlBuffer<Fds<1>> control;
  std::string got;
  size_t visited_fds = 0;
  while (got.size() < 11) {
    char data[5];
    auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span(),
                     [&](OwnedFdRange& r) { visited_fds += r.size(); });
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_GT(m->bytes, 0u);
    got.append(data, m->bytes);
  }
  EXPECT_EQ(got, "firstsecond");
  EXPECT_EQ(visited_fds, 1u);  // the second message's; the first was cut
  EXPECT_EQ(CountOpenFds(), before);
}

TEST(VisitRecvTest, UdpPacketInfoTtlAndPeer) {
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  ASSERT_TRUE(ReceiveTtl(rx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  ASSERT_TRUE(SendMsg(tx.get(), "ping", Ipv4Ttl{5}, SendOptions{.to = &to}).ok());
  ControlBuffer<Ipv4PacketInfo, Ipv4Ttl> control;
  char data[16];
  in_addr arrived{};
  int ttl = 0;
  auto m = RecvMsg(rx.get(), absl::MakeSpan(data), control.span(),
                   Overloaded{[&](const Ipv4PacketInfo& p) { arrived = p.spec_dst; },
                              [&](const Ipv4Ttl& t) { ttl = t.ttl; }});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->control_status.ok()) << m->control_status;
  EXPECT_EQ(std::string(data, m->bytes), "ping");
  EXPECT_EQ(m->peer, LocalAddress(tx.get()));
  EXPECT_EQ(arrived.s_addr, Loopback().s_addr);
  EXPECT_EQ(ttl, 5);
}

TEST(VisitRecvTest, IovecsAndDataTruncation) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  ASSERT_TRUE(SendMsg(pair.a.get(), "0123456789").ok());
  char a[2], b[3];
  iovec iov[] = {{a, 2}, {b, 3}};
  auto m = RecvMsg(pair.b.get(), absl::MakeConstSpan(iov), {}, [](const UnknownView&) {},
                   {.flags = MSG_TRUNC});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->data_truncated());
  EXPECT_EQ(m->bytes, 10u);
  EXPECT_EQ(std::string(a, 2) + std::string(b, 3), "01234");
}

TEST(VisitRecvTest, ErrorsAndWouldBlock) {
  char data[4];
  auto bad = RecvMsg(-1, absl::MakeSpan(data), {}, [](OwnedFdRange&) {});
  EXPECT_THAT(bad.status().message(), HasSubstr("recvmsg: EBADF"));
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  auto again = RecvMsg(pair.b.get(), absl::MakeSpan(data), {}, [](OwnedFdRange&) {},
                       {.flags = MSG_DONTWAIT});
  EXPECT_TRUE(IsWouldBlock(again.status())) << again.status();
}

// --------------------------------------------------- RecvBatch + visitor

TEST(VisitBatchTest, EachDatagramIsVisitedWithItsIndex) {
  UniqueFd rx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  ASSERT_TRUE(ReceiveTtl(rx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  UniqueFd tx1 = BoundUdpSocket(AF_INET), tx2 = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(SendMsg(tx1.get(), "one", Ipv4Ttl{11}, SendOptions{.to = &to}).ok());
  ASSERT_TRUE(SendMsg(tx2.get(), "two", Ipv4Ttl{12}, SendOptions{.to = &to}).ok());
  ASSERT_TRUE(SendMsg(tx1.get(), "three", Ipv4Ttl{13}, SendOptions{.to = &to}).ok());

  RecvBatch batch(8, 64, kSpaceFor<Ipv4PacketInfo, Ipv4Ttl>);
  std::vector<std::string> order;
  int ttl[3] = {};
  auto n = batch.Recv(
      rx.get(),
      Overloaded{[&](size_t i, const Ipv4Ttl& t) {
                   ASSERT_LT(i, 3u);
                   ttl[i] = t.ttl;
                   // The datagram's data and sender are there while it is visited.
                   order.push_back(std::string(batch.data(i).data(), batch.data(i).size()));
                 },
                 [&](size_t i, const Ipv4PacketInfo& p) {
                   EXPECT_EQ(p.spec_dst.s_addr, Loopback().s_addr) << i;
                 }},
      MSG_DONTWAIT);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 3u);
  EXPECT_EQ(order, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(ttl[0], 11);
  EXPECT_EQ(ttl[1], 12);
  EXPECT_EQ(ttl[2], 13);
  EXPECT_EQ(batch.message(0).peer, LocalAddress(tx1.get()));
  EXPECT_EQ(batch.message(1).peer, LocalAddress(tx2.get()));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(batch.control_status(i).ok()) << batch.control_status(i);
    EXPECT_TRUE(batch.message(i).control.empty());  // nothing kept
  }
}

TEST(VisitBatchTest, TruncationIsPerDatagramAndNoFdIsLeft) {
  UnixPair pair = MakeUnixPair(SOCK_DGRAM);
  UniqueFd file = TempFileWith("b");
  int fds[] = {file.get(), file.get(), file.get(), file.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "fits", ScmRights{absl::MakeConstSpan(fds, 1)}).ok());
  ASSERT_TRUE(SendMsg(pair.a.get(), "cut", ScmRights{fds}).ok());
  ASSERT_TRUE(SendMsg(pair.a.get(), "fits too", ScmRights{absl::MakeConstSpan(fds, 2)}).ok());
  int before = CountOpenFds();
  RecvBatch batch(4, 16, kSpaceFor<Fds<2>>);
  std::vector<size_t> visited;  // datagram index per SCM_RIGHTS seen
  UniqueFd kept;
  auto n = batch.Recv(pair.b.get(), [&](size_t i, OwnedFdRange& r) {
    visited.push_back(i);
    if (i == 2) kept = r.Take(0);
  }, MSG_DONTWAIT);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 3u);
  EXPECT_EQ(visited, (std::vector<size_t>{0, 2}));
  EXPECT_TRUE(batch.control_status(0).ok());
  EXPECT_EQ(batch.control_status(1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(batch.message(1).control_truncated());
  EXPECT_EQ(std::string(batch.data(1).data(), batch.data(1).size()), "cut");
  EXPECT_TRUE(batch.control_status(2).ok());
  EXPECT_TRUE(kept.ok());
  EXPECT_EQ(CountOpenFds(), before + 1);
}

TEST(VisitBatchTest, WouldBlock) {
  UniqueFd rx = BoundUdpSocket(AF_INET);
  RecvBatch batch(4, 16, kSpaceFor<Ipv4PacketInfo>);
  auto n = batch.Recv(rx.get(), [](size_t, const auto&) {}, MSG_DONTWAIT);
  EXPECT_TRUE(IsWouldBlock(n.status())) << n.status();
}

}  // namespace
}  // namespace cmsg
