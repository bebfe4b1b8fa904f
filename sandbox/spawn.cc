#include "sandbox/spawn.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <cstring>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/net/listen_spec.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"
#include "sandbox/broker.h"
#include "sandbox/cgroup.h"
#include "sandbox/child_plan.h"
#include "sandbox/handoff.h"
#include "sandbox/landlock.h"
#include "sandbox/mount_plan.h"
#include "sandbox/outside_ids.h"
#include "sandbox/sandbox_path.h"
#include "sandbox/seccomp_filter.h"
#include "sandbox/seccomp_notifier.h"
#include "lib/cmsg/cmsg.h"

namespace cmsg::sandbox {
namespace {

// struct clone_args, version 0 (the kernel's uapi header clashes with glibc's).
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

int OpenFlags(PassFile::Mode mode) {
  switch (mode) {
    case PassFile::Mode::kRead: return O_RDONLY;
    case PassFile::Mode::kWrite: return O_WRONLY | O_CREAT | O_TRUNC;
    case PassFile::Mode::kReadWrite: return O_RDWR | O_CREAT;
    case PassFile::Mode::kAppend: return O_WRONLY | O_CREAT | O_APPEND;
  }
  return O_RDONLY;
}

struct PassedFds {
  std::vector<UniqueFd> fds;
  std::vector<std::string> names;
  std::unique_ptr<SocketFiles> socket_files = std::make_unique<SocketFiles>();
};

// The filesystem path of a unix socket spec, or "" (abstract, or not unix).
std::string SocketFilePath(const ListenSpec& spec) {
  if (spec.kind != ListenSpec::Kind::kUnix) return "";
  std::string text = spec.address.ToString();
  if (!absl::StartsWith(text, "unix:") || absl::StartsWith(text, "unix:@") ||
      text == "unix:(unnamed)")
    return "";
  return text.substr(5);
}

absl::StatusOr<PassedFds> OpenPassedFds(const Policy& policy,
                                        absl::Span<const InheritedFd> inherited) {
  PassedFds out;
  for (const InheritedFd& fd : inherited) {
    CMSGLIB_RETURN_IF_ERROR(ValidateFdName(fd.name));
    UniqueFd copy(fcntl(fd.fd, F_DUPFD_CLOEXEC, 3));
    if (!copy.ok()) return ErrnoError(absl::StrCat("fcntl(F_DUPFD_CLOEXEC) of inherited fd ", fd.fd));
    out.fds.push_back(std::move(copy));
    out.names.push_back(fd.name);
  }
  for (const ListenSpec& spec : policy.listen) {
    absl::StatusOr<UniqueFd> fd = BindListenSpec(spec);
    if (!fd.ok()) {
      return absl::Status(fd.status().code(),
                          absl::StrCat("listen ", spec.ToString(), ": ", fd.status().message()));
    }
    out.fds.push_back(std::move(*fd));
    out.names.push_back(spec.name);
    if (std::string path = SocketFilePath(spec); !path.empty() && !out.socket_files->Add(path))
      return ErrnoError(absl::StrCat("listen ", spec.ToString(), ": stat"));
  }
  for (const PassFile& file : policy.files) {
    // The launcher may be root: whoever can write a directory on the path
    // must not redirect it with a symlink (to read /etc/shadow, or truncate
    // it).
    // O_NONBLOCK: no open may wait (a FIFO's waits for its other end, which
    // whoever planted it holds), before --timeout even starts.
    open_how how{};
    how.flags = static_cast<uint64_t>(OpenFlags(file.mode) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    how.mode = (how.flags & O_CREAT) ? 0644 : 0;
    how.resolve = RESOLVE_NO_SYMLINKS;
    UniqueFd fd(static_cast<int>(syscall(SYS_openat2, AT_FDCWD, file.path.c_str(), &how,
                                         sizeof(how))));
    if (!fd.ok()) {
      const char* why = errno == ELOOP   ? " (symlinks are not followed)"
                        : errno == ENXIO ? " (a FIFO with no reader, or a socket: not passed)"
                                         : "";
      return ErrnoError(absl::StrCat("pass_file ", file.path, why));
    }
    // A directory fd would let the command resolve ".." on the host,
    // outside its root.
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return ErrnoError(absl::StrCat("fstat ", file.path));
    if (S_ISDIR(st.st_mode))
      return ErrnoStatus(EISDIR, absl::StrCat("pass_file ", file.path));
    if (S_ISFIFO(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pass_file ", file.path, ": a FIFO (opening one waits for its other end): redirect "
          "it to the command's stdin or stdout instead"));
    }
    // The command gets the blocking file it asked for.
    const int status_flags = fcntl(fd.get(), F_GETFL);
    if (status_flags < 0 || fcntl(fd.get(), F_SETFL, status_flags & ~O_NONBLOCK) < 0)
      return ErrnoError(absl::StrCat("fcntl ", file.path));
    out.fds.push_back(std::move(fd));
    std::string name = file.name;
    if (name.empty()) name = file.path.substr(file.path.rfind('/') + 1);
    CMSGLIB_RETURN_IF_ERROR(ValidateFdName(name));
    out.names.push_back(std::move(name));
  }
  return out;
}

std::vector<RlimitStep> RlimitSteps(const Rlimits& limits) {
  std::vector<RlimitStep> steps;
  auto add = [&](int resource, const std::optional<rlim_t>& value) {
    if (value) steps.push_back({resource, *value});
  };
  add(RLIMIT_AS, limits.as);
  add(RLIMIT_NOFILE, limits.nofile);
  add(RLIMIT_NPROC, limits.nproc);
  add(RLIMIT_CPU, limits.cpu);
  add(RLIMIT_FSIZE, limits.fsize);
  add(RLIMIT_CORE, limits.core);
  return steps;
}

absl::Status WriteProcFile(pid_t pid, const char* name, absl::string_view text) {
  std::string path = absl::StrCat("/proc/", pid, "/", name);
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.ok()) return ErrnoError(absl::StrCat("open ", path));
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return ErrnoError(absl::StrCat("write ", path, " \"", text, "\""));
  return absl::OkStatus();
}

absl::Status WriteIdMaps(pid_t pid, const Policy& policy, const OutsideIdLease* lease) {
  const bool root = lease != nullptr;
  uid_t outside_uid = root ? lease->uid : geteuid();
  gid_t outside_gid = root ? lease->gid : getegid();
  // Unprivileged id maps require setgroups to be denied first.
  if (!root) CMSGLIB_RETURN_IF_ERROR(WriteProcFile(pid, "setgroups", "deny"));
  CMSGLIB_RETURN_IF_ERROR(
      WriteProcFile(pid, "uid_map", absl::StrCat(policy.uid, " ", outside_uid, " 1\n")));
  return WriteProcFile(pid, "gid_map", absl::StrCat(policy.gid, " ", outside_gid, " 1\n"));
}

absl::Status CheckPolicy(const Policy& policy, absl::Span<const std::string> argv,
                         size_t inherited) {
  if (argv.empty() || argv[0].empty()) return absl::InvalidArgumentError("no command to run");
  for (const std::string& kv : policy.env) {
    if (kv.find('=') == std::string::npos || kv[0] == '=')
      return absl::InvalidArgumentError(absl::StrCat("environment entry \"", kv, "\" is not K=V"));
  }
  if (policy.chdir != "/") CMSGLIB_RETURN_IF_ERROR(CheckSandboxPath(policy.chdir, "chdir"));
  if (policy.hostname.size() > 64)
    return absl::InvalidArgumentError("hostname is longer than 64 bytes");
  if (inherited + policy.listen.size() + policy.files.size() + 1 > kMaxPassedFds)
    return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxPassedFds - 1, " fds can be passed"));
  return absl::OkStatus();
}

