// Encoding control messages into a msg_control buffer and decoding them out
// of one, without the caller touching CMSG_* macros, cmsg_len or alignment.
//
//   alignas(cmsghdr) std::byte buf[256];
//   absl::StatusOr<size_t> n = cmsg::Encode({cmsg::Ipv4Ttl{3}}, buf);
//   absl::StatusOr<cmsg::ControlMessages> m = cmsg::Decode(absl::MakeSpan(buf, *n));
//
// Most callers want SendMsg / RecvMsg (socket_io.h), which do this for them.
#ifndef LIB_CMSG_CODEC_H_
#define LIB_CMSG_CODEC_H_

#include <cstddef>
#include <variant>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "lib/cmsg/messages.h"
#include "lib/cmsg/wire.h"

namespace cmsg {

// The control-buffer bytes `messages` need (the sum of their CMSG_SPACE).
[[nodiscard]] inline size_t EncodedSize(
    absl::Span<const ControlMessage> messages);

// Writes `messages` into `buffer` (which must be aligned for cmsghdr) and
// returns the bytes used, for msg_controllen. Fails without writing if the
// buffer is too small or a message is invalid (e.g. more than 253 fds).
[[nodiscard]] inline absl::StatusOr<size_t> Encode(
    absl::Span<const ControlMessage> messages, absl::Span<std::byte> buffer);

// Decodes a control buffer as the kernel filled it. SCM_RIGHTS fds are owned
// at once, so every fd in the buffer is closed if the caller drops the result
// or decoding fails. Each payload is copied out after an exact length check;
// a malformed buffer (bad cmsg_len, short or oversized payload) is an error
// and nothing is read out of bounds. The buffer need not be aligned.
[[nodiscard]] inline absl::StatusOr<ControlMessages> Decode(
    absl::Span<const std::byte> buffer);

namespace internal {
// Decode with fd adoption switched off: SCM_RIGHTS fds are parsed but stored
// as -1. Only for fuzzing, where the "fds" are arbitrary numbers.
[[nodiscard]] absl::StatusOr<ControlMessages> DecodeWithoutAdoptingFds(
    absl::Span<const std::byte> buffer);

// Appends the messages in `buffer` to `out` (as Decode does); on error `out`
// is cleared, closing any adopted fds. Lets RecvMsg decode in place.
[[nodiscard]] absl::Status DecodeInto(absl::Span<const std::byte> buffer,
                                      bool adopt_fds, ControlMessages& out);

// As DecodeInto, but on error `out` keeps what decoded before it (fds
// included) for the caller to count and then clear.
[[nodiscard]] absl::Status DecodeKeepingPartial(absl::Span<const std::byte> buffer,
                                                bool adopt_fds, ControlMessages& out);

// The errors Encode returns, built out of line (they are the cold path).
[[nodiscard]] absl::Status InvalidMessageError(
    absl::Span<const ControlMessage> messages);
[[nodiscard]] absl::Status BufferTooSmallError(size_t messages, size_t need,
                                               size_t have);
}  // namespace internal

// Encode and EncodedSize are inline: for messages known at the call site the
// compiler reduces them to the stores the raw CMSG_* macros would make.
inline size_t EncodedSize(absl::Span<const ControlMessage> messages) {
  size_t total = 0;
  for (const auto& m : messages) {
    total += wire::Dispatch(m, [](const auto& v) -> size_t {
      using T = std::decay_t<decltype(v)>;
      return CMSG_SPACE(wire::Wire<T>::Size(v));
    });
  }
  return total;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> Encode(
    absl::Span<const ControlMessage> messages, absl::Span<std::byte> buffer) {
  size_t need = 0;
  bool valid = true;
  for (const auto& m : messages) {
    need += wire::Dispatch(m, [&valid](const auto& v) -> size_t {
      using W = wire::Wire<std::decay_t<decltype(v)>>;
      valid = valid && W::Valid(v);
      return CMSG_SPACE(W::Size(v));
    });
  }
  if (!valid) return internal::InvalidMessageError(messages);
  if (need > buffer.size()) {
    return internal::BufferTooSmallError(messages.size(), need, buffer.size());
  }
  std::byte* out = buffer.data();
  // Hides the buffer's identity from GCC's -Warray-bounds, which otherwise
  // flags the inlined writes of message kinds the caller cannot reach (the
  // size check above is what bounds them).
  asm("" : "+r"(out));
  for (const auto& m : messages) {
    out += wire::Dispatch(m, [out](const auto& v) -> size_t {
      return wire::WriteMessage(v, out);
    });
  }
  return need;
}

// Inline so the result is built straight in the caller's frame with one call
// into the parser.
inline absl::StatusOr<ControlMessages> Decode(absl::Span<const std::byte> buffer) {
  absl::StatusOr<ControlMessages> result(absl::in_place);
  absl::Status s = internal::DecodeKeepingPartial(buffer, /*adopt_fds=*/true, *result);
  if (ABSL_PREDICT_FALSE(!s.ok())) result = std::move(s);  // closes any fds
  return result;
}

}  // namespace cmsg

#endif  // LIB_CMSG_CODEC_H_
