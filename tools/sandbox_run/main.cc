// sandbox_run: runs a command in a sandbox, handing it listening sockets and
// files as SCM_RIGHTS (systemd socket-activation layout). See --help.
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gflags/gflags.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/listen_spec.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"
#include "sandbox/spawn.h"
#include "tools/sandbox_run/command_line.h"
#include "tools/sandbox_run/parse.h"

DEFINE_string(ro_bind, "", "SRC[:DEST],...: host paths visible read-only at DEST (default SRC; DEST "
              "may not pass through a symlink); nosuid, nodev");
DEFINE_string(bind, "", "SRC[:DEST],...: host paths visible read-write at DEST (default SRC; DEST "
              "may not pass through a symlink); nosuid, nodev");
DEFINE_string(tmpfs, "",
              "PATH[:SIZE],...: empty writable tmpfs mounts (mode 1777), at most SIZE bytes "
              "(K/M/G suffixes; default: half the host's memory, and what is written counts "
              "against --cgroup_memory)");
DEFINE_string(net, "none",
              "none: a new network namespace with only lo (up); host: the host's network, "
              "its abstract unix sockets included");
DEFINE_string(listen, "",
              "SPEC,...: sockets bound outside and passed in at fd 3 onward, in order. "
              "SPEC is tcp:ADDR:PORT, udp:ADDR:PORT or unix:PATH (unix:@NAME for abstract), "
              "each optionally =NAME for LISTEN_FDNAMES; e.g. tcp:127.0.0.1:8080=web");
DEFINE_string(pass_file, "",
              "PATH[:r|w|rw|a][=NAME],...: files opened outside (r: read, default; w: "
              "create/truncate; rw: read-write, create; a: append, create), passed after "
              "the --listen sockets; NAME defaults to the basename. Regular files, devices, "
              "FIFOs; not directories; no symlink anywhere in PATH is followed");
DEFINE_string(broker_allow, "",
              "PATH[:r|rw],...: paths (a directory allows what is beneath it) the command "
              "may ask the file broker to open (regular files only); its socket's fd is in "
              "SANDBOX_BROKER_FD");
DEFINE_string(seccomp, "default",
              "default: deny dangerous system calls with EPERM and socket families but unix, "
              "inet, inet6 and netlink route with EAFNOSUPPORT (see sandbox/README.md); off: no "
              "filter at all (the command may then use io_uring, keyctl, vsock...); strict: an "
              "allow list (files, memory, processes, signals, time, polling, sockets, IPC; "
              "see sandbox/README.md), every other call fails with EPERM and is named on "
              "stderr (\"sandbox: --seccomp=strict refused system call NAME\")");
DEFINE_string(allow_socket, "",
              "FAMILY,...: socket families allowed besides unix, inet, inet6 and netlink "
              "route: vsock (reaches the host whatever --net says), packet, netlink (every "
              "protocol), bluetooth, can, alg, xdp, tipc, key, rds, qipcrtr, smc");
DEFINE_string(timeout, "",
              "kill the whole sandbox after this long (30s, 1.5m, 250ms), set-up included, "
              "and exit 124; with --kill_after, send the command SIGTERM first");
DEFINE_string(kill_after, "",
              "after sandbox_run passes SIGTERM on to the command (or sends it on --timeout), "
              "kill the whole sandbox if it is still running this much later (10s, 500ms); "
              "default: wait for it");
DEFINE_string(rlimit_as, "", "address space limit in bytes (K/M/G suffixes; unlimited)");
DEFINE_string(rlimit_nofile, "", "open file limit");
DEFINE_string(rlimit_nproc, "", "process limit (of the sandbox's user)");
DEFINE_string(rlimit_cpu, "", "CPU time limit in seconds");
DEFINE_string(rlimit_fsize, "", "file size limit in bytes (K/M/G suffixes)");
DEFINE_string(cgroup_memory, "",
              "memory limit for the whole sandbox, every process and its tmpfs files "
              "(bytes, K/M/G suffixes; no swap); at the limit the kernel's OOM killer kills "
              "in the sandbox and sandbox_run exits 123. Needs the memory cgroup controller "
              "(v2 delegated to sandbox_run's cgroup, or v1)");
