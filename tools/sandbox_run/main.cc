// sandbox_run: runs a command in a sandbox, handing it listening sockets and
// files as SCM_RIGHTS (systemd socket-activation layout). See --help.
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
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
#include "tools/common/sandbox_flags.h"
#include "tools/sandbox_run/command_line.h"
#include "tools/sandbox_run/json_status.h"
#include "tools/sandbox_run/parse.h"

DEFINE_string(timeout, "",
              "kill the whole sandbox after this long (30s, 1.5m, 250ms), set-up included, "
              "and exit 124; with --kill_after, send the command SIGTERM first");
DEFINE_string(kill_after, "",
              "after sandbox_run passes SIGTERM on to the command (or sends it on --timeout), "
              "kill the whole sandbox if it is still running this much later (10s, 500ms); "
              "default: wait for it");
DEFINE_string(json_status_fd, "",
              "FD: write the sandbox's life cycle to this open fd as JSON lines: "
              "{\"event\": \"start\", \"pid\": N} (the sandbox's pid 1 as the host sees it; "
              "written once the sandbox runs, so on an fd the command also writes to, its "
              "first output may come before it), "
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
zero, full, random, urandom, tty; shm and pts on request); as --uid/--gid
inside, which are never root outside; with no capabilities, no new
privileges, the seccomp filter, the rlimits and (where the kernel has it)
Landlock, which lets it open only what lies beneath those mounts. It dies
when sandbox_run dies. List flags take comma-separated values.

Sockets named by --listen and files named by --pass_file are opened by
sandbox_run outside the sandbox and handed in over a unix socket as
SCM_RIGHTS; the command finds them at fd 3 onward with LISTEN_FDS, LISTEN_PID
and LISTEN_FDNAMES set, as systemd socket activation would. --pass_file
follows no symlink and refuses directories and FIFOs (opening a FIFO waits
for its other end: redirect one to the command's stdin or stdout instead).

Signals HUP INT QUIT TERM USR1 USR2 sent to sandbox_run go to the command
(with --kill_after, a command that ignores TERM is killed that much later).
ALRM VTALRM PROF XCPU XFSZ PWR STKFLT IO and the real-time signals end
sandbox_run as they would any program, but only after it killed the sandbox
and removed its socket files and cgroup; PIPE is ignored. (SIGKILL, or a
crash, leaves the socket files and an empty cgroup behind; the next
sandbox_run with cgroup limits removes such empty cgroups.)

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
killed); 125 if sandbox_run itself failed (a bad flag or path, a namespace
refused), with one line on stderr; 126 if the command cannot be executed, 127
if it is not found.

Policy file: --flagfile=PATH reads flags from PATH (gflags' format), one
--flag=value a line, as if given at that place on the command line; blank
lines and lines starting with # are skipped, blanks around a line trimmed,
the value is the rest of the line. Files may name further files (8 deep); no
symlink on their paths is followed. A flag given twice, in a file or on the
command line, is an error. E.g. web.flags:
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

constexpr int kForwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

int Run(int argc, char** argv) {
  gflags::SetUsageMessage(kUsage);
  absl::StatusOr<CommandLine> line =
      SplitCommandLine(argc, argv, {kThisFile, flags::kSandboxFlagsFile});
  if (!line.ok()) Fail(line.status().message());
  if (line->help) {
    // Only this tool's flags: gflags' own are not accepted (but --flagfile,
    // which SplitCommandLine expands itself).
    gflags::ShowUsageWithFlagsRestrict(argv[0], "tools/");
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

  absl::StatusOr<sandbox::Policy> policy = flags::PolicyFromFlags();
  if (!policy.ok()) Fail(policy.status().message());
  policy->record_step_timings = FLAGS_verbose;
  absl::StatusOr<std::optional<absl::Duration>> timeout = ParseTimeout(FLAGS_timeout);
  if (!timeout.ok()) Fail(timeout.status().message());
  absl::StatusOr<std::optional<absl::Duration>> kill_after =
      ParseDurationFlag("kill_after", FLAGS_kill_after);
  if (!kill_after.ok()) Fail(kill_after.status().message());
  absl::StatusOr<int> status_fd = JsonStatus::ParseFd(FLAGS_json_status_fd);
  if (!status_fd.ok()) Fail(status_fd.status().message());
  JsonStatus json_status(*status_fd);
  status_lines = &json_status;

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
  for (int s = 1; s < NSIG; ++s)
    if (EndsTheLauncher(s)) sigaddset(&forwarded, s);
  // Writes to a --json_status_fd whose reader is gone fail with EPIPE.
  signal(SIGPIPE, SIG_IGN);
  sigprocmask(SIG_BLOCK, &forwarded, nullptr);
  UniqueFd signals(signalfd(-1, &forwarded, SFD_CLOEXEC));
  if (!signals.ok()) Fail(ErrnoError("signalfd").message());

  // The timeout covers the set-up too.
  const absl::Time deadline = *timeout ? absl::Now() + **timeout : absl::InfiniteFuture();
  absl::StatusOr<sandbox::Child> child = sandbox::Spawn(*policy, command, deadline);
  if (!child.ok()) {
    if (absl::IsDeadlineExceeded(child.status())) {
      fprintf(stderr, "sandbox_run: timed out after %s while setting up; killed the sandbox\n",
              FLAGS_timeout.c_str());
      json_status.Exit(kTimedOut, "timeout");
      return kTimedOut;
    }
    Fail(child.status().message());
  }
  json_status.Start(child->pid());
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
    std::string steps;
    for (const auto& [name, took] : t.child_steps)
      absl::StrAppend(&steps, steps.empty() ? "" : ", ", name, " ", us(took));
    if (!steps.empty()) fprintf(stderr, "sandbox_run: child steps in us: %s\n", steps.c_str());
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
    if (ready < 0) FailAfterSpawn(std::move(*child), ErrnoError("poll").message());
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
          json_status.Exit(kTimedOut, "timeout");
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
        int signal = static_cast<int>(info.ssi_signo);
        if (EndsTheLauncher(signal)) DieOf(std::move(*child), signal);
        (void)child->Signal(signal);
        if (signal == SIGTERM) sent_term();
      }
    }
    if (fds[0].revents) break;
  }
  if (timed_out) {
    (void)child->Wait();
    fprintf(stderr, "sandbox_run: timed out after %s; sent SIGTERM\n", FLAGS_timeout.c_str());
    json_status.Exit(kTimedOut, "timeout");
    return kTimedOut;
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
