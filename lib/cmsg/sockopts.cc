#include "lib/cmsg/sockopts.h"

#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "lib/status/errno_status.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83  // Linux 6.16
#endif

namespace cmsg {
namespace {

absl::StatusOr<int> IntOption(int fd, int level, int name, const char* what) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) < 0)
    return ErrnoError(absl::StrCat("getsockopt(", what, ")"));
  return value;
}

// Runs `v4` and/or `v6` depending on which families `fd` receives.
template <typename F4, typename F6>
absl::Status PerFamily(int fd, F4 v4, F6 v6) {
  absl::StatusOr<int> domain = IntOption(fd, SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN");
  if (!domain.ok()) return domain.status();
  if (*domain == AF_INET) return v4();
  if (*domain != AF_INET6) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket family ", *domain, " is neither AF_INET nor AF_INET6"));
  }
  if (absl::Status s = v6(); !s.ok()) return s;
  absl::StatusOr<int> v6only =
      IntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY");
  if (!v6only.ok()) return v6only.status();
  // A dual-stack socket gets IPv4-mapped traffic with IPv4 control messages.
  return *v6only ? absl::OkStatus() : v4();
}

}  // namespace

absl::Status SetIntOption(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) < 0)
    return ErrnoError(absl::StrCat("setsockopt(", what, ")"));
  return absl::OkStatus();
}

absl::Status ReceivePacketInfo(int fd) {
  return PerFamily(
      fd, [&] { return SetIntOption(fd, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO"); },
      [&] {
        return SetIntOption(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
      });
}

absl::Status ReceiveTimestamp(int fd) {
  return SetIntOption(fd, SOL_SOCKET, SO_TIMESTAMP, 1, "SO_TIMESTAMP");
}

absl::Status ReceiveTimestampNs(int fd) {
  return SetIntOption(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
}

absl::Status ReceiveTimestamping(int fd, TimestampingFlags flags) {
  return SetIntOption(fd, SOL_SOCKET, SO_TIMESTAMPING, static_cast<int>(flags.bits()),
                      "SO_TIMESTAMPING");
}

absl::Status ReceiveGro(int fd) {
  return SetIntOption(fd, SOL_UDP, UDP_GRO, 1, "UDP_GRO");
}

absl::Status ReceiveErrors(int fd) {
  return PerFamily(
      fd, [&] { return SetIntOption(fd, IPPROTO_IP, IP_RECVERR, 1, "IP_RECVERR"); },
      [&] { return SetIntOption(fd, IPPROTO_IPV6, IPV6_RECVERR, 1, "IPV6_RECVERR"); });
}

absl::Status ReceiveTos(int fd) {
  return PerFamily(
      fd, [&] { return SetIntOption(fd, IPPROTO_IP, IP_RECVTOS, 1, "IP_RECVTOS"); },
      [&] {
        return SetIntOption(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1, "IPV6_RECVTCLASS");
      });
}

absl::Status ReceiveTtl(int fd) {
  return PerFamily(
      fd, [&] { return SetIntOption(fd, IPPROTO_IP, IP_RECVTTL, 1, "IP_RECVTTL"); },
      [&] {
        return SetIntOption(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1,
                            "IPV6_RECVHOPLIMIT");
      });
}

absl::Status ReceiveOrigDstAddr(int fd) {
  return PerFamily(
      fd,
      [&] {
        return SetIntOption(fd, IPPROTO_IP, IP_RECVORIGDSTADDR, 1,
                            "IP_RECVORIGDSTADDR");
      },
      [&] {
        return SetIntOption(fd, IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, 1,
                            "IPV6_RECVORIGDSTADDR");
      });
}

absl::Status ReceiveCredentials(int fd) {
  return SetIntOption(fd, SOL_SOCKET, SO_PASSCRED, 1, "SO_PASSCRED");
}

absl::Status ReceiveRxqOvfl(int fd) {
  return SetIntOption(fd, SOL_SOCKET, SO_RXQ_OVFL, 1, "SO_RXQ_OVFL");
}

absl::Status ReceiveMark(int fd) {
  return SetIntOption(fd, SOL_SOCKET, SO_RCVMARK, 1, "SO_RCVMARK");
}

absl::Status ReceivePriority(int fd) {
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVPRIORITY, &on, sizeof(on)) == 0) return absl::OkStatus();
  if (errno == ENOPROTOOPT) {
    return absl::UnimplementedError(
        "setsockopt(SO_RCVPRIORITY): ENOPROTOOPT: needs Linux 6.14 or later");
  }
  return ErrnoError("setsockopt(SO_RCVPRIORITY)");
}

absl::Status ReceiveSecurity(int fd) {
  return SetIntOption(fd, SOL_SOCKET, SO_PASSSEC, 1, "SO_PASSSEC");
}

absl::Status ReceiveFragsize(int fd) {
  return PerFamily(
      fd, [&] { return SetIntOption(fd, IPPROTO_IP, IP_RECVFRAGSIZE, 1, "IP_RECVFRAGSIZE"); },
      [&] {
        return SetIntOption(fd, IPPROTO_IPV6, IPV6_RECVFRAGSIZE, 1, "IPV6_RECVFRAGSIZE");
      });
}

absl::Status ReceivePathMtu(int fd) {
  return SetIntOption(fd, IPPROTO_IPV6, IPV6_RECVPATHMTU, 1, "IPV6_RECVPATHMTU");
}

absl::Status ReceiveInq(int fd) { return SetIntOption(fd, SOL_TCP, TCP_INQ, 1, "TCP_INQ"); }

absl::Status EnableTxTime(int fd, TxTimeConfig config) {
  sock_txtime txtime{};
  txtime.clockid = config.clock;
  txtime.flags = config.flags.bits();
  if (setsockopt(fd, SOL_SOCKET, SO_TXTIME, &txtime, sizeof(txtime)) < 0)
    return ErrnoError("setsockopt(SO_TXTIME)");
  return absl::OkStatus();
}

absl::Status RefuseRights(int fd) {
  int off = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof(off)) == 0)
    return absl::OkStatus();
  if (errno == ENOPROTOOPT) {
    return absl::UnimplementedError(
        "setsockopt(SO_PASSRIGHTS): ENOPROTOOPT: this kernel cannot refuse "
        "SCM_RIGHTS (needs Linux 6.16 or later)");
  }
  return ErrnoError("setsockopt(SO_PASSRIGHTS)");
}

