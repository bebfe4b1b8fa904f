#include "lib/udp/udp_socket.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <linux/sock_diag.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "lib/cmsg/sockopts.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace cmsg::udp {
namespace {

absl::Status SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ErrnoError("fcntl(F_GETFL)");
  if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return ErrnoError("fcntl(F_SETFL)");
  return absl::OkStatus();
}

struct Option {
  int name;
  const char* what;  // for the error
};

// Sets an IPv4 receive option and, on an IPv6 socket, its IPv6 twin first.
// The caller knows the family, so nothing asks the socket for it (a
// getsockopt fewer per option on every new session). The IPv4 option on an
// IPv6 socket covers the IPv4 clients of a dual-stack socket; on an
// IPv6-only socket it does nothing, and its failure is ignored.
absl::Status SetForFamily(int fd, int family, Option v4, Option v6, int value) {
  if (family != AF_INET6) return SetIntOption(fd, IPPROTO_IP, v4.name, value, v4.what);
  CMSGLIB_RETURN_IF_ERROR(SetIntOption(fd, IPPROTO_IPV6, v6.name, value, v6.what));
  (void)setsockopt(fd, IPPROTO_IP, v4.name, &value, sizeof(value));
  return absl::OkStatus();
}

absl::Status SetReceiveTos(int fd, int family, bool on) {
  return SetForFamily(fd, family, {IP_RECVTOS, "IP_RECVTOS"},
                      {IPV6_RECVTCLASS, "IPV6_RECVTCLASS"}, on ? 1 : 0);
}

absl::Status SetReceiveErrors(int fd, int family) {
  return SetForFamily(fd, family, {IP_RECVERR, "IP_RECVERR"}, {IPV6_RECVERR, "IPV6_RECVERR"},
                      1);
}

absl::Status ApplyOptions(int fd, const SocketOptions& options) {
  if (options.gro) CMSGLIB_RETURN_IF_ERROR(ReceiveGro(fd));
  auto set_buffer = [fd](int force, int plain, int bytes,
                         const char* name) -> absl::Status {
    if (bytes <= 0) return absl::OkStatus();
    if (setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof(bytes)) == 0)
      return absl::OkStatus();
    return SetIntOption(fd, SOL_SOCKET, plain, bytes, name);
  };
  CMSGLIB_RETURN_IF_ERROR(
      set_buffer(SO_RCVBUFFORCE, SO_RCVBUF, options.rcvbuf, "SO_RCVBUF"));
  CMSGLIB_RETURN_IF_ERROR(
      set_buffer(SO_SNDBUFFORCE, SO_SNDBUF, options.sndbuf, "SO_SNDBUF"));
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> NewUdpSocket(sa_family_t family) {
  UniqueFd fd(
      socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_UDP));
  if (!fd.ok()) return ErrnoError("socket(SOCK_DGRAM)");
  return fd;
}

bool Accepts(int level, int name, int value) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd.ok()) return false;
  return setsockopt(fd.get(), level, name, &value, sizeof(value)) == 0;
}

}  // namespace

absl::StatusOr<UniqueFd> BindUdp(const SocketAddress& address,
                                 const SocketOptions& options) {
  if (address.family() != AF_INET && address.family() != AF_INET6) {
    return absl::InvalidArgumentError(
        absl::StrCat(address.ToString(), " is not an IPv4 or IPv6 address"));
  }
  CMSGLIB_ASSIGN_OR_RETURN(UniqueFd fd, NewUdpSocket(address.family()));
  if (address.family() == AF_INET6) {
    // "[::]:P" next to "0.0.0.0:P" must not collide: IPv6 only. The relay
    // gets IPv4 clients through the IPv4 socket in that case.
    CMSGLIB_RETURN_IF_ERROR(
        SetIntOption(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY"));
  }
  if (options.reuse_port) {
    CMSGLIB_RETURN_IF_ERROR(
        SetIntOption(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT"));
  }
  if (bind(fd.get(), address.addr(), address.size()) < 0) {
    return ErrnoError(absl::StrCat("bind(", address.ToString(), ")"));
  }
  CMSGLIB_RETURN_IF_ERROR(PrepareServerSocket(fd.get(), options));
  return fd;
}

absl::Status PrepareServerSocket(int fd, const SocketOptions& options) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
    if (errno == ENOTSOCK) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fd ", fd, " is not a UDP socket (not a socket at all)"));
    }
    return ErrnoError(absl::StrCat("getsockopt(fd ", fd, ", SO_TYPE)"));
  }
  int domain = 0;
  len = sizeof(domain);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
    return ErrnoError(absl::StrCat("getsockopt(fd ", fd, ", SO_DOMAIN)"));
  }
  if (type != SOCK_DGRAM || (domain != AF_INET && domain != AF_INET6)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fd ", fd, " is not a UDP socket (IPv4 or IPv6)"));
  }
  CMSGLIB_RETURN_IF_ERROR(SetNonBlocking(fd));
  CMSGLIB_RETURN_IF_ERROR(ReceivePacketInfo(fd));
  CMSGLIB_RETURN_IF_ERROR(SetReceiveTos(fd, domain, options.receive_tos));
  // Drops are read with SO_MEMINFO when wanted (ReceiveQueueDrops), not
  // attached to every datagram; a socket handed over may have it on.
  int zero = 0;
  (void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &zero, sizeof(zero));
  return ApplyOptions(fd, options);
}

