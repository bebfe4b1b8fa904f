// Every kind's length rule, once, through the public API: Decode and
// ForEachMessage of a payload of the right length give the kind's type,
// one byte more or less is refused with the kind's name, Encode and
// EncodedSize write the right header and size, and ControlBuffer<T> has
// room for it. The expectations are written here from the kernel's structs,
// apart from the library's own table (internal/kinds.h), and the test does
// not compile if a kind of either variant is missing from them.
#include <time.h>  // before linux/errqueue.h, which needs struct timespec

#include <linux/errqueue.h>
#include <linux/if_alg.h>
#include <linux/net_tstamp.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>

#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"

namespace cmsg {
namespace {

using ::testing::HasSubstr;

enum class Shape { kExact, kWholeFds, kAnyLength };

// A received kind: where it arrives, its name in errors, its payload.
struct Receive {
  int level;
  int type;
  const char* name;
  Shape shape;
  size_t size;  // kExact: the payload; kWholeFds: one fd
  size_t room;  // what ControlBuffer<T> reserves
  int alias_type = -1;  // a second type the kernel uses for it (_NEW)
};

// A sent kind: a sample value and the payload it must encode to.
template <typename T>
struct Send {
  int level;
  int type;
  T sample;
  size_t size;
};

// No definition: a kind missing below is a compile error.
template <typename T>
struct Expect;

#define RECEIVE(T, ...)                                \
  template <>                                          \
  struct Expect<T> {                                   \
    static Receive ReceiveRule() { return {__VA_ARGS__}; } \
  }

RECEIVE(ScmRightsOwned, SOL_SOCKET, SCM_RIGHTS, "SCM_RIGHTS", Shape::kWholeFds, sizeof(int), 0);
RECEIVE(ScmPidfd, SOL_SOCKET, SCM_PIDFD, "SCM_PIDFD", Shape::kExact, sizeof(int), sizeof(int));
RECEIVE(ScmSecurity, SOL_SOCKET, SCM_SECURITY, "SCM_SECURITY", Shape::kAnyLength, 0, 256);
RECEIVE(ScmTimestamp, SOL_SOCKET, SO_TIMESTAMP_OLD, "SCM_TIMESTAMP", Shape::kExact,
        sizeof(timeval), sizeof(timeval), SO_TIMESTAMP_NEW);
RECEIVE(ScmTimestampns, SOL_SOCKET, SO_TIMESTAMPNS_OLD, "SCM_TIMESTAMPNS", Shape::kExact,
        sizeof(timespec), sizeof(timespec), SO_TIMESTAMPNS_NEW);
RECEIVE(ScmTimestamping, SOL_SOCKET, SO_TIMESTAMPING_OLD, "SCM_TIMESTAMPING", Shape::kExact,
        sizeof(scm_timestamping), sizeof(scm_timestamping), SO_TIMESTAMPING_NEW);
RECEIVE(Ipv4OrigDstAddr, IPPROTO_IP, IP_ORIGDSTADDR, "IP_ORIGDSTADDR", Shape::kExact,
        sizeof(sockaddr_in), sizeof(sockaddr_in));
RECEIVE(Ipv6OrigDstAddr, IPPROTO_IPV6, IPV6_ORIGDSTADDR, "IPV6_ORIGDSTADDR", Shape::kExact,
        sizeof(sockaddr_in6), sizeof(sockaddr_in6));
RECEIVE(UdpGroSegments, SOL_UDP, UDP_GRO, "UDP_GRO", Shape::kExact, sizeof(int), sizeof(int));
RECEIVE(Ipv4RecvErr, IPPROTO_IP, IP_RECVERR, "IP_RECVERR", Shape::kExact,
        sizeof(sock_extended_err) + sizeof(sockaddr_in),
        sizeof(sock_extended_err) + sizeof(sockaddr_in));
RECEIVE(Ipv6RecvErr, IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", Shape::kExact,
        sizeof(sock_extended_err) + sizeof(sockaddr_in6),
        sizeof(sock_extended_err) + sizeof(sockaddr_in6));
RECEIVE(TlsGetRecordType, SOL_TLS, TLS_GET_RECORD_TYPE, "TLS_GET_RECORD_TYPE", Shape::kExact,
        1, 1);
RECEIVE(Ipv4RecvFragsize, IPPROTO_IP, IP_RECVFRAGSIZE, "IP_RECVFRAGSIZE", Shape::kExact,
        sizeof(int), sizeof(int));
RECEIVE(Ipv6RecvFragsize, IPPROTO_IPV6, IPV6_RECVFRAGSIZE, "IPV6_RECVFRAGSIZE", Shape::kExact,
        sizeof(int), sizeof(int));
RECEIVE(Ipv6PathMtu, IPPROTO_IPV6, IPV6_PATHMTU, "IPV6_PATHMTU", Shape::kExact,
        sizeof(ip6_mtuinfo), sizeof(ip6_mtuinfo));
RECEIVE(TcpInq, SOL_TCP, TCP_CM_INQ, "TCP_CM_INQ", Shape::kExact, sizeof(int), sizeof(int));
#undef RECEIVE

#define SEND(T, level, type, sample, size)                            \
  template <>                                                         \
  struct Expect<T> {                                                  \
    static Send<T> SendRule() { return {level, type, sample, size}; } \
  }

const int kFds[] = {0, 1, 2};
const uint8_t kIv[16] = {};
SEND(ScmRights, SOL_SOCKET, SCM_RIGHTS, ScmRights{kFds}, sizeof(kFds));
SEND(UdpGsoSegments, SOL_UDP, UDP_SEGMENT, UdpGsoSegments{1400}, sizeof(uint16_t));
SEND(TxTime, SOL_SOCKET, SCM_TXTIME, TxTime{5}, sizeof(uint64_t));
SEND(AlgSetIv, SOL_ALG, ALG_SET_IV, AlgSetIv{kIv}, sizeof(af_alg_iv) + sizeof(kIv));
SEND(AlgSetOp, SOL_ALG, ALG_SET_OP, AlgSetOp{ALG_OP_ENCRYPT}, sizeof(uint32_t));
SEND(AlgSetAeadAssoclen, SOL_ALG, ALG_SET_AEAD_ASSOCLEN, AlgSetAeadAssoclen{8},
     sizeof(uint32_t));
SEND(SoTimestamping, SOL_SOCKET, SO_TIMESTAMPING_OLD,
     SoTimestamping{TimestampingFlags::kTxSoftware}, sizeof(uint32_t));
SEND(ScmTsOptId, SOL_SOCKET, SCM_TS_OPT_ID, ScmTsOptId{7}, sizeof(uint32_t));
SEND(Ipv6DontFrag, IPPROTO_IPV6, IPV6_DONTFRAG, Ipv6DontFrag{1}, sizeof(int));
#undef SEND

// Kinds that go both ways.
#define BOTH(T, level, type, name, recv_size, sample, send_size)                       \
  template <>                                                                         \
  struct Expect<T> {                                                                  \
    static Receive ReceiveRule() {                                                    \
      return {level, type, name, Shape::kExact, recv_size,                            \
              std::max<size_t>(recv_size, send_size)};                                \
    }                                                                                 \
    static Send<T> SendRule() { return {level, type, sample, send_size}; }            \
  }

BOTH(ScmCredentials, SOL_SOCKET, SCM_CREDENTIALS, "SCM_CREDENTIALS", sizeof(ucred),
     (ScmCredentials{1, 2, 3}), sizeof(ucred));
BOTH(Ipv4PacketInfo, IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", sizeof(in_pktinfo),
     Ipv4PacketInfo{}, sizeof(in_pktinfo));
BOTH(Ipv6PacketInfo, IPPROTO_IPV6, IPV6_PKTINFO, "IPV6_PKTINFO", sizeof(in6_pktinfo),
     Ipv6PacketInfo{}, sizeof(in6_pktinfo));
BOTH(RxqOvfl, SOL_SOCKET, SO_RXQ_OVFL, "SO_RXQ_OVFL", sizeof(uint32_t), RxqOvfl{3},
     sizeof(uint32_t));
// IP_TOS: one byte received, an int sent.
BOTH(Ipv4Tos, IPPROTO_IP, IP_TOS, "IP_TOS", 1, Ipv4Tos{0x10}, sizeof(int));
BOTH(Ipv6TClass, IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", sizeof(int), Ipv6TClass{4},
     sizeof(int));
BOTH(Ipv4Ttl, IPPROTO_IP, IP_TTL, "IP_TTL", sizeof(int), Ipv4Ttl{3}, sizeof(int));
BOTH(Ipv6HopLimit, IPPROTO_IPV6, IPV6_HOPLIMIT, "IPV6_HOPLIMIT", sizeof(int), Ipv6HopLimit{3},
     sizeof(int));
BOTH(SoMark, SOL_SOCKET, SO_MARK, "SO_MARK", sizeof(uint32_t), SoMark{0x2a}, sizeof(uint32_t));
BOTH(SoPriority, SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", sizeof(uint32_t), SoPriority{3},
     sizeof(uint32_t));
#undef BOTH

// A buffer with one message of `n` payload bytes (0x5a each, so fds are
// numbers no test owns: nothing is adopted from a plain span anyway).
std::vector<std::byte> OneMessage(int level, int type, size_t n) {
  std::vector<std::byte> b(CMSG_SPACE(n), std::byte{0x5a});
  cmsghdr h{};
  h.cmsg_len = CMSG_LEN(n);
  h.cmsg_level = level;
  h.cmsg_type = type;
  std::memcpy(b.data(), &h, sizeof(h));
  return b;
}

// Decode and ForEachMessage agree: `n` bytes decode to one T, or both fail
// with the same error; returns that error (OK when it decoded).
template <typename T>
absl::Status DecodeBoth(int level, int type, size_t n) {
  std::vector<std::byte> b = OneMessage(level, type, n);
  auto decoded = Decode(b);
  int visited = 0;
  bool other = false;
  absl::Status s = ForEachMessage(absl::MakeConstSpan(b), [&](auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<V, T> ||
                  (std::is_same_v<T, ScmRightsOwned> && std::is_same_v<V, OwnedFdRange>)) {
      ++visited;
    } else {
      other = true;
    }
  });
  if (!decoded.ok()) {
    EXPECT_EQ(visited, 0);
    return decoded.status();
  }
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(decoded->size(), 1u);
  if (decoded->size() == 1) {
    EXPECT_TRUE(std::holds_alternative<T>((*decoded)[0]));
  }
  EXPECT_EQ(visited, 1);
  EXPECT_FALSE(other);
  return absl::OkStatus();
}

template <typename T>
void CheckReceive() {
  const Receive r = Expect<T>::ReceiveRule();
  SCOPED_TRACE(r.name);
  if constexpr (!std::is_same_v<T, ScmRightsOwned>) {  // sized with Fds<N>
    EXPECT_EQ(ControlBuffer<T>::kSize, CMSG_SPACE(r.room));
  }
  std::vector<int> types = {r.type};
  if (r.alias_type >= 0) types.push_back(r.alias_type);
  for (int type : types) {
    switch (r.shape) {
      case Shape::kExact: {
        EXPECT_TRUE(DecodeBoth<T>(r.level, type, r.size).ok());
        for (size_t n : {size_t{0}, r.size - 1, r.size + 1}) {
          if (n == r.size) continue;
          absl::Status s = DecodeBoth<T>(r.level, type, n);
          EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << n;
          EXPECT_THAT(std::string(s.message()),
                      HasSubstr(absl::StrCat("malformed ", r.name, " control message: payload of ",
                                             n, " bytes, want ", r.size)));
        }
        break;
      }
      case Shape::kWholeFds: {
        for (size_t fds : {0, 1, 16, 253}) {
          EXPECT_TRUE(DecodeBoth<T>(r.level, type, fds * r.size).ok()) << fds;
        }
        for (size_t n : {size_t{1}, r.size + 1, 3 * r.size - 1}) {
          absl::Status s = DecodeBoth<T>(r.level, type, n);
          EXPECT_THAT(std::string(s.message()), HasSubstr("not a whole number of fds")) << n;
        }
        // 254 fds: Decode keeps them, ForEachMessage refuses (documented).
        std::vector<std::byte> b = OneMessage(r.level, type, 254 * r.size);
        EXPECT_TRUE(Decode(b).ok());
        absl::Status s = ForEachMessage(absl::MakeConstSpan(b), [](OwnedFdRange&) {});
        EXPECT_THAT(std::string(s.message()), HasSubstr("254 fds exceed"));
        break;
      }
      case Shape::kAnyLength:
        for (size_t n : {0, 1, 7, 200}) EXPECT_TRUE(DecodeBoth<T>(r.level, type, n).ok()) << n;
        break;
    }
  }
}

template <typename T>
void CheckSend() {
  const Send<T> s = Expect<T>::SendRule();
  SCOPED_TRACE(absl::StrCat("send level ", s.level, " type ", s.type));
  const ControlMessage m = s.sample;
  EXPECT_EQ(EncodedSize({m}), CMSG_SPACE(s.size));
  alignas(cmsghdr) std::byte buf[256];
  auto n = Encode({m}, buf);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, CMSG_SPACE(s.size));
  cmsghdr h;
  std::memcpy(&h, buf, sizeof(h));
  EXPECT_EQ(h.cmsg_len, CMSG_LEN(s.size));
  EXPECT_EQ(h.cmsg_level, s.level);
  EXPECT_EQ(h.cmsg_type, s.type);
}

template <typename... Ts>
void CheckAllReceived(std::variant<Ts...>*) {
  (
      [] {
        if constexpr (!std::is_same_v<Ts, Unknown>) CheckReceive<Ts>();
      }(),
      ...);
}

template <typename... Ts>
void CheckAllSent(std::variant<Ts...>*) {
  (CheckSend<Ts>(), ...);
}

TEST(KindsTest, EveryReceivedKindHasItsLengthRule) {
  CheckAllReceived(static_cast<ControlMessageOwned*>(nullptr));
}

TEST(KindsTest, EverySentKindEncodesItsHeaderAndSize) {
  CheckAllSent(static_cast<ControlMessage*>(nullptr));
}

// A (level, type) the library has no type for comes back as Unknown, whole.
TEST(KindsTest, AnythingElseIsUnknown) {
  std::vector<std::byte> b = OneMessage(SOL_SOCKET, 0x7777, 5);
  auto d = Decode(b);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 1u);
  const auto* u = std::get_if<Unknown>(&(*d)[0]);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->type, 0x7777);
  EXPECT_EQ(u->data.size(), 5u);
}

}  // namespace
}  // namespace cmsg
