// Starting a command with vfork in the socket-activation layout, for the
// pool's agent (sandbox_shim, which links no C library, does the same with
// raw system calls). vfork copies no page tables (a fork cost about 15 page
// faults more, each a trap to the hypervisor on these VMs); in exchange the child shares the caller's
// memory until it execs, so everything it needs is built beforehand and the
// child only makes system calls.
//
//   ExecPlan plan = PlanExec(argv, env, names, sources, {kListenPidVar});
//   int error;
//   pid_t pid = StartFromPlan(plan, &ResetSignals, &error);
//   // pid < 0: clone failed (errno); error != 0: the exec failed (the child
//   // has exited, 127 or 126).
//
// Not vfork() itself: its child returns into the caller's stack frame,
// which the compiler may use for its own spills (with -c opt the caller of
// a plain vfork read its local error variable back as 0 after a failed
// exec). The child here runs on a stack of its own, as posix_spawn's does.
#ifndef SANDBOX_VFORK_EXEC_H_
#define SANDBOX_VFORK_EXEC_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/types/span.h"

namespace cmsg::sandbox {

inline constexpr char kListenPidVar[] = "LISTEN_PID=";
// sd_watchdog_enabled() wants the pid the worker sees itself as.
inline constexpr char kWatchdogPidVar[] = "WATCHDOG_PID=";

struct ExecPlan {
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  std::vector<char*> argvp;
  std::vector<std::string> candidates;  // argv[0], or its PATH search
  std::vector<const char*> candidatep;
  // {"/bin/sh", <candidate>, argv[1...], nullptr}: for a file the kernel
  // cannot run (ENOEXEC), as execvp(3) does; slot 1 is set in the child.
  mutable std::vector<char*> script_argvp;
  std::vector<int> sources;       // fds to put at 3, 4, ... (all above them)
  std::vector<char*> pid_slots;   // "VAR=" + room for the digits of the pid
};

// `env` (the command's whole environment), then ListenEnv(names) (LISTEN_FDS,
// LISTEN_PID if `pid_vars` has kListenPidVar, LISTEN_FDNAMES), then the other
// `pid_vars` ("VAR="); the pid variables are completed with the child's pid
// by ExecFromPlan. The plan points into
// `argv`, which must outlive it. argv[0] (not empty) is
// searched in env's PATH (default /usr/local/bin:/usr/bin:/bin) unless it has
// a '/'. `sources` go to fds 3, 4, ... in order: the first names.size() are
// the activation fds, any after them extra ones (announced by the caller);
// every source must be above 3 + sources.size() - 1 (a dup2 never lands on a
// source still to be moved).
[[nodiscard]] ExecPlan PlanExec(absl::Span<const std::string> argv,
                                std::vector<std::string> env,
                                absl::Span<const std::string> names, std::vector<int> sources,
                                absl::Span<const char* const> pid_vars);

// Starts the plan's command: `prepare` (may be null; system calls only)
// runs first in the child, then ExecFromPlan; the child exits 127 (not
// found) or 126 if the exec fails. Returns once the child has exec'd or
// exited: its pid (with *exec_error 0, or the exec's errno), or -1 with
// errno if no child could be made. Not thread-safe: one stack is shared.
pid_t StartFromPlan(const ExecPlan& plan, void (*prepare)(), int* exec_error);

// In the child: moves the sources into place (dup2 clears
// close-on-exec), fills in the pid variables with its own pid and execs the
// first candidate as execvp would (a missing or refused file is passed
// over; a file without a "#!" line is run by /bin/sh). Returns the errno execvp would report; never returns on success.
// Only system calls: no allocation, no locks.
int ExecFromPlan(const ExecPlan& plan);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_VFORK_EXEC_H_
