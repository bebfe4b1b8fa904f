// --json_status_fd: sandbox_run's life cycle as JSON lines for a supervisor,
// in the spirit of bubblewrap's --json-status-fd. One line per event, each
// written with a single write(2):
//
//   {"event": "start", "pid": 4242}        the sandbox's pid 1, as the host sees it
//   {"event": "exit", "exit_code": 7, "cause": "exited"}
//
// cause: "exited" | "signaled" (+ "signal": N) | "oom" (+ "oom_kills": N) |
// "timeout" | "setup_failed" (+ "error": "...", no start line before it) |
// "launcher_failed" (+ "error") | "launcher_signal" (+ "signal": N: sandbox_run
// was stopped by a signal it does not pass on; the sandbox was killed).
// exit_code is sandbox_run's own exit status.
#ifndef TOOLS_SANDBOX_RUN_JSON_STATUS_H_
#define TOOLS_SANDBOX_RUN_JSON_STATUS_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cmsg::sandbox_run {

class JsonStatus {
 public:
  // The fd (borrowed; made close-on-exec unless it is 0-2, which the
  // sandbox shares) from the flag's text: an open fd
  // whose access mode allows writing. -1 for "".
  [[nodiscard]] static absl::StatusOr<int> ParseFd(absl::string_view text);

  // `fd` -1: every call does nothing.
  explicit JsonStatus(int fd) : fd_(fd) {}

  void Start(pid_t pid);
  // `signal` 0 and `oom_kills` 0 and `error` "" are left out.
  void Exit(int exit_code, absl::string_view cause, int signal = 0, int oom_kills = 0,
            absl::string_view error = "");

 private:
  // A write that fails (a reader gone: EPIPE, SIGPIPE being ignored) is
  // reported once on stderr and ends the status lines, not the sandbox.
  void Write(const std::string& line);
  int fd_;
};

}  // namespace cmsg::sandbox_run

#endif  // TOOLS_SANDBOX_RUN_JSON_STATUS_H_
