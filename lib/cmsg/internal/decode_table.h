// Internal: the one walk over a received control buffer and the one map
// from (level, type) to message type, shared by Decode (which builds a
// ControlMessages list) and ForEachMessage (which builds nothing). Each
// kind's length rule and reading come from the table in kinds.h.
// Header-only so each caller's sink is inlined into the walk. Not part of
// the API.
//
// A sink provides:
//   template <typename T> void Value(payload);   // any kind with a value type
//   void Rights(payload);                        // SCM_RIGHTS
//   void Pidfd(payload);                         // SCM_PIDFD
//   void Other(level, type, payload);            // anything else
#ifndef LIB_CMSG_INTERNAL_DECODE_TABLE_H_
#define LIB_CMSG_INTERNAL_DECODE_TABLE_H_

#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "lib/cmsg/internal/kinds.h"
#include "lib/cmsg/messages.h"

namespace cmsg::internal {

// The errors decoding returns, built out of line (they are the cold path).
[[nodiscard]] absl::Status WrongLengthError(const char* name, size_t have,
                                            size_t want);
[[nodiscard]] absl::Status BadHeaderError(const cmsghdr& h, size_t offset,
                                          size_t remaining);
[[nodiscard]] absl::Status PartialFdError(size_t payload);
[[nodiscard]] absl::Status TooManyFdsError(size_t fds);

// The error for a payload of `n` bytes that T's length rule refuses.
template <typename T>
[[nodiscard]] absl::Status LengthError(size_t n) {
  constexpr LengthRule kRule = Kind<T>::kReceive;
  if constexpr (kRule.shape == LengthRule::kWholeUnits) {
    return n % kRule.size != 0 ? PartialFdError(n) : TooManyFdsError(n / kRule.size);
  } else {
    return WrongLengthError(Kind<T>::kName, n, kRule.size);
  }
}

// Hands one non-SCM_RIGHTS payload to the sink as its message type.
template <typename Sink>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void DispatchPayload(
    int level, int type, absl::Span<const std::byte> p, Sink& sink) {
  if (level == SOL_SOCKET) {
    switch (type) {
      case SCM_CREDENTIALS: return sink.template Value<ScmCredentials>(p);
      // The _OLD and _NEW forms share one layout on 64-bit Linux.
      case SO_TIMESTAMP_OLD:
      case SO_TIMESTAMP_NEW: return sink.template Value<ScmTimestamp>(p);
      case SO_TIMESTAMPNS_OLD:
      case SO_TIMESTAMPNS_NEW: return sink.template Value<ScmTimestampns>(p);
      case SO_TIMESTAMPING_OLD:
      case SO_TIMESTAMPING_NEW: return sink.template Value<ScmTimestamping>(p);
      case SO_RXQ_OVFL: return sink.template Value<RxqOvfl>(p);
      case SO_MARK: return sink.template Value<SoMark>(p);
      case SO_PRIORITY: return sink.template Value<SoPriority>(p);
      case SCM_SECURITY: return sink.template Value<ScmSecurity>(p);
    }
  } else if (level == IPPROTO_IP) {
    switch (type) {
      case IP_PKTINFO: return sink.template Value<Ipv4PacketInfo>(p);
      case IP_TOS: return sink.template Value<Ipv4Tos>(p);
      case IP_TTL: return sink.template Value<Ipv4Ttl>(p);
      case IP_ORIGDSTADDR: return sink.template Value<Ipv4OrigDstAddr>(p);
      case IP_RECVERR: return sink.template Value<Ipv4RecvErr>(p);
      case IP_RECVFRAGSIZE: return sink.template Value<Ipv4RecvFragsize>(p);
    }
  } else if (level == IPPROTO_IPV6) {
    switch (type) {
      case IPV6_PKTINFO: return sink.template Value<Ipv6PacketInfo>(p);
      case IPV6_TCLASS: return sink.template Value<Ipv6TClass>(p);
      case IPV6_HOPLIMIT: return sink.template Value<Ipv6HopLimit>(p);
      case IPV6_ORIGDSTADDR: return sink.template Value<Ipv6OrigDstAddr>(p);
      case IPV6_RECVERR: return sink.template Value<Ipv6RecvErr>(p);
      case IPV6_PATHMTU: return sink.template Value<Ipv6PathMtu>(p);
      case IPV6_RECVFRAGSIZE: return sink.template Value<Ipv6RecvFragsize>(p);
    }
  } else if (level == SOL_UDP && type == UDP_GRO) {
    return sink.template Value<UdpGroSegments>(p);
  } else if (level == SOL_TCP && type == TCP_CM_INQ) {
    return sink.template Value<TcpInq>(p);
  } else if (level == SOL_TLS && type == TLS_GET_RECORD_TYPE) {
    return sink.template Value<TlsGetRecordType>(p);
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
