// pool_agent: the command of every worker_pool sandbox (see pool_protocol.h).
// Starts workers on the pool's request with the sandbox's activation fds (all
// but its own control socket) in the same layout, reports each exec and each
// exit, and keeps the sandbox free of orphans: each worker runs in its own
// process group, the agent is the sandbox's child subreaper, and when a
// worker's main process ends its group and every process orphaned to the
// agent are killed. The agent cannot be ptraced by the workers (not
// dumpable). When the pool hangs up it kills everything and exits.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "lib/activation/activation.h"
#include "lib/fd/unique_fd.h"
#include "lib/status/errno_status.h"
#include "sandbox/pool_protocol.h"
#include "sandbox/vfork_exec.h"

#if defined(__SANITIZE_ADDRESS__)
// As in the shim: no leak check (no ptrace), and the workers' RLIMIT_CORE
// left as the policy set it.
extern "C" const char* __asan_default_options() { return "detect_leaks=0:disable_coredump=0"; }
#endif

extern char** environ;

namespace cmsg::sandbox {
namespace {

void Say(absl::string_view text) {
  std::string line = absl::StrCat("pool_agent: ", text, "\n");
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

struct Agent {
  UniqueFd control;
  std::vector<ActivatedFd> fds;
  std::vector<std::string> names;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  absl::flat_hash_map<pid_t, uint32_t> workers;  // main pid -> id
};

void Send(int control, const AgentEvent& event) {
  ssize_t n;
  do {
    n = send(control, &event, sizeof(event), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

ExecPlan PlanWorkerExec(Agent& agent, uint32_t id, int slot) {
  std::vector<std::string> env = agent.env;
  env.push_back(absl::StrCat(kWorkerSlotEnv, "=", slot));
  env.push_back(absl::StrCat(kWorkerInstanceEnv, "=", id));
  bool watchdog = false;
  for (const std::string& kv : agent.env) watchdog |= absl::StartsWith(kv, "WATCHDOG_USEC=");
  std::vector<const char*> pid_vars = {kListenPidVar};
  if (watchdog) pid_vars.push_back(kWatchdogPidVar);
  std::vector<int> sources;
  for (const ActivatedFd& fd : agent.fds) sources.push_back(fd.fd.get());
  return PlanExec(agent.argv, std::move(env), agent.names, std::move(sources), pid_vars);
}

// In the worker's process before its exec: its own process group, no
// blocked signals (the agent installs no handlers, so none can run here).
void PrepareWorker() {
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void Start(Agent& agent, uint32_t id, int slot) {
  AgentEvent event{.op = AgentEvent::kExecFailed, .id = id};
  ExecPlan plan = PlanWorkerExec(agent, id, slot);
  // Returns once the child has exec'd or exited (then with its errno).
  int error;
  const pid_t pid = StartFromPlan(plan, &PrepareWorker, &error);
  if (pid < 0) {
    event.value = errno;
    Send(agent.control.get(), event);
    return;
  }
  event.pid = pid;
  agent.workers[pid] = id;
  if (error != 0) {
    event.value = error;
  } else {
    event.op = AgentEvent::kStarted;
  }
  Send(agent.control.get(), event);
}

// Every process whose parent is the agent but is no worker's main process:
// orphans of workers (the agent is their subreaper).
void KillOrphans(const Agent& agent) {
  std::string path = absl::StrCat("/proc/self/task/", getpid(), "/children");
  std::vector<pid_t> children;
  if (FILE* f = fopen(path.c_str(), "re")) {
    int pid;
    while (fscanf(f, "%d", &pid) == 1) children.push_back(pid);
    fclose(f);
  } else if (DIR* proc = opendir("/proc")) {
    // No CONFIG_PROC_CHILDREN: the parent of every process, from its stat.
    while (dirent* e = readdir(proc)) {
      int pid;
      if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
      std::string stat_path = absl::StrCat("/proc/", pid, "/stat");
      FILE* f = fopen(stat_path.c_str(), "re");
      if (f == nullptr) continue;
      char buf[512];
      size_t got = fread(buf, 1, sizeof(buf) - 1, f);
      fclose(f);
      buf[got] = '\0';
      const char* close = strrchr(buf, ')');
      int ppid;
      if (close != nullptr && sscanf(close + 1, " %*c %d", &ppid) == 1 && ppid == getpid())
        children.push_back(pid);
    }
    closedir(proc);
  }
  for (pid_t pid : children)
    if (!agent.workers.contains(pid)) kill(pid, SIGKILL);
}

void Reap(Agent& agent) {
  for (;;) {
    int wstatus;
    pid_t pid = waitpid(-1, &wstatus, WNOHANG);
    if (pid <= 0) return;
    auto it = agent.workers.find(pid);
    if (it == agent.workers.end()) continue;  // an orphan
    AgentEvent event{.op = AgentEvent::kExited, .id = it->second, .pid = pid};
    event.signaled = WIFSIGNALED(wstatus);
    event.value = event.signaled ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
    agent.workers.erase(it);
    // What the worker left behind: its group, and what was orphaned to us.
    kill(-pid, SIGKILL);
    KillOrphans(agent);
    Send(agent.control.get(), event);
  }
}

void KillAll(Agent& agent) {
  for (const auto& [pid, id] : agent.workers) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  KillOrphans(agent);
}

void Handle(Agent& agent, const AgentRequest& request) {
  switch (request.op) {
    case AgentRequest::kStart:
      Start(agent, request.id, request.value);
      return;
    case AgentRequest::kSignal:
    case AgentRequest::kKill:
      for (const auto& [pid, id] : agent.workers) {
        if (id != request.id) continue;
        if (request.op == AgentRequest::kSignal) {
          kill(pid, request.value);
        } else {
          kill(-pid, SIGKILL);
          kill(pid, SIGKILL);
        }
      }
      return;
  }
}

int Main(int argc, char** argv) {
  // Workers run as the same user: without this one could ptrace the agent
  // or take its control socket with pidfd_getfd.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    Say(ErrnoError("prctl").ToString());
    return 125;
  }
  Agent agent;
  for (int i = 1; i < argc; ++i) agent.argv.emplace_back(argv[i]);
  if (agent.argv.empty()) {
    Say("usage: pool_agent COMMAND [ARG...] (started by worker_pool)");
    return 125;
  }
  absl::StatusOr<std::vector<ActivatedFd>> fds = TakeListenFds();
  if (!fds.ok()) {
    Say(fds.status().ToString());
    return 125;
  }
  for (ActivatedFd& fd : *fds) {
    if (fd.name == kAgentFdName && !agent.control.ok()) {
      agent.control = std::move(fd.fd);
    } else {
      agent.fds.push_back(std::move(fd));
    }
  }
  if (!agent.control.ok()) {
    Say("no control socket among the activation fds (started by worker_pool?)");
    return 125;
  }
  // Keep the workers' fds above 3 + n, where a child can dup2 them into
  // place without overwriting one still to be moved.
  for (ActivatedFd& fd : agent.fds) {
    fd.fd.reset(fcntl(fd.fd.get(), F_DUPFD_CLOEXEC,
                      kListenFdsStart + static_cast<int>(agent.fds.size())));
    if (!fd.fd.ok()) {
      Say(ErrnoError("fcntl(F_DUPFD_CLOEXEC)").ToString());
      return 125;
    }
  }
  for (const ActivatedFd& fd : agent.fds) agent.names.push_back(fd.name);
  for (char** e = environ; *e != nullptr; ++e) agent.env.emplace_back(*e);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  // The shim forwards these; the pool speaks over the socket instead.
  for (int s : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  UniqueFd signals(signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals.ok()) {
    Say(ErrnoError("signalfd").ToString());
    return 125;
  }
  for (;;) {
    pollfd p[] = {{agent.control.get(), POLLIN, 0}, {signals.get(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents & POLLIN) {
      signalfd_siginfo info;
      while (read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
      }
      Reap(agent);
    }
    if (p[0].revents) {
      AgentRequest request;
      ssize_t n = recv(agent.control.get(), &request, sizeof(request), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n != sizeof(request)) break;  // the pool hung up (or spoke nonsense)
      Handle(agent, request);
    }
  }
  KillAll(agent);
  return 0;
}

}  // namespace
}  // namespace cmsg::sandbox

int main(int argc, char** argv) { return cmsg::sandbox::Main(argc, argv); }
