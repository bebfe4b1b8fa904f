// Internal: where each sendable message goes on the wire (level, type,
// payload size) and how its payload is written. Header-only so Encode can be
// inlined and, for messages known at compile time, fold to a few stores.
// Not part of the API: use Encode / SendMsg.
#ifndef LIB_CMSG_INTERNAL_WIRE_H_
#define LIB_CMSG_INTERNAL_WIRE_H_

#include <linux/if_alg.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <variant>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "lib/cmsg/messages.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

namespace cmsg::wire {

template <typename T>
inline void Put(std::byte* out, const T& value) {
  std::memcpy(out, &value, sizeof(T));
}

// These value types are laid out exactly as the kernel's structs, so both
// directions copy them whole.
static_assert(sizeof(Ipv4PacketInfo) == sizeof(in_pktinfo) &&
              offsetof(Ipv4PacketInfo, ifindex) == offsetof(in_pktinfo, ipi_ifindex) &&
              offsetof(Ipv4PacketInfo, spec_dst) == offsetof(in_pktinfo, ipi_spec_dst) &&
              offsetof(Ipv4PacketInfo, addr) == offsetof(in_pktinfo, ipi_addr));
static_assert(sizeof(Ipv6PacketInfo) == sizeof(in6_pktinfo) &&
              offsetof(Ipv6PacketInfo, addr) == offsetof(in6_pktinfo, ipi6_addr) &&
              offsetof(Ipv6PacketInfo, ifindex) == offsetof(in6_pktinfo, ipi6_ifindex));
static_assert(sizeof(ScmCredentials) == sizeof(ucred) &&
              offsetof(ScmCredentials, pid) == offsetof(ucred, pid) &&
              offsetof(ScmCredentials, uid) == offsetof(ucred, uid) &&
              offsetof(ScmCredentials, gid) == offsetof(ucred, gid));

// Traits per sendable type: kLevel, kType, Size(v), Write(v, out), Valid(v).
template <typename T>
struct Wire;

// Fixed-size payloads default to always valid.
struct FixedValid {
  template <typename T>
  static constexpr bool Valid(const T&) { return true; }
};

template <>
struct Wire<ScmRights> {
  static constexpr int kLevel = SOL_SOCKET, kType = SCM_RIGHTS;
  static size_t Size(const ScmRights& v) { return v.fds.size() * sizeof(int); }
  // A memcpy of a runtime size is a library call, which costs more than
  // the copy for one to three fds (and less than a loop for more: measured).
  static void Write(const ScmRights& v, std::byte* out) {
    const int* fds = v.fds.data();
    const size_t n = v.fds.size();
    if (n < 4) {
      for (size_t i = 0; i < n; ++i) std::memcpy(out + i * sizeof(int), fds + i, sizeof(int));
    } else {
      std::memcpy(out, fds, n * sizeof(int));
    }
  }
  static bool Valid(const ScmRights& v) {
    if (v.fds.size() > kMaxFdsPerMessage) return false;
    // No fd negative: OR the sign bits together, four fds per step (a
    // running minimum is a serial compare-and-move chain, slower than the
    // raw macros' whole build).
    uint64_t bits = 0;
    const int* fds = v.fds.data();
    size_t i = 0;
    for (; i + 4 <= v.fds.size(); i += 4) {
      uint64_t four[2];
      std::memcpy(four, fds + i, sizeof(four));
      bits |= four[0] | four[1];
    }
    for (; i + 2 <= v.fds.size(); i += 2) {
      uint64_t two;
      std::memcpy(&two, fds + i, sizeof(two));
      bits |= two;
    }
    if (i < v.fds.size()) bits |= static_cast<uint32_t>(fds[i]);
    return (bits & 0x8000000080000000u) == 0;
  }
};

template <>
struct Wire<ScmCredentials> : FixedValid {
  static constexpr int kLevel = SOL_SOCKET, kType = SCM_CREDENTIALS;
  static constexpr size_t Size(const ScmCredentials&) { return sizeof(ucred); }
  // Laid out as struct ucred (checked below): copied whole, in the widths
  // it was stored with (field-wise rebuilding stalls store forwarding).
  static void Write(const ScmCredentials& v, std::byte* out) { Put(out, v); }
};

template <>
struct Wire<Ipv4PacketInfo> : FixedValid {
  static constexpr int kLevel = IPPROTO_IP, kType = IP_PKTINFO;
  static constexpr size_t Size(const Ipv4PacketInfo&) { return sizeof(in_pktinfo); }
  static void Write(const Ipv4PacketInfo& v, std::byte* out) { Put(out, v); }
};

template <>
struct Wire<Ipv6PacketInfo> : FixedValid {
  static constexpr int kLevel = IPPROTO_IPV6, kType = IPV6_PKTINFO;
  static constexpr size_t Size(const Ipv6PacketInfo&) { return sizeof(in6_pktinfo); }
  static void Write(const Ipv6PacketInfo& v, std::byte* out) { Put(out, v); }
};

// The many messages whose payload is one scalar.
template <typename T, int L, int K, typename Raw, auto Member>
struct ScalarWire : FixedValid {
  static constexpr int kLevel = L, kType = K;
  static constexpr size_t Size(const T&) { return sizeof(Raw); }
  static void Write(const T& v, std::byte* out) { Put(out, static_cast<Raw>(v.*Member)); }
};

template <>
struct Wire<UdpGsoSegments>
    : ScalarWire<UdpGsoSegments, SOL_UDP, UDP_SEGMENT, uint16_t,
                 &UdpGsoSegments::segment_size> {};
// IP_TOS is an int on send (one byte on receive).
template <>
struct Wire<Ipv4Tos> : ScalarWire<Ipv4Tos, IPPROTO_IP, IP_TOS, int, &Ipv4Tos::tos> {};
template <>
struct Wire<Ipv6TClass>
    : ScalarWire<Ipv6TClass, IPPROTO_IPV6, IPV6_TCLASS, int, &Ipv6TClass::tclass> {};
template <>
struct Wire<Ipv4Ttl> : ScalarWire<Ipv4Ttl, IPPROTO_IP, IP_TTL, int, &Ipv4Ttl::ttl> {};
template <>
struct Wire<Ipv6HopLimit> : ScalarWire<Ipv6HopLimit, IPPROTO_IPV6, IPV6_HOPLIMIT,
                                       int, &Ipv6HopLimit::hop_limit> {};
template <>
struct Wire<TxTime>
    : ScalarWire<TxTime, SOL_SOCKET, SCM_TXTIME, uint64_t, &TxTime::time_ns> {};
template <>
struct Wire<RxqOvfl>
    : ScalarWire<RxqOvfl, SOL_SOCKET, SO_RXQ_OVFL, uint32_t, &RxqOvfl::dropped> {};
template <>
struct Wire<AlgSetOp>
    : ScalarWire<AlgSetOp, SOL_ALG, ALG_SET_OP, uint32_t, &AlgSetOp::op> {};
template <>
struct Wire<AlgSetAeadAssoclen>
    : ScalarWire<AlgSetAeadAssoclen, SOL_ALG, ALG_SET_AEAD_ASSOCLEN, uint32_t,
                 &AlgSetAeadAssoclen::assoclen> {};

// struct af_alg_iv: a u32 length, then the IV bytes.
template <>
struct Wire<AlgSetIv> {
  static constexpr int kLevel = SOL_ALG, kType = ALG_SET_IV;
  static size_t Size(const AlgSetIv& v) { return sizeof(uint32_t) + v.iv.size(); }
  static void Write(const AlgSetIv& v, std::byte* out) {
    Put(out, static_cast<uint32_t>(v.iv.size()));
    if (!v.iv.empty()) std::memcpy(out + sizeof(uint32_t), v.iv.data(), v.iv.size());
  }
  static bool Valid(const AlgSetIv& v) { return v.iv.size() <= 0xffff; }
};

// Writes one message (header, payload, zeroed padding) at `out`, which has
// room for CMSG_SPACE of its payload; returns that space.
template <typename T>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline size_t WriteMessage(const T& v, std::byte* out) {
  using W = Wire<T>;
  const size_t n = W::Size(v);
  // Field by field, in the widths the parser reads them with: a header
  // built on the stack and copied as one 16-byte block stalls store
  // forwarding when the payload size is not a constant.
  Put(out + offsetof(cmsghdr, cmsg_len), static_cast<decltype(cmsghdr::cmsg_len)>(CMSG_LEN(n)));
  Put(out + offsetof(cmsghdr, cmsg_level), static_cast<int>(W::kLevel));
  Put(out + offsetof(cmsghdr, cmsg_type), static_cast<int>(W::kType));
  // Zero the padding so no stale bytes reach the kernel. The padding is
  // under 8 bytes: zeroing the message's last 8 (before the payload is
  // written over them) is one store instead of a memset of a runtime size.
  static_assert(CMSG_SPACE(1) - CMSG_LEN(1) < 8 && CMSG_LEN(0) >= 8);
  if (CMSG_SPACE(n) != CMSG_LEN(n)) Put(out + CMSG_SPACE(n) - 8, uint64_t{0});
  W::Write(v, out + CMSG_LEN(0));
  return CMSG_SPACE(n);
}

// Calls f(alternative) for the message's active alternative. An if-chain on
// index() rather than std::visit: with the index known at the call site the
// compiler folds it away (libstdc++'s visit goes through a function table
// for variants this large).
template <typename F, size_t... I>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline auto DispatchImpl(const ControlMessage& m, F&& f, std::index_sequence<I...>) {
  using R = decltype(f(std::get<0>(m)));
  R result{};
  (void)((m.index() == I ? (result = f(*std::get_if<I>(&m)), true) : false) || ...);
  return result;
}
template <typename F>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline auto Dispatch(const ControlMessage& m, F&& f) {
  return DispatchImpl(m, std::forward<F>(f),
                      std::make_index_sequence<std::variant_size_v<ControlMessage>>());
}

}  // namespace cmsg::wire

namespace cmsg::internal {
// The errors Encode returns, built out of line (they are the cold path).
[[nodiscard]] absl::Status InvalidMessageError(absl::Span<const ControlMessage> messages);
[[nodiscard]] absl::Status BufferTooSmallError(size_t messages, size_t need, size_t have);
}  // namespace cmsg::internal

#endif  // LIB_CMSG_INTERNAL_WIRE_H_
