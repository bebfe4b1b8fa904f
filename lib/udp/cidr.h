// IPv4 and IPv6 prefixes ("10.0.0.0/8", "fd00::/8", "192.0.2.7" = /32) and
// allow/deny lists of them, for the relay's access control.
//
//   CMSGLIB_ASSIGN_OR_RETURN(cmsg::udp::CidrList deny, cmsg::udp::CidrList::Parse("10.0.0.0/8"));
//   if (deny.Contains(client)) drop;
#ifndef LIB_UDP_CIDR_H_
#define LIB_UDP_CIDR_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/net/socket_address.h"

namespace cmsg::udp {

struct Cidr {
  bool ipv4 = true;
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4
  int length = 0;                   // prefix length in bits

  // "a.b.c.d[/n]" or "x::y[/n]". Host bits must be zero ("10.0.0.1/8" is
  // refused: it is more likely a typo than meant).
  static absl::StatusOr<Cidr> Parse(absl::string_view text);
  // Whether `address` (IPv4-mapped IPv6 counts as IPv4) is in the prefix.
  [[nodiscard]] bool Contains(const SocketAddress& address) const;
};

class CidrList {
 public:
  // Comma-separated prefixes; "" is the empty list.
  static absl::StatusOr<CidrList> Parse(absl::string_view text);
  [[nodiscard]] bool Contains(const SocketAddress& address) const;
  [[nodiscard]] bool empty() const { return cidrs_.empty(); }

 private:
  std::vector<Cidr> cidrs_;
};

// The address bytes of `address` (IPv4-mapped IPv6 as IPv4) and whether it
// is IPv4; false if it is neither family.
bool AddressBytes(const SocketAddress& address, std::array<uint8_t, 16>& bytes,
                  bool& ipv4);

}  // namespace cmsg::udp

#endif  // LIB_UDP_CIDR_H_
