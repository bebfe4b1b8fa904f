// Internal: the one table of message kinds. For each message type it says
// where the message goes on the wire (level, type), its name in errors, how
// long a received payload must be, how much room a receive buffer needs for
// it, and how a value is read from and written to a payload. Decode,
// ForEachMessage, Encode, EncodedSize and ControlBuffer all take their
// lengths from here; nothing else states a payload size. Not part of the API.
//
// The (level, type) -> receive type switch is in decode_table.h; a kind
// that is received must be added there too (kinds_test fails otherwise).
#ifndef LIB_CMSG_INTERNAL_KINDS_H_
#define LIB_CMSG_INTERNAL_KINDS_H_

#include <time.h>  // before linux/errqueue.h, which needs struct timespec

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <linux/if_alg.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "lib/cmsg/messages.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif
#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace cmsg::internal {

// How long a received payload of a kind must be.
struct LengthRule {
  enum Shape : uint8_t {
    kExact,       // exactly `size` bytes
    kWholeUnits,  // a whole number of `size`-byte units, at most max_units
    kAnyLength,   // any length (a string the kernel sizes)
  };
  Shape shape;
  size_t size = 0;
  size_t max_units = 0;

  static constexpr LengthRule Exact(size_t n) { return {kExact, n, 0}; }
  static constexpr LengthRule WholeUnits(size_t unit, size_t max) {
    return {kWholeUnits, unit, max};
  }
  static constexpr LengthRule AnyLength() { return {kAnyLength, 0, 0}; }

  // Not a whole number of units (kWholeUnits), or not the exact size.
  constexpr bool WrongSize(size_t n) const {
    switch (shape) {
      case kExact: return n != size;
      case kWholeUnits: return n % size != 0;
      case kAnyLength: return false;
    }
    return true;
  }
  // More units than the kind may carry (kWholeUnits only). Decode does not
  // apply this (the kernel never sends more); ForEachMessage does.
  constexpr bool TooMany(size_t n) const {
    return shape == kWholeUnits && n / size > max_units;
  }
};

// A string literal as a template argument: the kind's name in errors.
template <size_t N>
struct KindName {
  constexpr KindName(const char (&s)[N]) { std::copy_n(s, N, text); }
  char text[N];
};

template <typename T>
inline void Put(std::byte* out, const T& value) {
  std::memcpy(out, &value, sizeof(T));
}

// One specialization per message type, below. Members, where they apply:
//   kLevel, kType, kName       where it goes on the wire; its name in errors
//   kReceive                   LengthRule for a received payload
//   kRoom                      payload bytes a receive buffer reserves
//   kCopiedWhole               the type is laid out as its payload
//   Read(p, n) -> T            a received payload (its length checked)
//   Size(v), Write(v, out), Valid(v)   a sent payload
//   kSendSize                  Size(v) of the kinds of fixed size
template <typename T>
struct Kind;

template <int L, int K, KindName N>
struct Place {
  static constexpr int kLevel = L, kType = K;
  static constexpr const char* kName = N.text;
};

// A type laid out exactly as its kernel payload `Kernel` (the field offsets
// are checked below): copied whole both ways.
template <typename T, typename Kernel, int L, int K, KindName N>
struct WholeStruct : Place<L, K, N> {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) == sizeof(Kernel));
  static constexpr LengthRule kReceive = LengthRule::Exact(sizeof(T));
  static constexpr size_t kRoom = sizeof(T);
  static constexpr bool kCopiedWhole = true;
  static T Read(const std::byte* p, size_t) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }
  static constexpr size_t kSendSize = sizeof(T);
  static constexpr size_t Size(const T&) { return kSendSize; }
  // Copied whole, in the widths it was stored with (field-wise rebuilding
  // stalls store forwarding).
  static void Write(const T& v, std::byte* out) { Put(out, v); }
  static constexpr bool Valid(const T&) { return true; }
};

// A payload of one scalar, held in T's field `Member`. Received as
// `RecvRaw`, sent as `SendRaw` (they differ for IP_TOS).
template <typename T, int L, int K, KindName N, auto Member, typename RecvRaw,
          typename SendRaw = RecvRaw>
