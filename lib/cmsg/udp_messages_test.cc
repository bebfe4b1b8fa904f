// Every IP-level control message through a real UDP socket on loopback:
// pktinfo, TTL/hop limit, TOS/traffic class, timestamps, GSO/GRO, marks,
// drop counters, original destinations, error-queue entries and TxTime.
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/utsname.h>
#include <time.h>

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

using ::cmsg::testing::BoundUdpSocket;
using ::cmsg::testing::LocalAddress;

in_addr V4(const char* text) {
  in_addr a{};
  inet_pton(AF_INET, text, &a);
  return a;
}

unsigned LoopbackIndex() { return if_nametoindex("lo"); }

// A receiving and a sending UDP socket of one family on loopback.
struct UdpPair {
  explicit UdpPair(int family)
      : rx(BoundUdpSocket(family)),
        tx(BoundUdpSocket(family)),
        rx_addr(LocalAddress(rx.get())) {}
  absl::StatusOr<size_t> Send(absl::string_view data,
                              absl::Span<const ControlMessage> control = {}) {
    return SendMsg(tx.get(), data, control, {.to = &rx_addr});
  }
  UniqueFd rx;
  UniqueFd tx;
  SocketAddress rx_addr;
};

// Space for every receive-side message at once.
using AllMessages =
    ControlBuffer<Ipv6PacketInfo, Ipv4PacketInfo, ScmTimestamping, Ipv4RecvErr,
                  Ipv6RecvErr, Ipv6OrigDstAddr, Ipv4Ttl, Ipv4Tos, UdpGroSegments,
                  RxqOvfl, SoMark, ScmTimestampns, SoPriority>;

struct Received {
  ReceivedMessage message;
  std::string data;
};

absl::StatusOr<Received> Receive(int fd, int flags = 0) {
  AllMessages control;
  std::vector<char> data(65536);
  absl::StatusOr<ReceivedMessage> m =
      RecvMsg(fd, absl::MakeSpan(data), control.span(), {.flags = flags});
  if (!m.ok()) return m.status();
  Received r;
  r.data.assign(data.data(), std::min(m->bytes, data.size()));
  r.message = *std::move(m);
  return r;
}

// Waits for an error-queue entry (POLLERR) for up to five seconds.
bool WaitForError(int fd) {
  pollfd p{fd, 0, 0};
  return poll(&p, 1, 5000) == 1 && (p.revents & POLLERR);
}

timespec Now() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}
bool NotAfter(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
}

TEST(UdpMessagesTest, Ipv4PacketInfoSaysWhereTheDatagramArrived) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(p.rx.get()).ok());
  ASSERT_TRUE(p.Send("hi").ok());
  auto r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  const auto* info = r->message.Find<Ipv4PacketInfo>();
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->ifindex, static_cast<int>(LoopbackIndex()));
  EXPECT_EQ(info->addr.s_addr, V4("127.0.0.1").s_addr);
  EXPECT_EQ(info->spec_dst.s_addr, V4("127.0.0.1").s_addr);
  EXPECT_EQ(r->message.peer, LocalAddress(p.tx.get()));
}

TEST(UdpMessagesTest, Ipv4PacketInfoPicksTheSourceOfEachDatagram) {
  // A wildcard-bound sender chooses each datagram's source address.
  UniqueFd rx = BoundUdpSocket(AF_INET);
  SocketAddress rx_addr = LocalAddress(rx.get());
  UniqueFd tx(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  for (const char* source : {"127.0.0.2", "127.0.0.3"}) {
    Ipv4PacketInfo info;
    info.spec_dst = V4(source);
    auto sent = SendMsg(tx.get(), "x", {info}, {.to = &rx_addr});
    ASSERT_TRUE(sent.ok()) << sent.status();
    auto r = Receive(rx.get());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(AddressToString(r->message.peer.ipv4().sin_addr), source);
  }
}

TEST(UdpMessagesTest, Ipv6PacketInfoBothWays) {
  UdpPair p(AF_INET6);
  ASSERT_TRUE(p.rx.ok()) << "no IPv6 loopback";
  ASSERT_TRUE(ReceivePacketInfo(p.rx.get()).ok());
  // Sent with an explicit source and interface.
  Ipv6PacketInfo out;
  out.addr = in6addr_loopback;
  out.ifindex = LoopbackIndex();
  auto sent = p.Send("v6", {out});
  ASSERT_TRUE(sent.ok()) << sent.status();
  auto r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  const auto* info = r->message.Find<Ipv6PacketInfo>();
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->ifindex, LoopbackIndex());
  EXPECT_EQ(std::memcmp(&info->addr, &in6addr_loopback, sizeof(in6_addr)), 0);
  EXPECT_EQ(r->message.peer.ToString(), LocalAddress(p.tx.get()).ToString());

  // The kernel checks what we encoded: a source we do not own is refused.
  Ipv6PacketInfo bogus;
  inet_pton(AF_INET6, "2001:db8::1", &bogus.addr);
  EXPECT_FALSE(p.Send("v6", {bogus}).ok());
}

