// The control messages, one C++ type per kind of Linux ancillary data.
//
//   // Send: borrowing views in a ControlMessage.
//   int fds[] = {file.get(), sock.get()};
//   SendMsg(unix_fd, data, {ScmRights{fds}});
//   // Receive: owned values in a ControlMessageOwned.
//   if (auto* info = received.Find<Ipv4PacketInfo>()) reply_from(info->spec_dst);
//
// Value types (ScmCredentials, Ipv4PacketInfo, ...) are the same on both
// sides; only fd passing differs: ScmRights borrows fds to send,
// ScmRightsOwned owns received fds and closes any the caller does not take.
// Both variants grow as kinds are added: match with std::get_if, Find<T>() or
// a visitor with a generic fallback, never exhaustively.
#ifndef LIB_CMSG_MESSAGES_H_
#define LIB_CMSG_MESSAGES_H_

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"
#include "lib/fd/unique_fd.h"

// Linux 6.5+; glibc 2.36 does not name them yet.
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
// Linux 6.13+ (per-packet timestamp id); the Debian 12 headers (glibc 2.36,
// linux-libc-dev 6.1) lack it.
#ifndef SCM_TS_OPT_ID
#define SCM_TS_OPT_ID 81
#endif
// Linux 6.14+ (SO_PRIORITY on received messages); not in Debian 12 headers.
#ifndef SO_RCVPRIORITY
#define SO_RCVPRIORITY 82
#endif
// The kernel's include/linux/socket.h has it, its uapi and glibc do not.
#ifndef SCM_SECURITY
#define SCM_SECURITY 0x03
#endif

// The message layouts here are those of 64-bit Linux: on ILP32 the
// timestamp messages come in two sizes (SO_TIMESTAMP*_OLD/_NEW) and
// UdpGsoSegments' padding would land on cmsg_type. Refuse to build there
// rather than be silently wrong.
static_assert(sizeof(void*) == 8 && sizeof(long) == 8 && sizeof(time_t) == 8,
              "//lib/cmsg supports 64-bit Linux (LP64) only: its control-message "
              "layouts are wrong for 32-bit (ILP32) ABIs");

namespace cmsg {

// A set of flag bits of one kind (Derived), closed under | and &: a flags
// type cannot be mixed up with another or with a plain int by accident.
template <typename Derived, typename Bits>
class BitFlags {
 public:
  constexpr BitFlags() = default;
  explicit constexpr BitFlags(Bits bits) : bits_(bits) {}
  [[nodiscard]] constexpr Bits bits() const { return bits_; }
  explicit constexpr operator Bits() const { return bits_; }
  // Every bit of `other` is set here.
  [[nodiscard]] constexpr bool Has(Derived other) const {
    return (bits_ & other.bits()) == other.bits();
  }
  friend constexpr Derived operator|(Derived a, Derived b) { return Derived(a.bits() | b.bits()); }
  friend constexpr Derived operator&(Derived a, Derived b) { return Derived(a.bits() & b.bits()); }
  friend constexpr bool operator==(Derived a, Derived b) { return a.bits() == b.bits(); }
  constexpr Derived& operator|=(Derived other) {
    bits_ |= other.bits();
    return static_cast<Derived&>(*this);
  }

