#include "sandbox/seccomp_filter.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/netlink.h>

#include <algorithm>
#include <unistd.h>

#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "lib/fd/unique_fd.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::sandbox {
namespace {

constexpr const char* kDenied[] = {
    "ptrace",          "process_vm_readv", "process_vm_writev", "kcmp",
    "pidfd_getfd",
    "mount",           "umount2",          "pivot_root",        "chroot",
    "move_mount",      "open_tree",        "fsopen",            "fsconfig",
    "fsmount",         "fspick",           "mount_setattr",     "unshare",
    "setns",           "keyctl",           "add_key",           "request_key",
    "bpf",             "perf_event_open",  "userfaultfd",       "open_by_handle_at",
    "name_to_handle_at", "kexec_load",     "kexec_file_load",   "init_module",
    "finit_module",    "delete_module",    "reboot",            "swapon",
    "swapoff",         "acct",             "syslog",            "quotactl",
    "settimeofday",    "clock_settime",    "clock_adjtime",     "adjtimex",
    "iopl",            "ioperm",           "lookup_dcookie",    "vhangup",
    // io_uring runs its operations outside this filter, and is a large
    // attack surface of its own.
    "io_uring_setup",  "io_uring_enter",   "io_uring_register", "quotactl_fd",
    // LDT entries: a classic kernel attack surface (and 16-bit code).
    "modify_ldt",
    // Move another process's pages between NUMA nodes: side channels and
    // kernel attack surface, no use to a worker.
    "move_pages",      "migrate_pages",
    // Advice on another process's memory (a pidfd's).
    "process_madvise",
};

// The families socket() and socketpair() may use, besides the policy's
// extra ones. AF_NETLINK only with NETLINK_ROUTE (addresses, routes, links
// of the sandbox's own namespace): other netlink protocols (audit, uevent,
// netfilter...) are kernel attack surface or host-wide.
constexpr int kAllowedFamilies[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
// Above AF_MAX (46 in Linux 6.x); socket() rejects those itself.
constexpr int kFamilyLimit = 64;

// --seccomp=strict: everything else is refused (and reported). What
// ordinary workers use - Python, a C server, a shell pipeline - and nothing
// that reaches past the sandbox's own processes, files and sockets.
constexpr const char* kStrictAllowed[] = {
    // files and directories
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range", "lseek", "stat",
    "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat",
    "faccessat2", "getdents", "getdents64", "getcwd", "chdir", "fchdir", "rename", "renameat",
    "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat", "unlink", "unlinkat", "symlink",
    "symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown",
    "lchown", "fchownat", "umask", "truncate", "ftruncate", "fallocate", "fsync", "fdatasync",
    "sync_file_range", "fadvise64", "readahead", "flock", "fcntl", "dup", "dup2", "dup3",
    "pipe", "pipe2", "utime", "utimes", "utimensat", "futimesat", "mknod", "mknodat",
    "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
    "sendfile", "copy_file_range", "splice", "tee", "vmsplice", "ioctl", "memfd_create",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    // memory
    "mmap", "munmap", "mprotect", "mremap", "brk", "madvise", "msync", "mincore", "mlock",
    "mlock2", "munlock", "mlockall", "munlockall", "membarrier",
    // processes and threads
    "clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4",
    "waitid", "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgrp", "getpgid",
    "setpgid", "getsid", "setsid", "set_tid_address", "set_robust_list", "get_robust_list",
    "futex", "futex_waitv", "rseq", "arch_prctl", "prctl", "personality", "sched_yield",
    "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
    "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "sched_rr_get_interval", "sched_getattr", "sched_setattr",
    "getpriority", "setpriority", "getcpu", "pidfd_open", "pidfd_send_signal",
    "restart_syscall", "uname", "sysinfo", "getrandom", "capget",
    // ids and limits (only within the sandbox's user namespace)
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid",
    "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "getrlimit",
    "setrlimit", "prlimit64", "getrusage", "times",
    // signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend", "sigaltstack", "pause",
    "signalfd", "signalfd4",
    // time
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
    "alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
    "timer_getoverrun", "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    // waiting
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
    // sockets (families: the allow list below)
    "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "shutdown",
    "getsockname", "getpeername", "setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg",
    "recvmsg", "sendmmsg", "recvmmsg",
    // System V and POSIX IPC: the sandbox's own ipc namespace
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget",
    "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr",
};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS,   CLONE_NEWIPC,
                                        CLONE_NEWUSER, CLONE_NEWPID,  CLONE_NEWNET,
                                        CLONE_NEWCGROUP, CLONE_NEWTIME};

absl::Status SeccompError(int rc, absl::string_view call) {
  return ErrnoStatus(-rc, call);
}

// Denies every family that is not allowed. The family is an int: the kernel
// reads the low 32 bits (see the "at or above" rule below).
absl::Status AddSocketFamilyRules(scmp_filter_ctx ctx, absl::Span<const int> extra) {
  auto allowed = [&](int family) {
    return std::find(std::begin(kAllowedFamilies), std::end(kAllowedFamilies), family) !=
               std::end(kAllowedFamilies) ||
           std::find(extra.begin(), extra.end(), family) != extra.end();
  };
  if (extra.empty()) {
    // Only unix sockets come in pairs among the default families: one rule.
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
                                  SCMP_A0(SCMP_CMP_NE, AF_UNIX));
        rc < 0)
      return SeccompError(rc, "seccomp_rule_add(socketpair family)");
  }
  for (int call : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
    if (call == SCMP_SYS(socketpair) && extra.empty()) continue;
    // Few rules, as each costs compile time in every launcher: one "at or
    // above" for the last run of refused families (up to kFamilyLimit, and
    // every value above it: a family with any of the high 32 bits set, which
    // the kernel would truncate to a small one, is refused by it too), one
    // "equal" for each refused family below that run.
    int tail = kFamilyLimit;
    while (tail > 0 && !allowed(tail - 1)) --tail;
    for (int family = 0; family < tail; ++family) {
      if (allowed(family)) continue;
      if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1,
                                    SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family)));
          rc < 0)
        return SeccompError(rc, "seccomp_rule_add(socket family)");
    }
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1,
                                  SCMP_A0(SCMP_CMP_GE, static_cast<scmp_datum_t>(tail)));
        rc < 0)
      return SeccompError(rc, "seccomp_rule_add(socket family)");
    // Netlink: NETLINK_ROUTE only, unless the policy allows all of netlink.
    if (std::find(extra.begin(), extra.end(), AF_NETLINK) == extra.end()) {
      if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPROTONOSUPPORT), call, 2,
                                    SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, AF_NETLINK),
                                    SCMP_A2(SCMP_CMP_NE, NETLINK_ROUTE));
          rc < 0)
        return SeccompError(rc, "seccomp_rule_add(netlink protocol)");
    }
  }
  return absl::OkStatus();
}