TEST(UdpMessagesTest, DualStackSocketGetsBothFamiliesPacketInfo) {
  UniqueFd rx(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  int off = 0;
  ASSERT_EQ(setsockopt(rx.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
  SocketAddress any = SocketAddress::Ipv6(in6addr_any, 0);
  ASSERT_EQ(bind(rx.get(), any.addr(), any.size()), 0);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  SocketAddress to = SocketAddress::Ipv4(V4("127.0.0.1"), LocalAddress(rx.get()).port());
  UniqueFd tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(SendMsg(tx.get(), "4", {}, {.to = &to}).ok());
  auto r = Receive(rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  // IPv4 traffic on a dual-stack socket reports IPv4 packet info.
  EXPECT_NE(r->message.Find<Ipv4PacketInfo>(), nullptr);
}

// An IPv4 datagram on a dual-stack socket carries IP_PKTINFO and
// IPV6_PKTINFO: a buffer for Ipv6PacketInfo alone is cut short (and so is
// the relay's view of where the datagram arrived); PacketInfoBuffer holds
// both.
TEST(UdpMessagesTest, DualStackPacketInfoNeedsTheDualStackBuffer) {
  UniqueFd rx(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  int off = 0;
  ASSERT_EQ(setsockopt(rx.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
  SocketAddress any = SocketAddress::Ipv6(in6addr_any, 0);
  ASSERT_EQ(bind(rx.get(), any.addr(), any.size()), 0);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  SocketAddress to = SocketAddress::Ipv4(V4("127.0.0.1"), LocalAddress(rx.get()).port());
  UniqueFd tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(SendMsg(tx.get(), "a", {}, {.to = &to}).ok());
  ASSERT_TRUE(SendMsg(tx.get(), "b", {}, {.to = &to}).ok());
  char data[4];
  ControlBuffer<Ipv6PacketInfo> v6_only;
  auto cut = RecvMsg(rx.get(), absl::MakeSpan(data), v6_only.span());
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_TRUE(cut->control_truncated());
  PacketInfoBuffer both;
  static_assert(sizeof(both) >= kSpaceFor<Ipv4PacketInfo, Ipv6PacketInfo>);
  auto whole = RecvMsg(rx.get(), absl::MakeSpan(data), both.span());
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_TRUE(whole->control_status.ok()) << whole->control_status;
  ASSERT_NE(whole->Find<Ipv4PacketInfo>(), nullptr);
  ASSERT_NE(whole->Find<Ipv6PacketInfo>(), nullptr);
  EXPECT_EQ(whole->Find<Ipv4PacketInfo>()->addr.s_addr, V4("127.0.0.1").s_addr);
}

TEST(UdpMessagesTest, Ipv4TtlSentAndReceived) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveTtl(p.rx.get()).ok());
  ASSERT_TRUE(p.Send("a", {Ipv4Ttl{7}}).ok());
  ASSERT_TRUE(p.Send("b").ok());
  auto r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(r->message.Find<Ipv4Ttl>(), nullptr);
  EXPECT_EQ(r->message.Find<Ipv4Ttl>()->ttl, 7);
  r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->message.Find<Ipv4Ttl>()->ttl, 7);  // the socket default again
}

TEST(UdpMessagesTest, Ipv4TosSentAndReceived) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveTos(p.rx.get()).ok());
  ASSERT_TRUE(p.Send("a", {Ipv4Tos{0x28}}).ok());
  auto r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(r->message.Find<Ipv4Tos>(), nullptr);
  EXPECT_EQ(r->message.Find<Ipv4Tos>()->tos, 0x28);
}

TEST(UdpMessagesTest, Ipv6TClassAndHopLimitSentAndReceived) {
  UdpPair p(AF_INET6);
  ASSERT_TRUE(ReceiveTos(p.rx.get()).ok());
  ASSERT_TRUE(ReceiveTtl(p.rx.get()).ok());
  ASSERT_TRUE(p.Send("a", {Ipv6TClass{0x48}, Ipv6HopLimit{9}}).ok());
  auto r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(r->message.Find<Ipv6TClass>(), nullptr);
  EXPECT_EQ(r->message.Find<Ipv6TClass>()->tclass, 0x48);
  ASSERT_NE(r->message.Find<Ipv6HopLimit>(), nullptr);
  EXPECT_EQ(r->message.Find<Ipv6HopLimit>()->hop_limit, 9);
}

// The classic: a datagram to ourselves with SO_TIMESTAMP; the kernel's
// receive stamp lies between clock readings taken before sending and after
// receiving.
TEST(UdpMessagesTest, ScmTimestampLiesBetweenTwoClockReadings) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveTimestamp(p.rx.get()).ok());
  timeval before;
  gettimeofday(&before, nullptr);
  ASSERT_TRUE(p.Send("t").ok());
  ControlBuffer<ScmTimestamp> control;
  char data[8];
  auto m = RecvMsg(p.rx.get(), absl::MakeSpan(data), control.span());
  timeval after;
  gettimeofday(&after, nullptr);
  ASSERT_TRUE(m.ok()) << m.status();
  const auto* stamp = m->Find<ScmTimestamp>();
  ASSERT_NE(stamp, nullptr);
  EXPECT_FALSE(timercmp(&stamp->time, &before, <));
  EXPECT_FALSE(timercmp(&stamp->time, &after, >));
}

