// What the relay keeps of a received datagram's control messages: where it
// arrived (IP_PKTINFO / IPV6_PKTINFO), the GRO segment size of a coalesced
// read, and its TOS byte or traffic class. Filled by RecvBatch's visitor
// path, so nothing is decoded into a message list.
//
//   std::vector<udp::DatagramInfo> info(batch.capacity());
//   CMSGLIB_ASSIGN_OR_RETURN(size_t n, batch.Recv(fd, udp::CollectInfo{info}));
//   for (size_t i = 0; i < n; ++i) {
//     udp::DatagramInfo d = udp::TakeInfo(info, i);
//     if (d.at.has_value()) reply_from(*d.at);
//   }
#ifndef LIB_UDP_DATAGRAM_INFO_H_
#define LIB_UDP_DATAGRAM_INFO_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "lib/cmsg/messages.h"
#include "lib/udp/arrival.h"

namespace cmsg::udp {

struct DatagramInfo {
  // nullopt without packet info. On a dual-stack socket an IPv4 datagram
  // carries both kinds; IPv4's wins (its reply leaves by the IPv4 stack).
  std::optional<Arrival> at;
  bool at_from_ipv4 = false;
  // > 0: the read holds several datagrams of this size (the last may be
  // shorter); 0: one datagram.
  size_t gro_segment = 0;
  // IP_TOS, else IPV6_TCLASS (a dual-stack socket reports an IPv4
  // datagram's as IP_TOS); 0 if neither came.
  uint8_t tos = 0;
  bool tos_from_ipv4 = false;
};

// Datagram i's info, leaving its slot empty for the next read: every slot
// starts empty, and taking each datagram's keeps it so at the cost of the
// slots used (not the whole batch on every read).
inline DatagramInfo TakeInfo(std::vector<DatagramInfo>& info, size_t i) {
  return std::exchange(info[i], DatagramInfo{});
}

// The RecvBatch visitor that fills `info[i]` for datagram i (info holds the
// batch's capacity, all empty or taken). Other kinds are skipped (and any
// fds they carry closed).
struct CollectInfo {
  std::vector<DatagramInfo>& info;

  void operator()(size_t i, const Ipv4PacketInfo& p) const {
    info[i].at = Arrival::Ipv4(p.spec_dst, p.ifindex);
    info[i].at_from_ipv4 = true;
  }
  void operator()(size_t i, const Ipv6PacketInfo& p) const {
    if (!info[i].at_from_ipv4) info[i].at = Arrival::Ipv6(p.addr, p.ifindex);
  }
  void operator()(size_t i, const UdpGroSegments& g) const {
    info[i].gro_segment = g.segment_size > 0 ? static_cast<size_t>(g.segment_size) : 0;
  }
  void operator()(size_t i, const Ipv4Tos& t) const {
    info[i].tos = t.tos;
    info[i].tos_from_ipv4 = true;
  }
  void operator()(size_t i, const Ipv6TClass& t) const {
    if (!info[i].tos_from_ipv4) info[i].tos = static_cast<uint8_t>(t.tclass);
  }
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_DATAGRAM_INFO_H_
