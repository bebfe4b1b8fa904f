// The cloned child, from clone to exec. Async-signal-safe only: system calls
// and reads of the plan, no allocation, no locks, no Abseil.
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

#include "sandbox/child_plan.h"
#include "sandbox/handoff.h"
#include "sandbox/landlock.h"

namespace cmsg::sandbox {
namespace {

// Where failures are reported; the child's own copy, moved with the fds.
int error_fd = -1;

// A tiny strlcat, so error texts need no allocation.
void Append(char* buf, size_t size, const char* text) {
  size_t used = strnlen(buf, size);
  while (*text && used + 1 < size) buf[used++] = *text++;
  buf[used] = '\0';
}

// `path` is shown as the command will see it (kNewRoot stripped) unless it
// is a host path.
[[noreturn]] void Fail(const char* call, const char* path, bool host_path) {
  ChildError report;
  report.error = errno;
  Append(report.what, sizeof(report.what), call);
  if (path != nullptr) {
    Append(report.what, sizeof(report.what), "(");
    if (!host_path && strncmp(path, kNewRoot, sizeof(kNewRoot) - 1) == 0) {
      path += sizeof(kNewRoot) - 1;
      if (*path == '\0') path = "/";
    }
    Append(report.what, sizeof(report.what), path);
    Append(report.what, sizeof(report.what), ")");
  }
  ssize_t ignored = write(error_fd, &report, sizeof(report));
  (void)ignored;
  _exit(125);
}

// Records the end of `step` for sandbox_run --verbose (clock_gettime is a
// vDSO read: no system call, nothing allocated).
void Mark(const ChildPlan& plan, ChildStep step) {
  if (plan.step_ns == nullptr) return;
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  plan.step_ns[step] = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

// Checks a step whose `path` (if any) is inside the new root.
void Check(const ChildPlan&, bool ok, const char* call, const char* path = nullptr) {
  if (!ok) Fail(call, path, false);
}

// Checks a step whose `path` is on the host.
void CheckHost(bool ok, const char* call, const char* path) {
  if (!ok) Fail(call, path, true);
}

// The new root's tmpfs, once mounted: every mount target is resolved below
// it without following symlinks. Before the pivot, ".." above the new root is
// the host's "/", so a symlink planted in a bind's source (by whoever can
// write there) could otherwise lead a mkdir or mount onto the host.
int new_root_fd = -1;

// `target` (kNewRoot + "/a/b") relative to the new root ("a/b", or ".").
const char* InRoot(const char* target) {
  const char* relative = target + sizeof(kNewRoot) - 1;
  while (*relative == '/') ++relative;
  return *relative != '\0' ? relative : ".";
}

int OpenInRoot(const ChildPlan& plan, const char* relative, int flags, const char* target) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, new_root_fd, relative, &how, sizeof(how)));
  Check(plan, fd >= 0, "open", target);
  return fd;
}

// Opens the directory that holds `target` and points `*name` at its last
// component (within `buf`).
int OpenParent(const ChildPlan& plan, const char* target, char* buf, size_t size,
               const char** name) {
  const char* relative = InRoot(target);
  size_t length = strnlen(relative, size);
  if (length >= size) errno = ENAMETOOLONG;
  Check(plan, length < size, "open", target);
  memcpy(buf, relative, length + 1);
  char* slash = strrchr(buf, '/');
  if (slash == nullptr) {
    *name = buf;
    return OpenInRoot(plan, ".", O_PATH | O_DIRECTORY, target);
  }
  *slash = '\0';
  *name = slash + 1;
  return OpenInRoot(plan, buf, O_PATH | O_DIRECTORY, target);
}

// "/proc/self/fd/N", for mount(2), which takes only a path.
void FdPath(int fd, char* buf) {
  char digits[16];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0);
  memcpy(buf, "/proc/self/fd/", 14);
  for (int i = 0; i < n; ++i) buf[14 + i] = digits[n - 1 - i];
  buf[14 + n] = '\0';
}

