#include "lib/cmsg/codec.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/if_alg.h>
#include <linux/net_tstamp.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/space.h"

namespace cmsg {
namespace {

TEST(CodecTest, EncodesLikeTheRawMacros) {
  int fds[] = {0, 1, 2};
  ControlBuffer<Fds<3>, Ipv4Ttl> ours;
  auto n = Encode({ScmRights{fds}, Ipv4Ttl{7}}, ours.span());
  ASSERT_TRUE(n.ok()) << n.status();
  static_assert(decltype(ours)::kSize == CMSG_SPACE(12) + CMSG_SPACE(4));
  EXPECT_EQ(*n, decltype(ours)::kSize);

  alignas(cmsghdr) std::byte raw[CMSG_SPACE(12) + CMSG_SPACE(4)] = {};
  msghdr msg{};
  msg.msg_control = raw;
  msg.msg_controllen = sizeof(raw);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(fds));
  std::memcpy(CMSG_DATA(c), fds, sizeof(fds));
  c = CMSG_NXTHDR(&msg, c);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_TTL;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int ttl = 7;
  std::memcpy(CMSG_DATA(c), &ttl, sizeof(ttl));
  EXPECT_EQ(std::memcmp(ours.span().data(), raw, sizeof(raw)), 0);
}

TEST(CodecTest, RejectsTooManyFdsAndSmallBuffers) {
  std::vector<int> fds(254, 0);
  alignas(cmsghdr) std::byte buf[4096];
  auto n = Encode({ScmRights{fds}}, buf);
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(std::string(n.status().message()), testing::HasSubstr("254 fds"));
  auto small = Encode({Ipv4Ttl{1}}, absl::MakeSpan(buf, 8));
  EXPECT_EQ(small.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(CodecTest, DecodeRejectsBadLengthWithoutReadingPastTheEnd) {
  ControlBuffer<Ipv4Ttl> buf;
  ASSERT_TRUE(Encode({Ipv4Ttl{9}}, buf.span()).ok());
  cmsghdr h;
  std::memcpy(&h, buf.span().data(), sizeof(h));
  h.cmsg_len = 4096;
  std::memcpy(buf.span().data(), &h, sizeof(h));
  auto d = Decode(buf.span());
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), testing::HasSubstr("cmsg_len 4096"));
}

// A raw control buffer assembled header by header, for hostile inputs.
class Hostile {
 public:
  // Appends a header claiming `cmsg_len` and `payload` bytes after it,
  // padded to alignment.
  Hostile& Add(int level, int type, size_t cmsg_len, const void* payload,
               size_t n) {
    cmsghdr h{};
    h.cmsg_len = cmsg_len;
    h.cmsg_level = level;
    h.cmsg_type = type;
    size_t at = bytes_.size();
    bytes_.resize(at + CMSG_ALIGN(sizeof(h)) + CMSG_ALIGN(n));
    std::memcpy(bytes_.data() + at, &h, sizeof(h));
    if (n) std::memcpy(bytes_.data() + at + CMSG_ALIGN(sizeof(h)), payload, n);
    return *this;
  }
  // A well-formed message.
  Hostile& Add(int level, int type, const void* payload, size_t n) {
    return Add(level, type, CMSG_LEN(n), payload, n);
  }
  Hostile& Raw(size_t n) {
    bytes_.resize(bytes_.size() + n, std::byte{0x5a});
    return *this;
  }
  absl::Span<const std::byte> span() const { return bytes_; }
  // The same bytes starting at an odd address.
  absl::Span<const std::byte> misaligned() {
    shifted_.assign(1, std::byte{0});
    shifted_.insert(shifted_.end(), bytes_.begin(), bytes_.end());
    return absl::MakeConstSpan(shifted_).subspan(1);
  }

 private:
  std::vector<std::byte> bytes_;
  std::vector<std::byte> shifted_;
};

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) >= 0; }

