// The launcher <-> shim conversation on the sandbox's control socket (a
// SOCK_STREAM socketpair, the shim's fd 3):
//
//   launcher -> shim  HandoffHeader, carrying every fd as one SCM_RIGHTS
//                     message (the broker socket last, if any), then
//                     `blob_size` bytes: fd names, argv, env, each string
//                     NUL-terminated, in that order.
//   shim -> launcher  kShimReady (one byte) once its signal handlers are in
//                     place and the command is started: signals sent to pid 1
//                     before that would be dropped, as init's are;
//                     then CommandStatus, once, when the command has ended.
//
// Both ends are the same build of this project, so the structs travel in
// host byte order.
#ifndef SANDBOX_HANDOFF_H_
#define SANDBOX_HANDOFF_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "lib/fd/unique_fd.h"
#include "sandbox/handoff_wire.h"

namespace cmsg::sandbox {

// Sends `fds` (borrowed) and the strings; `broker_fd` is -1 for none.
[[nodiscard]] absl::Status SendHandoff(int sock, absl::Span<const int> fds,
                                       absl::Span<const std::string> names,
                                       int broker_fd,
                                       absl::Span<const std::string> argv,
                                       absl::Span<const std::string> env);

// The shim's side is in shim_main.cc (it links no C library).

// Waits until the shim said it is ready (true) or hung up without saying so
// (false), watching `pidfd` so a dead shim cannot block it.
[[nodiscard]] bool AwaitShimReady(int sock, int pidfd);

// After AwaitShimReady: std::nullopt when the shim ended without reporting
// (it was killed).
[[nodiscard]] std::optional<CommandStatus> TryReceiveCommandStatus(int sock);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_HANDOFF_H_
