// RecvBatch / SendBatch through real sockets: per-datagram senders and
// control messages, buffer reuse across calls, partial failures.
#include "lib/cmsg/mmsg.h"

#include <arpa/inet.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <type_traits>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

using ::cmsg::testing::BoundUdpSocket;
using ::cmsg::testing::LocalAddress;
using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::TempFileWith;
using ::testing::HasSubstr;

in_addr V4(const char* text) {
  in_addr a{};
  inet_pton(AF_INET, text, &a);
  return a;
}

std::string Str(absl::Span<char> s) { return std::string(s.data(), s.size()); }

TEST(RecvBatchTest, EachDatagramHasItsOwnSenderAndPacketInfo) {
  UniqueFd rx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  UniqueFd tx1 = BoundUdpSocket(AF_INET), tx2 = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(SendMsg(tx1.get(), "one", {}, {.to = &to}).ok());
  ASSERT_TRUE(SendMsg(tx2.get(), "two", {}, {.to = &to}).ok());
  ASSERT_TRUE(SendMsg(tx1.get(), "three", {}, {.to = &to}).ok());

  RecvBatch batch(8, 64, kSpaceFor<Ipv4PacketInfo>);
  auto n = batch.Recv(rx.get(), MSG_DONTWAIT);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 3u);
  EXPECT_EQ(batch.size(), 3u);
  EXPECT_EQ(Str(batch.data(0)), "one");
  EXPECT_EQ(Str(batch.data(1)), "two");
  EXPECT_EQ(Str(batch.data(2)), "three");
  EXPECT_EQ(batch.message(0).peer, LocalAddress(tx1.get()));
  EXPECT_EQ(batch.message(1).peer, LocalAddress(tx2.get()));
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(batch.control_status(i).ok());
    const auto* info = batch.message(i).Find<Ipv4PacketInfo>();
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->spec_dst.s_addr, V4("127.0.0.1").s_addr);
  }
}

// A bound unix datagram socket `rx`, an unnamed sender and one bound to a
// long name (a long msg_namelen), and two fds to send.
class UnixSendersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(mkdtemp(dir_), nullptr);
    rx_path_ = std::string(dir_) + "/rx";
    tx_path_ = std::string(dir_) + "/a-rather-long-sender-name-for-namelen";
    rx_addr_ = *SocketAddress::Unix(rx_path_);
    SocketAddress tx_addr = *SocketAddress::Unix(tx_path_);
    rx_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(bind(rx_.get(), rx_addr_.addr(), rx_addr_.size()), 0);
    unnamed_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    named_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(bind(named_.get(), tx_addr.addr(), tx_addr.size()), 0);
    file_ = TempFileWith("f");
    fds_[0] = fds_[1] = file_.get();
  }
  void TearDown() override {
    unlink(rx_path_.c_str());
    unlink(tx_path_.c_str());
    rmdir(dir_);
  }
  bool SendPlain() { return SendMsg(unnamed_.get(), "plain", {}, {.to = &rx_addr_}).ok(); }
  bool SendFds() {
    return SendMsg(named_.get(), "fds", {ScmRights{fds_}}, {.to = &rx_addr_}).ok();
  }

  char dir_[32] = "/tmp/cmsg_mmsg.XXXXXX";
  std::string rx_path_, tx_path_;
  SocketAddress rx_addr_;
  UniqueFd rx_, unnamed_, named_, file_;
  int fds_[2] = {-1, -1};
};

TEST_F(UnixSendersTest, ReuseResetsAddressAndControlLengths) {
  // recvmmsg shrinks msg_namelen and msg_controllen; a batch that forgot to
  // reset them would truncate a longer address or control block next time.
  RecvBatch batch(2, 16, kSpaceFor<Fds<2>>);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    ASSERT_TRUE(SendPlain());
    auto n = batch.Recv(rx_.get(), MSG_DONTWAIT);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, 1u);
    EXPECT_TRUE(batch.message(0).control.empty());

    ASSERT_TRUE(SendFds());
    n = batch.Recv(rx_.get(), MSG_DONTWAIT);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, 1u);
    ASSERT_TRUE(batch.control_status(0).ok()) << batch.control_status(0);
    EXPECT_EQ(batch.message(0).peer.ToString(), "unix:" + tx_path_);
    ASSERT_NE(batch.message(0).Find<ScmRightsOwned>(), nullptr);
    EXPECT_EQ(batch.message(0).Find<ScmRightsOwned>()->fds.size(), 2u);
  }
}