struct OneScalar : Place<L, K, N> {
  using Field = std::remove_cvref_t<decltype(std::declval<T&>().*Member)>;
  static constexpr LengthRule kReceive = LengthRule::Exact(sizeof(RecvRaw));
  static constexpr size_t kRoom = std::max(sizeof(RecvRaw), sizeof(SendRaw));
  static constexpr bool kCopiedWhole = false;
  static T Read(const std::byte* p, size_t) {
    RecvRaw raw;
    std::memcpy(&raw, p, sizeof(raw));
    T v{};
    v.*Member = static_cast<Field>(raw);
    return v;
  }
  static constexpr size_t kSendSize = sizeof(SendRaw);
  static constexpr size_t Size(const T&) { return kSendSize; }
  static void Write(const T& v, std::byte* out) { Put(out, static_cast<SendRaw>(v.*Member)); }
  static constexpr bool Valid(const T&) { return true; }
};

// IP(V6)_RECVERR's payload: sock_extended_err, then the offender's address
// (SO_EE_OFFENDER), always there and zeroed when unknown.
template <typename Addr>
struct RecvErrPayload {
  sock_extended_err err;
  Addr from;
};

// The types copied whole have their kernel struct's layout.
static_assert(offsetof(Ipv4PacketInfo, ifindex) == offsetof(in_pktinfo, ipi_ifindex) &&
              offsetof(Ipv4PacketInfo, spec_dst) == offsetof(in_pktinfo, ipi_spec_dst) &&
              offsetof(Ipv4PacketInfo, addr) == offsetof(in_pktinfo, ipi_addr));
static_assert(offsetof(Ipv6PacketInfo, addr) == offsetof(in6_pktinfo, ipi6_addr) &&
              offsetof(Ipv6PacketInfo, ifindex) == offsetof(in6_pktinfo, ipi6_ifindex));
static_assert(offsetof(ScmCredentials, pid) == offsetof(ucred, pid) &&
              offsetof(ScmCredentials, uid) == offsetof(ucred, uid) &&
              offsetof(ScmCredentials, gid) == offsetof(ucred, gid));
static_assert(offsetof(Ipv6PathMtu, addr) == offsetof(ip6_mtuinfo, ip6m_addr) &&
              offsetof(Ipv6PathMtu, mtu) == offsetof(ip6_mtuinfo, ip6m_mtu));
static_assert(offsetof(Ipv4RecvErr, offender_addr) ==
              offsetof(RecvErrPayload<sockaddr_in>, from));
static_assert(offsetof(Ipv6RecvErr, offender_addr) ==
              offsetof(RecvErrPayload<sockaddr_in6>, from));

// ------------------------------------------------------------ the table

