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
#include "lib/cmsg/internal/decode_table.h"
#include "lib/status/status_macros.h"

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
    if (const auto* iv = std::get_if<AlgSetIv>(&m); iv && !Kind<AlgSetIv>::Valid(*iv)) {
      return absl::InvalidArgumentError("AlgSetIv: IV longer than 65535 bytes");
    }
  }
  return absl::InvalidArgumentError("invalid control message");
}

absl::Status TypedIvTooLongError(size_t bytes) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "AlgSetIv: IV of %d bytes exceeds the typed path's %d (send it in a "
      "ControlMessage list)",
      bytes, kMaxTypedIvBytes));
}

absl::Status BufferTooSmallError(size_t messages, size_t need, size_t have) {
  return absl::ResourceExhaustedError(absl::StrFormat(
      "control buffer too small: %d messages need %d bytes, have %d", messages,
      need, have));
}


// Decoding errors, out of line: the common path never builds a string.
[[gnu::cold, gnu::noinline]] absl::Status WrongLengthError(const char* name,
                                                           size_t have, size_t want) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "malformed %s control message: payload of %d bytes, want %d", name, have,
      want));
}

[[gnu::cold, gnu::noinline]] absl::Status BadHeaderError(const cmsghdr& h,
                                                         size_t offset,
                                                         size_t remaining) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "malformed control message (level %d type %d) at offset %d: cmsg_len %d "
      "with %d bytes left",
      h.cmsg_level, h.cmsg_type, offset, h.cmsg_len, remaining));
}

[[gnu::cold, gnu::noinline]] absl::Status PartialFdError(size_t payload) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "malformed SCM_RIGHTS control message: payload of %d bytes is not a "
      "whole number of fds",
      payload));
}

[[gnu::cold, gnu::noinline]] absl::Status TooManyFdsError(size_t fds) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "malformed SCM_RIGHTS control message: %d fds exceed the kernel's limit "
      "of %d per message",
      fds, kMaxFdsPerMessage));
}

}  // namespace internal

namespace {

// A WalkControl sink that appends to a ControlMessages list, copying payloads
// (never casting) after the length check of the kind's rule (kinds.h), so
// the buffer may be misaligned.
class Decoder {
 public:
  Decoder(ControlMessages& out, bool adopt) : out_(out), adopt_(adopt) {}

  // The first error seen; decoding goes on after one so that every fd in
  // the buffer is adopted (and then closed).
  absl::Status& error() { return error_; }

  template <typename T>
  void Value(absl::Span<const std::byte> p) {
    using K = internal::Kind<T>;
    if (ABSL_PREDICT_FALSE(K::kReceive.WrongSize(p.size()))) {
      if (error_.ok()) error_ = internal::LengthError<T>(p.size());
      return;
    }
    if constexpr (K::kCopiedWhole) {
      // One copy straight into the new element, with the same access
      // widths the reader will use (field-by-field stores read back as
      // wider loads stall the CPU).
      T& v = std::get<T>(out_.emplace_back(std::in_place_type<T>));
      std::memcpy(&v, p.data(), sizeof(T));
    } else {
      out_.emplace_back(std::in_place_type<T>, K::Read(p.data(), p.size()));
    }
  }

  void Rights(absl::Span<const std::byte> p) {
    // Own the fds before anything else can fail, so none leak.
    auto& rights = std::get<ScmRightsOwned>(
        out_.emplace_back(std::in_place_type<ScmRightsOwned>));
    const size_t n = p.size() / sizeof(int);
    // (Sizing in one step and assigning in place measured slower than this.)
    if (n > kInlineFds) rights.fds.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, p.data() + i * sizeof(int), sizeof(int));
      rights.fds.emplace_back(adopt_ ? fd : -1);
    }
    // Decode keeps any count of fds (the kernel never sends more than 253).
    if (ABSL_PREDICT_FALSE(internal::Kind<ScmRightsOwned>::kReceive.WrongSize(p.size())) &&
        error_.ok()) {
      error_ = internal::LengthError<ScmRightsOwned>(p.size());
    }
  }

  void Pidfd(absl::Span<const std::byte> p) {
    if (ABSL_PREDICT_FALSE(internal::Kind<ScmPidfd>::kReceive.WrongSize(p.size()))) {
      if (error_.ok()) error_ = internal::LengthError<ScmPidfd>(p.size());
      return;  // not a whole fd: nothing to own
    }
    int fd;
    std::memcpy(&fd, p.data(), sizeof(fd));
    out_.emplace_back(std::in_place_type<ScmPidfd>, ScmPidfd{UniqueFd(adopt_ ? fd : -1)});
  }

  void Other(int level, int type, absl::Span<const std::byte> p) {
    auto& u = std::get<Unknown>(out_.emplace_back(std::in_place_type<Unknown>));
    u.level = level;
    u.type = type;
    const auto* bytes = reinterpret_cast<const uint8_t*>(p.data());
    u.data.assign(bytes, bytes + p.size());
  }

 private:
  ControlMessages& out_;
  const bool adopt_;
  absl::Status error_;
};

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
  Decoder decoder(out, adopt_fds);
  CMSGLIB_RETURN_IF_ERROR(WalkControl(buffer, decoder));
  return std::move(decoder.error());
}

absl::Status TruncatedError(size_t capacity, size_t closed) {
  return absl::ResourceExhaustedError(absl::StrFormat(
      "recvmsg: control data truncated (MSG_CTRUNC): the %d-byte control "
      "buffer was too small or the fd limit was reached; %d received fds "
      "closed, the rest were discarded by the kernel",
      capacity, closed));
}

absl::Status DecodeReceivedInto(absl::Span<const std::byte> bytes, int msg_flags,
                                size_t capacity, bool adopt_fds, ControlMessages& out) {
  if (ABSL_PREDICT_TRUE(!(msg_flags & MSG_CTRUNC))) {
    return DecodeInto(bytes, adopt_fds, out);
  }
  // The kernel may have cut the last message short: decode what it can so
  // every fd that arrived is owned, count them, then close them all.
  (void)DecodeKeepingPartial(bytes, adopt_fds, out);
  size_t closed = 0;
  for (const auto& m : out) {
    if (const auto* rights = std::get_if<ScmRightsOwned>(&m)) closed += rights->fds.size();
    if (std::holds_alternative<ScmPidfd>(m)) ++closed;
  }
  out.clear();
  return TruncatedError(capacity, closed);
}

absl::StatusOr<ControlMessages> DecodeReceivedWithoutAdoptingFds(const msghdr& msg) {
  absl::StatusOr<ControlMessages> result(absl::in_place);
  ReceivedControl control = ReceivedControl::Adopt(msg);
  if (absl::Status s = DecodeReceivedInto(control.bytes(), control.msg_flags(),
                                          control.bytes().size(), false, *result);
      !s.ok())
    result = std::move(s);
  return result;
}

}  // namespace internal

}  // namespace cmsg
