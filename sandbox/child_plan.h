// Everything the freshly cloned sandbox child does before it becomes the
// shim, decided by the launcher beforehand. The child only reads this (its
// copy of the launcher's memory) and makes system calls: nothing between
// clone and exec allocates.
#ifndef SANDBOX_CHILD_PLAN_H_
#define SANDBOX_CHILD_PLAN_H_

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "sandbox/landlock.h"

namespace cmsg::sandbox {

// Where the child builds the new root, in its own mount namespace: a tmpfs
// over the host's /tmp (hidden from the sandbox like the rest of the host).
inline constexpr char kNewRoot[] = "/tmp";

struct MountStep {
  enum class Kind {
    kMkdir,     // mkdir(target, 0755); an existing one is fine
    kMkfile,    // an empty file to bind a file over; an existing one is fine
    kBind,      // recursive bind of source (a host path) on target, nosuid,
                // nodev unless devices, read-only unless writable
    kTmpfs,     // tmpfs on target with `options`
    kProc,      // proc for the new pid namespace on target
    kSymlink,   // symlink(source, target)
    kReadOnly,  // make the mount at target (not those on it) read-only
    kDevpts,    // a new devpts instance on target with `options` (not nodev)
  };
  Kind kind;
  std::string source;
  std::string target;
  bool writable = false;
  bool devices = false;  // kBind of device nodes: not nodev
  std::string options;
  // kBind: the source, opened by the child while it still has the
  // launcher's file access (before it takes the sandbox's ids).
  int source_fd = -1;
};

// The points of the child's set-up whose times `ChildPlan::step_ns` records
// (sandbox_run --verbose), in order; each marks the end of its step.
enum ChildStep {
  kChildRunning,       // first thing the child does after clone3
  kChildGo,            // the launcher's "go": id maps written (a wait)
  kChildSession,       // setsid, [cgroup namespace]
  kChildSources,       // bind sources opened with the launcher's ids
  kChildIds,           // [time namespace], the sandbox's ids taken
  kChildMounts,        // MS_PRIVATE, the root tmpfs and every mount step
  kChildPivot,         // pivot_root
  kChildOldRootGone,   // the old root detached (umount2 MNT_DETACH)
  kChildNetwork,       // hostname, lo up
  kChildPrivileges,    // chdir, keyring, capabilities, NO_NEW_PRIVS, PDEATHSIG
  kChildFds,           // down to the shim's fds (close_range)
  kChildLandlock,      // the Landlock ruleset built and applied
  kChildLimits,        // rlimits, signal dispositions and mask
  kChildSeccomp,       // the filter(s) loaded; execveat(sandbox_shim) next
  kChildStepCount,
};

inline constexpr const char* kChildStepNames[kChildStepCount] = {
    "clone3 -> child runs", "wait for id maps", "setsid", "open bind sources",
    "take sandbox ids", "mounts", "pivot_root", "detach old root", "hostname+lo",
    "drop privileges", "close fds", "landlock", "rlimits+signals", "seccomp load",
};

struct RlimitStep {
  int resource;
  rlim_t value;
};

struct ChildPlan {
  // Fds of the launcher's making, by their numbers in the child.
  int sync_read = -1;      // one byte: the id maps are written; EOF: give up
  int error_write = -1;    // a ChildError on failure; EOF on exec
  int control = -1;        // becomes fd 3 of the shim
  int shim_exe = -1;       // O_PATH fd of the shim binary
  std::vector<int> close_first;  // the launcher's ends of the pipes/sockets

  bool unshare_cgroup_ns = false;  // after the sync byte: the cgroup is set then
  // A new time namespace, for the shim (entered at its exec) and all below;
  // timens_offsets written as these lines.
  bool time_ns = false;
  bool time_as_if_booted = false;
  int64_t time_offset_seconds = 0;
  std::vector<MountStep> mounts;
  std::string hostname;
  std::string chdir;
  bool loopback_up = false;
  std::vector<RlimitStep> rlimits;
  bool clear_groups = false;  // setgroups(0) (launcher is root)
  uid_t uid = 65534;
  gid_t gid = 65534;
  std::vector<sock_filter> seccomp;  // empty: none
  // --seccomp=strict: loaded after `seccomp`, with a listener whose fd goes
  // to the launcher on `control` (one byte, kSeccompListenerByte,
  // SCM_RIGHTS). Empty: none.
  std::vector<sock_filter> seccomp_notify;
  LandlockPlan landlock;             // abi 0: none
  // CLOCK_MONOTONIC nanoseconds at the end of each ChildStep, in memory
  // shared with the launcher; null: not recorded.
  int64_t* step_ns = nullptr;
};

inline constexpr char kSeccompListenerByte = 'N';

// Sent on error_write when a step fails; `what` names the call and path.
struct ChildError {
  int error = 0;
  char what[512] = {};
};

// Runs in the cloned child: builds the sandbox from `plan` (its own copy,
// which it fills in as it goes) and execs the shim. Never returns; on
// failure it reports a ChildError and exits 125.
[[noreturn]] void RunSandboxChild(ChildPlan& plan);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_CHILD_PLAN_H_
