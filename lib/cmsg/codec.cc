#include "lib/cmsg/codec.h"

#include <linux/if_alg.h>
#include <linux/net_tstamp.h>
#include <linux/tls.h>
#include <netinet/udp.h>

#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

namespace cmsg {
namespace {

// Where each sendable message goes and what its payload is.
struct Wire {
  int level;
  int type;
  size_t size;
};

Wire WireOf(const ControlMessage& m) {
  return std::visit(
      [](const auto& v) -> Wire {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, ScmRights>) {
          return {SOL_SOCKET, SCM_RIGHTS, v.fds.size() * sizeof(int)};
        } else if constexpr (std::is_same_v<T, ScmCredentials>) {
          return {SOL_SOCKET, SCM_CREDENTIALS, sizeof(ucred)};
        } else if constexpr (std::is_same_v<T, Ipv4PacketInfo>) {
          return {IPPROTO_IP, IP_PKTINFO, sizeof(in_pktinfo)};
        } else if constexpr (std::is_same_v<T, Ipv6PacketInfo>) {
          return {IPPROTO_IPV6, IPV6_PKTINFO, sizeof(in6_pktinfo)};
        } else if constexpr (std::is_same_v<T, UdpGsoSegments>) {
          return {SOL_UDP, UDP_SEGMENT, sizeof(uint16_t)};
        } else if constexpr (std::is_same_v<T, Ipv4Tos>) {
          return {IPPROTO_IP, IP_TOS, sizeof(int)};
        } else if constexpr (std::is_same_v<T, Ipv6TClass>) {
          return {IPPROTO_IPV6, IPV6_TCLASS, sizeof(int)};
        } else if constexpr (std::is_same_v<T, Ipv4Ttl>) {
          return {IPPROTO_IP, IP_TTL, sizeof(int)};
        } else if constexpr (std::is_same_v<T, Ipv6HopLimit>) {
          return {IPPROTO_IPV6, IPV6_HOPLIMIT, sizeof(int)};
        } else if constexpr (std::is_same_v<T, TxTime>) {
          return {SOL_SOCKET, SCM_TXTIME, sizeof(uint64_t)};
        } else if constexpr (std::is_same_v<T, RxqOvfl>) {
          return {SOL_SOCKET, SO_RXQ_OVFL, sizeof(uint32_t)};
        } else if constexpr (std::is_same_v<T, AlgSetIv>) {
          return {SOL_ALG, ALG_SET_IV, sizeof(uint32_t) + v.iv.size()};
        } else if constexpr (std::is_same_v<T, AlgSetOp>) {
          return {SOL_ALG, ALG_SET_OP, sizeof(uint32_t)};
        } else {
          static_assert(std::is_same_v<T, AlgSetAeadAssoclen>);
          return {SOL_ALG, ALG_SET_AEAD_ASSOCLEN, sizeof(uint32_t)};
        }
      },
      m);
}

template <typename T>
void Put(std::byte*& out, const T& value) {
  std::memcpy(out, &value, sizeof(T));
  out += sizeof(T);
}

void WritePayload(const ControlMessage& m, std::byte* out) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, ScmRights>) {
          if (!v.fds.empty()) std::memcpy(out, v.fds.data(), v.fds.size() * sizeof(int));
        } else if constexpr (std::is_same_v<T, ScmCredentials>) {
          Put(out, ucred{v.pid, v.uid, v.gid});
        } else if constexpr (std::is_same_v<T, Ipv4PacketInfo>) {
          in_pktinfo info{};
          info.ipi_ifindex = v.ifindex;
          info.ipi_spec_dst = v.spec_dst;
          info.ipi_addr = v.addr;
          Put(out, info);
        } else if constexpr (std::is_same_v<T, Ipv6PacketInfo>) {
          in6_pktinfo info{};
          info.ipi6_addr = v.addr;
          info.ipi6_ifindex = v.ifindex;
          Put(out, info);
        } else if constexpr (std::is_same_v<T, UdpGsoSegments>) {
          Put(out, v.segment_size);
        } else if constexpr (std::is_same_v<T, Ipv4Tos>) {
          Put(out, static_cast<int>(v.tos));
        } else if constexpr (std::is_same_v<T, Ipv6TClass>) {
          Put(out, v.tclass);
        } else if constexpr (std::is_same_v<T, Ipv4Ttl>) {
          Put(out, v.ttl);
        } else if constexpr (std::is_same_v<T, Ipv6HopLimit>) {
          Put(out, v.hop_limit);
        } else if constexpr (std::is_same_v<T, TxTime>) {
          Put(out, v.time_ns);
        } else if constexpr (std::is_same_v<T, RxqOvfl>) {
          Put(out, v.dropped);
        } else if constexpr (std::is_same_v<T, AlgSetIv>) {
          Put(out, static_cast<uint32_t>(v.iv.size()));
          if (!v.iv.empty()) std::memcpy(out, v.iv.data(), v.iv.size());
        } else if constexpr (std::is_same_v<T, AlgSetOp>) {
          Put(out, v.op);
        } else {
          Put(out, v.assoclen);
        }
      },
      m);
}

