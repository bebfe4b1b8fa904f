// sandbox_shim: pid 1 of a sandbox. Receives the command, its environment
// and its fds over the control socket (fd 3) as SCM_RIGHTS, runs the command
// as its child (started with vfork) with the fds at 3.. in the systemd
// socket-activation layout, passes on the signals the launcher sends it,
// reaps orphans, and reports how the command ended. When it exits the kernel kills whatever is left.
//
// Exit codes of its own: 125 when the handoff fails; the command's child
// exits 127 (not found) or 126 (cannot execute) as a shell would.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/activation/activation.h"
#include "lib/status/errno_status.h"
#include "sandbox/broker_protocol.h"
#include "sandbox/handoff.h"
#include "sandbox/vfork_exec.h"

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer stops the world with ptrace, which the sandbox's seccomp
// filter denies; sanitizer builds of the shim skip the leak check. ASan would
// also lower RLIMIT_CORE to 0, which the command inherits from the shim.
extern "C" const char* __asan_default_options() { return "detect_leaks=0:disable_coredump=0"; }
#endif

namespace cmsg::sandbox {
namespace {

constexpr int kForwarded[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,
                              SIGUSR2, SIGWINCH, SIGCONT, SIGALRM};

volatile sig_atomic_t command_pid = 0;

void Forward(int signal) {
  if (command_pid > 0) kill(command_pid, signal);
}

void Die(absl::string_view what, const absl::Status& status) {
  std::string line = absl::StrCat("sandbox: ", what, ": ", status.message(), "\n");
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

// In the command's process (sharing the shim's memory until it execs):
// default handlers for the forwarded signals (one arriving before the exec
// must not run Forward here) and nothing blocked.
void ResetSignals() {
  for (int signal : kForwarded) ::signal(signal, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

int Main() {
  // The command runs as the same user: without this it could ptrace the shim
  // or take its control socket with pidfd_getfd.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    Die("prctl", ErrnoError("prctl(PR_SET_DUMPABLE)"));
    return 125;
  }
  if (fcntl(kShimControlFd, F_SETFD, FD_CLOEXEC) < 0) {
    Die("control socket", ErrnoError("fcntl"));
    return 125;
  }
  absl::StatusOr<Handoff> handoff = ReceiveHandoff(kShimControlFd);
  if (!handoff.ok()) {
    Die("receiving the command and its fds", handoff.status());
    return 125;
  }
  if (handoff->argv.empty()) {
    Die("receiving the command and its fds", absl::InvalidArgumentError("no command"));
    return 125;
  }
  // The command's fds at 3.. with the broker socket right after them: first
  // all moved above those slots (close-on-exec: only the command's copies
  // cross), so no dup2 lands on one still to be moved.
  const bool has_broker = handoff->broker.ok();
  const int slots = static_cast<int>(handoff->fds.size()) + (has_broker ? 1 : 0);
  std::vector<UniqueFd> high;
  std::vector<int> sources;
  auto move_high = [&](const UniqueFd& fd) {
    high.emplace_back(fcntl(fd.get(), F_DUPFD_CLOEXEC, kListenFdsStart + slots));
    sources.push_back(high.back().get());
    return high.back().ok();
  };
  for (const UniqueFd& fd : handoff->fds) {
    if (!move_high(fd)) {
      Die("placing fds", ErrnoError("fcntl(F_DUPFD_CLOEXEC)"));
      return 125;
    }
  }
  std::vector<std::string> env = handoff->env;
  if (has_broker) {
    if (!move_high(handoff->broker)) {
      Die("placing the broker socket", ErrnoError("fcntl(F_DUPFD_CLOEXEC)"));
      return 125;
    }
    env.push_back(absl::StrCat(kBrokerFdEnv, "=", kListenFdsStart + handoff->fds.size()));
  }
  const ExecPlan plan =
      PlanExec(handoff->argv, std::move(env), handoff->names, std::move(sources), {kListenPidVar});
  // Block the forwarded signals across vfork so none is lost before the
  // command's pid is known; handlers make them deliverable to pid 1.
  sigset_t forwarded, old;
  sigemptyset(&forwarded);
  struct sigaction action {};
  action.sa_handler = Forward;
  action.sa_flags = SA_RESTART;
  for (int signal : kForwarded) {
    sigaddset(&forwarded, signal);
    sigaction(signal, &action, nullptr);
  }
  sigprocmask(SIG_BLOCK, &forwarded, &old);
  int exec_error;
  const pid_t pid = StartFromPlan(plan, &ResetSignals, &exec_error);
  if (pid < 0) {
    Die("clone", ErrnoError("clone(CLONE_VM | CLONE_VFORK)"));
    return 125;
  }
  command_pid = pid;
  high.clear();
  handoff->fds.clear();
  handoff->broker.reset();
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (exec_error != 0) {
    const std::string& command = handoff->argv[0];
    Die(absl::StrCat("cannot execute ", command),
        ErrnoStatus(exec_error, absl::StrCat("execvp(", command, ")")));
  }
  // From here a signal the launcher sends reaches the command.
  (void)SendShimReady(kShimControlFd);

  for (;;) {
    int wstatus;
    pid_t done = waitpid(-1, &wstatus, 0);
    if (done < 0) {
      if (errno == EINTR) continue;
      Die("waitpid", ErrnoError("waitpid"));
      return 125;
    }
    if (done != pid) continue;  // an orphan, reaped
    CommandStatus status;
    status.signaled = WIFSIGNALED(wstatus);
    status.value = status.signaled ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
    (void)SendCommandStatus(kShimControlFd, status);
    return status.signaled ? 128 + status.value : status.value;
  }
}

}  // namespace
}  // namespace cmsg::sandbox

int main() { return cmsg::sandbox::Main(); }
