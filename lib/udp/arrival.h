// Where a datagram arrived (local address and interface, from IP_PKTINFO /
// IPV6_PKTINFO), and the control message that sends a reply from there.
//
//   std::optional<udp::Arrival> at = cmsg::udp::Arrival::Of(received);
//   cmsg::ControlMessage from = at->ReplyFrom();   // source = where it came in
//   batch.Add(reply, &received.peer, {from});
#ifndef LIB_UDP_ARRIVAL_H_
#define LIB_UDP_ARRIVAL_H_

#include <netinet/in.h>

#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "lib/cmsg/messages.h"
#include "lib/cmsg/socket_io.h"
#include "lib/net/socket_address.h"

namespace cmsg::udp {

// Which interface a reply leaves by. kRoute: the routing table's choice (a
// client reached through a router on another link still gets its reply);
// kArrival: the interface the request came in on, even where the routing
// table disagrees (the kernel then treats the client as on that link).
enum class ReplyInterface { kRoute, kArrival };

class Arrival {
 public:
  // From the packet-info message of `m`; nullopt if it carries none. On a
  // dual-stack socket an IPv4 datagram carries both; IPv4's wins, since a
  // reply to an IPv4 client leaves by the IPv4 stack.
  static std::optional<Arrival> Of(const cmsg::ReceivedMessage& m);

  static Arrival Ipv4(in_addr local, int ifindex);
  static Arrival Ipv6(const in6_addr& local, unsigned int ifindex);

  // The message that makes the kernel send from this address: ipi_spec_dst
  // (never ipi_addr), or ipi6_addr. With `interface` kArrival it also forces
  // the arrival interface (ipi_ifindex / ipi6_ifindex); with kRoute the
  // routing table picks it, as dnsmasq and unbound let it (ifindex 0), except
  // for an IPv6 link-local address, which means nothing without its link.
  [[nodiscard]] cmsg::ControlMessage ReplyFrom(
      ReplyInterface interface = ReplyInterface::kRoute) const;

  [[nodiscard]] bool is_ipv4() const { return ipv4_; }
  [[nodiscard]] int ifindex() const { return ifindex_; }
  // The local address with `port`.
  [[nodiscard]] SocketAddress ToSocketAddress(uint16_t port) const;
  // "127.0.0.2%1" style, for logs and errors.
  [[nodiscard]] std::string ToString() const;

  // Same local address (the interface is not part of the identity: a client
  // whose route moves keeps its session).
  friend bool operator==(const Arrival& a, const Arrival& b) {
    return a.ipv4_ == b.ipv4_ &&
           std::memcmp(&a.address_, &b.address_, sizeof(a.address_)) == 0;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Arrival& a) {
    return H::combine(H::combine_contiguous(
                          std::move(h),
                          reinterpret_cast<const unsigned char*>(&a.address_),
                          sizeof(a.address_)),
                      a.ipv4_);
  }

 private:
  bool ipv4_ = true;
  in6_addr address_{};  // IPv4 in the first four bytes, the rest zero
  int ifindex_ = 0;
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_ARRIVAL_H_
