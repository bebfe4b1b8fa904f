// UDP sockets as the relay, the echo server and the probe need them.
//
//   CMSGLIB_ASSIGN_OR_RETURN(UniqueFd fd, cmsg::udp::BindUdp(addr, {.reuse_port =
//   true})); CMSGLIB_RETURN_IF_ERROR(cmsg::udp::PrepareServerSocket(fd.get(),
//   {.gro = true})); CMSGLIB_ASSIGN_OR_RETURN(UniqueFd up,
//   cmsg::udp::ConnectUdp(upstream, {}));
#ifndef LIB_UDP_UDP_SOCKET_H_
#define LIB_UDP_UDP_SOCKET_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"

namespace cmsg::udp {

struct SocketOptions {
  bool reuse_port = false;  // SO_REUSEPORT: one socket per worker thread
  bool gro = false;         // UDP_GRO: coalesced reads (64 KiB buffers)
  // SO_RCVBUF / SO_SNDBUF when > 0 (the kernel doubles them). Beyond the
  // net.core.rmem_max / wmem_max caps with SO_*BUFFORCE where permitted
  // (CAP_NET_ADMIN), else capped by the kernel.
  int rcvbuf = 0;
  int sndbuf = 0;
  // IP_RECVTOS / IPV6_RECVTCLASS: each datagram's TOS byte or traffic class
  // as a control message. Off: turned off (a handed-over socket may have it).
  bool receive_tos = true;
};

// A non-blocking, close-on-exec UDP socket bound to `address`, prepared as
// PrepareServerSocket does. IPv6 sockets are IPV6_V6ONLY, so "0.0.0.0:P" and
// "[::]:P" bind side by side; IPv4 clients need an IPv4 address to reach.
[[nodiscard]] absl::StatusOr<UniqueFd> BindUdp(const SocketAddress& address,
                                               const SocketOptions& options);

// Turns on what a server socket needs on `fd` (bound here or handed over by
// socket activation): non-blocking, packet info for replies from the arrival
// address, and the options. Fails with a clear message if `fd` is not a UDP
// socket of AF_INET or AF_INET6.
[[nodiscard]] absl::Status PrepareServerSocket(int fd,
                                               const SocketOptions& options);

// A non-blocking, close-on-exec UDP socket connected to `peer`, with
// IP_RECVERR / IPV6_RECVERR on so ICMP errors can be read from its error queue.
[[nodiscard]] absl::StatusOr<UniqueFd> ConnectUdp(const SocketAddress& peer,
                                                  const SocketOptions& options);

// The listening sockets of each worker thread, and the addresses they serve.
struct WorkerSockets {
  std::vector<std::vector<UniqueFd>> per_worker;
  std::vector<SocketAddress> local_addresses;
};

// Binds every address of `listen` once for each of `workers` (at least 1)
// workers, with SO_REUSEPORT. A port 0 is resolved by the first bind, so every
// worker serves the same port.
[[nodiscard]] absl::StatusOr<WorkerSockets> BindWorkerSockets(
    const std::vector<SocketAddress>& listen, int workers,
    const SocketOptions& options);

// Prepares handed-over sockets (PrepareServerSocket) and deals them round
// robin to at most `workers` workers (at least 1; never more than sockets).
[[nodiscard]] absl::StatusOr<WorkerSockets> AdoptWorkerSockets(
    std::vector<UniqueFd> listeners, int workers, const SocketOptions& options);

// The largest UDP payload the path of connected socket `fd` carries without
// fragments: IP_MTU / IPV6_MTU (the route's MTU, lowered by path MTU
// discovery) less the IP and UDP headers. 0 if the kernel does not say.
// `family` is the socket's (AF_INET or AF_INET6): one getsockopt.
[[nodiscard]] size_t PathMaxPayload(int fd, int family);

// The same for a datagram of `family` leaving by interface `ifindex`, from
// the interface's MTU (SIOCGIFMTU through `fd`, any socket). 0 if unknown.
[[nodiscard]] size_t InterfaceMaxPayload(int fd, int ifindex, int family);

// How many datagrams the kernel has dropped on `fd` since it was made (a
// full receive queue, mostly): SO_MEMINFO's SK_MEMINFO_DROPS, one getsockopt.
// It wraps at 2^32. The same count SO_RXQ_OVFL attaches to datagrams, read
// when asked rather than as a control message on every datagram queued
// after a drop (a cost paid exactly when the socket is overloaded).
[[nodiscard]] absl::StatusOr<uint32_t> ReceiveQueueDrops(int fd);

// Whether this kernel accepts UDP_SEGMENT (GSO) / UDP_GRO on a socket.
[[nodiscard]] bool KernelHasUdpGso();
[[nodiscard]] bool KernelHasUdpGro();

// The largest UDP payload over IPv4 (65535 - 20 - 8) and a buffer that holds
// any datagram or a GRO-coalesced read.
inline constexpr size_t kMaxUdpPayload = 65507;
inline constexpr size_t kMaxReadSize = 65536;

}  // namespace cmsg::udp

#endif  // LIB_UDP_UDP_SOCKET_H_
