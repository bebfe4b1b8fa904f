// Arrival and DatagramSender against real loopback sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/udp/arrival.h"
#include "lib/udp/datagram_sender.h"
#include "lib/udp/udp_socket.h"

namespace cmsg::udp {
namespace {

SocketAddress Addr(const char* text) { return *SocketAddress::Parse(text); }

// A server on 0.0.0.0 (port chosen by the kernel) and a client socket.
struct Pair {
  UniqueFd server;
  uint16_t port = 0;
  UniqueFd client;
};

Pair MakePair() {
  Pair p;
  absl::StatusOr<UniqueFd> s = BindUdp(Addr("0.0.0.0:0"), {});
  EXPECT_TRUE(s.ok()) << s.status();
  p.server = *std::move(s);
  p.port = SocketAddress::LocalOf(p.server.get())->port();
  p.client.reset(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  timeval tv{2, 0};
  setsockopt(p.client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return p;
}

ReceivedMessage ReceiveOne(int fd, char* buf, size_t len) {
  ControlBuffer<Ipv4PacketInfo, Ipv6PacketInfo> control;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<ReceivedMessage> m = RecvMsg(fd, absl::MakeSpan(buf, len), control.span());
    if (m.ok()) return *std::move(m);
    usleep(10000);  // the server socket is non-blocking
  }
  ADD_FAILURE() << "nothing received";
  return {};
}

TEST(ArrivalTest, ReplyLeavesFromTheAddressTheRequestWentTo) {
  Pair p = MakePair();
  for (const char* local : {"127.0.0.2", "127.0.0.3"}) {
    SocketAddress to = Addr(absl::StrCat(local, ":", p.port).c_str());
    ASSERT_EQ(sendto(p.client.get(), "q", 1, 0, to.addr(), to.size()), 1);
    char buf[16];
    ReceivedMessage m = ReceiveOne(p.server.get(), buf, sizeof(buf));
    std::optional<Arrival> at = Arrival::Of(m);
    ASSERT_TRUE(at.has_value());
    EXPECT_TRUE(at->is_ipv4());
    EXPECT_EQ(at->ToString(), absl::StrCat(local, "%1"));  // lo is ifindex 1

    DatagramSender out(4, /*gso=*/false);
    DatagramSender::Counts counts;
    out.Queue(p.server.get(), "answer", &m.peer, at->ReplyFrom(ReplyInterface::kArrival), 0, counts);
    out.Flush(p.server.get(), counts);
    EXPECT_EQ(counts.sent_packets, 1u);

    sockaddr_in from{};
    socklen_t len = sizeof(from);
    char reply[16];
    ASSERT_EQ(recvfrom(p.client.get(), reply, sizeof(reply), 0,
                       reinterpret_cast<sockaddr*>(&from), &len), 6);
    EXPECT_EQ(SocketAddress::Ipv4(from.sin_addr, ntohs(from.sin_port)).ToString(),
              absl::StrCat(local, ":", p.port));
  }
}

TEST(ArrivalTest, SendSideUsesSpecDstNotAddr) {
  in_addr local{};
  inet_pton(AF_INET, "127.0.0.4", &local);
  ControlMessage m = Arrival::Ipv4(local, 1).ReplyFrom(ReplyInterface::kArrival);
  const auto* info = std::get_if<Ipv4PacketInfo>(&m);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->spec_dst.s_addr, local.s_addr);
  EXPECT_EQ(info->addr.s_addr, 0u);
  EXPECT_EQ(info->ifindex, 1);
  // By the route: the same source, no interface.
  m = Arrival::Ipv4(local, 1).ReplyFrom(ReplyInterface::kRoute);
  info = std::get_if<Ipv4PacketInfo>(&m);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->spec_dst.s_addr, local.s_addr);
  EXPECT_EQ(info->ifindex, 0);
}

TEST(ArrivalTest, LinkLocalIpv6KeepsItsInterfaceEvenByRoute) {
  in6_addr ll{}, global{};
  inet_pton(AF_INET6, "fe80::1", &ll);
  inet_pton(AF_INET6, "fd00::1", &global);
  ControlMessage m = Arrival::Ipv6(ll, 3).ReplyFrom(ReplyInterface::kRoute);
  EXPECT_EQ(std::get_if<Ipv6PacketInfo>(&m)->ifindex, 3u);
  m = Arrival::Ipv6(global, 3).ReplyFrom(ReplyInterface::kRoute);
  EXPECT_EQ(std::get_if<Ipv6PacketInfo>(&m)->ifindex, 0u);
}

TEST(ArrivalTest, NoPacketInfoMeansNoArrival) {
  ReceivedMessage m;
  EXPECT_FALSE(Arrival::Of(m).has_value());
}

TEST(DatagramSenderTest, RefusedGsoFallsBackToPlainSegments) {
  Pair p = MakePair();
  ASSERT_EQ(connect(p.client.get(), Addr(absl::StrCat("127.0.0.1:", p.port).c_str()).addr(),
                    sizeof(sockaddr_in)), 0);
  SocketAddress client = *SocketAddress::LocalOf(p.client.get());
  // 200 segments of 10 bytes: more than a GSO send may carry (EINVAL).
  std::string data;
  for (int i = 0; i < 200; ++i) data += absl::StrFormat("seg%06d.", i);
  ASSERT_EQ(data.size(), 2000u);
  DatagramSender out(16, /*gso=*/true);
  DatagramSender::Counts counts;
  out.Queue(p.server.get(), data, &client, std::nullopt, 10, counts);
  out.Flush(p.server.get(), counts);
  // EINVAL refuses this send only (as EMSGSIZE does for a segment larger
  // than the path): GSO stays on for the next ones.
  EXPECT_TRUE(out.gso());
  EXPECT_EQ(counts.gso_fallbacks, 1u);
  EXPECT_EQ(counts.sent_packets, 200u);
  EXPECT_EQ(counts.dropped_packets, 0u);
  for (int i = 0; i < 200; ++i) {
    char buf[32];
    ssize_t n = recv(p.client.get(), buf, sizeof(buf), 0);
    ASSERT_EQ(n, 10);
    EXPECT_EQ(std::string(buf, 10), data.substr(i * 10, 10));
  }
}

TEST(DatagramSenderTest, NothingLargerThanThePathIsCoalesced) {
  if (!KernelHasUdpGso()) GTEST_SKIP() << "no UDP GSO";
  Pair p = MakePair();
  ASSERT_EQ(connect(p.client.get(), Addr(absl::StrCat("127.0.0.1:", p.port).c_str()).addr(),
                    sizeof(sockaddr_in)), 0);
  SocketAddress client = *SocketAddress::LocalOf(p.client.get());
  DatagramSender out(8, /*gso=*/true);
  DatagramSender::Counts counts;
  std::string big(1400, 'b'), small(600, 's');
  for (int i = 0; i < 3; ++i)
    out.Queue(p.server.get(), big, &client, std::nullopt, 0, counts, /*flow=*/1,
              /*max_segment=*/1232);
  EXPECT_EQ(out.queued(), 3u);  // one send each
  for (int i = 0; i < 3; ++i)
    out.Queue(p.server.get(), small, &client, std::nullopt, 0, counts, /*flow=*/1,
              /*max_segment=*/1232);
  EXPECT_EQ(out.queued(), 4u);  // the small ones ride one GSO send
  out.Flush(p.server.get(), counts);
  EXPECT_EQ(counts.sent_packets, 6u);
}

TEST(DatagramSenderTest, GsoSendArrivesAsSeparateDatagrams) {
  if (!KernelHasUdpGso()) GTEST_SKIP() << "no UDP GSO";
  Pair p = MakePair();
  ASSERT_EQ(connect(p.client.get(), Addr(absl::StrCat("127.0.0.1:", p.port).c_str()).addr(),
                    sizeof(sockaddr_in)), 0);
  SocketAddress client = *SocketAddress::LocalOf(p.client.get());
  std::string data(1000 * 3 + 500, 'g');
  DatagramSender out(4, /*gso=*/true);
  DatagramSender::Counts counts;
  out.Queue(p.server.get(), data, &client, std::nullopt, 1000, counts);
  out.Flush(p.server.get(), counts);
  EXPECT_TRUE(out.gso());
  EXPECT_EQ(counts.sent_packets, 4u);
  for (int expected : {1000, 1000, 1000, 500}) {
    char buf[2000];
    EXPECT_EQ(recv(p.client.get(), buf, sizeof(buf), 0), expected);
  }
}

}  // namespace
}  // namespace cmsg::udp