TEST(CodecTest, EveryValueTypeSurvivesEncodeThenDecode) {
  Ipv4PacketInfo v4{3, {htonl(0x7f000002)}, {htonl(0x7f000003)}};
  Ipv6PacketInfo v6;
  v6.addr = in6addr_loopback;
  v6.ifindex = 7;
  std::vector<ControlMessage> out = {
      ScmCredentials{11, 22, 33}, v4, v6, Ipv6TClass{0x48}, Ipv4Ttl{5},
      Ipv6HopLimit{6}, RxqOvfl{99}};
  alignas(cmsghdr) std::byte buf[512];
  auto n = Encode(out, buf);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, EncodedSize(out));
  auto d = Decode(absl::MakeConstSpan(buf, *n));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), out.size());
  auto* creds = Find<ScmCredentials>(*d);
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->pid, 11);
  EXPECT_EQ(creds->uid, 22u);
  EXPECT_EQ(creds->gid, 33u);
  auto* p4 = Find<Ipv4PacketInfo>(*d);
  ASSERT_NE(p4, nullptr);
  EXPECT_EQ(p4->ifindex, 3);
  EXPECT_EQ(p4->spec_dst.s_addr, htonl(0x7f000002));
  EXPECT_EQ(p4->addr.s_addr, htonl(0x7f000003));
  auto* p6 = Find<Ipv6PacketInfo>(*d);
  ASSERT_NE(p6, nullptr);
  EXPECT_EQ(p6->ifindex, 7u);
  EXPECT_EQ(std::memcmp(&p6->addr, &in6addr_loopback, 16), 0);
  EXPECT_EQ(Find<Ipv6TClass>(*d)->tclass, 0x48);
  EXPECT_EQ(Find<Ipv4Ttl>(*d)->ttl, 5);
  EXPECT_EQ(Find<Ipv6HopLimit>(*d)->hop_limit, 6);
  EXPECT_EQ(Find<RxqOvfl>(*d)->dropped, 99u);
}

TEST(CodecTest, SendOnlyEncodingsMatchTheRawMacros) {
  // UDP_SEGMENT is a u16, IP_TOS on send an int, SCM_TXTIME a u64.
  alignas(cmsghdr) std::byte ours[256];
  auto n = Encode({UdpGsoSegments{1400}, Ipv4Tos{0x10}, TxTime{123456789}}, ours);
  ASSERT_TRUE(n.ok()) << n.status();
  alignas(cmsghdr) unsigned char raw[256] = {};
  msghdr msg{};
  msg.msg_control = raw;
  msg.msg_controllen = sizeof(raw);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t gso = 1400;
  std::memcpy(CMSG_DATA(c), &gso, sizeof(gso));
  c = CMSG_NXTHDR(&msg, c);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_TOS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int tos = 0x10;
  std::memcpy(CMSG_DATA(c), &tos, sizeof(tos));
  // CMSG_NXTHDR refuses to step where the next header would not fit in
  // msg_controllen; 256 bytes leave room.
  c = CMSG_NXTHDR(&msg, c);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_TXTIME;
  c->cmsg_len = CMSG_LEN(sizeof(uint64_t));
  uint64_t t = 123456789;
  std::memcpy(CMSG_DATA(c), &t, sizeof(t));
  size_t used = CMSG_SPACE(2) + CMSG_SPACE(4) + CMSG_SPACE(8);
  ASSERT_EQ(*n, used);
  EXPECT_EQ(std::memcmp(ours, raw, used), 0);
}

TEST(CodecTest, EncodeZeroesPadding) {
  alignas(cmsghdr) std::byte buf[64];
  std::memset(buf, 0xee, sizeof(buf));
  auto n = Encode({UdpGsoSegments{1}}, buf);
  ASSERT_TRUE(n.ok());
  for (size_t i = CMSG_LEN(2); i < *n; ++i) EXPECT_EQ(buf[i], std::byte{0}) << i;
}

