// worker_pool: runs N sandboxed workers of one command on shared sockets,
// supervises and replaces them. See --help and tools/worker_pool/README.md.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "lib/activation/activation.h"
#include "sandbox/pool.h"
#include "tools/common/sandbox_flags.h"
#include "tools/sandbox_run/command_line.h"

DEFINE_string(workers, "1", "how many workers run at once (1..1024)");
DEFINE_string(isolation, "worker",
              "worker: each worker in its own sandbox (namespaces, root, pid 1); pool: one "
              "sandbox for all workers, which are processes in it (cheaper starts; workers "
              "can signal each other)");
DEFINE_string(ready, "started",
              "started: a worker is ready once its command was executed; notify: once it "
              "sends READY=1 to $NOTIFY_SOCKET (sd_notify, systemd-notify --ready)");
DEFINE_string(ready_timeout, "30s", "a worker not ready this long after its start is killed");
DEFINE_string(kill_after, "10s", "between SIGTERM and SIGKILL when a worker is stopped");
DEFINE_string(backoff_initial, "100ms", "delay before the first restart after an early exit");
DEFINE_string(backoff_max, "10s", "longest delay between restarts (the delay doubles)");
DEFINE_string(crash_limit, "5",
             "this many early exits in a row (before ready, or within --min_uptime of it) "
             "end the pool with exit status 1");
DEFINE_string(min_uptime, "1s", "a worker that ends sooner after being ready ended early");
DEFINE_string(watchdog, "0",
              "0: none; else WATCHDOG_USEC is set and a ready worker must send WATCHDOG=1 this "
              "often or it gets SIGABRT (SIGKILL after --kill_after) and is replaced");
DEFINE_string(status_fd, "",
             "write the status JSON (one line) to this inherited fd after every event and on "
             "SIGUSR1; without it SIGUSR1 writes it to stderr");
DEFINE_bool(quiet, false, "do not print one line per event on stderr");

namespace cmsg::worker_pool {
namespace {

constexpr char kThisFile[] = "tools/worker_pool/main.cc";

constexpr char kUsage[] = R"(runs and supervises sandboxed workers that share sockets.

Usage: worker_pool --workers=N [--listen=SPEC,...] [sandbox flags] [pool flags]
                   -- COMMAND [ARG...]

worker_pool binds the --listen sockets once (or takes the sockets it was
itself started with by socket activation: LISTEN_FDS, so it runs under
systemd, systemd-socket-activate or fdstore exec) and starts N workers of
COMMAND, each in a sandbox as sandbox_run builds it (every sandbox_run policy
flag applies, and --flagfile=PATH; see sandbox_run --help). Every worker receives the sockets by
SCM_RIGHTS at fd 3 onward with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, plus
NOTIFY_SOCKET, WORKER_POOL_SLOT (0..N-1) and WORKER_POOL_INSTANCE (1, 2, ...:
a restart or a replacement gets a new one, as in the event lines).

Isolation (--isolation):
  worker  each worker is its own sandbox: namespaces, root, pid 1. A worker
          cannot see, signal or trace another. One spare sandbox is built
          ahead of time, so a start is a fork+exec inside it.
  pool    one sandbox holds every worker, as containers of a pod share
          namespaces: isolated from the host like a sandbox, but not from
          each other (same uid, pid namespace, filesystem).

Supervision: a worker whose main process ends is replaced; after an early
exit (before ready, or within --min_uptime) the restart waits
--backoff_initial, doubling to --backoff_max; --crash_limit early exits in a
row end the pool (exit 1, with the reason); during a SIGHUP replacement
they abandon it instead and the old workers keep serving. A COMMAND that cannot be
executed ends the pool at once (exit 1). Processes a worker leaves behind
are killed when it ends.

Signals: TERM/INT stop every worker (SIGTERM, SIGKILL after --kill_after)
and exit 0; HUP replaces the workers one at a time: a new one is started,
and once it is ready one old one is stopped; USR1 writes the status JSON.
If worker_pool is killed, every worker dies with it.

Output: one line per event on stderr ("worker_pool: slot=0 instance=3
event=ready ready_ms=1.2"). Exit status: 0 after TERM/INT; 1 on a failure
(crash loop, a command that cannot be executed), with the reason as the
last line; 2 on a bad flag, or a sandbox, path or socket the flags name
that cannot be set up: one line, and nothing is started.

Example:
  worker_pool --workers=4 --ro_bind=/usr,/lib,/lib64,/bin --ready=notify \
      --listen=tcp:127.0.0.1:8080=web -- /usr/bin/python3 /srv/server.py)";

[[noreturn]] void UsageError(const std::string& message) {
  fprintf(stderr, "worker_pool: %s\n", message.c_str());
  exit(2);
}

// gflags' own integer flags exit 1 on a bad value; these exit 2 like the rest.
int IntFlag(const char* name, const std::string& text, int min, int max) {
  int value;
  if (!absl::SimpleAtoi(text, &value) || value < min || value > max)
    UsageError(absl::StrCat("--", name, ": want ", min, "..", max, ", not \"", text, "\""));
  return value;
}

absl::Duration DurationFlag(const char* name, const std::string& text, bool allow_zero) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration() ||
      (!allow_zero && d == absl::ZeroDuration()))
    UsageError(absl::StrCat("--", name, ": bad duration \"", text, "\" (e.g. 10s, 500ms)"));
  return d;
}