namespace cmsg::udp {
namespace {

TEST(DatagramSenderTest, SmallDatagramsOfOneFlowAreCoalescedAndArriveIntact) {
  if (!KernelHasUdpGso()) GTEST_SKIP() << "no UDP GSO";
  Pair p = MakePair();
  ASSERT_EQ(connect(p.client.get(), Addr(absl::StrCat("127.0.0.1:", p.port).c_str()).addr(),
                    sizeof(sockaddr_in)), 0);
  int buf = 1 << 20;
  setsockopt(p.client.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  SocketAddress client = *SocketAddress::LocalOf(p.client.get());
  std::vector<std::string> sent;
  for (int i = 0; i < 100; ++i) sent.push_back(absl::StrFormat("%099d", i));
  sent.push_back("short tail");
  sent.push_back(absl::StrFormat("%099d", 7));  // after a short one: a new group
  DatagramSender out(16, /*gso=*/true);
  DatagramSender::Counts counts;
  for (const std::string& s : sent)
    out.Queue(p.server.get(), s, &client, std::nullopt, 0, counts, /*flow=*/1);
  // 64 + 36 + the short tail in two GSO groups, then a new group of one.
  EXPECT_EQ(out.queued(), 3u);
  out.Flush(p.server.get(), counts);
  EXPECT_EQ(counts.sent_packets, sent.size());
  for (const std::string& s : sent) {
    char got[200];
    ssize_t n = recv(p.client.get(), got, sizeof(got), 0);
    ASSERT_EQ(std::string(got, n > 0 ? n : 0), s);
  }
}

TEST(DatagramSenderTest, FlowZeroAndEmptyDatagramsAreNeverCoalesced) {
  Pair p = MakePair();
  SocketAddress to = Addr(absl::StrCat("127.0.0.1:", p.port).c_str());
  DatagramSender out(16, /*gso=*/true);
  DatagramSender::Counts counts;
  out.Queue(p.client.get(), "aa", &to, std::nullopt, 0, counts, /*flow=*/0);
  out.Queue(p.client.get(), "bb", &to, std::nullopt, 0, counts, /*flow=*/0);
  out.Queue(p.client.get(), "", &to, std::nullopt, 0, counts, /*flow=*/2);
  out.Queue(p.client.get(), "", &to, std::nullopt, 0, counts, /*flow=*/2);
  EXPECT_EQ(out.queued(), 4u);
  out.Flush(p.client.get(), counts);
  EXPECT_EQ(counts.sent_packets, 4u);
}


// One sender for many sockets' replies: with `copies`, the caller's buffer
// and destination are reused before Flush, and every datagram still goes to
// its own client with its own bytes, GSO off and on, across automatic
// flushes (queue full) and through a GRO read split into segments.
TEST(DatagramSenderTest, CopiesLetTheCallerReuseBuffersBeforeFlush) {
  for (bool gso : {false, true}) {
    if (gso && !KernelHasUdpGso()) continue;
    SCOPED_TRACE(gso ? "gso" : "no gso");
    Pair p = MakePair();
    constexpr int kClients = 5;
    std::vector<UniqueFd> clients;
    std::vector<SocketAddress> addresses;
    for (int c = 0; c < kClients; ++c) {
      absl::StatusOr<UniqueFd> fd = BindUdp(Addr("127.0.0.1:0"), {});
      ASSERT_TRUE(fd.ok()) << fd.status();
      addresses.push_back(*SocketAddress::LocalOf(fd->get()));
      clients.push_back(*std::move(fd));
    }
    DatagramSender out(4, gso, /*copies=*/true);
    DatagramSender::Counts counts;
    std::string buffer;
    SocketAddress to;
    // Three rounds of one datagram per client, then one 3-segment GRO-style
    // read for client 0: 18 datagrams through a queue of 4.
    for (int round = 0; round < 3; ++round) {
      for (int c = 0; c < kClients; ++c) {
        buffer = absl::StrFormat("round %d client %d", round, c);
        to = addresses[c];
        out.Queue(p.server.get(), buffer, &to, std::nullopt, 0, counts, /*flow=*/c + 1);
        buffer.assign(buffer.size(), 'X');  // reused before the flush
        to = Addr("127.0.0.1:9");
      }
    }
    buffer = "seg-0.seg-1.seg-2";
    to = addresses[0];
    out.Queue(p.server.get(), buffer, &to, std::nullopt, 6, counts, /*flow=*/1,
              /*max_segment=*/3);  // segments larger than the path: split
    buffer.assign(buffer.size(), 'X');
    out.Flush(p.server.get(), counts);
    EXPECT_EQ(counts.sent_packets, 18u);
    EXPECT_EQ(counts.dropped_packets, 0u);
    for (int c = 0; c < kClients; ++c) {
      std::vector<std::string> want;
      for (int round = 0; round < 3; ++round)
        want.push_back(absl::StrFormat("round %d client %d", round, c));
      if (c == 0) want.insert(want.end(), {"seg-0.", "seg-1.", "seg-2"});
      for (const std::string& w : want) {
        char got[64];
        ReceivedMessage m = ReceiveOne(clients[c].get(), got, sizeof(got));
        EXPECT_EQ(std::string(got, m.bytes), w);
      }
    }
  }
}

}  // namespace
}  // namespace cmsg::udp