absl::Status PassPidfd(int fd) {
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &on, sizeof(on)) == 0) return absl::OkStatus();
  if (errno == ENOPROTOOPT) {
    return absl::UnimplementedError(
        "setsockopt(SO_PASSPIDFD): ENOPROTOOPT: this kernel sends no SCM_PIDFD "
        "(needs Linux 6.5 or later)");
  }
  return ErrnoError("setsockopt(SO_PASSPIDFD)");
}

absl::StatusOr<UniqueFd> PeerPidfd(int fd) {
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
    if (errno == ENOPROTOOPT) {
      return absl::UnimplementedError(
          "getsockopt(SO_PEERPIDFD): ENOPROTOOPT: needs Linux 6.5 or later");
    }
    return ErrnoError("getsockopt(SO_PEERPIDFD)");
  }
  UniqueFd owned(pidfd);  // the kernel installs it close-on-exec
  if (len != sizeof(pidfd) || !owned.ok()) {
    return absl::InternalError("getsockopt(SO_PEERPIDFD) returned no fd");
  }
  return owned;
}

absl::StatusOr<ScmCredentials> PeerCredentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return ErrnoError("getsockopt(SO_PEERCRED)");
  if (len != sizeof(cred)) return absl::InternalError("getsockopt(SO_PEERCRED): short ucred");
  return ScmCredentials{cred.pid, cred.uid, cred.gid};
}

}  // namespace cmsg