int Run(int argc, char** argv) {
  gflags::SetUsageMessage(kUsage);
  absl::StatusOr<sandbox_run::CommandLine> split =
      sandbox_run::SplitCommandLine(argc, argv, {kThisFile, flags::kSandboxFlagsFile});
  if (!split.ok()) UsageError(std::string(split.status().message()));
  sandbox_run::CommandLine& line = *split;
  if (line.help) {
    gflags::ShowUsageWithFlagsRestrict(argv[0], "tools/");
    return 0;
  }
  std::vector<char*> flag_argv = {argv[0]};
  for (std::string& flag : line.flags) flag_argv.push_back(flag.data());
  flag_argv.push_back(nullptr);
  int flag_argc = static_cast<int>(flag_argv.size()) - 1;
  char** flag_args = flag_argv.data();
  gflags::ParseCommandLineFlags(&flag_argc, &flag_args, /*remove_flags=*/false);
  if (line.command.empty()) UsageError("no COMMAND given (usage: worker_pool [flags] -- COMMAND [ARG...])");

  absl::StatusOr<sandbox::Policy> policy = flags::PolicyFromFlags();
  if (!policy.ok()) UsageError(std::string(policy.status().message()));
  sandbox::PoolOptions options;
  options.policy = std::move(*policy);
  options.argv = line.command;
  options.workers = IntFlag("workers", FLAGS_workers, 1, 1024);
  if (FLAGS_isolation == "worker") {
    options.isolation = sandbox::Isolation::kWorker;
  } else if (FLAGS_isolation == "pool") {
    options.isolation = sandbox::Isolation::kPool;
  } else {
    UsageError(absl::StrCat("--isolation: want worker or pool, not \"", FLAGS_isolation, "\""));
  }
  if (FLAGS_ready == "started") {
    options.ready = sandbox::ReadyMode::kStarted;
  } else if (FLAGS_ready == "notify") {
    options.ready = sandbox::ReadyMode::kNotify;
  } else {
    UsageError(absl::StrCat("--ready: want started or notify, not \"", FLAGS_ready, "\""));
  }
  options.ready_timeout = DurationFlag("ready_timeout", FLAGS_ready_timeout, false);
  options.kill_after = DurationFlag("kill_after", FLAGS_kill_after, false);
  options.backoff_initial = DurationFlag("backoff_initial", FLAGS_backoff_initial, true);
  options.backoff_max = DurationFlag("backoff_max", FLAGS_backoff_max, true);
  if (options.backoff_max < options.backoff_initial)
    UsageError("--backoff_max is shorter than --backoff_initial");
  options.crash_limit = IntFlag("crash_limit", FLAGS_crash_limit, 1, 1000000);
  options.min_uptime = DurationFlag("min_uptime", FLAGS_min_uptime, true);
  options.watchdog = DurationFlag("watchdog", FLAGS_watchdog, true);
  if (options.watchdog > absl::ZeroDuration() && options.ready != sandbox::ReadyMode::kNotify)
    UsageError("--watchdog needs --ready=notify (a worker that can send WATCHDOG=1 can send READY=1)");
  if (!FLAGS_status_fd.empty()) {
    int fd = IntFlag("status_fd", FLAGS_status_fd, 0, 1 << 20);
    if (fd <= 2 || fcntl(fd, F_GETFD) < 0)
      UsageError(absl::StrCat("--status_fd: ", fd, " is not an open fd above 2"));
    // Never let a slow reader stall the supervisor: writes that would block are skipped.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    options.status_fd = fd;
  }
  if (!FLAGS_quiet) {
    options.on_event = [](const std::string& event) {
      std::string text = absl::StrCat("worker_pool: ", event, "\n");
      fputs(text.c_str(), stderr);
    };
  }

  absl::StatusOr<std::vector<ActivatedFd>> activated = TakeListenFds();
  if (!activated.ok()) UsageError(absl::StrCat("socket activation: ", activated.status().message()));
  if (!activated->empty() && !options.policy.listen.empty())
    UsageError("--listen given, but sockets were also handed over (LISTEN_FDS); use one");

  // Signals are blocked before anything starts so none is lost; Run() reads
  // them from a signalfd.
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);

  absl::StatusOr<std::unique_ptr<sandbox::Pool>> pool =
      sandbox::Pool::Create(std::move(options), std::move(*activated));
  if (!pool.ok()) {
    // What the flags name cannot be set up (a path, a busy port): nothing
    // was started.
    UsageError(std::string(pool.status().message()));
  }
  absl::Status done = (*pool)->Run();
  if (!done.ok()) {
    fprintf(stderr, "worker_pool: %s\n", std::string(done.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace cmsg::worker_pool

int main(int argc, char** argv) { return cmsg::worker_pool::Run(argc, argv); }