DEFINE_string(cgroup_pids, "",
              "process (and thread) limit for the whole sandbox; fork fails with EAGAIN "
              "beyond it. Needs the pids cgroup controller");
DEFINE_string(cgroup_cpu, "",
              "CPU limit for the whole sandbox, in CPUs (0.5: half of one CPU's time, 2: "
              "two CPUs'; 0.01 to 1024). Needs the cpu cgroup controller");
DEFINE_string(landlock, "auto",
              "auto: Landlock on when the kernel has it (as a second wall behind the "
              "mount namespace: only the paths of the sandbox's own mounts can be opened, "
              "with the access each gives; a passed fd or stdin reopened through "
              "/proc/self/fd is refused); on: fail if the kernel has no Landlock; off");
DEFINE_string(dev_shm, "",
              "SIZE: a private /dev/shm (tmpfs, mode 1777) of at most SIZE bytes (K/M/G "
              "suffixes), for POSIX shared memory and semaphores; default: none");
DEFINE_bool(dev_pts, false,
            "a new devpts instance at /dev/pts (the sandbox's own ptys only, at most 64; "
            "the host's are not there) with /dev/ptmx; default: none");
DEFINE_string(time_ns, "",
              "a time namespace of the sandbox's own: on; boot (CLOCK_MONOTONIC, "
              "CLOCK_BOOTTIME and /proc/uptime start near 0, hiding the host's uptime); or "
              "an offset added to those clocks (+1h, -30s; a negative one may not take them "
              "below 0). The wall clock stays the host's. Default: off (the host's)");
DEFINE_string(rlimit_core, "0",
              "core file size limit in bytes (K/M/G suffixes; unlimited); 0 by default: a "
              "crash inside does not run the host's core_pattern handler");
DEFINE_string(uid, "65534",
              "user id inside the sandbox. Outside it is never root: run by root, each "
              "sandbox gets an outside uid and gid of its own (see --outside_ids); run by "
              "anyone else, the launcher's own");
DEFINE_string(outside_ids, "",
              "FIRST:COUNT: when run as root, the range each sandbox's outside uid and gid "
              "come from (a free one; never 0; held by a lock file in /run/sandbox_run/ids "
              "while the sandbox lives). Default: the /etc/subuid and /etc/subgid ranges of "
              "the user sandbox_run, else 1879048192:65536");
DEFINE_string(gid, "65534", "group id inside the sandbox");
DEFINE_string(hostname, "sandbox", "host name inside the sandbox");
DEFINE_string(chdir, "/", "working directory inside the sandbox");
DEFINE_string(setenv, "",
              "K=V,...: the command's environment, which is otherwise empty but for PATH "
              "(/usr/local/bin:/usr/bin:/bin unless set here), LISTEN_FDS, LISTEN_PID, "
              "LISTEN_FDNAMES and SANDBOX_BROKER_FD");
DEFINE_bool(verbose, false, "print the sandbox's set-up and how the command ended on stderr");

