// Runs a command in a sandbox built from a Policy.
//
//   cmsg::sandbox::Policy policy;
//   policy.binds = {{.source = "/usr"}, {.source = "/lib"}, {.source = "/lib64"}};
//   CMSGLIB_ASSIGN_OR_RETURN(cmsg::sandbox::Child child,
//                         cmsg::sandbox::Spawn(policy, {"/usr/bin/id"}));
//   CMSGLIB_ASSIGN_OR_RETURN(cmsg::sandbox::ExitStatus status, child.Wait());
//
// Unix socket files bound for Policy::listen are removed when the sandbox
// ends (or when Spawn fails).
//
// Inside: new user, mount, pid, ipc, uts, cgroup (and unless Network::kHost,
// net) namespaces; a tmpfs root holding only the policy's mounts, /proc and
// a minimal /dev; no capabilities, no new privileges, the seccomp filter,
// the rlimits (no core dumps unless raised); the ids of the policy (never
// root outside: a root launcher gives each sandbox outside ids of its own,
// outside_ids.h); a session of its own, so no controlling terminal. Pid 1 is the shim,
// which took the policy's fds over SCM_RIGHTS and runs the command as its
// child; when pid 1 ends, the kernel kills everything left in the sandbox.
#ifndef SANDBOX_SPAWN_H_
#define SANDBOX_SPAWN_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "lib/fd/unique_fd.h"
#include "sandbox/policy.h"

namespace cmsg::sandbox {

class BrokerServer;
class SeccompNotifier;
class SandboxCgroup;
struct InheritedFd;

// Unix socket files the launcher bound; removed when the sandbox ends. Each
// is held by its directory's fd and its inode, taken right after the bind:
// a directory on the path swapped for a symlink later cannot point the
// unlink elsewhere, and a file put in the socket's place is left alone.
struct SocketFiles {
  struct File {
    UniqueFd dir;
    std::string name;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  std::vector<File> files;
  // Remembers `path`, just bound; false (errno set, nothing kept, the file
  // left where it is: it cannot be checked to be ours) if it cannot.
  bool Add(const std::string& path);
  ~SocketFiles();
};

// Where Spawn's time went, step by step (sandbox_run --verbose prints it).
struct SpawnTimings {
  absl::Duration prepare;             // checks, mount plan, broker, binds, passed fds
  absl::Duration seccomp;             // compiling the filter (cached after the first)
  absl::Duration cgroup_and_ids;      // cgroup, socketpairs, outside id lock
  absl::Duration clone;               // clone3 with the new namespaces
  absl::Duration id_maps_and_handoff; // uid/gid maps, "go", the handoff sent
  absl::Duration child_setup;         // the child's mounts, pivot, drops, until exec
  // With Policy::record_step_timings: the child's steps from clone3 to its
  // execveat of the shim, in order (the first from the launcher's clone3
  // call until the child runs).
  std::vector<std::pair<std::string, absl::Duration>> child_steps;
};

// How the command ended.
struct ExitStatus {
  bool signaled = false;  // killed by signal `value`, else exited with `value`
  int value = 0;
  // Processes in the sandbox the kernel's OOM killer killed (only counted
  // with a Policy::cgroup memory limit).
  int oom_kills = 0;
  // What a shell would report: the code, or 128 + the signal.
  [[nodiscard]] int ShellCode() const { return signaled ? 128 + value : value; }
};

// A running sandbox. Destroying it kills and reaps the sandbox if it was not
// waited for. Move-only.
class Child {
 public:
  Child(Child&&) noexcept;
  Child& operator=(Child&&) noexcept;
  ~Child();

  [[nodiscard]] const SpawnTimings& timings() const { return timings_; }

  // The sandbox's pid 1 (the shim) as the launcher sees it.
  [[nodiscard]] pid_t pid() const { return pid_; }
  // Borrowed; readable when the sandbox has ended.
  [[nodiscard]] int pidfd() const { return pidfd_.get(); }

  // Sends `signal` to the shim, which passes it on to the command. Waits, if
  // need be, until the shim can (it says so right after it starts).
  [[nodiscard]] absl::Status Signal(int signal);
  // SIGKILL to the shim: every process in the sandbox dies with it.
  [[nodiscard]] absl::Status Kill();

  // Blocks until the sandbox ends.
  [[nodiscard]] absl::StatusOr<ExitStatus> Wait();
  // std::nullopt when `timeout` passes first.
  [[nodiscard]] absl::StatusOr<std::optional<ExitStatus>> WaitFor(absl::Duration timeout);

 private:
  friend absl::StatusOr<Child> Spawn(const Policy&, absl::Span<const std::string>,
                                     absl::Span<const InheritedFd>, absl::Time);
  Child() = default;
  void KillAndReap();

  pid_t pid_ = -1;
  bool reaped_ = true;
  bool shim_ready_ = false;  // its kShimReady byte was read
  UniqueFd pidfd_;
  UniqueFd control_;     // the shim reports the command's status here
  UniqueFd keep_alive_;  // the sync pipe's write end: hangs up if we die
  std::unique_ptr<BrokerServer> broker_;
  std::unique_ptr<SocketFiles> socket_files_;
  UniqueFd outside_id_lock_;  // holds the sandbox's outside ids (outside_ids.h)
  SpawnTimings timings_;
  std::unique_ptr<SeccompNotifier> notifier_;  // --seccomp=strict's refusals
  std::unique_ptr<SandboxCgroup> cgroup_;  // removed once the sandbox is reaped
};

// Starts `argv` under `policy`. Errors (a bad path, a socket that cannot be
// bound, a namespace the kernel refuses) come back before anything runs;
// DeadlineExceeded when the set-up is not done by `setup_deadline` (the
// half-built sandbox is killed). The calling thread must outlive the
// sandbox: its exit kills the sandbox.
// REQUIRES: fds 0-2 are closed, or neither directories nor O_PATH fds (they
// cross into the sandbox; FailedPrecondition names the one that is).
[[nodiscard]] absl::StatusOr<Child> Spawn(const Policy& policy,
                                          absl::Span<const std::string> argv,
                                          absl::Time setup_deadline = absl::InfiniteFuture());

// An fd the launcher already holds (a socket bound once and shared by many
// sandboxes), borrowed: Spawn passes a duplicate.
struct InheritedFd {
  int fd = -1;
  std::string name;  // its LISTEN_FDNAMES entry
};

// As above, with `inherited` passed first, at fd 3 onward, before the
// policy's own listen sockets and files.
[[nodiscard]] absl::StatusOr<Child> Spawn(const Policy& policy,
                                          absl::Span<const std::string> argv,
                                          absl::Span<const InheritedFd> inherited,
                                          absl::Time setup_deadline = absl::InfiniteFuture());

// The sandbox_shim binary: $SANDBOX_SHIM, else sandbox_shim beside this
// program, else in its Bazel runfiles.
[[nodiscard]] absl::StatusOr<std::string> FindShim();

// A helper binary of the sandbox's (sandbox_shim, pool_agent): $ENV_VAR, else
// NAME beside this program, else in its Bazel runfiles.
[[nodiscard]] absl::StatusOr<std::string> FindSandboxBinary(const std::string& name,
                                                           const char* env_var);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_SPAWN_H_