// An IV whose length the compiler knows (folded into the stores when
// optimized) and one it does not: both give the raw macros' bytes over a
// dirty buffer, padding zeroed, through the list and the typed Encode.
TEST(CodecTest, AlgSetIvOfAKnownAndARuntimeLengthZeroesItsPadding) {
  const uint8_t fixed[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  std::vector<uint8_t> sized(fixed, fixed + 12);
  for (absl::Span<const uint8_t> iv :
       {absl::Span<const uint8_t>(fixed), absl::Span<const uint8_t>(sized)}) {
    const size_t payload = sizeof(uint32_t) + iv.size();
    alignas(cmsghdr) std::byte raw[64] = {};
    auto* c = reinterpret_cast<cmsghdr*>(raw);
    c->cmsg_len = CMSG_LEN(payload);
    c->cmsg_level = SOL_ALG;
    c->cmsg_type = ALG_SET_IV;
    const uint32_t len = iv.size();
    std::memcpy(CMSG_DATA(c), &len, sizeof(len));
    std::memcpy(CMSG_DATA(c) + sizeof(len), iv.data(), iv.size());
    alignas(cmsghdr) std::byte listed[64], typed[64];
    std::memset(listed, 0xee, sizeof(listed));
    std::memset(typed, 0xee, sizeof(typed));
    auto n = Encode({AlgSetIv{iv}}, listed);
    auto t = iv.size() == 16 ? EncodeTyped(typed, AlgSetIv{fixed})
                             : EncodeTyped(typed, AlgSetIv{iv});
    ASSERT_TRUE(n.ok() && t.ok());
    ASSERT_EQ(*n, CMSG_SPACE(payload));
    ASSERT_EQ(*t, CMSG_SPACE(payload));
    EXPECT_EQ(std::memcmp(listed, raw, *n), 0) << iv.size();
    EXPECT_EQ(std::memcmp(typed, raw, *t), 0) << iv.size();
  }
}

// Scalar kinds as built for sending, whether their constant header is
// stored as one block (kHeaderAsOneStore in kinds.h) or field by field:
// each, on its own and between others, gives the raw macros' bytes over a
// dirty buffer, padding zeroed, through the list and the typed Encode.
template <typename T, typename Raw>
void ExpectRawBytesOverJunk(const T& value, int level, int type, Raw raw_value) {
  alignas(cmsghdr) std::byte raw[3 * CMSG_SPACE(sizeof(Raw))] = {};
  for (int i = 0; i < 3; ++i) {
    auto* c = reinterpret_cast<cmsghdr*>(raw + i * CMSG_SPACE(sizeof(Raw)));
    c->cmsg_len = CMSG_LEN(sizeof(Raw));
    c->cmsg_level = level;
    c->cmsg_type = type;
    std::memcpy(CMSG_DATA(c), &raw_value, sizeof(raw_value));
  }
  alignas(cmsghdr) std::byte listed[sizeof(raw)], typed[sizeof(raw)];
  std::memset(listed, 0xee, sizeof(listed));
  std::memset(typed, 0xee, sizeof(typed));
  auto n = Encode({value, value, value}, listed);
  auto t = EncodeTyped(typed, value, value, value);
  ASSERT_TRUE(n.ok() && t.ok());
  ASSERT_EQ(*n, sizeof(raw));
  ASSERT_EQ(*t, sizeof(raw));
  EXPECT_EQ(std::memcmp(listed, raw, sizeof(raw)), 0) << type;
  EXPECT_EQ(std::memcmp(typed, raw, sizeof(raw)), 0) << type;
}

TEST(CodecTest, ScalarKindsAsSentEncodeLikeTheRawMacrosOverJunk) {
  ExpectRawBytesOverJunk(Ipv4Tos{0xb8}, IPPROTO_IP, IP_TOS, int{0xb8});
  ExpectRawBytesOverJunk(UdpGsoSegments{1452}, SOL_UDP, UDP_SEGMENT, uint16_t{1452});
  ExpectRawBytesOverJunk(SoTimestamping{TimestampingFlags::kTxSoftware}, SOL_SOCKET,
                         SO_TIMESTAMPING_OLD, uint32_t{SOF_TIMESTAMPING_TX_SOFTWARE});
  ExpectRawBytesOverJunk(ScmTsOptId{0x89abcdef}, SOL_SOCKET, SCM_TS_OPT_ID,
                         uint32_t{0x89abcdef});
}

// The fd writes and the padding store take different paths by count.
TEST(CodecTest, ScmRightsOfEveryCountEncodesLikeTheRawMacrosOverJunk) {
  for (size_t count = 0; count <= 17; ++count) {
    std::vector<int> fds(count);
    for (size_t i = 0; i < count; ++i) fds[i] = 3 + static_cast<int>(i);
    alignas(cmsghdr) std::byte ours[CMSG_SPACE(17 * sizeof(int)) + 8];
    std::memset(ours, 0xee, sizeof(ours));
    auto n = Encode({ScmRights{fds}}, ours);
    ASSERT_TRUE(n.ok()) << n.status();
    const size_t payload = count * sizeof(int);
    ASSERT_EQ(*n, CMSG_SPACE(payload));
    alignas(cmsghdr) std::byte raw[sizeof(ours)] = {};
    msghdr msg{};
    msg.msg_control = raw;
    msg.msg_controllen = sizeof(raw);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_len = CMSG_LEN(payload);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    if (count) std::memcpy(CMSG_DATA(c), fds.data(), payload);
    EXPECT_EQ(std::memcmp(ours, raw, *n), 0) << count << " fds";
    EXPECT_EQ(ours[*n], std::byte{0xee}) << "wrote past the message, " << count << " fds";
  }
}

TEST(CodecTest, EmptyAndHeaderlessBuffersDecodeToNothing) {
  auto empty = Decode({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  // Fewer bytes than a header: the kernel's CMSG_NXTHDR stops there too.
  Hostile tail;
  tail.Raw(sizeof(cmsghdr) - 1);
  auto d = Decode(tail.span());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->empty());
}

TEST(CodecTest, CmsgLenSmallerThanAHeaderIsRejected) {
  for (size_t len : {size_t{0}, size_t{1}, sizeof(cmsghdr) - 1}) {
    Hostile h;
    h.Add(SOL_SOCKET, SCM_CREDENTIALS, len, nullptr, 0);
    auto d = Decode(h.span());
    ASSERT_FALSE(d.ok()) << len;
    EXPECT_THAT(std::string(d.status().message()), testing::HasSubstr("cmsg_len"));
  }
}

TEST(CodecTest, CmsgLenBeyondTheBufferIsRejected) {
  int ttl = 1;
  for (size_t len : {CMSG_LEN(sizeof(int)) + 64, size_t{1} << 40, ~size_t{0}}) {
    Hostile h;
    h.Add(IPPROTO_IP, IP_TTL, len, &ttl, sizeof(ttl));
    EXPECT_FALSE(Decode(h.span()).ok()) << len;
  }
}

TEST(CodecTest, ShortAndLongPayloadsAreRejectedPerType) {
  struct Case {
    int level, type;
    size_t right;
  } cases[] = {
      {SOL_SOCKET, SCM_CREDENTIALS, sizeof(ucred)},
      {SOL_SOCKET, SO_TIMESTAMP_OLD, sizeof(timeval)},
      {SOL_SOCKET, SO_TIMESTAMPNS_OLD, sizeof(timespec)},
      {SOL_SOCKET, SO_TIMESTAMPING_OLD, 3 * sizeof(timespec)},
      {SOL_SOCKET, SO_RXQ_OVFL, 4},
      {SOL_SOCKET, SO_MARK, 4},
      {IPPROTO_IP, IP_PKTINFO, sizeof(in_pktinfo)},
      {IPPROTO_IP, IP_TOS, 1},
      {IPPROTO_IP, IP_TTL, 4},
      {IPPROTO_IP, IP_ORIGDSTADDR, sizeof(sockaddr_in)},
      {IPPROTO_IP, IP_RECVERR, sizeof(sock_extended_err) + sizeof(sockaddr_in)},
      {IPPROTO_IPV6, IPV6_PKTINFO, sizeof(in6_pktinfo)},
      {IPPROTO_IPV6, IPV6_TCLASS, 4},
      {IPPROTO_IPV6, IPV6_HOPLIMIT, 4},
      {IPPROTO_IPV6, IPV6_ORIGDSTADDR, sizeof(sockaddr_in6)},
      {IPPROTO_IPV6, IPV6_RECVERR,
       sizeof(sock_extended_err) + sizeof(sockaddr_in6)},
      {SOL_UDP, UDP_GRO, 4},
  };
  std::byte payload[128] = {};
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("level ", c.level, " type ", c.type));
    Hostile right;
    right.Add(c.level, c.type, payload, c.right);
    EXPECT_TRUE(Decode(right.span()).ok());
    EXPECT_TRUE(Decode(right.misaligned()).ok());
    for (size_t n : {size_t{0}, c.right - 1, c.right + 1}) {
      Hostile wrong;
      wrong.Add(c.level, c.type, payload, n);
      auto d = Decode(wrong.span());
      ASSERT_FALSE(d.ok()) << n;
      EXPECT_THAT(std::string(d.status().message()),
                  testing::HasSubstr(absl::StrCat("payload of ", n, " bytes")));
      EXPECT_FALSE(Decode(wrong.misaligned()).ok());
    }
  }
}

