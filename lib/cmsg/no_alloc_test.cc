// The send and receive paths, the list form and the fast path (typed
// SendMsg, RecvMsg and RecvBatch::Recv with a visitor), do not touch the heap
// for up to kInlineFds fds, also when they would block: every global
// operator new in this binary is counted.
#include <sys/socket.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept {
  return operator new(n, t);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace cmsg {
namespace {

using ::cmsg::testing::BoundUdpSocket;
using ::cmsg::testing::LocalAddress;
using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::TempFileWith;

// Heap allocations made by `f`.
template <typename F>
long AllocationsIn(F f) {
  long before = g_allocations.load();
  f();
  return g_allocations.load() - before;
}

TEST(NoAllocTest, TheCounterSeesAllocations) {
  EXPECT_GE(AllocationsIn([] { std::vector<int> v(100); }), 1);
}

TEST(NoAllocTest, SixteenFdsRoundTripWithoutTheHeap) {
  auto pair = MakeUnixPair(SOCK_SEQPACKET);
  UniqueFd file = TempFileWith("x");
  int fds[kInlineFds];
  for (int& fd : fds) fd = file.get();
  ControlBuffer<Fds<kInlineFds>, ScmCredentials> control;
  char data[16];
  ASSERT_TRUE(ReceiveCredentials(pair.b.get()).ok());
  bool ok = true;
  size_t received = 0;
  long allocations = AllocationsIn([&] {
    for (int i = 0; i < 10; ++i) {
      auto sent = SendMsg(pair.a.get(), "sixteen", {ScmRights{fds}});
      auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span());
      ok = ok && sent.ok() && m.ok();
      if (!m.ok()) continue;
      if (auto* r = m->Find<ScmRightsOwned>()) {
        received += r->fds.size();
        UniqueFd taken = std::move(r->fds[0]);  // taking one is free too
      }
    }
  });
  ASSERT_TRUE(ok);
  EXPECT_EQ(received, 10 * kInlineFds);
  EXPECT_EQ(allocations, 0);
}

TEST(NoAllocTest, UdpWithPacketInfoAndTimestampsWithoutTheHeap) {
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  ASSERT_TRUE(ReceiveTimestampNs(rx.get()).ok());
  ASSERT_TRUE(ReceiveTtl(rx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  ControlBuffer<Ipv4PacketInfo, ScmTimestampns, Ipv4Ttl> control;
  char data[16];
  bool ok = true;
  long allocations = AllocationsIn([&] {
    for (int i = 0; i < 10; ++i) {
      Ipv4PacketInfo from;
      from.spec_dst.s_addr = htonl(INADDR_LOOPBACK);
      auto sent = SendMsg(tx.get(), "dgram", {from, Ipv4Ttl{9}}, {.to = &to});
      auto m = RecvMsg(rx.get(), absl::MakeSpan(data), control.span());
      ok = ok && sent.ok() && m.ok() && m->Find<Ipv4PacketInfo>() &&
           m->Find<ScmTimestampns>() && m->Find<Ipv4Ttl>();
    }
  });
  ASSERT_TRUE(ok);
  EXPECT_EQ(allocations, 0);
}

// Control bytes of one message as recvmsg filled them.
size_t RecvControl(int fd, absl::Span<std::byte> control) {
  char data[16];
  iovec iov{data, sizeof(data)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  if (recvmsg(fd, &msg, MSG_CMSG_CLOEXEC) < 0 || (msg.msg_flags & MSG_CTRUNC)) return 0;
  return msg.msg_controllen;
}

// Where Decode needs the heap (more than kInlineFds fds), ForEachMessage
// does not.
TEST(NoAllocTest, ForEachMessageOverTheKernelsMostFds) {
  auto pair = MakeUnixPair(SOCK_SEQPACKET);
  UniqueFd file = TempFileWith("x");
  std::vector<int> fds(kMaxFdsPerMessage, file.get());
  ASSERT_TRUE(SendMsg(pair.a.get(), "many", {ScmRights{fds}}).ok());
  ControlBuffer<Fds<kMaxFdsPerMessage>> control;
  size_t len = RecvControl(pair.b.get(), control.span());
  ASSERT_GT(len, 0u);
  UniqueFd kept;
  size_t seen = 0;
  absl::Status s;
  long allocations = AllocationsIn([&] {
    s = ForEachMessage(ReceivedControl::AdoptBytes(control.span().first(len)), [&](OwnedFdRange& r) {
      seen = r.size();
      kept = r.Take(r.size() - 1);
    });
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, kMaxFdsPerMessage);
  EXPECT_TRUE(kept.ok());
  EXPECT_EQ(allocations, 0);
}

TEST(NoAllocTest, ForEachMessageOverUdpControlData) {
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  ASSERT_TRUE(ReceiveTimestampNs(rx.get()).ok());
  ASSERT_TRUE(ReceiveTtl(rx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  ControlBuffer<Ipv4PacketInfo, ScmTimestampns, Ipv4Ttl> control;
  int seen = 0;
  bool ok = true;
  long allocations = AllocationsIn([&] {
    for (int i = 0; i < 10; ++i) {
      ok = ok && SendMsg(tx.get(), "dgram", {}, {.to = &to}).ok();
      size_t len = RecvControl(rx.get(), control.span());
      absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(control.span().first(len)),
                                      Overloaded{[&](const Ipv4PacketInfo&) { ++seen; },
                                                 [&](const ScmTimestampns&) { ++seen; },
                                                 [&](const Ipv4Ttl&) { ++seen; }});
      ok = ok && s.ok();
    }
  });
  ASSERT_TRUE(ok);
  EXPECT_EQ(seen, 30);
  EXPECT_EQ(allocations, 0);
}

TEST(NoAllocTest, BatchesReuseTheirBuffers) {
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  RecvBatch in(8, 64, kSpaceFor<Ipv4PacketInfo>);
  SendBatch out(8, kSpaceFor<Ipv4PacketInfo>);
  bool ok = true;
  long allocations = AllocationsIn([&] {
    for (int round = 0; round < 10; ++round) {
      out.Clear();
      for (int i = 0; i < 8; ++i) {
        Ipv4PacketInfo from;
        from.spec_dst.s_addr = htonl(INADDR_LOOPBACK);
        ok = ok && out.Add("x", &to, {from}).ok();
      }
      auto sent = out.Send(tx.get());
      auto n = in.Recv(rx.get(), MSG_DONTWAIT);
      ok = ok && sent.ok() && *sent == 8 && n.ok() && *n == 8 &&
           in.message(7).Find<Ipv4PacketInfo>() != nullptr;
    }
  });
  ASSERT_TRUE(ok);
  EXPECT_EQ(allocations, 0);
}

// The fast path: the typed SendMsg and RecvMsg with a visitor, from one to
// kInlineFds fds per message (and further: neither keeps a list).
TEST(NoAllocTest, FastPathFdPassingWithoutTheHeap) {
  auto pair = MakeUnixPair(SOCK_SEQPACKET);
  UniqueFd file = TempFileWith("x");
  int fds[kInlineFds];
  for (int& fd : fds) fd = file.get();
  ControlBuffer<Fds<kInlineFds>, ScmCredentials> control;
  char data[16];
  ASSERT_TRUE(ReceiveCredentials(pair.b.get()).ok());
  bool ok = true;
  size_t received = 0;
  long allocations = AllocationsIn([&] {
    for (size_t n = 1; n <= kInlineFds; ++n) {
      auto sent = SendMsg(pair.a.get(), "fast", ScmRights{absl::MakeConstSpan(fds, n)});
      UniqueFd taken;
      auto m = RecvMsg(pair.b.get(), absl::MakeSpan(data), control.span(),
                       Overloaded{[&](OwnedFdRange& r) {
                                    received += r.size();
                                    taken = r.Take(0);  // taking one is free too
                                  },
                                  [&](const ScmCredentials&) {}});
      ok = ok && sent.ok() && m.ok() && m->control_status.ok() && taken.ok();
    }
  });
  ASSERT_TRUE(ok);
  EXPECT_EQ(received, kInlineFds * (kInlineFds + 1) / 2);
  EXPECT_EQ(allocations, 0);
}

TEST(NoAllocTest, FastPathUdpAndBatchWithoutTheHeap) {
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  ASSERT_TRUE(ReceiveTtl(rx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  ControlBuffer<Ipv4PacketInfo, Ipv4Ttl> control;
  RecvBatch in(8, 64, kSpaceFor<Ipv4PacketInfo, Ipv4Ttl>);
  char data[16];
  int seen = 0;
  bool ok = true;
  long allocations = AllocationsIn([&] {
    for (int i = 0; i < 10; ++i) {
      Ipv4PacketInfo from;
      from.spec_dst.s_addr = htonl(INADDR_LOOPBACK);
      ok = ok && SendMsg(tx.get(), "dgram", from, Ipv4Ttl{9}, SendOptions{.to = &to}).ok();
      auto m = RecvMsg(rx.get(), absl::MakeSpan(data), control.span(),
                       [&](const Ipv4Ttl& t) { seen += t.ttl == 9; });
      ok = ok && m.ok();
      for (int j = 0; j < 4; ++j) ok = ok && SendMsg(tx.get(), "b", SendOptions{.to = &to}).ok();
      auto n = in.Recv(rx.get(), [&](size_t, const Ipv4PacketInfo&) { ++seen; }, MSG_DONTWAIT);
      ok = ok && n.ok() && *n == 4;
    }
  });
  ASSERT_TRUE(ok);
  EXPECT_EQ(seen, 50);
  EXPECT_EQ(allocations, 0);
}

// Would-block is the common result of a non-blocking read and of a send
// into a full buffer: returning it and testing for it touch no heap.
TEST(NoAllocTest, WouldBlockCostsNoAllocation) {
  UniqueFd rx = BoundUdpSocket(AF_INET);
  auto pair = MakeUnixPair(SOCK_DGRAM);
  ASSERT_TRUE(rx.ok() && pair.a.ok());
  // Fill the unix socket so the next non-blocking send would block.
  while (SendMsg(pair.a.get(), "fill", {}, {.flags = MSG_DONTWAIT}).ok()) {
  }
  RecvBatch in(4, 64, kSpaceFor<Ipv4PacketInfo>);
  ControlBuffer<Ipv4PacketInfo> control;
  char data[16];
  UniqueFd file = TempFileWith("x");
  int fds[kInlineFds];
  for (int& fd : fds) fd = file.get();
  // Warm up once: the first would-block may set up shared state.
  (void)RecvMsg(rx.get(), absl::MakeSpan(data), control.span(), {.flags = MSG_DONTWAIT});
  int would_block = 0;
  long allocations = AllocationsIn([&] {
    for (int i = 0; i < 10; ++i) {
      auto m = RecvMsg(rx.get(), absl::MakeSpan(data), control.span(), {.flags = MSG_DONTWAIT});
      auto n = in.Recv(rx.get(), MSG_DONTWAIT);
      auto sent = SendMsg(pair.a.get(), "more", {}, {.flags = MSG_DONTWAIT});
      // The fast path's entry points.
      auto visited = RecvMsg(rx.get(), absl::MakeSpan(data), control.span(),
                             [](const Ipv4PacketInfo&) {}, {.flags = MSG_DONTWAIT});
      auto batch = in.Recv(rx.get(), [](size_t, const Ipv4PacketInfo&) {}, MSG_DONTWAIT);
      auto typed = SendMsg(pair.a.get(), "more", ScmRights{fds}, SendOptions{.flags = MSG_DONTWAIT});
      would_block += IsWouldBlock(m.status()) + IsWouldBlock(n.status()) +
                     IsWouldBlock(sent.status()) + IsWouldBlock(visited.status()) +
                     IsWouldBlock(batch.status()) + IsWouldBlock(typed.status());
    }
  });
  EXPECT_EQ(would_block, 60);
  EXPECT_EQ(allocations, 0);
}

}  // namespace
}  // namespace cmsg
