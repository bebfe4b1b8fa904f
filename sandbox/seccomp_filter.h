// The default seccomp-bpf filter, compiled by the launcher before the
// sandbox is created so the child only has to load it (no allocation there).
//
//   CMSGLIB_ASSIGN_OR_RETURN(std::vector<sock_filter> prog, BuildDefaultFilter());
//   // in the child: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog)
//
// Everything is allowed except the calls below, which fail with EPERM:
//   ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd
//   mount umount2 pivot_root chroot move_mount open_tree fsopen fsconfig
//   fsmount fspick mount_setattr unshare setns
//   keyctl add_key request_key bpf perf_event_open userfaultfd
//   open_by_handle_at name_to_handle_at
//   kexec_load kexec_file_load init_module finit_module delete_module
//   reboot swapon swapoff acct syslog quotactl
//   settimeofday clock_settime clock_adjtime adjtimex iopl ioperm
//   lookup_dcookie vhangup personality (other than PER_LINUX)
//   io_uring_setup io_uring_enter io_uring_register quotactl_fd
//   modify_ldt move_pages migrate_pages process_madvise
//   ioctl(TIOCSTI) ioctl(TIOCLINUX)
//   clone/clone3 that ask for a new namespace (clone3 fails with ENOSYS so
//   libc falls back to clone, whose flags the filter can see)
// socket() and socketpair() work only for AF_UNIX, AF_INET, AF_INET6 and
// AF_NETLINK with NETLINK_ROUTE, plus `extra_families` (AF_NETLINK there:
// every netlink protocol); other families fail with EAFNOSUPPORT, other
// netlink protocols with EPROTONOSUPPORT.
// Calls made under any architecture but x86-64 (i386 via int 0x80, x32)
// kill the process. A name libseccomp cannot resolve is an error, never
// skipped.
#ifndef SANDBOX_SECCOMP_FILTER_H_
#define SANDBOX_SECCOMP_FILTER_H_

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace cmsg::sandbox {

[[nodiscard]] absl::StatusOr<std::vector<sock_filter>> BuildDefaultFilter(
    absl::Span<const int> extra_families = {});

// --seccomp=strict, loaded on top of BuildDefaultFilter's program (the
// kernel takes the stricter verdict, so the deny list and its argument rules
// still hold): default deny. Only the calls of kStrictAllowed
// (seccomp_filter.cc: files, memory, processes, signals, time, polling,
// sockets, System V/POSIX IPC; see sandbox/README.md) run; every other call
// stops in SECCOMP_RET_USER_NOTIF, so the program loading it must pass the
// listener fd to a SeccompNotifier, which answers EPERM and reports the call
// by name. `extra_families` is unused (the default program applies it).
[[nodiscard]] absl::StatusOr<std::vector<sock_filter>> BuildStrictFilter(
    absl::Span<const int> extra_families = {});

// BuildDefaultFilter() compiled at run time, for the build-time generator
// of the precompiled copy that BuildDefaultFilter() returns.
[[nodiscard]] absl::StatusOr<std::vector<sock_filter>> BuildDenyListFilterForBuild();

// The same with `denied` / `allowed` in place of the lists (for tests).
[[nodiscard]] absl::StatusOr<std::vector<sock_filter>> BuildAllowListFilter(
    absl::Span<const char* const> allowed, absl::Span<const int> extra_families);
[[nodiscard]] absl::StatusOr<std::vector<sock_filter>> BuildDenyListFilter(
    absl::Span<const char* const> denied, absl::Span<const int> extra_families);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_SECCOMP_FILTER_H_
