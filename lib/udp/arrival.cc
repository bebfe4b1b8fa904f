#include "lib/udp/arrival.h"

#include <variant>

#include "absl/strings/str_cat.h"
#include "lib/net/socket_address.h"

namespace cmsg::udp {

std::optional<Arrival> Arrival::Of(const cmsg::ReceivedMessage& m) {
  if (const auto* v4 = m.Find<cmsg::Ipv4PacketInfo>()) {
    return Ipv4(v4->spec_dst, v4->ifindex);
  }
  if (const auto* v6 = m.Find<cmsg::Ipv6PacketInfo>()) {
    return Ipv6(v6->addr, v6->ifindex);
  }
  return std::nullopt;
}

Arrival Arrival::Ipv4(in_addr local, int ifindex) {
  Arrival a;
  a.ipv4_ = true;
  std::memcpy(&a.address_, &local, sizeof(local));
  a.ifindex_ = ifindex;
  return a;
}

Arrival Arrival::Ipv6(const in6_addr& local, unsigned int ifindex) {
  Arrival a;
  a.ipv4_ = false;
  a.address_ = local;
  a.ifindex_ = static_cast<int>(ifindex);
  return a;
}

cmsg::ControlMessage Arrival::ReplyFrom(ReplyInterface interface) const {
  bool force = interface == ReplyInterface::kArrival;
  if (ipv4_) {
    cmsg::Ipv4PacketInfo info;
    info.ifindex = force ? ifindex_ : 0;
    std::memcpy(&info.spec_dst, &address_, sizeof(info.spec_dst));
    return info;  // info.addr stays 0.0.0.0: the kernel ignores it on send
  }
  cmsg::Ipv6PacketInfo info;
  info.addr = address_;
  bool link_local = IN6_IS_ADDR_LINKLOCAL(&address_) || IN6_IS_ADDR_MC_LINKLOCAL(&address_);
  info.ifindex = force || link_local ? static_cast<unsigned int>(ifindex_) : 0;
  return info;
}

std::string Arrival::ToString() const {
  if (ipv4_) {
    in_addr v4;
    std::memcpy(&v4, &address_, sizeof(v4));
    return absl::StrCat(cmsg::AddressToString(v4), "%", ifindex_);
  }
  return absl::StrCat(cmsg::AddressToString(address_), "%", ifindex_);
}

}  // namespace cmsg::udp

namespace cmsg::udp {

SocketAddress Arrival::ToSocketAddress(uint16_t port) const {
  if (ipv4_) {
    in_addr v4;
    std::memcpy(&v4, &address_, sizeof(v4));
    return SocketAddress::Ipv4(v4, port);
  }
  return SocketAddress::Ipv6(address_, port);
}

}  // namespace cmsg::udp