// SOL_SOCKET
template <>
struct Kind<ScmRights> : Place<SOL_SOCKET, SCM_RIGHTS, "SCM_RIGHTS"> {
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
    // Unrolled: a count known at the call site (16 fds: 4 steps) leaves no
    // loop at all.
#pragma GCC unroll 4
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
// Received fds are owned by the sinks (decode_table.h), not read here.
template <>
struct Kind<ScmRightsOwned> : Place<SOL_SOCKET, SCM_RIGHTS, "SCM_RIGHTS"> {
  static constexpr LengthRule kReceive = LengthRule::WholeUnits(sizeof(int), kMaxFdsPerMessage);
};
template <>
struct Kind<ScmPidfd> : Place<SOL_SOCKET, SCM_PIDFD, "SCM_PIDFD"> {
  static constexpr LengthRule kReceive = LengthRule::Exact(sizeof(int));
  static constexpr size_t kRoom = sizeof(int);
};
template <>
struct Kind<ScmCredentials>
    : WholeStruct<ScmCredentials, ucred, SOL_SOCKET, SCM_CREDENTIALS, "SCM_CREDENTIALS"> {};
// SCM_SECURITY: the sender's security context, as long as the LSM makes it.
template <>
struct Kind<ScmSecurity> : Place<SOL_SOCKET, SCM_SECURITY, "SCM_SECURITY"> {
  static constexpr LengthRule kReceive = LengthRule::AnyLength();
  // SELinux contexts run to a few dozen bytes; more arrives cut short.
  static constexpr size_t kRoom = 256;
  static constexpr bool kCopiedWhole = false;
  static ScmSecurity Read(const std::byte* p, size_t n) {
    ScmSecurity v;
    const char* text = reinterpret_cast<const char*>(p);
    v.context.assign(text, text + n);
    return v;
  }
};
// The _OLD and _NEW forms share one layout on 64-bit Linux (decode_table.h
// maps both here).
template <>
struct Kind<ScmTimestamp>
    : WholeStruct<ScmTimestamp, timeval, SOL_SOCKET, SO_TIMESTAMP_OLD, "SCM_TIMESTAMP"> {};
template <>
struct Kind<ScmTimestampns>
    : WholeStruct<ScmTimestampns, timespec, SOL_SOCKET, SO_TIMESTAMPNS_OLD, "SCM_TIMESTAMPNS"> {};
template <>
struct Kind<ScmTimestamping>
    : WholeStruct<ScmTimestamping, scm_timestamping, SOL_SOCKET, SO_TIMESTAMPING_OLD, "SCM_TIMESTAMPING"> {};
// On send the same (level, type) carries the per-packet tsflags.
template <>
struct Kind<SoTimestamping> : OneScalar<SoTimestamping, SOL_SOCKET, SO_TIMESTAMPING_OLD,
                                        "SO_TIMESTAMPING", &SoTimestamping::flags, uint32_t> {
  static constexpr bool kHeaderAsOneStore = true;  // as AlgSetIv's, below
};
template <>
struct Kind<ScmTsOptId> : OneScalar<ScmTsOptId, SOL_SOCKET, SCM_TS_OPT_ID, "SCM_TS_OPT_ID",
                                    &ScmTsOptId::id, uint32_t> {
  static constexpr bool kHeaderAsOneStore = true;  // as AlgSetIv's, below
};
template <>
struct Kind<RxqOvfl> : OneScalar<RxqOvfl, SOL_SOCKET, SO_RXQ_OVFL, "SO_RXQ_OVFL",
                                 &RxqOvfl::dropped, uint32_t> {};
template <>
struct Kind<SoMark>
    : OneScalar<SoMark, SOL_SOCKET, SO_MARK, "SO_MARK", &SoMark::mark, uint32_t> {};
template <>
struct Kind<SoPriority> : OneScalar<SoPriority, SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY",
                                    &SoPriority::priority, uint32_t> {};
template <>
struct Kind<TxTime>
    : OneScalar<TxTime, SOL_SOCKET, SCM_TXTIME, "SCM_TXTIME", &TxTime::time_ns, uint64_t> {};

// IPPROTO_IP
template <>
struct Kind<Ipv4PacketInfo> : WholeStruct<Ipv4PacketInfo, in_pktinfo, IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO"> {};
template <>
struct Kind<Ipv4OrigDstAddr>
    : WholeStruct<Ipv4OrigDstAddr, sockaddr_in, IPPROTO_IP, IP_ORIGDSTADDR, "IP_ORIGDSTADDR"> {};
template <>
struct Kind<Ipv4RecvErr>
    : WholeStruct<Ipv4RecvErr, RecvErrPayload<sockaddr_in>, IPPROTO_IP, IP_RECVERR, "IP_RECVERR"> {
};
// IP_TOS is one byte on receive and an int on send.
template <>
struct Kind<Ipv4Tos>
    : OneScalar<Ipv4Tos, IPPROTO_IP, IP_TOS, "IP_TOS", &Ipv4Tos::tos, uint8_t, int> {
  static constexpr bool kHeaderAsOneStore = true;  // as AlgSetIv's, below
};
template <>
struct Kind<Ipv4Ttl> : OneScalar<Ipv4Ttl, IPPROTO_IP, IP_TTL, "IP_TTL", &Ipv4Ttl::ttl, int> {};
template <>
struct Kind<Ipv4RecvFragsize> : OneScalar<Ipv4RecvFragsize, IPPROTO_IP, IP_RECVFRAGSIZE,
                                          "IP_RECVFRAGSIZE", &Ipv4RecvFragsize::size, int> {};

// IPPROTO_IPV6
template <>
struct Kind<Ipv6PacketInfo>
    : WholeStruct<Ipv6PacketInfo, in6_pktinfo, IPPROTO_IPV6, IPV6_PKTINFO, "IPV6_PKTINFO"> {};
template <>
struct Kind<Ipv6OrigDstAddr>
    : WholeStruct<Ipv6OrigDstAddr, sockaddr_in6, IPPROTO_IPV6, IPV6_ORIGDSTADDR, "IPV6_ORIGDSTADDR"> {};
template <>
struct Kind<Ipv6RecvErr>
    : WholeStruct<Ipv6RecvErr, RecvErrPayload<sockaddr_in6>, IPPROTO_IPV6, IPV6_RECVERR,
                  "IPV6_RECVERR"> {};
template <>
struct Kind<Ipv6TClass>
    : OneScalar<Ipv6TClass, IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", &Ipv6TClass::tclass, int> {
};
template <>
struct Kind<Ipv6HopLimit> : OneScalar<Ipv6HopLimit, IPPROTO_IPV6, IPV6_HOPLIMIT,
                                      "IPV6_HOPLIMIT", &Ipv6HopLimit::hop_limit, int> {};
