// What a sandboxed command may see and hold: its mounts, network, the fds it
// is handed, the paths its broker may open, and its limits.
//
//   cmsg::sandbox::Policy policy;
//   policy.binds.push_back({.source = "/usr", .target = "/usr"});
//   policy.listen = *cmsg::ParseListenSpecs("tcp:127.0.0.1:8080=web");
//   CMSGLIB_ASSIGN_OR_RETURN(cmsg::sandbox::Child child, cmsg::sandbox::Spawn(policy, argv));
#ifndef SANDBOX_POLICY_H_
#define SANDBOX_POLICY_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/net/listen_spec.h"

namespace cmsg::sandbox {

// A host path made visible inside the sandbox at `target` (the same path
// when empty). Read-only unless `writable`; applied recursively.
struct BindMount {
  std::string source;
  std::string target;
  bool writable = false;
};

// A host file opened by the launcher and handed to the command.
struct PassFile {
  enum class Mode { kRead, kWrite, kReadWrite, kAppend };
  std::string path;
  Mode mode = Mode::kRead;
  std::string name;  // LISTEN_FDNAMES entry; defaults to the file's basename
};

// A host path (a directory allows everything beneath it) the command may ask
// the broker to open later; writes only when `writable`.
struct BrokerRule {
  std::string path;
  bool writable = false;
};

// Limits applied inside the sandbox (soft = hard); unset ones are inherited.
struct Rlimits {
  // RLIMIT_CORE, bytes. 0 by default: a core dump runs the host's
  // core_pattern handler (as root, if it is a pipe). Raising it lets a crash
  // inside write cores where core_pattern says.
  std::optional<rlim_t> core = 0;
  std::optional<rlim_t> as;      // RLIMIT_AS, bytes
  std::optional<rlim_t> nofile;  // RLIMIT_NOFILE
  std::optional<rlim_t> nproc;   // RLIMIT_NPROC
  std::optional<rlim_t> cpu;     // RLIMIT_CPU, seconds
  std::optional<rlim_t> fsize;   // RLIMIT_FSIZE, bytes
};

// Where a root launcher takes each sandbox's outside uid/gid from: the
// uid `first_uid + i` and gid `first_gid + i` for some i < count, the first
// no live sandbox holds (a lock file per uid in `lock_dir`, held while the
// sandbox lives). Empty `first_*`: the range /etc/subuid and /etc/subgid
// give the user "sandbox_run", else the built-in default (outside_ids.h).
// REQUIRES: no id in the range is 0 or used by anything else on the host.
struct OutsideIds {
  std::optional<uid_t> first_uid;
  std::optional<gid_t> first_gid;
  uint32_t count = 65536;
  std::string lock_dir = "/run/sandbox_run/ids";
};

// Limits that hold for the whole sandbox tree, through a cgroup of its own
// (cgroup.h), which is removed when the sandbox ends. Unset: no cgroup is
// made. Spawn fails if a limit is set and its controller is unavailable.
// Memory counts what the processes use, tmpfs files they write included; at
// the limit the kernel's OOM killer kills in the sandbox (ExitStatus says
// so), and no swap is used instead.
struct CgroupLimits {
  std::optional<uint64_t> memory_bytes;  // REQUIRES: > 0
  std::optional<uint64_t> pids;          // processes and threads; REQUIRES: > 0
  std::optional<double> cpus;            // CPU time per wall time, 0.5 = half a CPU;
                                         // REQUIRES: 0.01 to 1024
  [[nodiscard]] bool any() const { return memory_bytes || pids || cpus; }
};

// An empty writable tmpfs (mode 1777) at `path`.
struct TmpfsMount {
  TmpfsMount(std::string path = "", std::optional<uint64_t> size_bytes = std::nullopt)
      : path(std::move(path)), size_bytes(size_bytes) {}
  TmpfsMount(const char* path) : path(path) {}
  std::string path;
  // Unset: the kernel's default, half of the host's memory (a cgroup memory
  // limit still counts what is written).
  std::optional<uint64_t> size_bytes;
};

enum class Network {
  kNone,  // a new, empty network namespace with only `lo`, up
  kHost,  // the launcher's network namespace
};

// A time namespace: CLOCK_MONOTONIC and CLOCK_BOOTTIME (and /proc/uptime)
// of the sandbox's own, shifted; the wall clock (CLOCK_REALTIME) is the
// host's. Costs nothing in isolation.
struct TimeNamespace {
  bool enabled = false;
  // Both clocks start near 0 (1 s), as if the host had just booted: the
  // host's uptime is not shown. Otherwise `offset_seconds` is added.
  bool as_if_booted = false;
  int64_t offset_seconds = 0;  // REQUIRES: the clocks stay >= 0
};

// Landlock (landlock.h) behind the mount namespace.
enum class LandlockMode {
  kAuto,  // on when the kernel has Landlock, else off
  kOn,    // Spawn fails when the kernel has no Landlock
  // Security cost: the mount namespace is the only wall around the file
  // system: a passed fd (or stdin) reopened through /proc/self/fd gets
  // whatever access file permissions give the sandbox's uid, and a mount
  // trick found later would expose what it reaches.
  kOff,
};

struct Policy {
  std::vector<BindMount> binds;
  std::vector<TmpfsMount> tmpfs;
  Network network = Network::kNone;
  // Bound by the launcher, passed at fd 3 onward in this order...
  std::vector<ListenSpec> listen;
  // ...followed by these files.
  std::vector<PassFile> files;
  std::vector<BrokerRule> broker;  // empty: no broker
  bool seccomp = true;             // the default deny list (seccomp_filter.h)
  // With `seccomp`: the allow list instead (BuildStrictFilter): default
  // deny, each refused call answered EPERM and named on stderr by a thread
  // of the launcher.
  bool seccomp_strict = false;
  // Socket families allowed besides unix, inet, inet6 and netlink's
  // NETLINK_ROUTE (AF_NETLINK here allows every netlink protocol). Enforced
  // by the seccomp filter. Each widening is a way out of the network
  // namespace or into more kernel code: AF_VSOCK reaches the host whatever
  // the namespace; AF_PACKET, AF_NETLINK (audit, uevents...) and the rest
  // expose more of the kernel.
  std::vector<int> extra_socket_families;
  Rlimits rlimits;
  CgroupLimits cgroup;
  LandlockMode landlock = LandlockMode::kAuto;
  // /dev/shm: a private tmpfs (mode 1777) of at most this many bytes, for
  // POSIX shared memory and semaphores; unset: none. Security cost: memory,
  // up to the size (also counted by a cgroup memory limit).
  std::optional<uint64_t> dev_shm_bytes;
  // /dev/pts: a new devpts instance (ptys of the sandbox's own only, at most
  // kMaxPtys) with /dev/ptmx. Security cost: the kernel's tty code becomes
  // reachable (line disciplines, terminal ioctls); the host's ptys do not.
  bool dev_pts = false;
  static constexpr int kMaxPtys = 64;
  TimeNamespace time;
  uid_t uid = 65534;  // ids inside the sandbox
  gid_t gid = 65534;
  // A root launcher maps those to an outside uid and gid of the sandbox's
  // own (outside_ids.h); an unprivileged launcher can map them only to its
  // own ids.
  OutsideIds outside_ids;
  std::string hostname = "sandbox";
  std::string chdir = "/";
  // The command's environment ("K=V"); PATH defaults to
  // /usr/local/bin:/usr/bin:/bin. LISTEN_* and SANDBOX_BROKER_FD are added.
  std::vector<std::string> env;
  // The sandbox_shim binary; empty: FindShim().
  std::string shim_path;
  // Record the child's set-up step by step in Child::timings().child_steps
  // (sandbox_run --verbose); costs one page shared with the child.
  bool record_step_timings = false;
};

}  // namespace cmsg::sandbox

#endif  // SANDBOX_POLICY_H_