// Mounts a new file system of `type` on the directory `target` (opened
// without following symlinks).
void MountOn(const ChildPlan& plan, const char* target, const char* type,
             unsigned long flags, const char* options, const char* call) {
  int dir = OpenInRoot(plan, InRoot(target), O_PATH | O_DIRECTORY, target);
  char path[32];
  FdPath(dir, path);
  Check(plan, mount(type, path, type, flags, options) == 0, call, target);
  close(dir);
}

void RunMountStep(const ChildPlan& plan, const MountStep& step) {
  const char* target = step.target.c_str();
  char buf[PATH_MAX];
  const char* name;
  switch (step.kind) {
    case MountStep::Kind::kMkdir: {
      int parent = OpenParent(plan, target, buf, sizeof(buf), &name);
      Check(plan, mkdirat(parent, name, 0755) == 0 || errno == EEXIST, "mkdir", target);
      close(parent);
      return;
    }
    case MountStep::Kind::kMkfile: {
      int parent = OpenParent(plan, target, buf, sizeof(buf), &name);
      // O_NONBLOCK: a FIFO already there (in a writable bind's source) must
      // not block the set-up in open(); a file is bound over it.
      int fd = openat(parent, name, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                      0644);
      Check(plan, fd >= 0, "create", target);
      close(fd);
      close(parent);
      return;
    }
    case MountStep::Kind::kBind: {
      int tree = static_cast<int>(syscall(SYS_open_tree, step.source_fd, "",
                                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                                              AT_RECURSIVE | AT_EMPTY_PATH));
      CheckHost(tree >= 0, "open_tree", step.source.c_str());
      // Set on the detached tree, recursively, before it is visible: no
      // window in which it is writable, no path to resolve twice. Only sets
      // flags, so those the host locked (nosuid, nodev...) stay.
      mount_attr attr{};
      attr.attr_set = MOUNT_ATTR_NOSUID | (step.devices ? 0 : MOUNT_ATTR_NODEV) |
                      (step.writable ? 0 : MOUNT_ATTR_RDONLY);
      CheckHost(syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                        sizeof(attr)) == 0,
                "mount_setattr", step.source.c_str());
      int at = OpenInRoot(plan, InRoot(target), O_PATH, target);
      Check(plan,
            syscall(SYS_move_mount, tree, "", at, "",
                    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0,
            "move_mount", target);
      close(at);
      close(tree);
      return;
    }
    case MountStep::Kind::kTmpfs:
      MountOn(plan, target, "tmpfs", MS_NOSUID | MS_NODEV, step.options.c_str(), "mount(tmpfs)");
      return;
    case MountStep::Kind::kDevpts:
      // devpts is the one file system whose device nodes work in a user
      // namespace; its nodes are the sandbox's own ptys.
      MountOn(plan, target, "devpts", MS_NOSUID | MS_NOEXEC, step.options.c_str(),
              "mount(devpts)");
      return;
    case MountStep::Kind::kProc:
      MountOn(plan, target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, "mount(proc)");
      return;
    case MountStep::Kind::kSymlink: {
      int parent = OpenParent(plan, target, buf, sizeof(buf), &name);
      Check(plan, symlinkat(step.source.c_str(), parent, name) == 0 || errno == EEXIST,
            "symlink", target);
      close(parent);
      return;
    }
    case MountStep::Kind::kReadOnly: {
      // That one mount, not those on top of it.
      int at = OpenInRoot(plan, InRoot(target), O_PATH | O_DIRECTORY, target);
      mount_attr attr{};
      attr.attr_set = MOUNT_ATTR_RDONLY;
      Check(plan,
            syscall(SYS_mount_setattr, at, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0,
            "mount_setattr(MOUNT_ATTR_RDONLY)", target);
      close(at);
      return;
    }
  }
}

// Opens every bind source while the child still has the launcher's ids: the
// sandbox's ids may not even be able to look the path up.
void OpenBindSources(ChildPlan& plan) {
  for (MountStep& step : plan.mounts) {
    if (step.kind != MountStep::Kind::kBind) continue;
    step.source_fd = open(step.source.c_str(), O_PATH | O_CLOEXEC);
    CheckHost(step.source_fd >= 0, "open", step.source.c_str());
  }
}

// Takes the sandbox's ids now, keeping the capabilities (in the new user
// namespace) needed to build the root: files it creates there need an id
// that is mapped. Raw system calls, not glibc's wrappers: those change the
// ids of every thread glibc knows of, by signalling them under a lock - and
// this child of clone3 copied both the thread list and the lock (perhaps
// held) from a launcher that may be multi-threaded, but has one thread.
void BecomeSandboxUser(const ChildPlan& plan) {
  // The launcher's supplementary groups would otherwise still count on host
  // files.
  if (plan.clear_groups) Check(plan, syscall(SYS_setgroups, 0, nullptr) == 0, "setgroups");
  Check(plan, syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) == 0, "setresgid");
  Check(plan, prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0, "prctl(PR_SET_KEEPCAPS)");
  Check(plan, syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) == 0, "setresuid");
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  Check(plan, syscall(SYS_capget, &header, data) == 0, "capget");
  for (auto& d : data) d.effective = d.permitted;
  Check(plan, syscall(SYS_capset, &header, data) == 0, "capset");
}