TEST_F(UnixSendersTest, EverySlotIsReArmedAfterReadsOfDifferentSizes) {
  // Only the slots a call filled are re-armed by the next one: a slot used
  // two calls ago, then left alone, must still take a full address and
  // control block.
  RecvBatch batch(3, 16, kSpaceFor<Fds<2>>);
  // Reads of 3, 1, 2 and 3 plain datagrams (every slot shrunk at some
  // point), then 3 with fds from the long name.
  for (int n : {3, 1, 2, 3}) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(SendPlain());
    auto got = batch.Recv(rx_.get(), MSG_DONTWAIT);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(*got, static_cast<size_t>(n));
  }
  ASSERT_TRUE(SendPlain());
  ASSERT_EQ(*batch.Recv(rx_.get(), MSG_DONTWAIT), 1u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(SendFds());
  auto got = batch.Recv(rx_.get(), MSG_DONTWAIT);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(*got, 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(batch.control_status(i).ok()) << batch.control_status(i);
    EXPECT_EQ(batch.message(i).peer.ToString(), "unix:" + tx_path_);
    ASSERT_NE(batch.message(i).Find<ScmRightsOwned>(), nullptr);
    EXPECT_EQ(batch.message(i).Find<ScmRightsOwned>()->fds.size(), 2u);
  }
}

TEST(RecvBatchTest, LongDatagramsAreFlaggedTruncated) {
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  SocketAddress to = LocalAddress(rx.get());
  ASSERT_TRUE(SendMsg(tx.get(), "0123456789", {}, {.to = &to}).ok());
  RecvBatch batch(2, 4, 0);
  auto n = batch.Recv(rx.get(), MSG_DONTWAIT);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 1u);
  EXPECT_TRUE(batch.message(0).data_truncated());
  EXPECT_EQ(Str(batch.data(0)), "0123");
}

// With MSG_TRUNC in the call flags the kernel reports the datagram's real
// length; data(i) still ends at the slot.
TEST(RecvBatchTest, DataStaysInItsSlotWithMsgTrunc) {
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  SocketAddress to = LocalAddress(rx.get());
  ASSERT_TRUE(SendMsg(tx.get(), "0123456789", {}, {.to = &to}).ok());
  ASSERT_TRUE(SendMsg(tx.get(), "abcdefghij", {}, {.to = &to}).ok());
  RecvBatch batch(2, 4, 0);
  auto n = batch.Recv(rx.get(), MSG_DONTWAIT | MSG_TRUNC);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 2u);
  EXPECT_EQ(batch.message(0).bytes, 10u);  // the real length
  EXPECT_EQ(Str(batch.data(0)), "0123");
  EXPECT_EQ(Str(batch.data(1)), "abcd");
}

// A batch can be moved (into a member, a vector) and keeps working.
TEST(RecvBatchTest, BatchesAreMovable) {
  static_assert(std::is_nothrow_move_constructible_v<RecvBatch>);
  static_assert(std::is_nothrow_move_constructible_v<SendBatch>);
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  SocketAddress to = LocalAddress(rx.get());
  SendBatch out_first(2, 0);
  ASSERT_TRUE(out_first.Add("moved", &to).ok());
  SendBatch out = std::move(out_first);
  auto sent = out.Send(tx.get());
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, 1u);
  RecvBatch first(2, 16, 0);
  RecvBatch in = std::move(first);
  auto n = in.Recv(rx.get(), MSG_DONTWAIT);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(Str(in.data(0)), "moved");
}

TEST(RecvBatchTest, AMovedFromBatchIsEmptyAndSafeToUse) {
  // Moved from after a read: it holds no datagram and no slot, and reading
  // with it again receives nothing instead of touching the slots it gave up.
  UniqueFd rx = BoundUdpSocket(AF_INET), tx = BoundUdpSocket(AF_INET);
  SocketAddress to = LocalAddress(rx.get());
  ASSERT_TRUE(SendMsg(tx.get(), "one", {}, {.to = &to}).ok());
  RecvBatch first(2, 16, 0);
  ASSERT_EQ(*first.Recv(rx.get(), MSG_DONTWAIT), 1u);
  RecvBatch second = std::move(first);
  EXPECT_EQ(first.size(), 0u);
  ASSERT_TRUE(SendMsg(tx.get(), "two", {}, {.to = &to}).ok());
  auto n = first.Recv(rx.get(), MSG_DONTWAIT);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
  RecvBatch third(1, 16, 0);
  third = std::move(second);
  EXPECT_EQ(second.size(), 0u);
  n = third.Recv(rx.get(), MSG_DONTWAIT);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(Str(third.data(0)), "two");
}

// Add borrows `data` until the send: a temporary string would dangle, so
// passing one does not compile.
template <typename T>
concept CanAdd = requires(SendBatch b, T t) { b.Add(std::forward<T>(t), nullptr); };
static_assert(CanAdd<absl::string_view>);
static_assert(CanAdd<const std::string&>);
static_assert(CanAdd<const char*>);
static_assert(!CanAdd<std::string>);
static_assert(!CanAdd<std::string&&>);