absl::Status Validate(const ControlMessage& m) {
  if (const auto* rights = std::get_if<ScmRights>(&m)) {
    if (rights->fds.size() > kMaxFdsPerMessage) {
      return absl::InvalidArgumentError(
          absl::StrCat("ScmRights: ", rights->fds.size(),
                       " fds exceed the kernel's limit of ", kMaxFdsPerMessage,
                       " per message"));
    }
    for (int fd : rights->fds) {
      if (fd < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("ScmRights: invalid fd ", fd));
      }
    }
  }
  if (const auto* iv = std::get_if<AlgSetIv>(&m); iv && iv->iv.size() > 0xffff) {
    return absl::InvalidArgumentError("AlgSetIv: IV longer than 65535 bytes");
  }
  return absl::OkStatus();
}

std::string Describe(int level, int type) {
  return absl::StrFormat("level %d type %d", level, type);
}

// Copies a fixed-size payload after an exact length check.
template <typename Raw>
absl::Status Copy(absl::Span<const std::byte> payload, Raw& out,
                  const char* name) {
  if (payload.size() != sizeof(Raw)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("malformed %s control message: payload of %d bytes, "
                        "want %d",
                        name, payload.size(), sizeof(Raw)));
  }
  std::memcpy(&out, payload.data(), sizeof(Raw));
  return absl::OkStatus();
}