void BuildRoot(const ChildPlan& plan) {
  // Nothing we mount may propagate back to the host.
  Check(plan, mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0,
        "mount(/, MS_PRIVATE)");
  // The new root is a tmpfs over kNewRoot; the bind sources are already
  // open, so nothing of the host needs to stay reachable.
  CheckHost(mount("tmpfs", kNewRoot, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0,
            "mount(tmpfs)", kNewRoot);
  new_root_fd = open(kNewRoot, O_PATH | O_DIRECTORY | O_CLOEXEC);
  CheckHost(new_root_fd >= 0, "open", kNewRoot);
  for (const MountStep& step : plan.mounts) RunMountStep(plan, step);
  close(new_root_fd);
  Mark(plan, kChildMounts);
  // Stack the new root over the old one and detach the old.
  Check(plan, chdir(kNewRoot) == 0, "chdir", kNewRoot);
  Check(plan, syscall(SYS_pivot_root, ".", ".") == 0, "pivot_root", kNewRoot);
  Mark(plan, kChildPivot);
  Check(plan, umount2(".", MNT_DETACH) == 0, "umount2(old root)");
  Check(plan, chdir("/") == 0, "chdir", "/");
  Mark(plan, kChildOldRootGone);
}

// Appends the decimal `value` (async-signal-safe).
void AppendNumber(char* buf, size_t size, int64_t value) {
  char digits[24];
  int n = 0;
  uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude > 0);
  if (value < 0) digits[n++] = '-';
  char text[24];
  for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
  text[n] = '\0';
  Append(buf, size, text);
}

// A new time namespace for the shim (which enters it at exec) and all it
// starts. Its offsets can only be set before any process is in it.
void NewTimeNamespace(const ChildPlan& plan) {
  Check(plan, unshare(CLONE_NEWTIME) == 0, "unshare(CLONE_NEWTIME)");
  char text[128] = {};
  const struct {
    const char* name;
    clockid_t clock;
  } clocks[] = {{"monotonic", CLOCK_MONOTONIC}, {"boottime", CLOCK_BOOTTIME}};
  for (const auto& c : clocks) {
    int64_t offset = plan.time_offset_seconds;
    if (plan.time_as_if_booted) {
      timespec now;
      clock_gettime(c.clock, &now);
      offset = 1 - static_cast<int64_t>(now.tv_sec);  // the clock reads 1 s and more
    }
    Append(text, sizeof(text), c.name);
    Append(text, sizeof(text), " ");
    AppendNumber(text, sizeof(text), offset);
    Append(text, sizeof(text), " 0\n");
  }
  int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
  Check(plan, fd >= 0, "open", "/proc/self/timens_offsets");
  size_t length = strlen(text);
  Check(plan, write(fd, text, length) == static_cast<ssize_t>(length), "write",
        "/proc/self/timens_offsets");
  close(fd);
}