absl::StatusOr<UniqueFd> ConnectUdp(const SocketAddress& peer,
                                    const SocketOptions& options) {
  CMSGLIB_ASSIGN_OR_RETURN(UniqueFd fd, NewUdpSocket(peer.family()));
  CMSGLIB_RETURN_IF_ERROR(SetReceiveErrors(fd.get(), peer.family()));
  CMSGLIB_RETURN_IF_ERROR(SetReceiveTos(fd.get(), peer.family(), options.receive_tos));
  CMSGLIB_RETURN_IF_ERROR(ApplyOptions(fd.get(), options));
  if (connect(fd.get(), peer.addr(), peer.size()) < 0) {
    return ErrnoError(absl::StrCat("connect(", peer.ToString(), ")"));
  }
  return fd;
}

namespace {

size_t PayloadOf(int mtu, int family) {
  int headers = (family == AF_INET6 ? 40 : 20) + 8;
  return mtu > headers ? static_cast<size_t>(mtu - headers) : 0;
}

}  // namespace

size_t PathMaxPayload(int fd, int family) {
  int mtu = 0;
  socklen_t len = sizeof(mtu);
  int rc = family == AF_INET6
               ? getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &len)
               : getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &len);
  return rc == 0 ? PayloadOf(mtu, family) : 0;
}

size_t InterfaceMaxPayload(int fd, int ifindex, int family) {
  ifreq req{};
  req.ifr_ifindex = ifindex;
  if (ifindex <= 0 || ioctl(fd, SIOCGIFNAME, &req) < 0) return 0;
  if (ioctl(fd, SIOCGIFMTU, &req) < 0) return 0;
  return PayloadOf(req.ifr_mtu, family);
}

absl::StatusOr<uint32_t> ReceiveQueueDrops(int fd) {
  uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof(meminfo);
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, &len) < 0)
    return ErrnoError("getsockopt(SO_MEMINFO)");
  if (len <= SK_MEMINFO_DROPS * sizeof(uint32_t))
    return absl::UnimplementedError("SO_MEMINFO without a drop count");
  return meminfo[SK_MEMINFO_DROPS];
}

bool KernelHasUdpGso() { return Accepts(SOL_UDP, UDP_SEGMENT, 1200); }
bool KernelHasUdpGro() { return Accepts(SOL_UDP, UDP_GRO, 1); }

absl::StatusOr<WorkerSockets> BindWorkerSockets(
    const std::vector<SocketAddress>& listen, int workers,
    const SocketOptions& options) {
  if (listen.empty())
    return absl::InvalidArgumentError("no address to listen on");
  WorkerSockets out;
  out.per_worker.resize(std::max(workers, 1));
  std::vector<SocketAddress> addresses = listen;
  SocketOptions shared = options;
  shared.reuse_port = true;
  for (size_t w = 0; w < out.per_worker.size(); ++w) {
    for (SocketAddress& address : addresses) {
      CMSGLIB_ASSIGN_OR_RETURN(UniqueFd fd, BindUdp(address, shared));
      if (w == 0) {
        // Port 0 becomes the port the kernel chose, for every worker.
        CMSGLIB_ASSIGN_OR_RETURN(address, SocketAddress::LocalOf(fd.get()));
        out.local_addresses.push_back(address);
      }
      out.per_worker[w].push_back(std::move(fd));
    }
  }
  return out;
}

absl::StatusOr<WorkerSockets> AdoptWorkerSockets(
    std::vector<UniqueFd> listeners, int workers,
    const SocketOptions& options) {
  if (listeners.empty())
    return absl::InvalidArgumentError("no socket to serve");
  WorkerSockets out;
  out.per_worker.resize(std::clamp<size_t>(workers, 1, listeners.size()));
  for (size_t i = 0; i < listeners.size(); ++i) {
    CMSGLIB_RETURN_IF_ERROR(PrepareServerSocket(listeners[i].get(), options));
    CMSGLIB_ASSIGN_OR_RETURN(SocketAddress local,
                          SocketAddress::LocalOf(listeners[i].get()));
    out.local_addresses.push_back(local);
    out.per_worker[i % out.per_worker.size()].push_back(
        std::move(listeners[i]));
  }
  return out;
}

}  // namespace cmsg::udp