TEST(UdpMessagesTest, ScmTimestampnsLiesBetweenTwoClockReadings) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveTimestampNs(p.rx.get()).ok());
  timespec before = Now();
  ASSERT_TRUE(p.Send("t").ok());
  auto r = Receive(p.rx.get());
  timespec after = Now();
  ASSERT_TRUE(r.ok()) << r.status();
  const auto* stamp = r->message.Find<ScmTimestampns>();
  ASSERT_NE(stamp, nullptr);
  EXPECT_TRUE(NotAfter(before, stamp->time));
  EXPECT_TRUE(NotAfter(stamp->time, after));
}

TEST(UdpMessagesTest, ScmTimestampingReceiveSoftwareStamp) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveTimestamping(p.rx.get(), TimestampingFlags::kRxSoftware |
                                                  TimestampingFlags::kSoftware)
                  .ok());
  // The kernel turns receive stamping on globally from a work queue, so the
  // first datagrams after the setsockopt may arrive unstamped (without the
  // message). Retry a bounded number of times for one that is stamped.
  for (int attempt = 0; attempt < 100; ++attempt) {
    timespec before = Now();
    ASSERT_TRUE(p.Send("t").ok());
    auto r = Receive(p.rx.get());
    timespec after = Now();
    ASSERT_TRUE(r.ok()) << r.status();
    const auto* stamp = r->message.Find<ScmTimestamping>();
    if (stamp == nullptr) {
      timespec ms{0, 1000000};
      nanosleep(&ms, nullptr);
      continue;
    }
    EXPECT_TRUE(NotAfter(before, stamp->times[0]));
    EXPECT_TRUE(NotAfter(stamp->times[0], after));
    EXPECT_EQ(stamp->times[2].tv_sec, 0);  // no hardware stamp on loopback
    return;
  }
  FAIL() << "no datagram carried SCM_TIMESTAMPING in 100 tries";
}

TEST(UdpMessagesTest, ScmTimestampingTransmitStampComesBackOnTheErrorQueue) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveTimestamping(p.tx.get(), TimestampingFlags::kTxSoftware |
                                                  TimestampingFlags::kSoftware |
                                                  TimestampingFlags::kOptId |
                                                  TimestampingFlags::kOptTsonly)
                  .ok());
  timespec before = Now();
  ASSERT_TRUE(p.Send("t").ok());
  ASSERT_TRUE(WaitForError(p.tx.get()));
  auto r = Receive(p.tx.get(), MSG_ERRQUEUE);
  timespec after = Now();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->message.flags & MSG_ERRQUEUE);
  const auto* stamp = r->message.Find<ScmTimestamping>();
  ASSERT_NE(stamp, nullptr);
  EXPECT_TRUE(NotAfter(before, stamp->times[0]));
  EXPECT_TRUE(NotAfter(stamp->times[0], after));
  const auto* err = r->message.Find<Ipv4RecvErr>();
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->error.ee_origin, SO_EE_ORIGIN_TIMESTAMPING);
  EXPECT_EQ(err->error.ee_errno, ENOMSG);
  EXPECT_EQ(err->error.ee_data, 0u);  // OPT_ID: the first send
}