void LoopbackUp(const ChildPlan& plan) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  Check(plan, sock >= 0, "socket(AF_INET)");
  ifreq ifr{};
  memcpy(ifr.ifr_name, "lo", 3);
  ifr.ifr_flags = IFF_UP | IFF_RUNNING;
  Check(plan, ioctl(sock, SIOCSIFFLAGS, &ifr) == 0, "ioctl(SIOCSIFFLAGS, lo)");
  close(sock);
}

void DropPrivileges(const ChildPlan& plan) {
  // A new, empty session keyring: the launcher's is possessed by whatever
  // inherits it, so its keys would be readable inside (keyctl is denied by
  // the default filter, not by --seccomp=off).
  Check(plan,
        syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, nullptr) >= 0 || errno == ENOSYS,
        "keyctl(KEYCTL_JOIN_SESSION_KEYRING)");
  // Every capability the kernel knows, without reading each first: the
  // first number past the last one is EINVAL. Capability sets are 64 bits:
  // a prctl that never says EINVAL (a filter faking success) is refused.
  constexpr int kCapabilityBits = 64;
  int cap = 0;
  while (cap < kCapabilityBits && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) ++cap;
  Check(plan, cap > 0 && cap < kCapabilityBits && errno == EINVAL, "prctl(PR_CAPBSET_DROP)");
  Check(plan, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0,
        "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  Check(plan, prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == 0, "prctl(PR_SET_KEEPCAPS)");
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  Check(plan, syscall(SYS_capset, &header, data) == 0, "capset");
  Check(plan, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "prctl(PR_SET_NO_NEW_PRIVS)");
}

// Dies with the launcher: the death signal is armed only now because
// changing ids clears it; then the sync pipe tells whether the launcher already died.
void DieWithLauncher(const ChildPlan& plan) {
  Check(plan, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0, "prctl(PR_SET_PDEATHSIG)");
  pollfd p{plan.sync_read, POLLIN, 0};
  if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR))) _exit(125);
}

// Leaves exactly: 0-2, the control socket at kShimControlFd, and (close-on-
// exec) the error pipe and the shim binary, whose numbers it returns.
void KeepOnlyNeededFds(const ChildPlan& plan, int* exe_fd) {
  constexpr int kHigh = kShimControlFd + 3;
  int control = fcntl(plan.control, F_DUPFD_CLOEXEC, kHigh);
  int error = fcntl(plan.error_write, F_DUPFD_CLOEXEC, kHigh);
  int exe = fcntl(plan.shim_exe, F_DUPFD_CLOEXEC, kHigh);
  Check(plan, control >= 0 && error >= 0 && exe >= 0, "fcntl(F_DUPFD_CLOEXEC)");
  Check(plan, dup3(error, kShimControlFd + 1, O_CLOEXEC) >= 0, "dup3");
  error_fd = kShimControlFd + 1;
  Check(plan, dup3(control, kShimControlFd, 0) >= 0, "dup3");
  Check(plan, dup3(exe, kShimControlFd + 2, O_CLOEXEC) >= 0, "dup3");
  Check(plan, syscall(SYS_close_range, kShimControlFd + 3, ~0U, 0) == 0, "close_range");
  *exe_fd = kShimControlFd + 2;
}

}  // namespace