template <>
struct Kind<Ipv6PathMtu> : WholeStruct<Ipv6PathMtu, ip6_mtuinfo, IPPROTO_IPV6, IPV6_PATHMTU, "IPV6_PATHMTU"> {};
template <>
struct Kind<Ipv6RecvFragsize> : OneScalar<Ipv6RecvFragsize, IPPROTO_IPV6, IPV6_RECVFRAGSIZE,
                                          "IPV6_RECVFRAGSIZE", &Ipv6RecvFragsize::size, int> {};
template <>
struct Kind<Ipv6DontFrag> : OneScalar<Ipv6DontFrag, IPPROTO_IPV6, IPV6_DONTFRAG,
                                      "IPV6_DONTFRAG", &Ipv6DontFrag::dont_frag, int> {};

// SOL_UDP, SOL_TCP, SOL_TLS
// Its header stays field by field: stored as one block, its typed build
// measured slower, not faster (lib/cmsg/README.md, 2026-12-03).
template <>
struct Kind<UdpGsoSegments> : OneScalar<UdpGsoSegments, SOL_UDP, UDP_SEGMENT, "UDP_SEGMENT",
                                        &UdpGsoSegments::segment_size, uint16_t> {};
template <>
struct Kind<UdpGroSegments> : OneScalar<UdpGroSegments, SOL_UDP, UDP_GRO, "UDP_GRO",
                                        &UdpGroSegments::segment_size, int> {};
template <>
struct Kind<TcpInq>
    : OneScalar<TcpInq, SOL_TCP, TCP_CM_INQ, "TCP_CM_INQ", &TcpInq::bytes, int> {};
template <>
struct Kind<TlsGetRecordType>
    : OneScalar<TlsGetRecordType, SOL_TLS, TLS_GET_RECORD_TYPE, "TLS_GET_RECORD_TYPE",
                &TlsGetRecordType::record_type, uint8_t> {};

// SOL_ALG
template <>
struct Kind<AlgSetOp>
    : OneScalar<AlgSetOp, SOL_ALG, ALG_SET_OP, "ALG_SET_OP", &AlgSetOp::op, uint32_t> {};
template <>
struct Kind<AlgSetAeadAssoclen>
    : OneScalar<AlgSetAeadAssoclen, SOL_ALG, ALG_SET_AEAD_ASSOCLEN, "ALG_SET_AEAD_ASSOCLEN",
                &AlgSetAeadAssoclen::assoclen, uint32_t> {};
// struct af_alg_iv: a u32 length, then the IV bytes.
template <>
struct Kind<AlgSetIv> : Place<SOL_ALG, ALG_SET_IV, "ALG_SET_IV"> {
  static constexpr size_t kMaxIv = 0xffff;
  // Read by nothing but the kernel, a system call after it is written: its
  // header may go as one 16-byte store (WriteHeader in wire.h).
  static constexpr bool kHeaderAsOneStore = true;
  static size_t Size(const AlgSetIv& v) { return sizeof(uint32_t) + v.iv.size(); }
  static void Write(const AlgSetIv& v, std::byte* out) {
    Put(out, static_cast<uint32_t>(v.iv.size()));
    if (!v.iv.empty()) std::memcpy(out + sizeof(uint32_t), v.iv.data(), v.iv.size());
  }
  static bool Valid(const AlgSetIv& v) { return v.iv.size() <= kMaxIv; }
};

// Payload bytes a receive buffer reserves for T: the table's room for a
// message type, or a sizing tag's own kPayloadSize (Fds<N>, IvBytes<N>).
template <typename T>
constexpr size_t RoomFor() {
  if constexpr (requires { T::kPayloadSize; }) {
    return T::kPayloadSize;
  } else {
    return Kind<T>::kRoom;
  }
}

}  // namespace cmsg::internal

#endif  // LIB_CMSG_INTERNAL_KINDS_H_
