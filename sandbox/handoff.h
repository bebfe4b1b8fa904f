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

namespace cmsg::sandbox {

// The control socket's number in the shim.
inline constexpr int kShimControlFd = 3;
// Most fds (listening sockets, files and the broker) one sandbox receives.
inline constexpr size_t kMaxPassedFds = 253;

inline constexpr uint32_t kHandoffMagic = 0x53424f58;  // "SBOX"

struct HandoffHeader {
  uint32_t magic = kHandoffMagic;
  uint32_t fd_count = 0;    // activation fds (excluding the broker)
  uint32_t has_broker = 0;  // 1: one more fd, the broker socket, follows them
  uint32_t argc = 0;
  uint32_t envc = 0;
  uint32_t blob_size = 0;
};

// What the shim receives.
struct Handoff {
  std::vector<UniqueFd> fds;
  std::vector<std::string> names;
  UniqueFd broker;  // not ok() when the policy has no broker
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

// Sends `fds` (borrowed) and the strings; `broker_fd` is -1 for none.
[[nodiscard]] absl::Status SendHandoff(int sock, absl::Span<const int> fds,
                                       absl::Span<const std::string> names,
                                       int broker_fd,
                                       absl::Span<const std::string> argv,
                                       absl::Span<const std::string> env);

[[nodiscard]] absl::StatusOr<Handoff> ReceiveHandoff(int sock);

inline constexpr char kShimReady = 'R';

[[nodiscard]] absl::Status SendShimReady(int sock);
// Waits until the shim said it is ready (true) or hung up without saying so
// (false), watching `pidfd` so a dead shim cannot block it.
[[nodiscard]] bool AwaitShimReady(int sock, int pidfd);

// How the command ended, as the shim saw it from inside.
struct CommandStatus {
  int32_t signaled = 0;  // 1: killed by signal `value`; 0: exited with `value`
  int32_t value = 0;
};

[[nodiscard]] absl::Status SendCommandStatus(int sock, CommandStatus status);
// After AwaitShimReady: std::nullopt when the shim ended without reporting
// (it was killed).
[[nodiscard]] std::optional<CommandStatus> TryReceiveCommandStatus(int sock);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_HANDOFF_H_