TEST(RecvBatchTest, ErrorsNameTheCall) {
  RecvBatch batch(2, 4, 0);
  UniqueFd rx = BoundUdpSocket(AF_INET);
  auto n = batch.Recv(rx.get(), MSG_DONTWAIT);
  EXPECT_EQ(ErrnoOf(n.status()), EAGAIN);
  EXPECT_TRUE(IsWouldBlock(n.status()));
  auto bad = batch.Recv(-1);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("recvmmsg: EBADF"));
}

TEST(SendBatchTest, EachDatagramCarriesItsOwnSourceAndSegmentSize) {
  UniqueFd rx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  SocketAddress to = LocalAddress(rx.get());
  UniqueFd tx(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SendBatch out(8, kSpaceFor<Ipv4PacketInfo, UdpGsoSegments>);
  std::string big(300, 'g');
  RecvBatch in(8, 512, kSpaceFor<Ipv4PacketInfo>);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    Ipv4PacketInfo from2, from3;
    from2.spec_dst = V4("127.0.0.2");
    from3.spec_dst = V4("127.0.0.3");
    ASSERT_TRUE(out.Add("a", &to, {from2}).ok());
    ASSERT_TRUE(out.Add("b", &to, {from3}).ok());
    ASSERT_TRUE(out.Add(big, &to, {from2, UdpGsoSegments{100}}).ok());
    EXPECT_EQ(out.pending(), 3u);
    auto sent = out.Send(tx.get());
    ASSERT_TRUE(sent.ok()) << sent.status();
    EXPECT_EQ(*sent, 3u);
    EXPECT_EQ(out.pending(), 0u);
    out.Clear();

    auto n = in.Recv(rx.get(), MSG_DONTWAIT);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, 5u);  // a, b and the 300 bytes as three segments
    EXPECT_EQ(AddressToString(in.message(0).peer.ipv4().sin_addr), "127.0.0.2");
    EXPECT_EQ(AddressToString(in.message(1).peer.ipv4().sin_addr), "127.0.0.3");
    for (size_t i = 2; i < 5; ++i) {
      EXPECT_EQ(in.data(i).size(), 100u);
      EXPECT_EQ(AddressToString(in.message(i).peer.ipv4().sin_addr), "127.0.0.2");
    }
  }
}

TEST(SendBatchTest, FullBatchAndOversizedControlAreRefused) {
  SendBatch out(1, kSpaceFor<Ipv4Ttl>);
  EXPECT_EQ(out.Add("x", nullptr, {Ipv4Ttl{1}, Ipv4Ttl{2}}).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(out.queued(), 0u);
  ASSERT_TRUE(out.Add("x", nullptr, {Ipv4Ttl{1}}).ok());
  EXPECT_TRUE(out.full());
  EXPECT_EQ(out.Add("y", nullptr).code(), absl::StatusCode::kResourceExhausted);
}

TEST(SendBatchTest, AFailingDatagramStaysFirstUntilSkipped) {
  UniqueFd rx = BoundUdpSocket(AF_INET);
  SocketAddress to = LocalAddress(rx.get());
  UniqueFd tx(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SendBatch out(4, kSpaceFor<Ipv4PacketInfo>);
  Ipv4PacketInfo foreign;
  foreign.spec_dst = V4("192.0.2.1");  // not ours: the kernel refuses it
  ASSERT_TRUE(out.Add("bad", &to, {foreign}).ok());
  ASSERT_TRUE(out.Add("good", &to).ok());
  auto sent = out.Send(tx.get());
  ASSERT_FALSE(sent.ok());
  EXPECT_THAT(std::string(sent.status().message()), HasSubstr("sendmmsg"));
  EXPECT_EQ(out.pending(), 2u);
  out.SkipFront();
  sent = out.Send(tx.get());
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, 1u);
  char data[8];
  auto m = RecvMsg(rx.get(), absl::MakeSpan(data), {}, {.flags = MSG_DONTWAIT});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "good");
}

TEST(SendBatchTest, FdsPerDatagramOverAUnixSocket) {
  auto pair = MakeUnixPair(SOCK_DGRAM);
  UniqueFd file = TempFileWith("f");
  int one[] = {file.get()};
  int two[] = {file.get(), file.get()};
  SendBatch out(2, kSpaceFor<Fds<2>>);
  ASSERT_TRUE(out.Add("1", nullptr, {ScmRights{one}}).ok());
  ASSERT_TRUE(out.Add("2", nullptr, {ScmRights{two}}).ok());
  auto sent = out.Send(pair.a.get());
  ASSERT_TRUE(sent.ok()) << sent.status();
  RecvBatch in(2, 4, kSpaceFor<Fds<2>>);
  auto n = in.Recv(pair.b.get(), MSG_DONTWAIT);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 2u);
  EXPECT_EQ(in.message(0).Find<ScmRightsOwned>()->fds.size(), 1u);
  EXPECT_EQ(in.message(1).Find<ScmRightsOwned>()->fds.size(), 2u);
}

}  // namespace
}  // namespace cmsg
