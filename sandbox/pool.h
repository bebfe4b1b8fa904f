// A supervised pool of sandboxed workers that serve the same sockets.
//
//   cmsg::sandbox::PoolOptions options;
//   options.policy.binds = {{.source = "/usr"}, {.source = "/lib"}, {.source = "/lib64"}};
//   options.policy.listen = *cmsg::ParseListenSpecs("tcp:127.0.0.1:8080=web");
//   options.argv = {"/usr/bin/python3", "/srv/server.py"};
//   options.workers = 4;
//   CMSGLIB_ASSIGN_OR_RETURN(auto pool, cmsg::sandbox::Pool::Create(std::move(options), {}));
//   CMSGLIB_RETURN_IF_ERROR(pool->Run());  // until SIGTERM
//
// The pool binds the policy's listen sockets once (or takes the sockets it
// was itself activated with) and every worker receives them by SCM_RIGHTS
// in the socket-activation layout, followed by the policy's files. Each
// sandbox runs the pool's agent (pool_agent_main.cc, mounted at
// /run/worker_pool/agent), which starts workers on request, so a worker's
// start is a fork+exec inside a sandbox built beforehand:
//
//   Isolation::kWorker  one sandbox per worker (its own namespaces, root,
//                       pid 1); one spare sandbox is kept built ahead.
//   Isolation::kPool    one sandbox for the whole pool; workers are
//                       processes in it and can signal or ptrace-free
//                       interfere with each other (no isolation between
//                       them), but not with the host.
//
// Workers get NOTIFY_SOCKET (sd_notify); READY=1, STATUS=, STOPPING=1,
// WATCHDOG=1 are attributed to a worker by the sender's kernel-checked pid
// (SCM_CREDENTIALS) and its ancestry in /proc. A worker whose main process
// exits is replaced after an exponential back-off; `crash_limit` early exits
// in a row end Run() with the reason. A command that cannot be executed
// ends Run() at once. Signals (Run() blocks them and reads a signalfd):
// SIGTERM/SIGINT drain and return OK; SIGHUP replaces the workers one by
// one (a new one ready before an old one is stopped); SIGUSR1 writes the
// status JSON. Run() must be called from the thread that called Create():
// its exit kills the sandboxes, as does the pool process's death.
#ifndef SANDBOX_POOL_H_
#define SANDBOX_POOL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/activation/activation.h"
#include "lib/fd/unique_fd.h"
#include "sandbox/policy.h"
#include "sandbox/pool_notify.h"
#include "sandbox/spawn.h"

namespace cmsg::sandbox {

enum class Isolation { kWorker, kPool };
enum class ReadyMode {
  kStarted,  // ready once the command was executed
  kNotify,   // ready when it sends READY=1 to NOTIFY_SOCKET
};

struct PoolOptions {
  // The workers' sandbox. `listen` is bound once by the pool (it must be
  // empty when Create() gets activated sockets); its env gains
  // NOTIFY_SOCKET, WORKER_POOL_SLOT (and WATCHDOG_USEC/PID).
  Policy policy;
  std::vector<std::string> argv;  // REQUIRES: not empty
  int workers = 1;                // REQUIRES: 1..1024
  Isolation isolation = Isolation::kWorker;
  ReadyMode ready = ReadyMode::kStarted;
  // A worker not ready this long after its start is killed (an early exit).
  absl::Duration ready_timeout = absl::Seconds(30);
  // Between SIGTERM and SIGKILL when a worker is stopped.
  absl::Duration kill_after = absl::Seconds(10);
  // Back-off before the n-th consecutive restart after an early exit:
  // backoff_initial * 2^(n-1), at most backoff_max.
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(10);
  // An exit before ready, or within min_uptime of ready, is early; this many
  // in a row end Run() with an error, except during a rolling replacement,
  // which is then abandoned (the old workers keep serving).
  int crash_limit = 5;
  absl::Duration min_uptime = absl::Seconds(1);
  // Zero: none. Otherwise WATCHDOG=1 must come at least this often once a
  // worker is ready, or it gets SIGABRT (then SIGKILL after kill_after).
  absl::Duration watchdog = absl::ZeroDuration();
  // The pool_agent binary; empty: FindAgent().
  std::string agent_path;
  // One line per event ("slot=0 instance=3 event=ready pid=1234 ...").
  std::function<void(const std::string&)> on_event;
  // If >= 0 (borrowed), the status JSON is written here, one line, after
  // every event and on SIGUSR1; writes that would block are skipped.
  int status_fd = -1;
};

class Pool {
 public:
  // Checks the options, binds the sockets (or takes `activated`), creates the
  // notify socket and the first sandbox (so a bad policy fails here, before
  // any worker starts). Starts no worker.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Pool>> Create(
      PoolOptions options, std::vector<ActivatedFd> activated);
  ~Pool();

