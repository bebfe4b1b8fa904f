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
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
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

namespace cmsg {

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
  static constexpr size_t kPayloadSize = sizeof(int);
};

// SOL_SOCKET/SCM_CREDENTIALS (struct ucred). Received once SO_PASSCRED is on;
// sent to claim ids the kernel lets the sender claim.
struct ScmCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  static constexpr size_t kPayloadSize = sizeof(ucred);
};

// SOL_SOCKET/SCM_TIMESTAMP (SO_TIMESTAMP): the receive time as a timeval.
struct ScmTimestamp {
  timeval time{};
  static constexpr size_t kPayloadSize = sizeof(timeval);
};

// SOL_SOCKET/SCM_TIMESTAMPNS (SO_TIMESTAMPNS): the receive time as a timespec.
struct ScmTimestampns {
  timespec time{};
  static constexpr size_t kPayloadSize = sizeof(timespec);
};

// SOL_SOCKET/SCM_TIMESTAMPING (SO_TIMESTAMPING): [0] software, [1] legacy
// (zero), [2] hardware. Transmit stamps arrive on the error queue with an
// Ipv4RecvErr/Ipv6RecvErr of origin SO_EE_ORIGIN_TIMESTAMPING.
struct ScmTimestamping {
  std::array<timespec, 3> times{};
  static constexpr size_t kPayloadSize = 3 * sizeof(timespec);
};

// IPPROTO_IP/IP_PKTINFO. On receive: `ifindex` the datagram came in on,
// `spec_dst` the local address it was sent to (routing's view), `addr` the
// header's destination. On send the kernel uses `spec_dst` as the source
// address and `ifindex` as the outgoing interface; `addr` is ignored.
struct Ipv4PacketInfo {
  int ifindex = 0;
  in_addr spec_dst{};
  in_addr addr{};
  static constexpr size_t kPayloadSize = sizeof(in_pktinfo);
};

// IPPROTO_IPV6/IPV6_PKTINFO: the local address and interface of a datagram;
// on send, the source address and outgoing interface to use.
struct Ipv6PacketInfo {
  in6_addr addr{};
  unsigned int ifindex = 0;
  static constexpr size_t kPayloadSize = sizeof(in6_pktinfo);
};

// IPPROTO_IP/IP_ORIGDSTADDR (IP_RECVORIGDSTADDR): the original destination,
// useful behind TPROXY.
struct Ipv4OrigDstAddr {
  sockaddr_in addr{};
  static constexpr size_t kPayloadSize = sizeof(sockaddr_in);
};

// IPPROTO_IPV6/IPV6_ORIGDSTADDR (IPV6_RECVORIGDSTADDR).
struct Ipv6OrigDstAddr {
  sockaddr_in6 addr{};
  static constexpr size_t kPayloadSize = sizeof(sockaddr_in6);
};

// SOL_UDP/UDP_SEGMENT, send side: split this send into datagrams of
// `segment_size` bytes (UDP GSO).
struct UdpGsoSegments {
  uint16_t segment_size = 0;
  static constexpr size_t kPayloadSize = sizeof(uint16_t);
};

// SOL_UDP/UDP_GRO, receive side: this buffer holds coalesced datagrams of
// `segment_size` bytes each (the last may be shorter).
struct UdpGroSegments {
  int segment_size = 0;
  static constexpr size_t kPayloadSize = sizeof(int);
};

// SOL_SOCKET/SO_RXQ_OVFL: datagrams the socket dropped so far (a counter).
struct RxqOvfl {
  uint32_t dropped = 0;
  static constexpr size_t kPayloadSize = sizeof(uint32_t);
};

// IPPROTO_IP/IP_RECVERR: an error-queue entry (MSG_ERRQUEUE) and, where the
// kernel knows it, the address of the node that reported it.
struct Ipv4RecvErr {
  sock_extended_err error{};
  std::optional<sockaddr_in> offender;
  static constexpr size_t kPayloadSize =
      sizeof(sock_extended_err) + sizeof(sockaddr_in);
};

// IPPROTO_IPV6/IPV6_RECVERR: as Ipv4RecvErr, for IPv6 sockets.
struct Ipv6RecvErr {
  sock_extended_err error{};
  std::optional<sockaddr_in6> offender;
  static constexpr size_t kPayloadSize =
      sizeof(sock_extended_err) + sizeof(sockaddr_in6);
};

// IPPROTO_IP/IP_TOS: received with IP_RECVTOS; sent to set one datagram's TOS.
struct Ipv4Tos {
  uint8_t tos = 0;
  static constexpr size_t kPayloadSize = sizeof(int);  // send side is an int
};

// IPPROTO_IPV6/IPV6_TCLASS: received with IPV6_RECVTCLASS; also sendable.
struct Ipv6TClass {
  int tclass = 0;
  static constexpr size_t kPayloadSize = sizeof(int);
};

// IPPROTO_IP/IP_TTL: received with IP_RECVTTL; sent to set one datagram's TTL.
struct Ipv4Ttl {
  int ttl = 0;
  static constexpr size_t kPayloadSize = sizeof(int);
};

// IPPROTO_IPV6/IPV6_HOPLIMIT: received with IPV6_RECVHOPLIMIT; also sendable.
struct Ipv6HopLimit {
  int hop_limit = 0;
  static constexpr size_t kPayloadSize = sizeof(int);
};

// SOL_SOCKET/SCM_TXTIME: transmit time in ns of the clock set by SO_TXTIME.
struct TxTime {
  uint64_t time_ns = 0;
  static constexpr size_t kPayloadSize = sizeof(uint64_t);
};

// SOL_SOCKET/SO_MARK, received with SO_RCVMARK: the packet's firewall mark.
struct SoMark {
  uint32_t mark = 0;
  static constexpr size_t kPayloadSize = sizeof(uint32_t);
};

// SOL_TLS/TLS_GET_RECORD_TYPE: the record type of data read from a kTLS socket.
struct TlsGetRecordType {
  uint8_t record_type = 0;
  static constexpr size_t kPayloadSize = sizeof(uint8_t);
};

// SOL_ALG/ALG_SET_IV: the IV for an AF_ALG operation (borrowed).
struct AlgSetIv {
  absl::Span<const uint8_t> iv;
};

// SOL_ALG/ALG_SET_OP: ALG_OP_ENCRYPT or ALG_OP_DECRYPT.
struct AlgSetOp {
  uint32_t op = 0;
  static constexpr size_t kPayloadSize = sizeof(uint32_t);
};

// SOL_ALG/ALG_SET_AEAD_ASSOCLEN: bytes of associated data for AEAD.
struct AlgSetAeadAssoclen {
  uint32_t assoclen = 0;
  static constexpr size_t kPayloadSize = sizeof(uint32_t);
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
                 TxTime, RxqOvfl, AlgSetIv, AlgSetOp, AlgSetAeadAssoclen>;

// A received message. Owns everything it holds, fds included.
using ControlMessageOwned =
    std::variant<ScmRightsOwned, ScmPidfd, ScmCredentials, ScmTimestamp, ScmTimestampns,
                 ScmTimestamping, Ipv4PacketInfo, Ipv6PacketInfo,
                 Ipv4OrigDstAddr, Ipv6OrigDstAddr, UdpGroSegments, RxqOvfl,
                 Ipv4RecvErr, Ipv6RecvErr, Ipv4Tos, Ipv6TClass, Ipv4Ttl,
                 Ipv6HopLimit, SoMark, TlsGetRecordType, Unknown>;

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
