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

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "lib/cmsg/messages.h"

namespace cmsg {

// The control-buffer bytes `messages` need (the sum of their CMSG_SPACE).
[[nodiscard]] size_t EncodedSize(absl::Span<const ControlMessage> messages);

// Writes `messages` into `buffer` (which must be aligned for cmsghdr) and
// returns the bytes used, for msg_controllen. Fails without writing if the
// buffer is too small or a message is invalid (e.g. more than 253 fds).
[[nodiscard]] absl::StatusOr<size_t> Encode(
    absl::Span<const ControlMessage> messages, absl::Span<std::byte> buffer);

// Decodes a control buffer as the kernel filled it. SCM_RIGHTS fds are owned
// at once, so every fd in the buffer is closed if the caller drops the result
// or decoding fails. Each payload is copied out after an exact length check;
// a malformed buffer (bad cmsg_len, short or oversized payload) is an error
// and nothing is read out of bounds. The buffer need not be aligned.
[[nodiscard]] absl::StatusOr<ControlMessages> Decode(
    absl::Span<const std::byte> buffer);

namespace internal {
// Decode with fd adoption switched off: SCM_RIGHTS fds are parsed but stored
// as -1. Only for fuzzing, where the "fds" are arbitrary numbers.
[[nodiscard]] absl::StatusOr<ControlMessages> DecodeWithoutAdoptingFds(
    absl::Span<const std::byte> buffer);
}  // namespace internal

}  // namespace cmsg

#endif  // LIB_CMSG_CODEC_H_