std::vector<std::string> CommandEnv(const Policy& policy) {
  std::vector<std::string> env = policy.env;
  bool has_path = false;
  for (const std::string& kv : env) has_path |= absl::StartsWith(kv, "PATH=");
  if (!has_path) env.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  return env;
}

// stdio crosses into the sandbox as it is. A directory there (or an O_PATH
// fd, which can be a directory's) resolves ".." on the host: runc's
// CVE-2024-21626. Refused, naming the stream.
absl::Status CheckStdio() {
  constexpr const char* kNames[] = {"stdin", "stdout", "stderr"};
  for (int fd = 0; fd < 3; ++fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) continue;  // closed: nothing crosses
    const std::string which = absl::StrCat(kNames[fd], " (fd ", fd, ")");
    if (flags & O_PATH) {
      return absl::FailedPreconditionError(absl::StrCat(
          which, " is an O_PATH fd: refused (it could name a host directory)"));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) return ErrnoError(absl::StrCat("fstat ", which));
    if (S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(
          which, " is a directory: refused (the command could open host files beside it "
                 "with openat(", fd, ", \"../...\"))"));
    }
  }
  return absl::OkStatus();
}

// Waits until `fd` is readable or `deadline` passes (DeadlineExceeded).
absl::Status PollUntil(int fd, absl::Time deadline, absl::string_view what) {
  for (;;) {
    int ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) left = absl::ZeroDuration();
      ms = static_cast<int>(std::min<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), INT_MAX));
    }
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, ms);
    if (ready > 0) return absl::OkStatus();
    if (ready == 0) return absl::DeadlineExceededError(absl::StrCat("timed out ", what));
    if (errno != EINTR) return ErrnoError("poll");
  }
}

