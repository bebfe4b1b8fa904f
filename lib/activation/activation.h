// systemd socket activation, both sides.
//
//   // Receiver (what sd_listen_fds does): fds 3.. with their names.
//   CMSGLIB_ASSIGN_OR_RETURN(std::vector<cmsg::ActivatedFd> fds, cmsg::TakeListenFds());
//
//   // Launcher: put `fds` at 3.. and exec, with LISTEN_FDS/PID/FDNAMES set.
//   cmsg::ExecWithListenFds(std::move(fds), names, argv, env);  // returns on error
#ifndef LIB_ACTIVATION_ACTIVATION_H_
#define LIB_ACTIVATION_ACTIVATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "lib/fd/unique_fd.h"

namespace cmsg {

// First fd of socket activation (SD_LISTEN_FDS_START).
inline constexpr int kListenFdsStart = 3;

struct ActivatedFd {
  UniqueFd fd;
  std::string name;  // from LISTEN_FDNAMES; "unknown" when not given
};

// Takes the fds systemd-style activation passed to this process: checks
// LISTEN_PID is our pid, marks the fds close-on-exec, and unsets LISTEN_FDS,
// LISTEN_PID and LISTEN_FDNAMES. No variables means an empty list; variables
// meant for another pid are ignored (an empty list). Malformed values are an
// error.
[[nodiscard]] absl::StatusOr<std::vector<ActivatedFd>> TakeListenFds();

// Builds the environment strings for `names` and the pid that will exec:
// {"LISTEN_FDS=N", "LISTEN_PID=pid", "LISTEN_FDNAMES=a:b"}.
[[nodiscard]] std::vector<std::string> ListenEnv(absl::Span<const std::string> names,
                                                 pid_t pid);

// Moves `fds` to 3, 4, ... (not close-on-exec), sets the activation
// variables (LISTEN_PID = this pid, which exec keeps) on top of `env`
// ("K=V" strings; the process environment is replaced by it), and execs
// argv[0] (searched in PATH from `env` if it has no '/'). Only returns on
// failure. Fds of this process other than 0-2 and the passed ones must be
// close-on-exec to stay out of the new program.
[[nodiscard]] absl::Status ExecWithListenFds(std::vector<UniqueFd> fds,
                                             absl::Span<const std::string> names,
                                             absl::Span<const std::string> argv,
                                             absl::Span<const std::string> env);

}  // namespace cmsg

#endif  // LIB_ACTIVATION_ACTIVATION_H_