TEST(CodecTest, MisalignedBuffersDecodeLikeAlignedOnes) {
  int ttl = 42;
  Hostile h;
  h.Add(IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  h.Add(IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  auto d = Decode(h.misaligned());
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ(std::get<Ipv4Ttl>((*d)[1]).ttl, 42);
}

TEST(CodecTest, LastMessageWithoutPaddingIsAccepted) {
  // The kernel's msg_controllen may end right after the last payload.
  uint8_t tos = 4;
  Hostile h;
  h.Add(IPPROTO_IP, IP_TOS, &tos, 1);
  auto bytes = h.span().first(CMSG_LEN(1));
  auto d = Decode(bytes);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Find<Ipv4Tos>(*d)->tos, 4);
}

// The header's own example: Encode then Decode. The fds in a buffer the
// kernel did not fill are the caller's; decoding must leave them open.
TEST(CodecTest, EncodeThenDecodeLeavesTheCallersFdsOpen) {
  int a = dup(0);
  ASSERT_GE(a, 0);
  int fds[] = {a};
  alignas(cmsghdr) std::byte buf[64];
  auto n = Encode({ScmRights{fds}, Ipv4Ttl{3}}, buf);
  ASSERT_TRUE(n.ok()) << n.status();
  {
    auto d = Decode(absl::MakeConstSpan(buf, *n));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(Find<Ipv4Ttl>(*d)->ttl, 3);
  }
  EXPECT_TRUE(IsOpen(a));
  EXPECT_EQ(close(a), 0);
}

TEST(CodecTest, FdsInAMalformedBufferAreClosed) {
  int a = dup(0), b = dup(0);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  int fds[] = {a, b};
  int ttl = 1;
  Hostile h;
  h.Add(SOL_SOCKET, SCM_RIGHTS, fds, sizeof(fds));
  h.Add(IPPROTO_IP, IP_TTL, 4096, &ttl, sizeof(ttl));  // walks off the end
  auto d = Decode(ReceivedControl::AdoptBytes(h.span()));
  ASSERT_FALSE(d.ok());
  EXPECT_FALSE(IsOpen(a));
  EXPECT_FALSE(IsOpen(b));
}

TEST(CodecTest, FdsBeforeABadPayloadAreClosed) {
  int a = dup(0);
  ASSERT_GE(a, 0);
  int fds[] = {a};
  Hostile h;
  h.Add(SOL_SOCKET, SCM_RIGHTS, fds, sizeof(fds));
  h.Add(IPPROTO_IP, IP_PKTINFO, fds, sizeof(fds));  // 4 bytes, wants 12
  auto d = Decode(ReceivedControl::AdoptBytes(h.span()));
  ASSERT_FALSE(d.ok());
  EXPECT_FALSE(IsOpen(a));
}

TEST(CodecTest, RightsPayloadThatIsNotWholeFdsIsRejectedAndClosed) {
  int a = dup(0);
  ASSERT_GE(a, 0);
  unsigned char payload[6] = {};
  std::memcpy(payload, &a, sizeof(a));
  Hostile h;
  h.Add(SOL_SOCKET, SCM_RIGHTS, payload, sizeof(payload));
  auto d = Decode(ReceivedControl::AdoptBytes(h.span()));
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), testing::HasSubstr("whole number"));
  EXPECT_FALSE(IsOpen(a));
}