// True if the running kernel is at least major.minor.
bool KernelAtLeast(int major, int minor) {
  utsname u;
  if (uname(&u) != 0) return false;
  int have_major = 0, have_minor = 0;
  if (sscanf(u.release, "%d.%d", &have_major, &have_minor) != 2) return false;
  return have_major > major || (have_major == major && have_minor >= minor);
}

// SO_TIMESTAMPING as a message: the socket reports software stamps but
// generates none; one packet asks for its own transmit stamp.
TEST(UdpMessagesTest, SoTimestampingMessageStampsOnlyItsPacket) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveTimestamping(p.tx.get(), TimestampingFlags::kSoftware).ok());
  ASSERT_TRUE(p.Send("a").ok());
  auto sent = p.Send("b", {SoTimestamping{TimestampingFlags::kTxSoftware}});
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_TRUE(WaitForError(p.tx.get()));
  auto r = Receive(p.tx.get(), MSG_ERRQUEUE);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(r->message.Find<ScmTimestamping>(), nullptr);
  const auto* err = r->message.Find<Ipv4RecvErr>();
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->error.ee_origin, SO_EE_ORIGIN_TIMESTAMPING);
  // The stamped packet comes back with it: "b", not "a".
  ASSERT_FALSE(r->data.empty());
  EXPECT_EQ(r->data.back(), 'b');
  // And "a" was not stamped: nothing else is queued.
  EXPECT_EQ(ErrnoOf(Receive(p.tx.get(), MSG_ERRQUEUE | MSG_DONTWAIT).status()), EAGAIN);
}

// SCM_TS_OPT_ID (Linux 6.13+): the transmit stamp carries the given id.
TEST(UdpMessagesTest, ScmTsOptIdSetsTheIdOfTheStamp) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveTimestamping(p.tx.get(), TimestampingFlags::kTxSoftware |
                                                  TimestampingFlags::kSoftware |
                                                  TimestampingFlags::kOptId |
                                                  TimestampingFlags::kOptTsonly)
                  .ok());
  auto sent = p.Send("t", {ScmTsOptId{0xabcd}});
  if (!sent.ok() && ErrnoOf(sent.status()) == EINVAL && !KernelAtLeast(6, 13)) {
    GTEST_SKIP() << sent.status() << " (SCM_TS_OPT_ID needs Linux 6.13+)";
  }
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_TRUE(WaitForError(p.tx.get()));
  auto r = Receive(p.tx.get(), MSG_ERRQUEUE);
  ASSERT_TRUE(r.ok()) << r.status();
  const auto* err = r->message.Find<Ipv4RecvErr>();
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->error.ee_origin, SO_EE_ORIGIN_TIMESTAMPING);
  EXPECT_EQ(err->error.ee_data, 0xabcdu);  // not the socket's counter (0)
}

// SO_PRIORITY per packet (Linux 6.14+), read back with SO_RCVPRIORITY.
TEST(UdpMessagesTest, SoPriorityMessageSetsThePacketsPriority) {
  UdpPair p(AF_INET);
  absl::Status on = ReceivePriority(p.rx.get());
  if (on.code() == absl::StatusCode::kUnimplemented) GTEST_SKIP() << on;
  ASSERT_TRUE(on.ok()) << on;
  auto sent = p.Send("p", {SoPriority{5}});
  if (!sent.ok() && ErrnoOf(sent.status()) == EINVAL && !KernelAtLeast(6, 14)) {
    GTEST_SKIP() << sent.status() << " (SO_PRIORITY as a message needs Linux 6.14+)";
  }
  ASSERT_TRUE(sent.ok()) << sent.status();
  auto r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  const auto* priority = r->message.Find<SoPriority>();
  ASSERT_NE(priority, nullptr);
  EXPECT_EQ(priority->priority, 5u);
  // The next packet, without the message, has the socket's priority.
  ASSERT_TRUE(SetIntOption(p.tx.get(), SOL_SOCKET, SO_PRIORITY, 3, "SO_PRIORITY").ok());
  ASSERT_TRUE(p.Send("q").ok());
  r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  priority = r->message.Find<SoPriority>();
  ASSERT_NE(priority, nullptr);
  EXPECT_EQ(priority->priority, 3u);
}