namespace cmsg::sandbox_run {
namespace {

constexpr int kLauncherFailure = 125;
constexpr int kTimedOut = 124;
constexpr int kOutOfMemory = 123;
constexpr char kThisFile[] = "tools/sandbox_run/main.cc";

constexpr char kUsage[] = R"(runs COMMAND in a sandbox.

Usage: sandbox_run [flags] -- COMMAND [ARG...]

The command runs in new user, mount, pid, ipc, uts and cgroup namespaces (and
a new network namespace unless --net=host), on an empty read-only root holding
only the --ro_bind/--bind/--tmpfs mounts, /proc and a minimal /dev (null,
zero, full, random, urandom, tty; shm and pts on request); as --uid/--gid inside, which are never
root outside; with no capabilities, no new privileges, the seccomp filter and
the rlimits. It dies when sandbox_run dies. List flags take comma-separated
values.

Sockets named by --listen and files named by --pass_file are opened by
sandbox_run outside the sandbox and handed in over a unix socket as
SCM_RIGHTS; the command finds them at fd 3 onward with LISTEN_FDS, LISTEN_PID
and LISTEN_FDNAMES set, as systemd socket activation would.

Signals HUP INT QUIT TERM USR1 USR2 sent to sandbox_run go to the command
(with --kill_after, a command that ignores TERM is killed that much later).

The terminal: the sandbox runs in a session of its own, so it has no
controlling terminal and is not in the terminal's process group. A terminal on
its stdin/stdout/stderr can still be read and written; Ctrl-C and Ctrl-\ reach
the command because sandbox_run (in the terminal's foreground group) passes
them on; Ctrl-Z stops sandbox_run only; the command cannot push input into the
terminal (TIOCSTI) or make it its own. kill(0, ...) inside reaches only the
sandbox. stdin/stdout/stderr that are directories or O_PATH fds are refused
(they would open host paths beside them).

Resource limits for the whole process tree (--cgroup_memory, --cgroup_pids,
--cgroup_cpu) use a cgroup of the sandbox's own below sandbox_run's (cgroup
v2 where the controller is delegated there, else v1), removed when the
sandbox ends; --rlimit_* limit each process.

Exit status: the command's own; 128+N if it died of signal N; 123 if the
kernel's OOM killer killed any process in the sandbox (--cgroup_memory;
stderr says how the command ended); 124 on --timeout (the whole sandbox is
killed); 125 if sandbox_run itself failed (a
bad flag or path, a namespace refused), with one line on stderr; 126 if the
command cannot be executed, 127 if it is not found.

Policy file: --flagfile=PATH reads flags from PATH (gflags' format), one
--flag=value a line, as if given at that place on the command line; blank
lines and lines starting with # are skipped, blanks around a line trimmed,
the value is the rest of the line. Files may name further files (8 deep). A
flag given twice, in a file or on the command line, is an error. E.g. web.flags:
  # the web worker's sandbox
  --ro_bind=/usr,/lib,/lib64,/bin,/srv/www:/www
  --listen=tcp:127.0.0.1:8080=web
  --setenv=MODE=production
  --timeout=1h
and: sandbox_run --flagfile=web.flags -- /usr/bin/python3 /www/server.py

Example:
  sandbox_run --ro_bind=/usr,/lib,/lib64,/bin --listen=tcp:127.0.0.1:8080=web \
      -- /usr/bin/python3 server.py)";

[[noreturn]] void Fail(absl::string_view message) {
  std::string line = absl::StrCat("sandbox_run: ", message, "\n");
  fputs(line.c_str(), stderr);
  exit(kLauncherFailure);
}

absl::StatusOr<sandbox::Policy> PolicyFromFlags() {
  sandbox::Policy policy;
  CMSGLIB_ASSIGN_OR_RETURN(policy.binds, ParseBinds(FLAGS_ro_bind, false));
  CMSGLIB_ASSIGN_OR_RETURN(std::vector<sandbox::BindMount> rw, ParseBinds(FLAGS_bind, true));
  policy.binds.insert(policy.binds.end(), rw.begin(), rw.end());
  CMSGLIB_ASSIGN_OR_RETURN(policy.tmpfs, ParseTmpfs(FLAGS_tmpfs));
  CMSGLIB_ASSIGN_OR_RETURN(policy.network, ParseNetwork(FLAGS_net));
  absl::StatusOr<std::vector<ListenSpec>> listen = ParseListenSpecs(FLAGS_listen);
  if (!listen.ok())
    return absl::InvalidArgumentError(absl::StrCat("--listen: ", listen.status().message()));
  policy.listen = std::move(*listen);
  CMSGLIB_ASSIGN_OR_RETURN(policy.files, ParsePassFiles(FLAGS_pass_file));
  CMSGLIB_ASSIGN_OR_RETURN(policy.broker, ParseBrokerRules(FLAGS_broker_allow));
  CMSGLIB_RETURN_IF_ERROR(ParseSeccomp(FLAGS_seccomp, policy));
  CMSGLIB_ASSIGN_OR_RETURN(policy.extra_socket_families, ParseSocketFamilies(FLAGS_allow_socket));
  CMSGLIB_RETURN_IF_ERROR(ParseOutsideIds(FLAGS_outside_ids, policy.outside_ids));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.core, ParseRlimit("rlimit_core", FLAGS_rlimit_core));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.as, ParseRlimit("rlimit_as", FLAGS_rlimit_as));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.nofile, ParseRlimit("rlimit_nofile", FLAGS_rlimit_nofile));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.nproc, ParseRlimit("rlimit_nproc", FLAGS_rlimit_nproc));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.cpu, ParseRlimit("rlimit_cpu", FLAGS_rlimit_cpu));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.fsize, ParseRlimit("rlimit_fsize", FLAGS_rlimit_fsize));
  CMSGLIB_ASSIGN_OR_RETURN(policy.cgroup, ParseCgroupLimits(FLAGS_cgroup_memory, FLAGS_cgroup_pids,
                                                            FLAGS_cgroup_cpu));
  CMSGLIB_ASSIGN_OR_RETURN(policy.landlock, ParseLandlock(FLAGS_landlock));
  if (!FLAGS_dev_shm.empty()) {
    CMSGLIB_ASSIGN_OR_RETURN(policy.dev_shm_bytes,
                             ParseBytes("dev_shm", FLAGS_dev_shm, FLAGS_dev_shm));
  }
  policy.dev_pts = FLAGS_dev_pts;
  CMSGLIB_ASSIGN_OR_RETURN(policy.time, ParseTimeNamespace(FLAGS_time_ns));
  CMSGLIB_ASSIGN_OR_RETURN(policy.uid, ParseId("uid", FLAGS_uid));
  CMSGLIB_ASSIGN_OR_RETURN(policy.gid, ParseId("gid", FLAGS_gid));
  if (FLAGS_hostname.empty() || FLAGS_hostname.size() > 64)
    return absl::InvalidArgumentError("--hostname: want 1 to 64 bytes");
  policy.hostname = FLAGS_hostname;
  policy.chdir = FLAGS_chdir;
  CMSGLIB_ASSIGN_OR_RETURN(policy.env, ParseEnv(FLAGS_setenv));
  return policy;
}