TEST(CodecTest, NegativeFdsInAHostileBufferAreNotClosed) {
  // -1 and other negatives are never fds; nothing may be closed for them.
  int fds[] = {-1, -5};
  Hostile h;
  h.Add(SOL_SOCKET, SCM_RIGHTS, fds, sizeof(fds));
  auto d = Decode(ReceivedControl::AdoptBytes(h.span()));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(Find<ScmRightsOwned>(*d)->fds.size(), 2u);
  EXPECT_FALSE(Find<ScmRightsOwned>(*d)->fds[0].ok());
}

TEST(CodecTest, APlainSpanAdoptsNothing) {
  int a = dup(0);
  ASSERT_GE(a, 0);
  int fds[] = {a};
  Hostile h;
  h.Add(SOL_SOCKET, SCM_RIGHTS, fds, sizeof(fds));
  {
    auto d = Decode(h.span());
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(Find<ScmRightsOwned>(*d)->fds.size(), 1u);
  }
  EXPECT_TRUE(IsOpen(a));
  close(a);
}

TEST(CodecTest, RecvErrWithoutAnOffenderHasNone) {
  struct {
    sock_extended_err err;
    sockaddr_in from;
  } raw{};
  raw.err.ee_errno = ECONNREFUSED;
  raw.from.sin_family = AF_UNSPEC;
  Hostile h;
  h.Add(IPPROTO_IP, IP_RECVERR, &raw, sizeof(raw));
  auto d = Decode(h.span());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Find<Ipv4RecvErr>(*d)->error.ee_errno, uint32_t{ECONNREFUSED});
  EXPECT_FALSE(Find<Ipv4RecvErr>(*d)->offender().has_value());
}

TEST(CodecTest, UnknownMessagesOfAnySizeAreCopied) {
  std::vector<uint8_t> big(300, 0xab);
  Hostile h;
  h.Add(1234, 5678, big.data(), big.size());
  h.Add(1234, 5679, nullptr, 0);
  auto d = Decode(h.span());
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  const auto& u = std::get<Unknown>((*d)[0]);
  EXPECT_EQ(u.level, 1234);
  EXPECT_EQ(u.type, 5678);
  EXPECT_EQ(std::vector<uint8_t>(u.data.begin(), u.data.end()), big);
  EXPECT_TRUE(std::get<Unknown>((*d)[1]).data.empty());
}

}  // namespace
}  // namespace cmsg