TEST(UdpMessagesTest, GsoSplitsOneSendIntoSegments) {
  UdpPair p(AF_INET);
  std::string payload(3000, 'g');
  auto sent = p.Send(payload, {UdpGsoSegments{1000}});
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, 3000u);
  for (int i = 0; i < 3; ++i) {
    auto r = Receive(p.rx.get(), MSG_DONTWAIT);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->data.size(), 1000u);
  }
  EXPECT_EQ(ErrnoOf(Receive(p.rx.get(), MSG_DONTWAIT).status()), EAGAIN);
}

TEST(UdpMessagesTest, GroReportsTheSegmentSizeOfACoalescedRead) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveGro(p.rx.get()).ok());
  std::string payload(2500, 'g');
  ASSERT_TRUE(p.Send(payload, {UdpGsoSegments{1000}}).ok());
  auto r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data.size(), 2500u);
  const auto* gro = r->message.Find<UdpGroSegments>();
  ASSERT_NE(gro, nullptr);
  EXPECT_EQ(gro->segment_size, 1000);
}

TEST(UdpMessagesTest, RxqOvflCountsDroppedDatagrams) {
  UdpPair p(AF_INET);
  ASSERT_TRUE(ReceiveRxqOvfl(p.rx.get()).ok());
  int small = 1;  // the kernel rounds this up to its minimum
  ASSERT_EQ(setsockopt(p.rx.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  std::string payload(1000, 'o');
  // Overflow the receive queue, make room for one, and send it: that one is
  // queued with the drop count so far.
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(p.Send(payload).ok());
  while (Receive(p.rx.get(), MSG_DONTWAIT).ok()) {
  }
  ASSERT_TRUE(p.Send(payload).ok());
  auto r = Receive(p.rx.get(), MSG_DONTWAIT);
  ASSERT_TRUE(r.ok()) << r.status();
  const auto* ovfl = r->message.Find<RxqOvfl>();
  ASSERT_NE(ovfl, nullptr);
  EXPECT_GT(ovfl->dropped, 0u);
  EXPECT_LT(ovfl->dropped, 200u);
}

TEST(UdpMessagesTest, OrigDstAddrBothFamilies) {
  for (int family : {AF_INET, AF_INET6}) {
    UdpPair p(family);
    ASSERT_TRUE(ReceiveOrigDstAddr(p.rx.get()).ok());
    ASSERT_TRUE(p.Send("o").ok());
    auto r = Receive(p.rx.get());
    ASSERT_TRUE(r.ok()) << r.status();
    if (family == AF_INET) {
      const auto* o = r->message.Find<Ipv4OrigDstAddr>();
      ASSERT_NE(o, nullptr);
      EXPECT_EQ(o->addr.sin_addr.s_addr, p.rx_addr.ipv4().sin_addr.s_addr);
      EXPECT_EQ(o->addr.sin_port, p.rx_addr.ipv4().sin_port);
    } else {
      const auto* o = r->message.Find<Ipv6OrigDstAddr>();
      ASSERT_NE(o, nullptr);
      EXPECT_EQ(o->addr.sin6_port, p.rx_addr.ipv6().sin6_port);
      EXPECT_EQ(std::memcmp(&o->addr.sin6_addr, &in6addr_loopback, 16), 0);
    }
  }
}

TEST(UdpMessagesTest, RecvErrFromASendToAClosedPort) {
  for (int family : {AF_INET, AF_INET6}) {
    SCOPED_TRACE(family == AF_INET ? "IPv4" : "IPv6");
    UniqueFd closed = BoundUdpSocket(family);
    SocketAddress closed_addr = LocalAddress(closed.get());
    closed.reset();  // nothing listens on that port now
    UniqueFd tx = BoundUdpSocket(family);
    ASSERT_TRUE(ReceiveErrors(tx.get()).ok());
    ASSERT_EQ(connect(tx.get(), closed_addr.addr(), closed_addr.size()), 0);
    ASSERT_TRUE(SendMsg(tx.get(), "anyone?", {}).ok());
    ASSERT_TRUE(WaitForError(tx.get()));
    auto r = Receive(tx.get(), MSG_ERRQUEUE);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->data, "anyone?");  // the offending datagram comes back
    if (family == AF_INET) {
      const auto* e = r->message.Find<Ipv4RecvErr>();
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(e->error.ee_errno, static_cast<uint32_t>(ECONNREFUSED));
      EXPECT_EQ(e->error.ee_origin, SO_EE_ORIGIN_ICMP);
      ASSERT_TRUE(e->offender().has_value());
      EXPECT_EQ(e->offender()->sin_addr.s_addr, V4("127.0.0.1").s_addr);
    } else {
      const auto* e = r->message.Find<Ipv6RecvErr>();
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(e->error.ee_errno, static_cast<uint32_t>(ECONNREFUSED));
      EXPECT_EQ(e->error.ee_origin, SO_EE_ORIGIN_ICMP6);
      ASSERT_TRUE(e->offender().has_value());
      EXPECT_EQ(std::memcmp(&e->offender()->sin6_addr, &in6addr_loopback, 16), 0);
    }
  }
}

TEST(UdpMessagesTest, TxTimeIsAcceptedOnlyWithSoTxtime) {
  UdpPair p(AF_INET);
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t at = now.tv_sec * 1000000000ull + now.tv_nsec;
  // Without SO_TXTIME the kernel rejects the message it parsed.
  auto refused = p.Send("x", {TxTime{at}});
  EXPECT_EQ(ErrnoOf(refused.status()), EINVAL) << refused.status();
  absl::Status enabled = EnableTxTime(p.tx.get(), {});
  if (!enabled.ok()) GTEST_SKIP() << enabled;
  auto sent = p.Send("x", {TxTime{at}});
  ASSERT_TRUE(sent.ok()) << sent.status();
  // No ETF qdisc on loopback: the datagram goes out at once.
  auto r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data, "x");
}

