// Errno to absl::Status, with the failing call and errno's name in the text:
//
//   if (sendmsg(fd, &msg, 0) < 0) return cmsg::ErrnoError("sendmsg");
//   // -> UNAVAILABLE: "sendmsg: EAGAIN (Resource temporarily unavailable)"
//
// Read errno on the very next line after the call; ErrnoError reads it itself.
#ifndef LIB_STATUS_ERRNO_STATUS_H_
#define LIB_STATUS_ERRNO_STATUS_H_

#include <cerrno>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace cmsg {

// A status for `error` (an errno value) raised by `call`.
[[nodiscard]] absl::Status ErrnoStatus(int error, absl::string_view call);

// A status for the current errno raised by `call`.
[[nodiscard]] inline absl::Status ErrnoError(absl::string_view call) {
  return ErrnoStatus(errno, call);
}

// The errno value a status made by ErrnoStatus carries, or 0.
[[nodiscard]] int ErrnoOf(const absl::Status& status);

}  // namespace cmsg

#endif  // LIB_STATUS_ERRNO_STATUS_H_
