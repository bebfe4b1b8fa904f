// Errno to absl::Status, with the failing call and errno's name in the text:
//
//   if (sendmsg(fd, &msg, 0) < 0) return cmsg::ErrnoError("sendmsg");
//   // -> e.g. NOT_FOUND: "open(/x): ENOENT (No such file or directory)"
//   if (cmsg::IsWouldBlock(status)) wait_for_readiness();
//
// Read errno on the very next line after the call; ErrnoError reads it itself.
// absl::ErrnoToStatus (20220623) gives the same code but neither errno's name
// nor a way to get the errno back, which callers here branch on.
#ifndef LIB_STATUS_ERRNO_STATUS_H_
#define LIB_STATUS_ERRNO_STATUS_H_

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cmsg {

// A status for `error` (an errno value) raised by `call`. EAGAIN (which is
// EWOULDBLOCK on Linux) gives WouldBlockError() instead, without `call`: a
// non-blocking socket returns it all the time, so it must cost nothing.
[[nodiscard]] absl::Status ErrnoStatus(int error, absl::string_view call);

// A status for the current errno raised by `call`.
[[nodiscard]] inline absl::Status ErrnoError(absl::string_view call) {
  return ErrnoStatus(errno, call);
}

// The errno value a status made by ErrnoStatus carries, or 0.
[[nodiscard]] int ErrnoOf(const absl::Status& status);

namespace internal {
// The one would-block status, built before main; copies share it.
[[nodiscard]] const absl::Status& WouldBlockStatus();
}  // namespace internal

// UNAVAILABLE "EAGAIN (Resource temporarily unavailable): the call would
// block", ErrnoOf() == EAGAIN. Returning it copies a shared status (a
// reference count): no allocation.
[[nodiscard]] inline absl::Status WouldBlockError() { return internal::WouldBlockStatus(); }

// True for WouldBlockError() and its copies (every EAGAIN/EWOULDBLOCK this
// project reports). Two compares, no allocation, no parsing.
[[nodiscard]] inline bool IsWouldBlock(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable &&
         status.message().data() == internal::WouldBlockStatus().message().data();
}

}  // namespace cmsg

#endif  // LIB_STATUS_ERRNO_STATUS_H_