// The typed SO_TXTIME option sets the clock and flags the kernel reads back.
TEST(UdpMessagesTest, EnableTxTimeSetsClockAndFlags) {
  UdpPair p(AF_INET);
  absl::Status enabled =
      EnableTxTime(p.tx.get(), {.clock = CLOCK_MONOTONIC,
                                .flags = TxTimeFlags::kDeadlineMode | TxTimeFlags::kReportErrors});
  if (ErrnoOf(enabled) == ENOPROTOOPT) GTEST_SKIP() << enabled << " (needs Linux 4.19+)";
  ASSERT_TRUE(enabled.ok()) << enabled;
  sock_txtime back{};
  socklen_t len = sizeof(back);
  ASSERT_EQ(getsockopt(p.tx.get(), SOL_SOCKET, SO_TXTIME, &back, &len), 0)
      << ErrnoError("getsockopt(SO_TXTIME)");
  EXPECT_EQ(back.clockid, CLOCK_MONOTONIC);
  EXPECT_EQ(back.flags, uint32_t{SOF_TXTIME_DEADLINE_MODE | SOF_TXTIME_REPORT_ERRORS});
  // A flag the kernel does not know is refused, with the call named.
  absl::Status bad = EnableTxTime(p.tx.get(), {.clock = CLOCK_MONOTONIC, .flags = TxTimeFlags(1u << 30)});
  EXPECT_EQ(ErrnoOf(bad), EINVAL) << bad;
  EXPECT_THAT(std::string(bad.message()), ::testing::HasSubstr("SO_TXTIME"));
}

TEST(UdpMessagesTest, RxqOvflOnSendIsRefusedByTheKernel) {
  // SO_RXQ_OVFL is encodable but means nothing on send: the kernel's EINVAL
  // comes back as the status.
  UdpPair p(AF_INET);
  auto sent = p.Send("x", {RxqOvfl{1}});
  EXPECT_EQ(ErrnoOf(sent.status()), EINVAL) << sent.status();
}

TEST(UdpMessagesTest, UnknownMessagesAreKeptByteForByte) {
  UdpPair p(AF_INET);
  // Four NOP/END IP option bytes on the sender; IP_RECVOPTS on the receiver
  // yields an IP_RECVOPTS message, one this library has no type for.
  const uint8_t options[4] = {IPOPT_NOP, IPOPT_NOP, IPOPT_NOP, IPOPT_END};
  ASSERT_EQ(setsockopt(p.tx.get(), IPPROTO_IP, IP_OPTIONS, options, sizeof(options)), 0);
  ASSERT_TRUE(SetIntOption(p.rx.get(), IPPROTO_IP, IP_RECVOPTS, 1, "IP_RECVOPTS").ok());
  ASSERT_TRUE(p.Send("u").ok());
  auto r = Receive(p.rx.get());
  ASSERT_TRUE(r.ok()) << r.status();
  const auto* u = r->message.Find<Unknown>();
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->level, IPPROTO_IP);
  EXPECT_EQ(u->type, IP_RECVOPTS);
  ASSERT_EQ(u->data.size(), 4u);
  EXPECT_EQ(std::memcmp(u->data.data(), options, 4), 0);
}

}  // namespace
}  // namespace cmsg