// Decodes one message that is not SCM_RIGHTS.
absl::StatusOr<ControlMessageOwned> DecodeOne(int level, int type,
                                              absl::Span<const std::byte> p) {
  if (level == SOL_SOCKET) {
    switch (type) {
      case SCM_CREDENTIALS: {
        ucred c;
        if (auto s = Copy(p, c, "SCM_CREDENTIALS"); !s.ok()) return s;
        return ScmCredentials{c.pid, c.uid, c.gid};
      }
      case SO_TIMESTAMP_OLD:
      case SO_TIMESTAMP_NEW: {
        // Same layout on 64-bit Linux: two 64-bit fields.
        ScmTimestamp t;
        if (auto s = Copy(p, t.time, "SCM_TIMESTAMP"); !s.ok()) return s;
        return t;
      }
      case SO_TIMESTAMPNS_OLD:
      case SO_TIMESTAMPNS_NEW: {
        ScmTimestampns t;
        if (auto s = Copy(p, t.time, "SCM_TIMESTAMPNS"); !s.ok()) return s;
        return t;
      }
      case SO_TIMESTAMPING_OLD:
      case SO_TIMESTAMPING_NEW: {
        ScmTimestamping t;
        if (auto s = Copy(p, t.times, "SCM_TIMESTAMPING"); !s.ok()) return s;
        return t;
      }
      case SO_RXQ_OVFL: {
        RxqOvfl r;
        if (auto s = Copy(p, r.dropped, "SO_RXQ_OVFL"); !s.ok()) return s;
        return r;
      }
      case SO_MARK: {
        SoMark m;
        if (auto s = Copy(p, m.mark, "SO_MARK"); !s.ok()) return s;
        return m;
      }
    }
  } else if (level == IPPROTO_IP) {
    switch (type) {
      case IP_PKTINFO: {
        in_pktinfo info;
        if (auto s = Copy(p, info, "IP_PKTINFO"); !s.ok()) return s;
        return Ipv4PacketInfo{info.ipi_ifindex, info.ipi_spec_dst, info.ipi_addr};
      }
      case IP_TOS: {
        Ipv4Tos t;
        if (auto s = Copy(p, t.tos, "IP_TOS"); !s.ok()) return s;
        return t;
      }
      case IP_TTL: {
        Ipv4Ttl t;
        if (auto s = Copy(p, t.ttl, "IP_TTL"); !s.ok()) return s;
        return t;
      }
      case IP_ORIGDSTADDR: {
        Ipv4OrigDstAddr a;
        if (auto s = Copy(p, a.addr, "IP_ORIGDSTADDR"); !s.ok()) return s;
        return a;
      }
      case IP_RECVERR: {
        // sock_extended_err, then the offender's address (kernel layout:
        // SO_EE_OFFENDER). The address is always present, zeroed if unknown.
        struct {
          sock_extended_err err;
          sockaddr_in from;
        } raw;
        if (auto s = Copy(p, raw, "IP_RECVERR"); !s.ok()) return s;
        Ipv4RecvErr e;
        e.error = raw.err;
        if (raw.from.sin_family == AF_INET) e.offender = raw.from;
        return e;
      }
    }
  } else if (level == IPPROTO_IPV6) {
    switch (type) {
      case IPV6_PKTINFO: {
        in6_pktinfo info;
        if (auto s = Copy(p, info, "IPV6_PKTINFO"); !s.ok()) return s;
        return Ipv6PacketInfo{info.ipi6_addr, info.ipi6_ifindex};
      }
      case IPV6_TCLASS: {
        Ipv6TClass t;
        if (auto s = Copy(p, t.tclass, "IPV6_TCLASS"); !s.ok()) return s;
        return t;
      }
      case IPV6_HOPLIMIT: {
        Ipv6HopLimit h;
        if (auto s = Copy(p, h.hop_limit, "IPV6_HOPLIMIT"); !s.ok()) return s;
        return h;
      }
      case IPV6_ORIGDSTADDR: {
        Ipv6OrigDstAddr a;
        if (auto s = Copy(p, a.addr, "IPV6_ORIGDSTADDR"); !s.ok()) return s;
        return a;
      }
      case IPV6_RECVERR: {
        struct {
          sock_extended_err err;
          sockaddr_in6 from;
        } raw;
        if (auto s = Copy(p, raw, "IPV6_RECVERR"); !s.ok()) return s;
        Ipv6RecvErr e;
        e.error = raw.err;
        if (raw.from.sin6_family == AF_INET6) e.offender = raw.from;
        return e;
      }
    }
  } else if (level == SOL_UDP && type == UDP_GRO) {
    UdpGroSegments g;
    if (auto s = Copy(p, g.segment_size, "UDP_GRO"); !s.ok()) return s;
    return g;
  } else if (level == SOL_TLS && type == TLS_GET_RECORD_TYPE) {
    TlsGetRecordType t;
    if (auto s = Copy(p, t.record_type, "TLS_GET_RECORD_TYPE"); !s.ok()) return s;
    return t;
  }
  Unknown u;
  u.level = level;
  u.type = type;
  const auto* bytes = reinterpret_cast<const uint8_t*>(p.data());
  u.data.assign(bytes, bytes + p.size());
  return u;
}

