// Control buffers sized at compile time from the messages they must hold.
//
//   cmsg::ControlBuffer<cmsg::Fds<16>, cmsg::ScmCredentials> control;
//   auto msg = cmsg::RecvMsg(fd, data, control.span());
//   static_assert(decltype(control)::kSize == CMSG_SPACE(64) + CMSG_SPACE(12));
#ifndef LIB_CMSG_SPACE_H_
#define LIB_CMSG_SPACE_H_

#include <sys/socket.h>

#include <cstddef>

#include "absl/types/span.h"
#include "lib/cmsg/internal/kinds.h"
#include "lib/cmsg/messages.h"

namespace cmsg {

// Room for an SCM_RIGHTS message of up to N fds.
template <size_t N>
struct Fds {
  static_assert(N >= 1 && N <= kMaxFdsPerMessage, "SCM_RIGHTS carries 1..253 fds");
  static constexpr size_t kPayloadSize = N * sizeof(int);
};

// Room for an ALG_SET_IV of up to N IV bytes.
template <size_t N>
struct IvBytes {
  static constexpr size_t kPayloadSize = sizeof(uint32_t) + N;
};

// CMSG_SPACE of one message of payload `n`, as a constant expression.
constexpr size_t Space(size_t payload) { return CMSG_SPACE(payload); }

// The bytes a control buffer needs to hold one message of each of Ts
// (message types, sized by the library's table of kinds, or the sizing
// tags above).
template <typename... Ts>
inline constexpr size_t kSpaceFor = (size_t{0} + ... + Space(internal::RoomFor<Ts>()));

// An aligned, reusable control buffer for one message of each of Ts.
template <typename... Ts>
class ControlBuffer {
 public:
  static constexpr size_t kSize = kSpaceFor<Ts...>;
  [[nodiscard]] absl::Span<std::byte> span() { return absl::MakeSpan(data_, kSize); }

 private:
  alignas(cmsghdr) std::byte data_[kSize];
};

// The control buffer for ReceivePacketInfo on any socket. On a dual-stack
// AF_INET6 socket (IPV6_V6ONLY off) an IPv4 datagram carries both
// IP_PKTINFO and IPV6_PKTINFO (the IPv4-mapped address), so a buffer for
// Ipv6PacketInfo alone is cut short (MSG_CTRUNC). Read Ipv4PacketInfo
// first: it is the one with the real IPv4 addresses.
using PacketInfoBuffer = ControlBuffer<Ipv4PacketInfo, Ipv6PacketInfo>;

}  // namespace cmsg

#endif  // LIB_CMSG_SPACE_H_