// The rules on arguments both profiles share: ioctl, personality, clone,
// clone3 and socket families.
absl::Status AddArgumentRules(scmp_filter_ctx ctx, absl::Span<const int> extra_families) {
  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  // The ioctl request is an unsigned int; compare only the low 32 bits.
  for (uint64_t request : {uint64_t{TIOCSTI}, uint64_t{TIOCLINUX}}) {
    if (int rc = seccomp_rule_add(ctx, deny, SCMP_SYS(ioctl), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, request));
        rc < 0)
      return SeccompError(rc, "seccomp_rule_add(ioctl)");
  }
  if (int rc = seccomp_rule_add(ctx, deny, SCMP_SYS(personality), 1,
                                SCMP_A0(SCMP_CMP_NE, PER_LINUX));
      rc < 0)
    return SeccompError(rc, "seccomp_rule_add(personality)");
  // One rule per flag: the rules of a call are or-ed, a masked compare is not.
  for (uint64_t flag : kNamespaceFlags) {
    if (int rc = seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
        rc < 0)
      return SeccompError(rc, "seccomp_rule_add(clone)");
  }
  if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
      rc < 0)
    return SeccompError(rc, "seccomp_rule_add(clone3)");
  return AddSocketFamilyRules(ctx, extra_families);
}