constexpr int kForwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

int Run(int argc, char** argv) {
  gflags::SetUsageMessage(kUsage);
  absl::StatusOr<CommandLine> line = SplitCommandLine(argc, argv, kThisFile);
  if (!line.ok()) Fail(line.status().message());
  if (line->help) {
    // Only this tool's flags: gflags' own are not accepted (but --flagfile,
    // which SplitCommandLine expands itself).
    gflags::ShowUsageWithFlagsRestrict(argv[0], kThisFile);
    exit(0);
  }
  const std::vector<std::string>& command = line->command;
  std::vector<char*> flag_argv = {argv[0]};
  for (std::string& flag : line->flags) flag_argv.push_back(flag.data());
  flag_argv.push_back(nullptr);
  int flag_argc = static_cast<int>(flag_argv.size()) - 1;
  char** flag_args = flag_argv.data();
  gflags::ParseCommandLineFlags(&flag_argc, &flag_args, /*remove_flags=*/false);
  if (command.empty()) Fail("no COMMAND given (usage: sandbox_run [flags] -- COMMAND [ARG...])");

  absl::StatusOr<sandbox::Policy> policy = PolicyFromFlags();
  if (!policy.ok()) Fail(policy.status().message());
  absl::StatusOr<std::optional<absl::Duration>> timeout = ParseTimeout(FLAGS_timeout);
  if (!timeout.ok()) Fail(timeout.status().message());
  absl::StatusOr<std::optional<absl::Duration>> kill_after =
      ParseDurationFlag("kill_after", FLAGS_kill_after);
  if (!kill_after.ok()) Fail(kill_after.status().message());

  // A closed stdio fd would be taken by the next fd opened here (a passed
  // file, the id lock) and so cross into the sandbox as stdio.
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
      Fail(ErrnoError("open(/dev/null) for a closed stdio fd").message());
  }

  // Signals for the command arrive on a signalfd, blocked meanwhile; the
  // sandbox starts with an empty mask regardless.
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int s : kForwarded) sigaddset(&forwarded, s);
  sigprocmask(SIG_BLOCK, &forwarded, nullptr);
  UniqueFd signals(signalfd(-1, &forwarded, SFD_CLOEXEC));
  if (!signals.ok()) Fail(ErrnoError("signalfd").message());

  // The timeout covers the set-up too.
  absl::Time deadline = *timeout ? absl::Now() + **timeout : absl::InfiniteFuture();
  absl::StatusOr<sandbox::Child> child = sandbox::Spawn(*policy, command, deadline);
  if (!child.ok()) {
    if (absl::IsDeadlineExceeded(child.status())) {
      fprintf(stderr, "sandbox_run: timed out after %s while setting up; killed the sandbox\n",
              FLAGS_timeout.c_str());
      return kTimedOut;
    }
    Fail(child.status().message());
  }
  if (FLAGS_verbose) {
    fprintf(stderr, "sandbox_run: started %s as pid %d (%zu fds passed)\n",
            absl::StrJoin(command, " ").c_str(), child->pid(),
            policy->listen.size() + policy->files.size());
    const sandbox::SpawnTimings& t = child->timings();
    auto us = [](absl::Duration d) { return static_cast<long long>(absl::ToInt64Microseconds(d)); };
    fprintf(stderr,
            "sandbox_run: set-up in us: prepare %lld, seccomp %lld, cgroup+ids %lld, clone %lld, "
            "id maps+handoff %lld, child set-up to exec %lld\n",
            us(t.prepare), us(t.seccomp), us(t.cgroup_and_ids), us(t.clone),
            us(t.id_maps_and_handoff), us(t.child_setup));
  }

  bool timed_out = false;
  absl::Time kill_at = absl::InfiniteFuture();  // set once SIGTERM is sent, with --kill_after
  auto sent_term = [&] {
    if (*kill_after && kill_at == absl::InfiniteFuture()) kill_at = absl::Now() + **kill_after;
  };
  for (;;) {
    pollfd fds[] = {{child->pidfd(), POLLIN, 0}, {signals.get(), POLLIN, 0}};
    absl::Time next = std::min(timed_out ? absl::InfiniteFuture() : deadline, kill_at);
    int ms = -1;
    if (next != absl::InfiniteFuture()) {
      absl::Duration left = next - absl::Now();
      ms = left <= absl::ZeroDuration()
               ? 0
               : static_cast<int>(std::min<int64_t>(
                     absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), INT_MAX));
    }
    int ready = poll(fds, 2, ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) Fail(ErrnoError("poll").message());
    if (ready == 0) {
      const absl::Time now = absl::Now();
      if (now >= kill_at) {
        (void)child->Kill();
        kill_at = absl::InfiniteFuture();
        fprintf(stderr, "sandbox_run: the command outlived SIGTERM by %s; killed the sandbox\n",
                FLAGS_kill_after.c_str());
      } else if (!timed_out && now >= deadline) {
        timed_out = true;
        if (!*kill_after) {
          (void)child->Kill();
          (void)child->Wait();
          fprintf(stderr, "sandbox_run: timed out after %s; killed the sandbox\n",
                  FLAGS_timeout.c_str());
          return kTimedOut;
        }
        (void)child->Signal(SIGTERM);
        sent_term();
      }
      continue;
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info;
      if (read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
        (void)child->Signal(static_cast<int>(info.ssi_signo));
        if (info.ssi_signo == SIGTERM) sent_term();
      }
    }
    if (fds[0].revents) break;
  }
  if (timed_out) {
    (void)child->Wait();
    fprintf(stderr, "sandbox_run: timed out after %s; sent SIGTERM\n", FLAGS_timeout.c_str());
    return kTimedOut;
  }
  absl::StatusOr<sandbox::ExitStatus> status = child->Wait();
  if (!status.ok()) Fail(status.status().message());
  if (FLAGS_verbose) {
    fprintf(stderr, "sandbox_run: command %s %d\n",
            status->signaled ? "killed by signal" : "exited with", status->value);
  }
  if (status->oom_kills > 0) {
    fprintf(stderr,
            "sandbox_run: out of memory: the OOM killer killed %d process(es) in the sandbox; "
            "the command %s %d\n",
            status->oom_kills, status->signaled ? "was killed by signal" : "exited with",
            status->value);
    return kOutOfMemory;
  }
  return status->ShellCode();
}

}  // namespace
}  // namespace cmsg::sandbox_run

int main(int argc, char** argv) { return cmsg::sandbox_run::Run(argc, argv); }
