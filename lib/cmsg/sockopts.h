// Socket options that make the kernel attach each receive-side control
// message, named after the message they produce.
//
//   CMSGLIB_RETURN_IF_ERROR(cmsg::ReceivePacketInfo(fd));  // -> Ipv4/Ipv6PacketInfo
//   CMSGLIB_RETURN_IF_ERROR(cmsg::ReceiveTimestampNs(fd)); // -> ScmTimestampns
//
// Where a helper depends on the socket's family it asks the socket (for an
// AF_INET6 socket that is not IPV6_V6ONLY it turns on both families).
#ifndef LIB_CMSG_SOCKOPTS_H_
#define LIB_CMSG_SOCKOPTS_H_

#include <linux/net_tstamp.h>
#include <time.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/cmsg/messages.h"
#include "lib/fd/unique_fd.h"

namespace cmsg {

// setsockopt(fd, level, name, &value, sizeof(int)).
[[nodiscard]] absl::Status SetIntOption(int fd, int level, int name, int value,
                                        const char* what);

// IP_PKTINFO / IPV6_RECVPKTINFO -> Ipv4PacketInfo / Ipv6PacketInfo.
[[nodiscard]] absl::Status ReceivePacketInfo(int fd);
// SO_TIMESTAMP -> ScmTimestamp (timeval).
[[nodiscard]] absl::Status ReceiveTimestamp(int fd);
// SO_TIMESTAMPNS -> ScmTimestampns (timespec).
[[nodiscard]] absl::Status ReceiveTimestampNs(int fd);
// SO_TIMESTAMPING with `flags` -> ScmTimestamping; with transmit flags,
// stamps come back on the error queue (MSG_ERRQUEUE). A SoTimestamping
// message asks for transmit stamps per packet instead.
[[nodiscard]] absl::Status ReceiveTimestamping(int fd, TimestampingFlags flags);
// UDP_GRO -> UdpGroSegments on coalesced reads.
[[nodiscard]] absl::Status ReceiveGro(int fd);
// IP_RECVERR / IPV6_RECVERR -> Ipv4RecvErr / Ipv6RecvErr (MSG_ERRQUEUE).
[[nodiscard]] absl::Status ReceiveErrors(int fd);
// IP_RECVTOS -> Ipv4Tos; IPV6_RECVTCLASS -> Ipv6TClass.
[[nodiscard]] absl::Status ReceiveTos(int fd);
// IP_RECVTTL -> Ipv4Ttl; IPV6_RECVHOPLIMIT -> Ipv6HopLimit.
[[nodiscard]] absl::Status ReceiveTtl(int fd);
// IP_RECVORIGDSTADDR / IPV6_RECVORIGDSTADDR -> Ipv4/Ipv6OrigDstAddr.
[[nodiscard]] absl::Status ReceiveOrigDstAddr(int fd);
// SO_PASSCRED -> ScmCredentials on every message (unix sockets).
[[nodiscard]] absl::Status ReceiveCredentials(int fd);
// SO_RXQ_OVFL -> RxqOvfl (the socket's drop counter).
[[nodiscard]] absl::Status ReceiveRxqOvfl(int fd);
// SO_RCVMARK -> SoMark (Linux 6.1+).
[[nodiscard]] absl::Status ReceiveMark(int fd);
// SO_RCVPRIORITY -> SoPriority (Linux 6.14+; elsewhere UNIMPLEMENTED).
[[nodiscard]] absl::Status ReceivePriority(int fd);
// SO_PASSSEC -> ScmSecurity (unix sockets; only with an LSM that labels
// sockets, such as SELinux or Smack: without one the kernel sends nothing).
[[nodiscard]] absl::Status ReceiveSecurity(int fd);
// IP_RECVFRAGSIZE / IPV6_RECVFRAGSIZE -> Ipv4RecvFragsize / Ipv6RecvFragsize
// (Linux 4.10+), on datagrams that arrived fragmented.
[[nodiscard]] absl::Status ReceiveFragsize(int fd);
// IPV6_RECVPATHMTU -> Ipv6PathMtu (IPv6 sockets), after a send with
// IPV6_DONTFRAG that was too big for the path.
[[nodiscard]] absl::Status ReceivePathMtu(int fd);
// TCP_INQ -> TcpInq on every recvmsg (Linux 4.18+).
[[nodiscard]] absl::Status ReceiveInq(int fd);

// SOF_TXTIME_* (linux/net_tstamp.h): how SO_TXTIME treats TxTime messages.
class TxTimeFlags : public BitFlags<TxTimeFlags, uint32_t> {
 public:
  using BitFlags::BitFlags;
  // The time is a deadline, not the moment to send (the etf qdisc).
  static const TxTimeFlags kDeadlineMode;
  // Report packets dropped for a missed time on the error queue.
  static const TxTimeFlags kReportErrors;
};
inline constexpr TxTimeFlags TxTimeFlags::kDeadlineMode{SOF_TXTIME_DEADLINE_MODE};
inline constexpr TxTimeFlags TxTimeFlags::kReportErrors{SOF_TXTIME_REPORT_ERRORS};

// SO_TXTIME (struct sock_txtime): lets this socket send TxTime messages,
// read against `clock`. Linux 4.19+. The fq qdisc reads CLOCK_MONOTONIC;
// etf reads CLOCK_TAI, and any clock but CLOCK_MONOTONIC needs
// CAP_NET_ADMIN (EPERM otherwise).
struct TxTimeConfig {
  clockid_t clock = CLOCK_MONOTONIC;
  TxTimeFlags flags{};
};
[[nodiscard]] absl::Status EnableTxTime(int fd, TxTimeConfig config);

// SO_PASSRIGHTS = 0: the kernel refuses SCM_RIGHTS sent to this unix socket,
// so no fd can be pushed into the receiver. Needs Linux 6.16+; elsewhere an
// UNIMPLEMENTED status that says so.
[[nodiscard]] absl::Status RefuseRights(int fd);

// SO_PASSPIDFD -> ScmPidfd on every message (unix sockets; also turns on
// SCM_CREDENTIALS' pid). Needs Linux 6.5+; elsewhere an UNIMPLEMENTED
// status that says so. Size the control buffer for ScmPidfd (and
// ScmCredentials): without room the kernel drops the pidfd (MSG_CTRUNC).
[[nodiscard]] absl::Status PassPidfd(int fd);

// SO_PEERPIDFD: a pidfd (owned, close-on-exec) of the process that connected
// or created the peer socket. Linux 6.5+; elsewhere UNIMPLEMENTED.
[[nodiscard]] absl::StatusOr<UniqueFd> PeerPidfd(int fd);

// SO_PEERCRED: pid, uid and gid of the peer when it connected (or created
// the socketpair).
[[nodiscard]] absl::StatusOr<ScmCredentials> PeerCredentials(int fd);

}  // namespace cmsg

#endif  // LIB_CMSG_SOCKOPTS_H_
