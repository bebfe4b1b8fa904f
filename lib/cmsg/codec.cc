#include "lib/cmsg/codec.h"

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <linux/tls.h>
#include <netinet/udp.h>

#include <cstddef>
#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cmsg {
namespace internal {

absl::Status InvalidMessageError(absl::Span<const ControlMessage> messages) {
  for (const auto& m : messages) {
    if (const auto* rights = std::get_if<ScmRights>(&m)) {
      if (rights->fds.size() > kMaxFdsPerMessage) {
        return absl::InvalidArgumentError(
            absl::StrCat("ScmRights: ", rights->fds.size(),
                         " fds exceed the kernel's limit of ", kMaxFdsPerMessage,
                         " per message"));
      }
      for (int fd : rights->fds) {
        if (fd < 0) {
          return absl::InvalidArgumentError(absl::StrCat("ScmRights: invalid fd ", fd));
        }
      }
    }
    if (const auto* iv = std::get_if<AlgSetIv>(&m); iv && iv->iv.size() > 0xffff) {
      return absl::InvalidArgumentError("AlgSetIv: IV longer than 65535 bytes");
    }
  }
  return absl::InvalidArgumentError("invalid control message");
}

absl::Status BufferTooSmallError(size_t messages, size_t need, size_t have) {
  return absl::ResourceExhaustedError(absl::StrFormat(
      "control buffer too small: %d messages need %d bytes, have %d", messages,
      need, have));
}

}  // namespace internal

namespace {

// Decoder::Direct relies on the layout checks in wire.h.

// Decoding errors, out of line: the common path never builds a string.
[[gnu::cold, gnu::noinline]] absl::Status WrongLength(const char* name,
                                                      size_t have, size_t want) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "malformed %s control message: payload of %d bytes, want %d", name, have,
      want));
}

[[gnu::cold, gnu::noinline]] absl::Status BadHeader(const cmsghdr& h, size_t offset,
                                                    size_t remaining) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "malformed control message (level %d type %d) at offset %d: cmsg_len %d "
      "with %d bytes left",
      h.cmsg_level, h.cmsg_type, offset, h.cmsg_len, remaining));
}

[[gnu::cold, gnu::noinline]] absl::Status PartialFd(size_t payload) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "malformed SCM_RIGHTS control message: payload of %d bytes is not a "
      "whole number of fds",
      payload));
}

// Decodes payloads into `out` after an exact length check, copying (never
// casting) so the buffer may be misaligned.
class Decoder {
 public:
  explicit Decoder(ControlMessages& out) : out_(out) {}

  // The first error seen; decoding goes on after one so that every fd in
  // the buffer is adopted (and then closed).
  absl::Status& error() { return error_; }

  template <typename Raw>
  bool Copy(absl::Span<const std::byte> p, Raw& raw, const char* name) {
    if (ABSL_PREDICT_FALSE(p.size() != sizeof(Raw))) {
      if (error_.ok()) error_ = WrongLength(name, p.size(), sizeof(Raw));
      return false;
    }
    std::memcpy(&raw, p.data(), sizeof(Raw));
    return true;
  }

  template <typename T, typename... Args>
  void Emit(Args&&... args) {
    out_.emplace_back(std::in_place_type<T>, std::forward<Args>(args)...);
  }

  // For types laid out exactly as their kernel payload: one copy straight
  // into the new element, with the same access widths the reader will use
  // (field-by-field stores read back as wider loads stall the CPU).
  template <typename T>
  void Direct(absl::Span<const std::byte> p, const char* name) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) == T::kPayloadSize);
    if (ABSL_PREDICT_FALSE(p.size() != sizeof(T))) {
      if (error_.ok()) error_ = WrongLength(name, p.size(), sizeof(T));
      return;
    }
    T& v = std::get<T>(out_.emplace_back(std::in_place_type<T>));
    std::memcpy(&v, p.data(), sizeof(T));
  }

  // One scalar payload into T's single field.
  template <typename T, typename Raw>
  void Scalar(absl::Span<const std::byte> p, const char* name) {
    Raw raw;
    if (Copy(p, raw, name)) Emit<T>(T{raw});
  }

  void Rights(absl::Span<const std::byte> p, bool adopt) {
    // Own the fds before anything else can fail, so none leak.
    auto& rights = std::get<ScmRightsOwned>(
        out_.emplace_back(std::in_place_type<ScmRightsOwned>));
    const size_t n = p.size() / sizeof(int);
    if (n > kInlineFds) rights.fds.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, p.data() + i * sizeof(int), sizeof(int));
      rights.fds.emplace_back(adopt ? fd : -1);
    }
    if (ABSL_PREDICT_FALSE(p.size() % sizeof(int) != 0) && error_.ok()) {
      error_ = PartialFd(p.size());
    }
  }

  void One(int level, int type, absl::Span<const std::byte> p);

 private:
  ControlMessages& out_;
  absl::Status error_;
};

