// The pool <-> agent conversation. The agent (pool_agent_main.cc) is the
// command of every pool sandbox: it starts workers inside the sandbox when
// the pool asks, and says when each started, could not be executed or
// ended. It talks over a SOCK_SEQPACKET socket that it receives with the
// sandbox's activation fds, last, under the name kAgentFdName; the fds
// before it are the workers'.
//
//   pool -> agent  AgentRequest: kStart (a new worker with this id),
//                  kSignal (to the worker's main process), kKill (SIGKILL
//                  to the worker's process group and every orphan)
//   agent -> pool  AgentEvent: kStarted (exec succeeded; pid as seen in the
//                  sandbox), kExecFailed (value: errno), kExited (how the
//                  worker's main process ended)
//
// The agent ends, killing every worker, when the pool's end hangs up. Both
// ends are the same build, so the structs travel in host byte order.
#ifndef SANDBOX_POOL_PROTOCOL_H_
#define SANDBOX_POOL_PROTOCOL_H_

#include <cstdint>

namespace cmsg::sandbox {

inline constexpr char kAgentFdName[] = "worker_pool.agent";
// Set for each worker: its slot number in the pool (0..N-1).
inline constexpr char kWorkerSlotEnv[] = "WORKER_POOL_SLOT";
// Set for each worker: its instance number (1, 2, ...; a restart or a
// replacement gets a new one), as in the pool's event lines.
inline constexpr char kWorkerInstanceEnv[] = "WORKER_POOL_INSTANCE";
// Where the pool mounts the agent binary and its notify socket.
inline constexpr char kAgentPath[] = "/run/worker_pool/agent";
inline constexpr char kNotifyPath[] = "/run/worker_pool/notify";

struct AgentRequest {
  enum Op : uint32_t { kStart = 1, kSignal = 2, kKill = 3 };
  uint32_t op = 0;
  uint32_t id = 0;      // the worker instance, chosen by the pool
  int32_t value = 0;    // kStart: the slot; kSignal: the signal
};

struct AgentEvent {
  enum Op : uint32_t { kStarted = 1, kExecFailed = 2, kExited = 3 };
  uint32_t op = 0;
  uint32_t id = 0;
  int32_t pid = 0;       // in the sandbox's pid namespace
  int32_t signaled = 0;  // kExited: 1 killed by signal `value`, 0 exited
  int32_t value = 0;     // kExited: code or signal; kExecFailed: errno
};

}  // namespace cmsg::sandbox

#endif  // SANDBOX_POOL_PROTOCOL_H_
