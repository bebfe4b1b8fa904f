// Landlock as a second wall behind the mount namespace: the sandbox (the
// shim and everything it starts) may open only what lies beneath the
// policy's own mounts, with the access the policy gives each, even if a
// host file became reachable some other way: an fd passed in and reopened
// through /proc/self/fd/N with more access, a directory fd, a mount trick.
//
//   int abi = LandlockAbi();                         // 0: not available
//   CMSGLIB_ASSIGN_OR_RETURN(LandlockPlan plan, BuildLandlockPlan(policy, abi));
//   // in the sandbox child, after the pivot:
//   if (const char* failed = ApplyLandlock(plan, shim_fd, &path)) ...
//
// Rules by ABI (each ABI the kernel lacks leaves its rights unhandled, that
// is allowed as without Landlock; nothing newer than the kernel's ABI is
// asked for, which the kernel would refuse):
//   1  file system: execute, read/write files, read dirs, make/remove entries
//   2  rename/link across directories (refer); without it they fail (EXDEV)
//   3  truncate
//   5  device ioctls (only /dev is granted them)
//   6  scopes: no signal to a process outside the sandbox's domain; with
//      Network::kNone no connect to an abstract unix socket made outside
// Network rules (ABI 4) are not used: --net=none already has no route out.
#ifndef SANDBOX_LANDLOCK_H_
#define SANDBOX_LANDLOCK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sandbox/policy.h"

namespace cmsg::sandbox {

// One path-beneath rule: `access` (LANDLOCK_ACCESS_FS_* bits) at and below
// `path` (inside the new root). For a path that is not a directory the
// child keeps only the rights that apply to files.
struct LandlockRule {
  std::string path;
  uint64_t access = 0;
};

struct LandlockPlan {
  int abi = 0;  // 0: do not use Landlock
  uint64_t handled_fs = 0;
  uint64_t scoped = 0;  // LANDLOCK_SCOPE_* (ABI 6)
  std::vector<LandlockRule> rules;
};

// The kernel's Landlock ABI version; 0 when it has none or it is disabled.
[[nodiscard]] int LandlockAbi();

// The rules for `policy` at `abi` (the ABI to use, at most the kernel's).
// With policy.landlock kOff, or kAuto and abi 0, an empty plan (abi 0);
// kOn and abi 0 is an error.
[[nodiscard]] absl::StatusOr<LandlockPlan> BuildLandlockPlan(const Policy& policy, int abi);

// In the sandbox child, after the pivot and NO_NEW_PRIVS: restricts the
// calling process (and all it will start) to `plan`, plus execute on the
// file `shim_exe` (an fd), which it is about to exec, and reopening fds 0-2
// (when they are files or terminals, not directories) with their own access. Async-signal-safe: no
// allocation. Returns nullptr, or the call that failed (with errno set and
// *path pointing to the rule's path, or nullptr).
const char* ApplyLandlock(const LandlockPlan& plan, int shim_exe, const char** path);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_LANDLOCK_H_
