// sandbox_run: runs a command in a sandbox, handing it listening sockets and
// files as SCM_RIGHTS (systemd socket-activation layout). See --help.
#include <signal.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
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
#include "tools/sandbox_run/json_status.h"
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
              "default: deny dangerous system calls with EPERM (see sandbox/README.md); off");
DEFINE_string(timeout, "", "kill the whole sandbox after this long (30s, 1.5m, 250ms) and exit 124");
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
DEFINE_string(uid, "65534", "user id inside the sandbox (outside it is never root)");
DEFINE_string(gid, "65534", "group id inside the sandbox");
DEFINE_string(hostname, "sandbox", "host name inside the sandbox");
DEFINE_string(chdir, "/", "working directory inside the sandbox");
DEFINE_string(setenv, "",
              "K=V,...: the command's environment, which is otherwise empty but for PATH "
              "(/usr/local/bin:/usr/bin:/bin unless set here), LISTEN_FDS, LISTEN_PID, "
              "LISTEN_FDNAMES and SANDBOX_BROKER_FD");
DEFINE_string(json_status_fd, "",
              "FD: write the sandbox's life cycle to this open fd as JSON lines: "
              "{\"event\": \"start\", \"pid\": N} (the sandbox's pid 1 as the host sees it), "
              "then {\"event\": \"exit\", \"exit_code\": N, \"cause\": C} with C one of exited, "
              "signaled (+ signal), oom (+ oom_kills), timeout, setup_failed (+ error; no start "
              "line), launcher_failed (+ error), launcher_signal (+ signal). A reader that goes "
              "away ends the lines, not the sandbox");
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

Signals HUP INT QUIT TERM USR1 USR2 sent to sandbox_run go to the command.
ALRM VTALRM PROF XCPU XFSZ PWR STKFLT IO and the real-time signals end
sandbox_run as they would any program, but only after it killed the sandbox
and removed its socket files and cgroup; PIPE is ignored. (SIGKILL, or a
crash, leaves the socket files and an empty cgroup behind.)

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
the value is the rest of the line. Files may name further files (8 deep); no
symlink on their paths is followed. A
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

// Set once --json_status_fd is known to be good.
JsonStatus* status_lines = nullptr;

[[noreturn]] void Fail(absl::string_view message, absl::string_view cause = "setup_failed") {
  std::string line = absl::StrCat("sandbox_run: ", message, "\n");
  fputs(line.c_str(), stderr);
  if (status_lines != nullptr) status_lines->Exit(kLauncherFailure, cause, 0, 0, message);
  exit(kLauncherFailure);
}

// exit() runs no destructors: the sandbox is killed and reaped, its socket
// files and cgroup removed, before sandbox_run goes.
[[noreturn]] void FailAfterSpawn(sandbox::Child child, absl::string_view message) {
  { sandbox::Child doomed = std::move(child); }
  Fail(message, "launcher_failed");
}

// Signals that would end sandbox_run without running its clean-up; they
// are blocked and read from the signalfd like the forwarded ones.
bool EndsTheLauncher(int signal) {
  return signal == SIGALRM || signal == SIGVTALRM || signal == SIGPROF || signal == SIGXCPU ||
         signal == SIGXFSZ || signal == SIGPWR || signal == SIGSTKFLT || signal == SIGIO ||
         (signal >= SIGRTMIN && signal <= SIGRTMAX);
}

// Cleans up as for any end, then dies of `signal` as it would have.
[[noreturn]] void DieOf(sandbox::Child child, int signal) {
  { sandbox::Child doomed = std::move(child); }
  if (status_lines != nullptr) status_lines->Exit(128 + signal, "launcher_signal", signal);
  fprintf(stderr, "sandbox_run: stopped by signal %d; killed the sandbox\n", signal);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigaction(signal, &default_action, nullptr);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  raise(signal);
  sigprocmask(SIG_UNBLOCK, &only, nullptr);
  _exit(128 + signal);
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
  CMSGLIB_ASSIGN_OR_RETURN(policy.seccomp, ParseSeccomp(FLAGS_seccomp));
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
  absl::StatusOr<int> status_fd = JsonStatus::ParseFd(FLAGS_json_status_fd);
  if (!status_fd.ok()) Fail(status_fd.status().message());
  JsonStatus json_status(*status_fd);
  status_lines = &json_status;

  // Signals for the command arrive on a signalfd, blocked meanwhile; the
  // sandbox starts with an empty mask regardless.
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int s : kForwarded) sigaddset(&forwarded, s);
  for (int s = 1; s < NSIG; ++s)
    if (EndsTheLauncher(s)) sigaddset(&forwarded, s);
  // Writes to a --json_status_fd whose reader is gone fail with EPIPE.
  signal(SIGPIPE, SIG_IGN);
  sigprocmask(SIG_BLOCK, &forwarded, nullptr);
  UniqueFd signals(signalfd(-1, &forwarded, SFD_CLOEXEC));
  if (!signals.ok()) Fail(ErrnoError("signalfd").message());

  absl::StatusOr<sandbox::Child> child = sandbox::Spawn(*policy, command);
  if (!child.ok()) Fail(child.status().message());
  json_status.Start(child->pid());
  if (FLAGS_verbose) {
    fprintf(stderr, "sandbox_run: started %s as pid %d (%zu fds passed)\n",
            absl::StrJoin(command, " ").c_str(), child->pid(),
            policy->listen.size() + policy->files.size());
  }

  const absl::Time deadline =
      *timeout ? absl::Now() + **timeout : absl::InfiniteFuture();
  for (;;) {
    pollfd fds[] = {{child->pidfd(), POLLIN, 0}, {signals.get(), POLLIN, 0}};
    int ms = -1;
    if (*timeout) {
      absl::Duration left = deadline - absl::Now();
      ms = left <= absl::ZeroDuration()
               ? 0
               : static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
    }
    int ready = poll(fds, 2, ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) FailAfterSpawn(std::move(*child), ErrnoError("poll").message());
    if (ready == 0) {
      (void)child->Kill();
      (void)child->Wait();
      fprintf(stderr, "sandbox_run: timed out after %s; killed the sandbox\n",
              FLAGS_timeout.c_str());
      json_status.Exit(kTimedOut, "timeout");
      return kTimedOut;
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info;
      if (read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
        int signal = static_cast<int>(info.ssi_signo);
        if (EndsTheLauncher(signal)) DieOf(std::move(*child), signal);
        (void)child->Signal(signal);
      }
    }
    if (fds[0].revents) break;
  }
  absl::StatusOr<sandbox::ExitStatus> status = child->Wait();
  if (!status.ok()) FailAfterSpawn(std::move(*child), status.status().message());
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
    json_status.Exit(kOutOfMemory, "oom", 0, status->oom_kills);
    return kOutOfMemory;
  }
  json_status.Exit(status->ShellCode(), status->signaled ? "signaled" : "exited",
                   status->signaled ? status->value : 0);
  return status->ShellCode();
}

}  // namespace
}  // namespace cmsg::sandbox_run

int main(int argc, char** argv) { return cmsg::sandbox_run::Run(argc, argv); }
