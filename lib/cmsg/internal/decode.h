// Internal: the decoding entry points the public functions and the batch
// code share, and the hooks the fuzzer uses. Not part of the API.
#ifndef LIB_CMSG_INTERNAL_DECODE_H_
#define LIB_CMSG_INTERNAL_DECODE_H_

#include <sys/socket.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "lib/cmsg/messages.h"

namespace cmsg::internal {

// Appends the messages in `buffer` to `out`. With `adopt_fds` every fd in
// it is owned at once (closed on error or when `out` is cleared); without,
// fds are stored as -1. On error `out` keeps what decoded before it (fds
// included) for the caller to count and then clear.
[[nodiscard]] absl::Status DecodeKeepingPartial(absl::Span<const std::byte> buffer,
                                                bool adopt_fds, ControlMessages& out);

// As DecodeKeepingPartial, but on error `out` is cleared (closing any fds).
[[nodiscard]] absl::Status DecodeInto(absl::Span<const std::byte> buffer, bool adopt_fds,
                                      ControlMessages& out);

// Decodes control data recvmsg/recvmmsg filled (with its msg_flags) into
// `out`: on MSG_CTRUNC or a malformed buffer `out` is left empty, every fd
// that arrived closed, and the status says what was lost. `capacity` is the
// control buffer's size, for the message.
[[nodiscard]] absl::Status DecodeReceivedInto(absl::Span<const std::byte> bytes,
                                              int msg_flags, size_t capacity,
                                              bool adopt_fds, ControlMessages& out);

// The MSG_CTRUNC status: `closed` fds arrived and were closed.
[[nodiscard]] absl::Status TruncatedError(size_t capacity, size_t closed);

// For fuzzing, where the "fds" are arbitrary numbers that must never be
// closed: DecodeReceivedInto without adopting, as a value.
[[nodiscard]] absl::StatusOr<ControlMessages> DecodeReceivedWithoutAdoptingFds(
    const msghdr& msg);

}  // namespace cmsg::internal

#endif  // LIB_CMSG_INTERNAL_DECODE_H_
