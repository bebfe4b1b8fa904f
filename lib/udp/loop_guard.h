// Loop detection ("Loop DoS": two UDP services made to answer each other
// forever). The relay refuses to start when its upstream is one of its own
// listening addresses; the relay and the echo server drop a datagram whose
// source is the upstream, or this host with one of their listening ports.
//
//   CMSGLIB_RETURN_IF_ERROR(cmsg::udp::CheckUpstreamIsNotSelf(relay->local_addresses(), up));
//   if (cmsg::udp::SameEndpoint(m.peer, upstream)) drop;
//   if (cmsg::udp::IsOwnListeningSource(m.peer, local_addresses)) drop;
#ifndef LIB_UDP_LOOP_GUARD_H_
#define LIB_UDP_LOOP_GUARD_H_

#include <vector>

#include "absl/status/status.h"
#include "lib/net/socket_address.h"

namespace cmsg::udp {

// Same IP address and port, an IPv4-mapped IPv6 address (::ffff:a.b.c.d)
// being the same as its IPv4 address. The scope id does not count.
[[nodiscard]] bool SameEndpoint(const SocketAddress& a, const SocketAddress& b);

// Whether `address` (no port) is an address of this host in the caller's
// network namespace: a wildcard, or one a socket can bind to. True also when
// it cannot tell (no fd for the scratch socket): its callers guard against
// loops, where "local" is the safe answer.
[[nodiscard]] bool IsLocalAddress(const SocketAddress& address);

// Whether a datagram from `peer` may come from this host's own UDP service
// on one of `listening` (ports resolved): its source port is one of theirs
// and its address is one of theirs or any address of this host. Answering
// it would reach our own socket, which answers again, for ever. The address
// test (IsLocalAddress: three system calls) runs only when the port matches.
[[nodiscard]] bool IsOwnListeningSource(const SocketAddress& peer,
                                        const std::vector<SocketAddress>& listening);

// FailedPrecondition if sending to `upstream` reaches one of `listening`
// (ports resolved): the same endpoint, or a wildcard listener's port on a
// local address of the matching family.
[[nodiscard]] absl::Status CheckUpstreamIsNotSelf(
    const std::vector<SocketAddress>& listening, const SocketAddress& upstream);

}  // namespace cmsg::udp

#endif  // LIB_UDP_LOOP_GUARD_H_