absl::StatusOr<std::pair<UniqueFd, UniqueFd>> Pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  return std::make_pair(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

absl::StatusOr<std::pair<UniqueFd, UniqueFd>> SocketPair(int type) {
  int fds[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) return ErrnoError("socketpair");
  return std::make_pair(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// The clock the child's step times are in.
int64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

}  // namespace

bool SocketFiles::Add(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  File file;
  file.name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  file.dir.reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  // On failure the file is not removed by path: a directory on it may have
  // been swapped for a symlink since the bind, and the (root) launcher would
  // unlink a file of that name elsewhere. What cannot be checked to be ours
  // stays.
  struct stat st;
  if (!file.dir.ok() || fstatat(file.dir.get(), file.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return false;  // errno says why
  if (!S_ISSOCK(st.st_mode)) {
    errno = ENOTSOCK;
    return false;
  }
  file.dev = st.st_dev;
  file.ino = st.st_ino;
  files.push_back(std::move(file));
  return true;
}

SocketFiles::~SocketFiles() {
  for (const File& file : files) {
    struct stat st;
    if (fstatat(file.dir.get(), file.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISSOCK(st.st_mode) && st.st_dev == file.dev && st.st_ino == file.ino) {
      unlinkat(file.dir.get(), file.name.c_str(), 0);
    }
  }
}

absl::StatusOr<std::string> FindSandboxBinary(const std::string& name, const char* env_var) {
  if (const char* env = getenv(env_var); env != nullptr && *env != '\0') {
    if (!IsExecutable(env)) return ErrnoError(absl::StrCat(env_var, "=", env));
    return std::string(env);
  }
  std::vector<std::string> candidates;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string self(exe, n);
    candidates.push_back(absl::StrCat(self.substr(0, self.rfind('/') + 1), name));
    candidates.push_back(absl::StrCat(self, ".runfiles/cmsg/sandbox/", name));
  }
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    if (const char* dir = getenv(var)) candidates.push_back(absl::StrCat(dir, "/cmsg/sandbox/", name));
  }
  for (const std::string& path : candidates)
    if (IsExecutable(path)) return path;
  return absl::NotFoundError(
      absl::StrCat("cannot find ", name, " (set ", env_var, " to its path)"));
}

absl::StatusOr<std::string> FindShim() { return FindSandboxBinary("sandbox_shim", "SANDBOX_SHIM"); }

absl::StatusOr<Child> Spawn(const Policy& policy, absl::Span<const std::string> argv,
                            absl::Time setup_deadline) {
  return Spawn(policy, argv, absl::Span<const InheritedFd>(), setup_deadline);
}

absl::StatusOr<Child> Spawn(const Policy& policy, absl::Span<const std::string> argv,
                            absl::Span<const InheritedFd> inherited, absl::Time setup_deadline) {
  CMSGLIB_RETURN_IF_ERROR(CheckPolicy(policy, argv, inherited.size()));
  CMSGLIB_RETURN_IF_ERROR(CheckStdio());
  SpawnTimings timings;
  absl::Time last = absl::Now();
  auto lap = [&last](absl::Duration& into) {
    absl::Time now = absl::Now();
    into = now - last;
    last = now;
  };
  std::string shim_path = policy.shim_path;
  if (shim_path.empty()) { CMSGLIB_ASSIGN_OR_RETURN(shim_path, FindShim()); }
  UniqueFd shim(open(shim_path.c_str(), O_PATH | O_CLOEXEC));
  if (!shim.ok()) return ErrnoError(absl::StrCat("open ", shim_path));

  ChildPlan plan;
  CMSGLIB_ASSIGN_OR_RETURN(plan.mounts, BuildMountSteps(policy));
  std::optional<Broker> broker;
  if (!policy.broker.empty()) { CMSGLIB_ASSIGN_OR_RETURN(broker, Broker::Create(policy.broker)); }
  CMSGLIB_ASSIGN_OR_RETURN(PassedFds passed, OpenPassedFds(policy, inherited));
  lap(timings.prepare);
  if (policy.seccomp) {
    CMSGLIB_ASSIGN_OR_RETURN(plan.seccomp, BuildDefaultFilter(policy.extra_socket_families));
    if (policy.seccomp_strict) {
      CMSGLIB_ASSIGN_OR_RETURN(plan.seccomp_notify, BuildStrictFilter(policy.extra_socket_families));
    }
  }
  CMSGLIB_ASSIGN_OR_RETURN(plan.landlock, BuildLandlockPlan(policy, LandlockAbi()));
  lap(timings.seccomp);
  std::unique_ptr<SandboxCgroup> cgroup;
  if (policy.cgroup.any()) { CMSGLIB_ASSIGN_OR_RETURN(cgroup, SandboxCgroup::Create(policy.cgroup)); }

  CMSGLIB_ASSIGN_OR_RETURN(auto control, SocketPair(SOCK_STREAM));
  std::pair<UniqueFd, UniqueFd> broker_pair;
  if (broker) { CMSGLIB_ASSIGN_OR_RETURN(broker_pair, SocketPair(SOCK_SEQPACKET)); }
  CMSGLIB_ASSIGN_OR_RETURN(auto sync, Pipe());
  CMSGLIB_ASSIGN_OR_RETURN(auto error, Pipe());

  const bool root = geteuid() == 0;
  std::optional<OutsideIdLease> lease;
  if (root) { CMSGLIB_ASSIGN_OR_RETURN(lease, AcquireOutsideIds(policy.outside_ids)); }
  lap(timings.cgroup_and_ids);
  plan.sync_read = sync.first.get();
  plan.error_write = error.second.get();
  plan.control = control.second.get();
  plan.shim_exe = shim.get();
  plan.close_first = {sync.second.get(), error.first.get(), control.first.get()};
  if (broker) plan.close_first.push_back(broker_pair.first.get());
  plan.hostname = policy.hostname;
  plan.chdir = policy.chdir;
  plan.loopback_up = policy.network == Network::kNone;
  plan.rlimits = RlimitSteps(policy.rlimits);
  plan.time_ns = policy.time.enabled;
  plan.time_as_if_booted = policy.time.as_if_booted;
  plan.time_offset_seconds = policy.time.offset_seconds;
  plan.clear_groups = root;
  plan.uid = policy.uid;
  plan.gid = policy.gid;

  // Shared with the child, which writes its step times there.
  void* steps_page = MAP_FAILED;
  absl::Cleanup unmap_steps = [&steps_page] {
    if (steps_page != MAP_FAILED) munmap(steps_page, sizeof(int64_t) * kChildStepCount);
  };
  if (policy.record_step_timings) {
    steps_page = mmap(nullptr, sizeof(int64_t) * kChildStepCount, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (steps_page == MAP_FAILED) return ErrnoError("mmap(step timings)");
    plan.step_ns = static_cast<int64_t*>(steps_page);
  }

  int raw_pidfd = -1;
  CloneArgs args{};
  args.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
               CLONE_NEWCGROUP | CLONE_PIDFD;
  // The cgroup namespace is made by the child once it is in its cgroup, so
  // that cgroup is the namespace's root.
  plan.unshare_cgroup_ns = cgroup != nullptr;
  if (cgroup) args.flags &= ~static_cast<uint64_t>(CLONE_NEWCGROUP);
  if (policy.network == Network::kNone) args.flags |= CLONE_NEWNET;
  args.pidfd = reinterpret_cast<uintptr_t>(&raw_pidfd);
  args.exit_signal = SIGCHLD;
  const int64_t clone_started_ns = MonotonicNs();
  long pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid < 0) return ErrnoError("clone3(new namespaces)");
  if (pid == 0) RunSandboxChild(plan);

  lap(timings.clone);
  Child child;
  child.pid_ = static_cast<pid_t>(pid);
  child.reaped_ = false;
  child.pidfd_.reset(raw_pidfd);
  fcntl(raw_pidfd, F_SETFD, FD_CLOEXEC);
  child.cgroup_ = std::move(cgroup);
  // On any error below the half-built sandbox is killed and reaped by ~Child.
  sync.first.reset();
  error.second.reset();
  control.second.reset();
  shim.reset();

  // Before it runs anything of its own: all it starts is then inside too.
  if (child.cgroup_) CMSGLIB_RETURN_IF_ERROR(child.cgroup_->AddProcess(child.pid_));
  if (lease) child.outside_id_lock_ = std::move(lease->lock);
  CMSGLIB_RETURN_IF_ERROR(WriteIdMaps(child.pid_, policy, lease ? &*lease : nullptr));
  if (write(sync.second.get(), "g", 1) != 1) return ErrnoError("write(sync pipe)");
  child.keep_alive_ = std::move(sync.second);
  // The handoff waits in the socket while the child builds the sandbox. If
  // the child fails first the send fails too (EPIPE); its own report, read
  // next, says why.
  std::vector<int> raw_fds;
  for (const UniqueFd& fd : passed.fds) raw_fds.push_back(fd.get());
  if (setup_deadline != absl::InfiniteFuture()) {
    // The handoff can fill the socket's buffer while the set-up hangs.
    timeval tv = absl::ToTimeval(std::max(setup_deadline - absl::Now(), absl::Milliseconds(1)));
    setsockopt(control.first.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  absl::Status sent = SendHandoff(control.first.get(), raw_fds, passed.names,
                                  broker ? broker_pair.second.get() : -1, argv,
                                  CommandEnv(policy));

  lap(timings.id_maps_and_handoff);
  // Set-up runs under the deadline too: a bind target that blocks (a hung
  // network file system) must not hold the launcher past it.
  CMSGLIB_RETURN_IF_ERROR(PollUntil(error.first.get(), setup_deadline, "setting up the sandbox"));
  ChildError report;
  ssize_t got;
  do {
    got = read(error.first.get(), &report, sizeof(report));
  } while (got < 0 && errno == EINTR);
  if (got == sizeof(report)) {
    report.what[sizeof(report.what) - 1] = '\0';
    return ErrnoStatus(report.error, absl::StrCat("sandbox setup: ", report.what));
  }
  if (got != 0) return absl::InternalError("sandbox setup died without a report");
  lap(timings.child_setup);
  if (plan.step_ns != nullptr) {
    int64_t previous = clone_started_ns;
    for (int step = 0; step < kChildStepCount; ++step) {
      timings.child_steps.emplace_back(kChildStepNames[step],
                                       absl::Nanoseconds(plan.step_ns[step] - previous));
      previous = plan.step_ns[step];
    }
  }
  child.timings_ = timings;
  CMSGLIB_RETURN_IF_ERROR(sent);
  if (!plan.seccomp_notify.empty()) {
    // Sent by the child right before exec, so already here.
    ControlBuffer<Fds<1>> fd_space;
    char byte = 0;
    CMSGLIB_ASSIGN_OR_RETURN(ReceivedMessage m,
                             RecvMsg(control.first.get(), absl::MakeSpan(&byte, 1),
                                                     fd_space.span(), {.peer = false}));
    auto* rights = m.Find<ScmRightsOwned>();
    if (byte != kSeccompListenerByte || rights == nullptr || rights->fds.size() != 1)
      return absl::InternalError("sandbox setup sent no seccomp listener");
    CMSGLIB_ASSIGN_OR_RETURN(child.notifier_, SeccompNotifier::Start(std::move(rights->fds[0])));
  }

  child.control_ = std::move(control.first);
  child.socket_files_ = std::move(passed.socket_files);
  if (broker) {
    broker_pair.second.reset();
    CMSGLIB_ASSIGN_OR_RETURN(child.broker_,
                          BrokerServer::Start(std::move(*broker), std::move(broker_pair.first)));
  }
  return child;
}

Child::Child(Child&&) noexcept = default;

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = other.pid_;
    reaped_ = std::exchange(other.reaped_, true);
    shim_ready_ = other.shim_ready_;
    outside_id_lock_ = std::move(other.outside_id_lock_);
    pidfd_ = std::move(other.pidfd_);
    control_ = std::move(other.control_);
    keep_alive_ = std::move(other.keep_alive_);
    socket_files_ = std::move(other.socket_files_);
    broker_ = std::move(other.broker_);
    cgroup_ = std::move(other.cgroup_);
    notifier_ = std::move(other.notifier_);
    timings_ = other.timings_;
  }
  return *this;
}

Child::~Child() { KillAndReap(); }

void Child::KillAndReap() {
  if (!reaped_ && pidfd_.ok()) {
    (void)Kill();
    (void)Wait();
  }
}

absl::Status Child::Signal(int signal) {
  // SIGKILL needs no handler; any other signal would be dropped by a shim
  // that has not installed its handlers yet.
  if (signal != SIGKILL && !shim_ready_ && control_.ok())
    shim_ready_ = AwaitShimReady(control_.get(), pidfd_.get());
  if (syscall(SYS_pidfd_send_signal, pidfd_.get(), signal, nullptr, 0) != 0)
    return ErrnoError("pidfd_send_signal");
  return absl::OkStatus();
}

absl::Status Child::Kill() { return Signal(SIGKILL); }

absl::StatusOr<ExitStatus> Child::Wait() {
  if (reaped_) return absl::FailedPreconditionError("the sandbox was already waited for");
  siginfo_t info{};
  while (waitid(static_cast<idtype_t>(P_PIDFD), pidfd_.get(), &info, WEXITED) != 0) {
    if (errno != EINTR) return ErrnoError("waitid(P_PIDFD)");
  }
  reaped_ = true;
  socket_files_.reset();
  int oom_kills = 0;
  if (cgroup_) {
    oom_kills = cgroup_->OomKills();
    cgroup_.reset();
  }
  if (control_.ok()) {
    if (!shim_ready_) shim_ready_ = AwaitShimReady(control_.get(), pidfd_.get());
    if (std::optional<CommandStatus> reported = TryReceiveCommandStatus(control_.get()))
      return ExitStatus{reported->signaled != 0, reported->value, oom_kills};
  }
  // The shim ended without a report: it failed or was killed.
  return ExitStatus{info.si_code != CLD_EXITED, info.si_status, oom_kills};
}

absl::StatusOr<std::optional<ExitStatus>> Child::WaitFor(absl::Duration timeout) {
  int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1))), INT_MAX));
  pollfd p{pidfd_.get(), POLLIN, 0};
  int ready;
  do {
    ready = poll(&p, 1, ms);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return ErrnoError("poll(pidfd)");
  if (ready == 0) return std::optional<ExitStatus>();
  CMSGLIB_ASSIGN_OR_RETURN(ExitStatus status, Wait());
  return std::optional<ExitStatus>(status);
}

}  // namespace cmsg::sandbox