 private:
  Bits bits_ = 0;
};

// SOF_TIMESTAMPING_* (linux/net_tstamp.h): what SO_TIMESTAMPING records
// and reports, for the socket option (ReceiveTimestamping) and, per packet,
// for the SoTimestamping message.
class TimestampingFlags : public BitFlags<TimestampingFlags, uint32_t> {
 public:
  using BitFlags::BitFlags;
  // Generate a stamp (per packet on send: only the kTx* and kTxSched/kTxAck).
  static const TimestampingFlags kTxHardware, kTxSoftware, kRxHardware, kRxSoftware,
      kTxSched, kTxAck;
  // Report the stamps generated.
  static const TimestampingFlags kSoftware, kRawHardware;
  // Options: an id per sent packet (kOptId; for TCP kOptIdTcp, Linux
  // 6.2+), pktinfo with rx stamps, stamps without the packet, and more.
  static const TimestampingFlags kOptId, kOptCmsg, kOptTsonly, kOptStats, kOptPktinfo,
      kOptTxSwhw, kBindPhc, kOptIdTcp;
};
inline constexpr TimestampingFlags TimestampingFlags::kTxHardware{SOF_TIMESTAMPING_TX_HARDWARE};
inline constexpr TimestampingFlags TimestampingFlags::kTxSoftware{SOF_TIMESTAMPING_TX_SOFTWARE};
inline constexpr TimestampingFlags TimestampingFlags::kRxHardware{SOF_TIMESTAMPING_RX_HARDWARE};
inline constexpr TimestampingFlags TimestampingFlags::kRxSoftware{SOF_TIMESTAMPING_RX_SOFTWARE};
inline constexpr TimestampingFlags TimestampingFlags::kTxSched{SOF_TIMESTAMPING_TX_SCHED};
inline constexpr TimestampingFlags TimestampingFlags::kTxAck{SOF_TIMESTAMPING_TX_ACK};
inline constexpr TimestampingFlags TimestampingFlags::kSoftware{SOF_TIMESTAMPING_SOFTWARE};
inline constexpr TimestampingFlags TimestampingFlags::kRawHardware{SOF_TIMESTAMPING_RAW_HARDWARE};
inline constexpr TimestampingFlags TimestampingFlags::kOptId{SOF_TIMESTAMPING_OPT_ID};
inline constexpr TimestampingFlags TimestampingFlags::kOptCmsg{SOF_TIMESTAMPING_OPT_CMSG};
inline constexpr TimestampingFlags TimestampingFlags::kOptTsonly{SOF_TIMESTAMPING_OPT_TSONLY};
inline constexpr TimestampingFlags TimestampingFlags::kOptStats{SOF_TIMESTAMPING_OPT_STATS};
inline constexpr TimestampingFlags TimestampingFlags::kOptPktinfo{SOF_TIMESTAMPING_OPT_PKTINFO};
inline constexpr TimestampingFlags TimestampingFlags::kOptTxSwhw{SOF_TIMESTAMPING_OPT_TX_SWHW};
inline constexpr TimestampingFlags TimestampingFlags::kBindPhc{SOF_TIMESTAMPING_BIND_PHC};
// Linux 6.2; the Debian 12 headers (6.1) lack SOF_TIMESTAMPING_OPT_ID_TCP.
inline constexpr TimestampingFlags TimestampingFlags::kOptIdTcp{1u << 16};

// Most fds one SCM_RIGHTS message may carry (the kernel's SCM_MAX_FD).
inline constexpr size_t kMaxFdsPerMessage = 253;
// Received fds up to this many are held without a heap allocation.
inline constexpr size_t kInlineFds = 16;

// SOL_SOCKET/SCM_RIGHTS, send side: borrows the fds; the caller keeps them.
struct ScmRights {
  absl::Span<const int> fds;
};

// SOL_SOCKET/SCM_RIGHTS, receive side: owns the received fds (close-on-exec).
// Take one with `fds[i].release()` or move a UniqueFd out; the rest close
// when this is destroyed.
struct ScmRightsOwned {
  absl::InlinedVector<UniqueFd, kInlineFds> fds;
};

// SOL_SOCKET/SCM_PIDFD, receive side (Linux 6.5+, with SO_PASSPIDFD on the
// receiver: PassPidfd): a pidfd of the sending process, which the kernel
// installs with every message. Owned (close-on-exec); closed unless taken.
struct ScmPidfd {
  UniqueFd fd;
};

// SOL_SOCKET/SCM_SECURITY, receive side (SO_PASSSEC: ReceiveSecurity): the
// sender's security context as the LSM spells it (SELinux, Smack; AppArmor
// 6.x). Kernels without such an LSM send nothing.
// A ControlBuffer<ScmSecurity> reserves 256 bytes for it; a longer context
// arrives cut short (MSG_CTRUNC).
struct ScmSecurity {
  absl::InlinedVector<char, 48> context;
  // The context without the terminating NUL some LSMs include.
  [[nodiscard]] std::string_view text() const {
    std::string_view t(context.data(), context.size());
    while (!t.empty() && t.back() == '\0') t.remove_suffix(1);
    return t;
  }
};

// SOL_SOCKET/SCM_CREDENTIALS (struct ucred). Received once SO_PASSCRED is on;
// sent to claim ids the kernel lets the sender claim.
struct ScmCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// SOL_SOCKET/SCM_TIMESTAMP (SO_TIMESTAMP): the receive time as a timeval.
struct ScmTimestamp {
  timeval time{};
};

// SOL_SOCKET/SCM_TIMESTAMPNS (SO_TIMESTAMPNS): the receive time as a timespec.
struct ScmTimestampns {
  timespec time{};
};

// SOL_SOCKET/SCM_TIMESTAMPING (SO_TIMESTAMPING): [0] software, [1] legacy
// (zero), [2] hardware. Transmit stamps arrive on the error queue with an
// Ipv4RecvErr/Ipv6RecvErr of origin SO_EE_ORIGIN_TIMESTAMPING.
struct ScmTimestamping {
  std::array<timespec, 3> times{};
};

// IPPROTO_IP/IP_PKTINFO. On receive: `ifindex` the datagram came in on,
// `spec_dst` the local address it was sent to (routing's view), `addr` the
// header's destination. On send the kernel uses `spec_dst` as the source
// address and `ifindex` as the outgoing interface; `addr` is ignored.
struct Ipv4PacketInfo {
  int ifindex = 0;
  in_addr spec_dst{};
  in_addr addr{};
};

// IPPROTO_IPV6/IPV6_PKTINFO: the local address and interface of a datagram;
// on send, the source address and outgoing interface to use.
struct Ipv6PacketInfo {
  in6_addr addr{};
  unsigned int ifindex = 0;
};

// IPPROTO_IP/IP_ORIGDSTADDR (IP_RECVORIGDSTADDR): the original destination,
// useful behind TPROXY.
struct Ipv4OrigDstAddr {
  sockaddr_in addr{};
};

// IPPROTO_IPV6/IPV6_ORIGDSTADDR (IPV6_RECVORIGDSTADDR).
struct Ipv6OrigDstAddr {
  sockaddr_in6 addr{};
};

// SOL_UDP/UDP_SEGMENT, send side: split this send into datagrams of
// `segment_size` bytes (UDP GSO).
struct UdpGsoSegments {
  uint16_t segment_size = 0;
};

// SOL_UDP/UDP_GRO, receive side: this buffer holds coalesced datagrams of
// `segment_size` bytes each (the last may be shorter).
struct UdpGroSegments {
  int segment_size = 0;
};

// SOL_SOCKET/SO_RXQ_OVFL: datagrams the socket dropped so far (a counter).
struct RxqOvfl {
  uint32_t dropped = 0;
};

// IPPROTO_IP/IP_RECVERR: an error-queue entry (MSG_ERRQUEUE) and, where the
// kernel knows it, the address of the node that reported it. Laid out as
// the kernel's payload, so that the typed path hands it over in place.
struct Ipv4RecvErr {
  sock_extended_err error{};
  // SO_EE_OFFENDER as the kernel wrote it: family AF_INET when the
  // reporting node is known, all zero when not. Read it with offender().
  sockaddr_in offender_addr{};