void RunSandboxChild(ChildPlan& plan) {
  Mark(plan, kChildRunning);
  error_fd = plan.error_write;
  for (int fd : plan.close_first) close(fd);
  char go;
  ssize_t n;
  do {
    n = read(plan.sync_read, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) _exit(125);  // the launcher gave up
  Mark(plan, kChildGo);
  // A session of its own (and so a process group, and no controlling
  // terminal): kill(0, ...) from inside reaches only the sandbox, the
  // terminal's job-control signals reach only the launcher (which forwards
  // them), and TIOCSTI/TIOCSCTTY on an inherited terminal fail in the kernel
  // itself. (CVE-2017-5226 in bubblewrap.)
  Check(plan, setsid() >= 0, "setsid");
  if (plan.unshare_cgroup_ns) Check(plan, unshare(CLONE_NEWCGROUP) == 0, "unshare(CLONE_NEWCGROUP)");
  Mark(plan, kChildSession);

  OpenBindSources(plan);
  Mark(plan, kChildSources);
  // While the child is still dumpable (changing ids makes it not, and then
  // its /proc files are no longer its own to write).
  if (plan.time_ns) NewTimeNamespace(plan);
  BecomeSandboxUser(plan);
  Mark(plan, kChildIds);
  BuildRoot(plan);
  if (!plan.hostname.empty()) {
    Check(plan, sethostname(plan.hostname.data(), plan.hostname.size()) == 0,
          "sethostname");
  }
  if (plan.loopback_up) LoopbackUp(plan);
  Mark(plan, kChildNetwork);
  Check(plan, chdir(plan.chdir.c_str()) == 0, "chdir", plan.chdir.c_str());
  DropPrivileges(plan);
  DieWithLauncher(plan);
  Mark(plan, kChildPrivileges);
  int exe_fd;
  KeepOnlyNeededFds(plan, &exe_fd);
  Mark(plan, kChildFds);
  // After NO_NEW_PRIVS and the pivot (the rules name paths in the new
  // root), before the rlimits (it opens a few fds) and seccomp.
  if (plan.landlock.abi > 0) {
    const char* path;
    const char* failed = ApplyLandlock(plan.landlock, exe_fd, &path);
    Check(plan, failed == nullptr, failed, path);
  }
  Mark(plan, kChildLandlock);
  // After the fds are down to a handful, so a low RLIMIT_NOFILE still fits.
  for (const RlimitStep& limit : plan.rlimits) {
    rlimit value{limit.value, limit.value};
    Check(plan, setrlimit(limit.resource, &value) == 0, "setrlimit");
  }
  // The shim starts with default signal dispositions and an empty mask,
  // whatever the launcher ignored or blocked (exec keeps both).
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal) sigaction(signal, &default_action, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  Mark(plan, kChildLimits);
  if (!plan.seccomp.empty()) {
    sock_fprog program{static_cast<unsigned short>(plan.seccomp.size()),
                       const_cast<sock_filter*>(plan.seccomp.data())};
    Check(plan, prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0,
          "prctl(PR_SET_SECCOMP)");
    if (!plan.seccomp_notify.empty()) {
      program = {static_cast<unsigned short>(plan.seccomp_notify.size()),
                 const_cast<sock_filter*>(plan.seccomp_notify.data())};
      int listener = static_cast<int>(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                              SECCOMP_FILTER_FLAG_NEW_LISTENER, &program));
      Check(plan, listener >= 0, "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)");
      // Hand-built: no allocation here. The launcher reads it after exec.
      char byte = kSeccompListenerByte;
      iovec iov{&byte, 1};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      cmsghdr* header = CMSG_FIRSTHDR(&msg);
      header->cmsg_level = SOL_SOCKET;
      header->cmsg_type = SCM_RIGHTS;
      header->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(header), &listener, sizeof(int));
      Check(plan, sendmsg(kShimControlFd, &msg, MSG_NOSIGNAL) == 1, "sendmsg(seccomp listener)");
      close(listener);
    }
  }
  Mark(plan, kChildSeccomp);
  char arg0[] = "sandbox_shim";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  syscall(SYS_execveat, exe_fd, "", argv, envp, AT_EMPTY_PATH);
  Fail("execveat(sandbox_shim)", nullptr, true);
}

}  // namespace cmsg::sandbox