absl::StatusOr<ControlMessages> DecodeImpl(absl::Span<const std::byte> buffer,
                                           bool adopt_fds) {
  ControlMessages out;
  absl::Status first_error;
  constexpr size_t kHeader = CMSG_LEN(0);  // aligned header size
  size_t offset = 0;
  while (buffer.size() - offset >= sizeof(cmsghdr)) {
    cmsghdr h;
    std::memcpy(&h, buffer.data() + offset, sizeof(h));
    size_t remaining = buffer.size() - offset;
    if (h.cmsg_len < kHeader || h.cmsg_len > remaining) {
      // The rest cannot be walked; whatever was decoded is dropped (and any
      // fds in it closed) with the error.
      return absl::InvalidArgumentError(absl::StrFormat(
          "malformed control message (%s) at offset %d: cmsg_len %d with "
          "%d bytes left",
          Describe(h.cmsg_level, h.cmsg_type), offset, h.cmsg_len, remaining));
    }
    auto payload = buffer.subspan(offset + kHeader, h.cmsg_len - kHeader);
    if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
      // Own the fds before anything else can fail, so none leak.
      ScmRightsOwned rights;
      size_t n = payload.size() / sizeof(int);
      for (size_t i = 0; i < n; ++i) {
        int fd;
        std::memcpy(&fd, payload.data() + i * sizeof(int), sizeof(int));
        rights.fds.emplace_back(adopt_fds ? fd : -1);
      }
      if (payload.size() % sizeof(int) != 0 && first_error.ok()) {
        first_error = absl::InvalidArgumentError(absl::StrFormat(
            "malformed SCM_RIGHTS control message: payload of %d bytes is not "
            "a whole number of fds",
            payload.size()));
      }
      out.emplace_back(std::move(rights));
    } else {
      absl::StatusOr<ControlMessageOwned> m =
          DecodeOne(h.cmsg_level, h.cmsg_type, payload);
      if (m.ok()) {
        out.push_back(*std::move(m));
      } else if (first_error.ok()) {
        first_error = m.status();
      }
    }
    size_t step = CMSG_ALIGN(h.cmsg_len);
    if (step >= remaining) break;
    offset += step;
  }
  if (!first_error.ok()) return first_error;
  return out;
}

}  // namespace

size_t EncodedSize(absl::Span<const ControlMessage> messages) {
  size_t total = 0;
  for (const auto& m : messages) total += CMSG_SPACE(WireOf(m).size);
  return total;
}

absl::StatusOr<size_t> Encode(absl::Span<const ControlMessage> messages,
                              absl::Span<std::byte> buffer) {
  size_t need = 0;
  for (const auto& m : messages) {
    if (absl::Status s = Validate(m); !s.ok()) return s;
    need += CMSG_SPACE(WireOf(m).size);
  }
  if (need > buffer.size()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "control buffer too small: %d messages need %d bytes, have %d",
        messages.size(), need, buffer.size()));
  }
  std::byte* out = buffer.data();
  for (const auto& m : messages) {
    Wire w = WireOf(m);
    cmsghdr h{};
    h.cmsg_len = CMSG_LEN(w.size);
    h.cmsg_level = w.level;
    h.cmsg_type = w.type;
    // Zero the padding so no stack bytes reach the kernel.
    std::memset(out, 0, CMSG_SPACE(w.size));
    std::memcpy(out, &h, sizeof(h));
    WritePayload(m, out + CMSG_LEN(0));
    out += CMSG_SPACE(w.size);
  }
  return need;
}

absl::StatusOr<ControlMessages> Decode(absl::Span<const std::byte> buffer) {
  return DecodeImpl(buffer, /*adopt_fds=*/true);
}

namespace internal {
absl::StatusOr<ControlMessages> DecodeWithoutAdoptingFds(
    absl::Span<const std::byte> buffer) {
  return DecodeImpl(buffer, /*adopt_fds=*/false);
}
}  // namespace internal

}  // namespace cmsg
