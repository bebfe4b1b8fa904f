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
// SO_TIMESTAMPING with `flags` (SOF_TIMESTAMPING_*) -> ScmTimestamping; with
// transmit flags, stamps come back on the error queue (MSG_ERRQUEUE).
[[nodiscard]] absl::Status ReceiveTimestamping(int fd, int flags);
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