  // Starts the workers and supervises them until SIGTERM/SIGINT (then OK,
  // once every worker has ended) or a failure.
  [[nodiscard]] absl::Status Run();

  // {"isolation":..., "state":..., "workers":[{"slot":0, "instance":3,
  // "state":"ready", "pid":1234, "sandbox_pid":7, "restarts":0,
  // "uptime_s":1.5, "status":"..."}, ...]} on one line.
  [[nodiscard]] std::string StatusJson() const;

 private:
  struct Sandbox;
  struct Instance;
  struct Slot;
  explicit Pool(PoolOptions options);

  absl::StatusOr<std::unique_ptr<Sandbox>> MakeSandbox();
  absl::Status StartInstance(int slot, uint32_t replaces);
  void Stop(Instance& instance, int signal);
  void SendToAgent(Instance& instance, uint32_t op, int value);
  void OnAgentEvent(Sandbox& sandbox, const struct AgentEvent& event);
  void OnReady(Instance& instance);
  void OnExit(Instance& instance, bool signaled, int value);
  void OnSandboxEnd(uint64_t sandbox_id);
  void OnNotify(const NotifyMessage& message);
  // Where a notification came from: the sandbox whose pid 1 is an ancestor
  // of the sender (0: none of ours), and the pids inside it of the sender
  // and its ancestors, read from /proc when it arrives.
  struct SenderTrace {
    uint64_t sandbox = 0;
    std::vector<pid_t> inner;
  };
  SenderTrace TraceSender(pid_t pid);
  // The instance of the trace's sandbox whose main pid is among its pids.
  Instance* MatchSender(const SenderTrace& trace);
  void ApplyNotify(Instance& instance, const NotifyMessage& message);
  // Notifications from inside a sandbox that match no worker yet: a worker
  // can notify before its agent's "started" (its pid inside) is read. They
  // are matched again as each worker starts, and ignored after kHeldNotify.
  struct HeldNotify {
    SenderTrace trace;
    NotifyMessage message;
    absl::Time until;
  };
  void RetryHeldNotify();
  void AdvanceRolling();
  void Fatal(absl::Status status);
  void Event(int slot, const Instance* instance, const std::string& text);
  void WriteStatus();
  absl::Time NextTimer() const;
  void RunTimers();
  bool AnyStarting() const;

  PoolOptions options_;
  std::vector<std::string> agent_argv_;
  std::vector<UniqueFd> sockets_;
  std::vector<std::string> socket_names_;
  std::unique_ptr<SocketFiles> socket_files_;
  std::optional<NotifySocket> notify_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Sandbox>> sandboxes_;
  std::unique_ptr<Sandbox> spare_;
  uint64_t pool_sandbox_ = 0;  // Isolation::kPool: its id, 0 when none
  uint64_t next_sandbox_id_ = 1;
  absl::flat_hash_map<uint32_t, std::unique_ptr<Instance>> instances_;
  uint32_t next_instance_id_ = 1;
  std::vector<Slot> slots_;
  std::vector<int> rolling_;  // slots still to replace, in order
  std::vector<HeldNotify> held_notify_;  // at most kMaxHeldNotify
  int consecutive_failures_ = 0;
  bool shutting_down_ = false;
  std::optional<absl::Status> fatal_;
  absl::Time started_at_;
};

// The pool_agent binary: $POOL_AGENT, else pool_agent beside this program,
// else in its Bazel runfiles.
[[nodiscard]] absl::StatusOr<std::string> FindAgent();

}  // namespace cmsg::sandbox

#endif  // SANDBOX_POOL_H_