void Decoder::One(int level, int type, absl::Span<const std::byte> p) {
  if (level == SOL_SOCKET) {
    switch (type) {
      case SCM_CREDENTIALS:
        return Direct<ScmCredentials>(p, "SCM_CREDENTIALS");
      // The _OLD and _NEW forms share one layout on 64-bit Linux.
      case SO_TIMESTAMP_OLD:
      case SO_TIMESTAMP_NEW:
        return Direct<ScmTimestamp>(p, "SCM_TIMESTAMP");
      case SO_TIMESTAMPNS_OLD:
      case SO_TIMESTAMPNS_NEW:
        return Direct<ScmTimestampns>(p, "SCM_TIMESTAMPNS");
      case SO_TIMESTAMPING_OLD:
      case SO_TIMESTAMPING_NEW:
        return Direct<ScmTimestamping>(p, "SCM_TIMESTAMPING");
      case SO_RXQ_OVFL:
        return Scalar<RxqOvfl, uint32_t>(p, "SO_RXQ_OVFL");
      case SO_MARK:
        return Scalar<SoMark, uint32_t>(p, "SO_MARK");
    }
  } else if (level == IPPROTO_IP) {
    switch (type) {
      case IP_PKTINFO:
        return Direct<Ipv4PacketInfo>(p, "IP_PKTINFO");
      case IP_TOS:
        return Scalar<Ipv4Tos, uint8_t>(p, "IP_TOS");
      case IP_TTL:
        return Scalar<Ipv4Ttl, int>(p, "IP_TTL");
      case IP_ORIGDSTADDR:
        return Direct<Ipv4OrigDstAddr>(p, "IP_ORIGDSTADDR");
      case IP_RECVERR: {
        // sock_extended_err, then the offender's address (SO_EE_OFFENDER);
        // the address is always there, zeroed when unknown.
        struct {
          sock_extended_err err;
          sockaddr_in from;
        } raw;
        if (!Copy(p, raw, "IP_RECVERR")) return;
        Ipv4RecvErr e;
        e.error = raw.err;
        if (raw.from.sin_family == AF_INET) e.offender = raw.from;
        return Emit<Ipv4RecvErr>(e);
      }
    }
  } else if (level == IPPROTO_IPV6) {
    switch (type) {
      case IPV6_PKTINFO:
        return Direct<Ipv6PacketInfo>(p, "IPV6_PKTINFO");
      case IPV6_TCLASS:
        return Scalar<Ipv6TClass, int>(p, "IPV6_TCLASS");
      case IPV6_HOPLIMIT:
        return Scalar<Ipv6HopLimit, int>(p, "IPV6_HOPLIMIT");
      case IPV6_ORIGDSTADDR:
        return Direct<Ipv6OrigDstAddr>(p, "IPV6_ORIGDSTADDR");
      case IPV6_RECVERR: {
        struct {
          sock_extended_err err;
          sockaddr_in6 from;
        } raw;
        if (!Copy(p, raw, "IPV6_RECVERR")) return;
        Ipv6RecvErr e;
        e.error = raw.err;
        if (raw.from.sin6_family == AF_INET6) e.offender = raw.from;
        return Emit<Ipv6RecvErr>(e);
      }
    }
  } else if (level == SOL_UDP && type == UDP_GRO) {
    return Scalar<UdpGroSegments, int>(p, "UDP_GRO");
  } else if (level == SOL_TLS && type == TLS_GET_RECORD_TYPE) {
    return Scalar<TlsGetRecordType, uint8_t>(p, "TLS_GET_RECORD_TYPE");
  }
  auto& u = std::get<Unknown>(out_.emplace_back(std::in_place_type<Unknown>));
  u.level = level;
  u.type = type;
  const auto* bytes = reinterpret_cast<const uint8_t*>(p.data());
  u.data.assign(bytes, bytes + p.size());
}

}  // namespace

namespace internal {

absl::Status DecodeInto(absl::Span<const std::byte> buffer, bool adopt_fds,
                        ControlMessages& out) {
  absl::Status s = DecodeKeepingPartial(buffer, adopt_fds, out);
  if (ABSL_PREDICT_FALSE(!s.ok())) out.clear();
  return s;
}

absl::Status DecodeKeepingPartial(absl::Span<const std::byte> buffer,
                                  bool adopt_fds, ControlMessages& out) {
  Decoder decoder(out);
  constexpr size_t kHeader = CMSG_LEN(0);  // the aligned header size
  size_t offset = 0;
  while (buffer.size() - offset >= sizeof(cmsghdr)) {
    cmsghdr h;
    std::memcpy(&h, buffer.data() + offset, sizeof(h));
    const size_t remaining = buffer.size() - offset;
    if (ABSL_PREDICT_FALSE(h.cmsg_len < kHeader || h.cmsg_len > remaining)) {
      // The rest cannot be walked.
      return BadHeader(h, offset, remaining);
    }
    auto payload = buffer.subspan(offset + kHeader, h.cmsg_len - kHeader);
    if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
      decoder.Rights(payload, adopt_fds);
    } else {
      decoder.One(h.cmsg_level, h.cmsg_type, payload);
    }
    const size_t step = CMSG_ALIGN(h.cmsg_len);
    if (step >= remaining) break;
    offset += step;
  }
  return std::move(decoder.error());
}

absl::StatusOr<ControlMessages> DecodeWithoutAdoptingFds(
    absl::Span<const std::byte> buffer) {
  absl::StatusOr<ControlMessages> result(absl::in_place);
  if (absl::Status s = DecodeInto(buffer, /*adopt_fds=*/false, *result); !s.ok())
    result = std::move(s);
  return result;
}

}  // namespace internal

}  // namespace cmsg