  [[nodiscard]] std::optional<sockaddr_in> offender() const {
    if (offender_addr.sin_family != AF_INET) return std::nullopt;
    return offender_addr;
  }
};

// IPPROTO_IPV6/IPV6_RECVERR: as Ipv4RecvErr, for IPv6 sockets.
struct Ipv6RecvErr {
  sock_extended_err error{};
  // As Ipv4RecvErr's: family AF_INET6 when known, all zero when not.
  sockaddr_in6 offender_addr{};

  [[nodiscard]] std::optional<sockaddr_in6> offender() const {
    if (offender_addr.sin6_family != AF_INET6) return std::nullopt;
    return offender_addr;
  }
};

// IPPROTO_IP/IP_TOS: received with IP_RECVTOS; sent to set one datagram's TOS.
struct Ipv4Tos {
  uint8_t tos = 0;
};

// IPPROTO_IPV6/IPV6_TCLASS: received with IPV6_RECVTCLASS; also sendable.
struct Ipv6TClass {
  int tclass = 0;
};

// IPPROTO_IP/IP_TTL: received with IP_RECVTTL; sent to set one datagram's TTL.
struct Ipv4Ttl {
  int ttl = 0;
};

// IPPROTO_IPV6/IPV6_HOPLIMIT: received with IPV6_RECVHOPLIMIT; also sendable.
struct Ipv6HopLimit {
  int hop_limit = 0;
};

// SOL_SOCKET/SCM_TXTIME: transmit time in ns of the clock set by SO_TXTIME.
struct TxTime {
  uint64_t time_ns = 0;
};

// SOL_SOCKET/SO_MARK: the packet's firewall mark. Received with SO_RCVMARK
// (Linux 6.1+); on send (Linux 4.19+) it marks this packet and needs
// CAP_NET_RAW or CAP_NET_ADMIN.
struct SoMark {
  uint32_t mark = 0;
};

// SOL_SOCKET/SO_TIMESTAMPING, send side (Linux 4.7+): request transmit
// stamps for this packet only (kTxSoftware, kTxHardware, kTxSched,
// kTxAck); the socket's SO_TIMESTAMPING still says which are reported.
// Received stamps are ScmTimestamping (the same level and type).
struct SoTimestamping {
  TimestampingFlags flags{};
};

// SOL_SOCKET/SCM_TS_OPT_ID, send side (Linux 6.13+): the id this packet's
// transmit stamps carry in sock_extended_err.ee_data, instead of the
// socket's counter. Needs kOptId in the socket's SO_TIMESTAMPING; not TCP.
struct ScmTsOptId {
  uint32_t id = 0;
};

// SOL_SOCKET/SO_PRIORITY: on send (Linux 6.14+) this packet's priority
// (above 6 needs CAP_NET_ADMIN); received with SO_RCVPRIORITY (6.14+).
struct SoPriority {
  uint32_t priority = 0;
};

// IPPROTO_IP/IP_RECVFRAGSIZE (Linux 4.10+): the largest fragment of a
// datagram that arrived fragmented (none for whole datagrams).
struct Ipv4RecvFragsize {
  int size = 0;
};

// IPPROTO_IPV6/IPV6_RECVFRAGSIZE (Linux 4.10+): as Ipv4RecvFragsize.
struct Ipv6RecvFragsize {
  int size = 0;
};

// IPPROTO_IPV6/IPV6_PATHMTU (struct ip6_mtuinfo), received with
// IPV6_RECVPATHMTU: the path MTU to `addr`, reported when a send with
// IPV6_DONTFRAG was too big for it (the send fails with EMSGSIZE; the next
// recvmsg returns this message and no data).
struct Ipv6PathMtu {
  sockaddr_in6 addr{};
  uint32_t mtu = 0;
};

// IPPROTO_IPV6/IPV6_DONTFRAG, send side: 1 = do not fragment this packet
// (a too-big send fails with EMSGSIZE), 0 = fragment it, -1 = the socket's
// setting.
struct Ipv6DontFrag {
  int dont_frag = 1;
};

// SOL_TCP/TCP_CM_INQ (TCP_INQ on the socket, Linux 4.18+): bytes still
// queued for reading after this recvmsg.
struct TcpInq {
  int bytes = 0;
};

// SOL_TLS/TLS_GET_RECORD_TYPE: the record type of data read from a kTLS socket.
struct TlsGetRecordType {
  uint8_t record_type = 0;
};

// SOL_ALG/ALG_SET_IV: the IV for an AF_ALG operation (borrowed).
struct AlgSetIv {
  absl::Span<const uint8_t> iv;
};

// SOL_ALG/ALG_SET_OP: ALG_OP_ENCRYPT or ALG_OP_DECRYPT.
struct AlgSetOp {
  uint32_t op = 0;
};

// SOL_ALG/ALG_SET_AEAD_ASSOCLEN: bytes of associated data for AEAD.
struct AlgSetAeadAssoclen {
  uint32_t assoclen = 0;
};

// Any received message this library has no type for, copied byte for byte.
struct Unknown {
  int level = 0;
  int type = 0;
  absl::InlinedVector<uint8_t, 32> data;
};

// A message to send. Borrows what it points at until the send returns.
using ControlMessage =
    std::variant<ScmRights, ScmCredentials, Ipv4PacketInfo, Ipv6PacketInfo,
                 UdpGsoSegments, Ipv4Tos, Ipv6TClass, Ipv4Ttl, Ipv6HopLimit,
                 TxTime, RxqOvfl, AlgSetIv, AlgSetOp, AlgSetAeadAssoclen, SoMark,
                 SoPriority, SoTimestamping, ScmTsOptId, Ipv6DontFrag>;

// A received message. Owns everything it holds, fds included.
using ControlMessageOwned =
    std::variant<ScmRightsOwned, ScmPidfd, ScmCredentials, ScmTimestamp, ScmTimestampns,
                 ScmTimestamping, Ipv4PacketInfo, Ipv6PacketInfo,
                 Ipv4OrigDstAddr, Ipv6OrigDstAddr, UdpGroSegments, RxqOvfl,
                 Ipv4RecvErr, Ipv6RecvErr, Ipv4Tos, Ipv6TClass, Ipv4Ttl,
                 Ipv6HopLimit, SoMark, TlsGetRecordType, ScmSecurity, SoPriority,
                 Ipv4RecvFragsize, Ipv6RecvFragsize, Ipv6PathMtu, TcpInq, Unknown>;

// The decoded control messages of one received message, in kernel order.
// Up to four are held without a heap allocation.
using ControlMessages = absl::InlinedVector<ControlMessageOwned, 4>;

// The first message of type T in `messages`, or nullptr.
template <typename T>
[[nodiscard]] const T* Find(const ControlMessages& messages) {
  for (const auto& m : messages)
    if (const T* p = std::get_if<T>(&m)) return p;
  return nullptr;
}
template <typename T>
[[nodiscard]] T* Find(ControlMessages& messages) {
  for (auto& m : messages)
    if (T* p = std::get_if<T>(&m)) return p;
  return nullptr;
}

}  // namespace cmsg

#endif  // LIB_CMSG_MESSAGES_H_