absl::StatusOr<std::vector<sock_filter>> Export(scmp_filter_ctx ctx) {
  // libseccomp 2.5 exports only to an fd; a memfd keeps it off the disk.
  UniqueFd out(memfd_create("seccomp-bpf", MFD_CLOEXEC));
  if (!out.ok()) return ErrnoError("memfd_create");
  if (int rc = seccomp_export_bpf(ctx, out.get()); rc < 0)
    return SeccompError(rc, "seccomp_export_bpf");
  off_t size = lseek(out.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0)
    return absl::InternalError("seccomp_export_bpf wrote no program");
  std::vector<sock_filter> program(size / sizeof(sock_filter));
  if (pread(out.get(), program.data(), size, 0) != size) return ErrnoError("pread");
  return program;
}

int Resolve(const char* name) {
  int nr = seccomp_syscall_resolve_name(name);
  return nr == __NR_SCMP_ERROR ? -1 : nr;
}

absl::Status UnknownCall(const char* name) {
  return absl::InternalError(absl::StrCat("seccomp: system call \"", name,
                                          "\" is unknown to this libseccomp"));
}

}  // namespace

absl::StatusOr<std::vector<sock_filter>> BuildDenyListFilterForBuild() {
  return BuildDenyListFilter(kDenied, {});
}

absl::StatusOr<std::vector<sock_filter>> BuildDefaultFilter(absl::Span<const int> extra_families) {
  if (!extra_families.empty()) return BuildDenyListFilter(kDenied, extra_families);
#ifdef SANDBOX_PRECOMPILED_FILTER
  // The common case was compiled when this was built (seccomp_filter_gen):
  // about a millisecond of libseccomp's work saved on every spawn.
  static constexpr sock_filter kPrecompiled[] = {
#include "sandbox/default_filter.inc"
  };
  return std::vector<sock_filter>(std::begin(kPrecompiled), std::end(kPrecompiled));
#else
  static const auto* const program =
      new absl::StatusOr<std::vector<sock_filter>>(BuildDenyListFilter(kDenied, {}));
  return *program;
#endif
}

absl::StatusOr<std::vector<sock_filter>> BuildStrictFilter(absl::Span<const int>) {
  static const auto* const program =
      new absl::StatusOr<std::vector<sock_filter>>(BuildAllowListFilter(kStrictAllowed, {}));
  return *program;
}

absl::StatusOr<std::vector<sock_filter>> BuildAllowListFilter(
    absl::Span<const char* const> allowed, absl::Span<const int> extra_families) {
  // Everything not allowed goes to the launcher, which answers EPERM and
  // says which call it was (SeccompNotifier). The argument rules are not
  // here: this filter is stacked on the default one, and the kernel applies
  // the stricter verdict of the two (an errno beats a notification, which
  // beats "allow").
  (void)extra_families;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_NOTIFY);
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  absl::Cleanup release = [ctx] { seccomp_release(ctx); };
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0)
    return SeccompError(rc, "seccomp_attr_set(ACT_BADARCH)");
  for (const char* name : allowed) {
    int nr = Resolve(name);
    if (nr < 0) return UnknownCall(name);
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0); rc < 0)
      return SeccompError(rc, absl::StrCat("seccomp_rule_add(", name, ")"));
  }
  return Export(ctx);
}

absl::StatusOr<std::vector<sock_filter>> BuildDenyListFilter(
    absl::Span<const char* const> denied, absl::Span<const int> extra_families) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  absl::Cleanup release = [ctx] { seccomp_release(ctx); };
  // Only the native architecture is in the filter; libseccomp then kills on
  // any other (and on x32 syscall numbers).
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0)
    return SeccompError(rc, "seccomp_attr_set(ACT_BADARCH)");
  for (const char* name : denied) {
    // Fail closed: a name this libseccomp does not know (a typo, or a call
    // newer than it) would otherwise leave the call allowed.
    int nr = Resolve(name);
    if (nr < 0) return UnknownCall(name);
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0); rc < 0)
      return SeccompError(rc, absl::StrCat("seccomp_rule_add(", name, ")"));
  }
  CMSGLIB_RETURN_IF_ERROR(AddArgumentRules(ctx, extra_families));
  return Export(ctx);
}

}  // namespace cmsg::sandbox
