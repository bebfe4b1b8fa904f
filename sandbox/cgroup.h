// A cgroup for one sandbox: limits that hold for the whole process tree
// (memory, pids, CPU), whatever the command forks.
//
//   CMSGLIB_ASSIGN_OR_RETURN(std::unique_ptr<SandboxCgroup> cgroup,
//                            SandboxCgroup::Create({.memory_bytes = 512 << 20}));
//   CMSGLIB_RETURN_IF_ERROR(cgroup->AddProcess(pid));   // before it runs anything
//   ... the sandbox ends ...
//   if (cgroup->OomKills() > 0) ...; cgroup->Remove();
//
// Each controller is taken from cgroup v2 where it is delegated (enabled in
// the launcher's own cgroup's cgroup.subtree_control), else from the v1
// hierarchy it is mounted in; both are probed from /proc/self/cgroup and
// /proc/self/mountinfo, never assumed. The sandbox's cgroup is created below
// the launcher's own (so the launcher's limits still bound it), named
// "sandbox_run-<launcher pid>-<n>"; the limits are set there and the
// processes put in a leaf below it, "sandbox", which the sandbox's cgroup
// namespace makes its root: a command that mounts cgroupfs (in a nested user
// namespace, with --seccomp=off) sees the leaf, never the files that hold
// its limits.
#ifndef SANDBOX_CGROUP_H_
#define SANDBOX_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/fd/unique_fd.h"
#include "sandbox/policy.h"

namespace cmsg::sandbox {

class SandboxCgroup {
 public:
  // Creates the cgroup(s) and writes the limits. Errors name the controller
  // and the file ("cgroup memory: not available ...", "mkdir ...: EACCES").
  // REQUIRES: limits.any().
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SandboxCgroup>> Create(
      const CgroupLimits& limits);

  // Removes the directories (see Remove).
  ~SandboxCgroup();
  SandboxCgroup(const SandboxCgroup&) = delete;
  SandboxCgroup& operator=(const SandboxCgroup&) = delete;

  // Moves `pid` (and so everything it will start) into the cgroup(s).
  [[nodiscard]] absl::Status AddProcess(pid_t pid);

  // Processes the kernel's OOM killer has killed in the sandbox so far.
  [[nodiscard]] int OomKills() const;

  // Removes the directories, once the processes in them are gone (they may
  // take a moment to leave; retried for up to a second). Only system calls
  // on what Create prepared: safe in a signal handler. Idempotent.
  void Remove() noexcept;

  // The directories, for tests and --verbose.
  [[nodiscard]] std::vector<std::string> Paths() const;

 private:
  struct Dir {
    bool v2 = false;
    std::string parent_path;
    UniqueFd parent;  // the launcher's own cgroup in that hierarchy
    UniqueFd dir;     // ours: the limits
    UniqueFd leaf;    // its "sandbox": the processes
    std::vector<std::string> controllers;
    bool removed = false;
  };
  SandboxCgroup() = default;
  std::string name_;
  std::vector<Dir> dirs_;
};

}  // namespace cmsg::sandbox

#endif  // SANDBOX_CGROUP_H_
