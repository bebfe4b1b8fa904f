#include "lib/udp/loop_guard.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lib/fd/unique_fd.h"

namespace cmsg::udp {
namespace {

// `a` as IPv4 if it is IPv4 or IPv4-mapped IPv6; unchanged otherwise.
SocketAddress Unmapped(const SocketAddress& a) {
  if (a.family() == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.ipv6().sin6_addr)) {
    in_addr v4;
    std::memcpy(&v4, &a.ipv6().sin6_addr.s6_addr[12], sizeof(v4));
    return SocketAddress::Ipv4(v4, a.port());
  }
  return a;
}

}  // namespace

bool SameEndpoint(const SocketAddress& a, const SocketAddress& b) {
  SocketAddress x = Unmapped(a), y = Unmapped(b);
  if (x.family() != y.family() || x.port() != y.port()) return false;
  if (x.family() == AF_INET)
    return x.ipv4().sin_addr.s_addr == y.ipv4().sin_addr.s_addr;
  if (x.family() == AF_INET6)
    return IN6_ARE_ADDR_EQUAL(&x.ipv6().sin6_addr, &y.ipv6().sin6_addr);
  return false;
}

bool IsLocalAddress(const SocketAddress& address) {
  SocketAddress a = Unmapped(address);
  if (a.is_wildcard()) return true;
  // When it cannot tell (no fd left for the scratch socket, say), it says
  // local: both callers guard against loops, and a loop is the worse error.
  UniqueFd fd(socket(a.family(), SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd.ok()) return true;
  a.set_port(0);
  // Port 0 without this takes an ephemeral port, and fails (EADDRINUSE)
  // for a local address when none is left: a relay out of ports would
  // take its own address for a stranger's.
  int one = 1;
  (void)setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  // IPV6_FREEBIND-free bind: succeeds only for an address of this host;
  // EADDRNOTAVAIL (and EINVAL, a link-local address without its interface)
  // is the kernel saying it is not one.
  if (bind(fd.get(), a.addr(), a.size()) == 0) return true;
  return errno != EADDRNOTAVAIL && errno != EINVAL;
}

bool IsOwnListeningSource(const SocketAddress& peer,
                          const std::vector<SocketAddress>& listening) {
  bool own_port = false;
  for (const SocketAddress& l : listening) {
    if (l.port() != peer.port()) continue;
    // A listening address of its own (a handed-over socket may be bound
    // outside this network namespace, where IsLocalAddress cannot see it).
    if (SameEndpoint(peer, l)) return true;
    own_port = true;
  }
  // Any address of this host: a wildcard listener answers from each, and
  // another listening socket may be bound to it. IPv4 drops such a source
  // arriving from the wire (a martian), but IPv6 does not, and a raw socket
  // on this host forges anything. The kernel's bind() is the exact test
  // (an address list read once would miss one added later); it assumes
  // net.ipv4.ip_nonlocal_bind / net.ipv6.ip_nonlocal_bind are off, with
  // which every address passes and every datagram from a listening port
  // is dropped: the safe side.
  return own_port && IsLocalAddress(peer);
}

absl::Status CheckUpstreamIsNotSelf(const std::vector<SocketAddress>& listening,
                                    const SocketAddress& upstream) {
  SocketAddress up = Unmapped(upstream);
  bool up_is_local = false, checked = false;
  for (const SocketAddress& raw : listening) {
    SocketAddress l = Unmapped(raw);
    if (l.port() != up.port()) continue;
    bool loops = SameEndpoint(l, up);
    // A wildcard listener of the upstream's family takes every local
    // address. (An IPv6 wildcard handed over without IPV6_V6ONLY takes
    // IPv4 too; that case is not caught here, only per datagram.)
    if (!loops && l.is_wildcard() && l.family() == up.family()) {
      if (!checked) {
        up_is_local = IsLocalAddress(up);
        checked = true;
      }
      loops = up_is_local;
    }
    if (loops) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--upstream=", upstream.ToString(), " is the relay's own listening address ",
          raw.ToString(), ": every datagram would loop"));
    }
  }
  return absl::OkStatus();
}

}  // namespace cmsg::udp
