// Internal: the one walk over a received control buffer and the one table
// from (level, type) to message type, shared by Decode (which builds a
// ControlMessages list) and ForEachMessage (which builds nothing). Header-only
// so each caller's sink is inlined into the walk. Not part of the API.
//
// A sink provides:
//   template <typename T> void Direct(payload, name);   // T laid out as payload
//   template <typename T, typename Raw> void Scalar(payload, name);
//   template <typename T, typename Addr> void RecvErr(payload, name);
//   void Rights(payload);                               // SCM_RIGHTS
//   void Pidfd(payload);                                // SCM_PIDFD
//   void Other(level, type, payload);                   // anything else
#ifndef LIB_CMSG_INTERNAL_DECODE_TABLE_H_
#define LIB_CMSG_INTERNAL_DECODE_TABLE_H_

#include <linux/errqueue.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "lib/cmsg/messages.h"

namespace cmsg::internal {

// The errors decoding returns, built out of line (they are the cold path).
[[nodiscard]] absl::Status WrongLengthError(const char* name, size_t have,
                                            size_t want);
[[nodiscard]] absl::Status BadHeaderError(const cmsghdr& h, size_t offset,
                                          size_t remaining);
[[nodiscard]] absl::Status PartialFdError(size_t payload);
[[nodiscard]] absl::Status TooManyFdsError(size_t fds);

// IP(V6)_RECVERR: sock_extended_err, then the offender's address
// (SO_EE_OFFENDER), always there and zeroed when unknown. `p` has exactly
// kPayloadSize bytes.
template <typename T, typename Addr>
T RecvErrFrom(const std::byte* p) {
  struct {
    sock_extended_err err;
    Addr from;
  } raw;
  static_assert(sizeof(raw) == T::kPayloadSize);
  std::memcpy(&raw, p, sizeof(raw));
  T e;
  e.error = raw.err;
  constexpr sa_family_t kFamily =
      sizeof(Addr) == sizeof(sockaddr_in) ? AF_INET : AF_INET6;
  sa_family_t family;
  std::memcpy(&family, &raw.from, sizeof(family));
  if (family == kFamily) e.offender = raw.from;
  return e;
}

// Hands one non-SCM_RIGHTS payload to the sink as its message type.
template <typename Sink>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void DispatchPayload(
    int level, int type, absl::Span<const std::byte> p, Sink& sink) {
  if (level == SOL_SOCKET) {
    switch (type) {
      case SCM_CREDENTIALS:
        return sink.template Direct<ScmCredentials>(p, "SCM_CREDENTIALS");
      // The _OLD and _NEW forms share one layout on 64-bit Linux.
      case SO_TIMESTAMP_OLD:
      case SO_TIMESTAMP_NEW:
        return sink.template Direct<ScmTimestamp>(p, "SCM_TIMESTAMP");
      case SO_TIMESTAMPNS_OLD:
      case SO_TIMESTAMPNS_NEW:
        return sink.template Direct<ScmTimestampns>(p, "SCM_TIMESTAMPNS");
      case SO_TIMESTAMPING_OLD:
      case SO_TIMESTAMPING_NEW:
        return sink.template Direct<ScmTimestamping>(p, "SCM_TIMESTAMPING");
      case SO_RXQ_OVFL:
        return sink.template Scalar<RxqOvfl, uint32_t>(p, "SO_RXQ_OVFL");
      case SO_MARK:
        return sink.template Scalar<SoMark, uint32_t>(p, "SO_MARK");
    }
  } else if (level == IPPROTO_IP) {
    switch (type) {
      case IP_PKTINFO:
        return sink.template Direct<Ipv4PacketInfo>(p, "IP_PKTINFO");
      case IP_TOS:
        return sink.template Scalar<Ipv4Tos, uint8_t>(p, "IP_TOS");
      case IP_TTL:
        return sink.template Scalar<Ipv4Ttl, int>(p, "IP_TTL");
      case IP_ORIGDSTADDR:
        return sink.template Direct<Ipv4OrigDstAddr>(p, "IP_ORIGDSTADDR");
      case IP_RECVERR:
        return sink.template RecvErr<Ipv4RecvErr, sockaddr_in>(p, "IP_RECVERR");
    }
  } else if (level == IPPROTO_IPV6) {
    switch (type) {
      case IPV6_PKTINFO:
        return sink.template Direct<Ipv6PacketInfo>(p, "IPV6_PKTINFO");
      case IPV6_TCLASS:
        return sink.template Scalar<Ipv6TClass, int>(p, "IPV6_TCLASS");
      case IPV6_HOPLIMIT:
        return sink.template Scalar<Ipv6HopLimit, int>(p, "IPV6_HOPLIMIT");
      case IPV6_ORIGDSTADDR:
        return sink.template Direct<Ipv6OrigDstAddr>(p, "IPV6_ORIGDSTADDR");
      case IPV6_RECVERR:
        return sink.template RecvErr<Ipv6RecvErr, sockaddr_in6>(p, "IPV6_RECVERR");
    }
  } else if (level == SOL_UDP && type == UDP_GRO) {
    return sink.template Scalar<UdpGroSegments, int>(p, "UDP_GRO");
  } else if (level == SOL_TLS && type == TLS_GET_RECORD_TYPE) {
    return sink.template Scalar<TlsGetRecordType, uint8_t>(p, "TLS_GET_RECORD_TYPE");
  }
  sink.Other(level, type, p);
}

// Hands one payload to the sink. The fd-carrying kinds go first and to
// their own sink calls, so every sink owns (or closes) their fds.
template <typename Sink>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void DispatchMessage(
    int level, int type, absl::Span<const std::byte> p, Sink& sink) {
  if (level == SOL_SOCKET && type == SCM_RIGHTS) return sink.Rights(p);
  if (ABSL_PREDICT_FALSE(level == SOL_SOCKET && type == SCM_PIDFD)) return sink.Pidfd(p);
  DispatchPayload(level, type, p, sink);
}

// Walks `buffer` message by message, handing each payload to the sink. A
// cmsg_len that cannot be walked ends the walk with an error; the sink has
// seen every message before it. The buffer need not be aligned: headers are
// copied out, never cast.
template <typename Sink>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status WalkControl(
    absl::Span<const std::byte> buffer, Sink& sink) {
  constexpr size_t kHeader = CMSG_LEN(0);  // the aligned header size
  size_t offset = 0;
  while (buffer.size() - offset >= sizeof(cmsghdr)) {
    cmsghdr h;
    std::memcpy(&h, buffer.data() + offset, sizeof(h));
    const size_t remaining = buffer.size() - offset;
    if (ABSL_PREDICT_FALSE(h.cmsg_len < kHeader || h.cmsg_len > remaining)) {
      return BadHeaderError(h, offset, remaining);  // the rest cannot be walked
    }
    // In bounds: cmsg_len was checked against what remains.
    auto payload = absl::MakeConstSpan(buffer.data() + offset + kHeader,
                                       h.cmsg_len - kHeader);
    DispatchMessage(h.cmsg_level, h.cmsg_type, payload, sink);
    const size_t step = CMSG_ALIGN(h.cmsg_len);
    if (step >= remaining) break;
    offset += step;
  }
  return absl::OkStatus();
}

}  // namespace cmsg::internal

#endif  // LIB_CMSG_INTERNAL_DECODE_TABLE_H_
