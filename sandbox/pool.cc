#include "sandbox/pool.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "lib/json/quote.h"
#include "lib/net/listen_spec.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"
#include "sandbox/pool_protocol.h"
#include "sandbox/spawn.h"

namespace cmsg::sandbox {
namespace {

constexpr int kMaxWorkers = 1024;
// How long a notification from inside a sandbox waits for its worker's
// "started" before it is ignored, and how many wait at most.
constexpr absl::Duration kHeldNotify = absl::Seconds(5);
constexpr size_t kMaxHeldNotify = 64;
constexpr int kHandled[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};


// The pids /proc lists as `pid`'s children (CONFIG_PROC_CHILDREN).
std::vector<pid_t> Children(pid_t pid) {
  std::vector<pid_t> out;
  std::string path = absl::StrCat("/proc/", pid, "/task/", pid, "/children");
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return out;
  char buf[4096];
  ssize_t n = read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return out;
  for (absl::string_view id : absl::StrSplit(absl::string_view(buf, n), ' ', absl::SkipWhitespace())) {
    pid_t child;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(id), &child)) out.push_back(child);
  }
  return out;
}

std::string DescribeExit(bool signaled, int value) {
  if (signaled) return absl::StrCat("killed by signal ", value, " (", strsignal(value), ")");
  return absl::StrCat("exited with status ", value);
}

}  // namespace

struct Pool::Sandbox {
  uint64_t id = 0;
  std::optional<Child> child;
  UniqueFd agent;  // the pool's end of the agent's control socket
  std::vector<uint32_t> instances;
};

struct Pool::Instance {
  enum class State { kStarting, kStarted, kReady, kStopping };
  uint32_t id = 0;
  int slot = 0;
  uint64_t sandbox = 0;
  State state = State::kStarting;
  uint32_t replaces = 0;  // the instance it takes over from once ready
  pid_t inner_pid = 0;    // in the sandbox's pid namespace
  pid_t outer_pid = 0;    // in the pool's, 0 if unknown
  absl::Time start_time, ready_time;
  absl::Time ready_deadline = absl::InfiniteFuture();
  absl::Time watchdog_deadline = absl::InfiniteFuture();
  absl::Time kill_at = absl::InfiniteFuture();
  // After a SIGKILL request: if the worker has not ended by then (its agent
  // does not answer: a worker can SIGSTOP it), the whole sandbox is killed.
  absl::Time sandbox_kill_at = absl::InfiniteFuture();
  bool stop_requested = false;  // by the pool: its exit is no failure
  bool self_stopping = false;   // it sent STOPPING=1
  std::string status_text;
};

struct Pool::Slot {
  uint32_t current = 0;  // serving (or starting to), 0 if none
  uint32_t next = 0;     // a replacement being started, 0 if none
  int restarts = 0;
  absl::Time restart_at = absl::InfiniteFuture();
  bool replacing = false;  // restart_at is for a replacement, not a restart
};

absl::StatusOr<std::string> FindAgent() { return FindSandboxBinary("pool_agent", "POOL_AGENT"); }

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() {
  // Sandboxes die with their Child (SIGKILL to pid 1, then reaped).
  spare_.reset();
  sandboxes_.clear();
}

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(PoolOptions options,
                                                  std::vector<ActivatedFd> activated) {
  if (options.argv.empty() || options.argv[0].empty())
    return absl::InvalidArgumentError("no command to run");
  if (options.workers < 1 || options.workers > kMaxWorkers)
    return absl::InvalidArgumentError(absl::StrCat("workers must be 1..", kMaxWorkers));
  if (!activated.empty() && !options.policy.listen.empty())
    return absl::InvalidArgumentError("listen sockets given both as specs and by socket activation");
  if (options.crash_limit < 1) return absl::InvalidArgumentError("crash_limit must be at least 1");
  if (options.backoff_initial < absl::ZeroDuration() || options.backoff_max < options.backoff_initial)
    return absl::InvalidArgumentError("want 0 <= backoff_initial <= backoff_max");
  if (options.kill_after <= absl::ZeroDuration() || options.ready_timeout <= absl::ZeroDuration())
    return absl::InvalidArgumentError("kill_after and ready_timeout must be positive");
  if (options.watchdog < absl::ZeroDuration())
    return absl::InvalidArgumentError("watchdog must not be negative");

  std::unique_ptr<Pool> pool(new Pool(std::move(options)));
  PoolOptions& o = pool->options_;
  std::string agent = o.agent_path;
  if (agent.empty()) { CMSGLIB_ASSIGN_OR_RETURN(agent, FindAgent()); }

  pool->socket_files_ = std::make_unique<SocketFiles>();
  for (const ListenSpec& spec : o.policy.listen) {
    absl::StatusOr<UniqueFd> fd = BindListenSpec(spec);
    if (!fd.ok()) {
      return absl::Status(fd.status().code(),
                          absl::StrCat("listen ", spec.ToString(), ": ", fd.status().message()));
    }
    if (spec.kind == ListenSpec::Kind::kUnix) {
      std::string text = spec.address.ToString();
      if (absl::StartsWith(text, "unix:/")) (void)pool->socket_files_->Add(text.substr(5));
    }
    pool->sockets_.push_back(std::move(*fd));
    pool->socket_names_.push_back(spec.name);
  }
  o.policy.listen.clear();
  for (ActivatedFd& fd : activated) {
    pool->sockets_.push_back(std::move(fd.fd));
    pool->socket_names_.push_back(fd.name);
  }

  CMSGLIB_ASSIGN_OR_RETURN(NotifySocket notify, NotifySocket::Create());
  pool->notify_.emplace(std::move(notify));
  o.policy.binds.push_back({.source = agent, .target = kAgentPath});
  o.policy.binds.push_back({.source = pool->notify_->path(), .target = kNotifyPath});
  o.policy.env.push_back(absl::StrCat("NOTIFY_SOCKET=", kNotifyPath));
  if (o.watchdog > absl::ZeroDuration())
    o.policy.env.push_back(absl::StrCat("WATCHDOG_USEC=", absl::ToInt64Microseconds(o.watchdog)));
  pool->agent_argv_.push_back(kAgentPath);
  pool->agent_argv_.insert(pool->agent_argv_.end(), o.argv.begin(), o.argv.end());
  pool->slots_.resize(o.workers);

  // The first sandbox now: a policy the kernel or the filesystem refuses
  // fails here, before any worker runs.
  CMSGLIB_ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> first, pool->MakeSandbox());
  if (o.isolation == Isolation::kPool) {
    pool->pool_sandbox_ = first->id;
    pool->sandboxes_[first->id] = std::move(first);
  } else {
    pool->spare_ = std::move(first);
  }
  return pool;
}

absl::StatusOr<std::unique_ptr<Pool::Sandbox>> Pool::MakeSandbox() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return ErrnoError("socketpair(SOCK_SEQPACKET)");
  UniqueFd ours(pair[0]), theirs(pair[1]);
  std::vector<InheritedFd> inherited;
  for (size_t i = 0; i < sockets_.size(); ++i)
    inherited.push_back({.fd = sockets_[i].get(), .name = socket_names_[i]});
  inherited.push_back({.fd = theirs.get(), .name = kAgentFdName});
  auto sandbox = std::make_unique<Sandbox>();
  sandbox->id = next_sandbox_id_++;
  absl::StatusOr<Child> child = Spawn(options_.policy, agent_argv_, inherited);
  if (!child.ok()) return child.status();
  sandbox->child.emplace(std::move(*child));
  sandbox->agent = std::move(ours);
  return sandbox;
}

void Pool::Event(int slot, const Instance* instance, const std::string& text) {
  std::string line = slot >= 0 ? absl::StrCat("slot=", slot, " ") : "";
  if (instance != nullptr) absl::StrAppend(&line, "instance=", instance->id, " ");
  absl::StrAppend(&line, text);
  if (options_.on_event) options_.on_event(line);
  WriteStatus();
}

void Pool::WriteStatus() {
  if (options_.status_fd < 0) return;
  std::string json = StatusJson() + "\n";
  ssize_t ignored = write(options_.status_fd, json.data(), json.size());
  (void)ignored;
}

std::string Pool::StatusJson() const {
  const absl::Time now = absl::Now();
  std::string out = absl::StrCat(
      "{\"isolation\":\"", options_.isolation == Isolation::kPool ? "pool" : "worker",
      "\",\"state\":\"", fatal_ ? "failed" : shutting_down_ ? "stopping" : "running",
      "\",\"workers\":[");
  for (size_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (s > 0) out += ",";
    absl::StrAppend(&out, "{\"slot\":", s, ",\"restarts\":", slot.restarts);
    auto it = instances_.find(slot.current);
    if (it == instances_.end()) {
      absl::StrAppend(&out, ",\"state\":\"", slot.restart_at != absl::InfiniteFuture() ? "backoff" : "stopped", "\"}");
      continue;
    }
    const Instance& i = *it->second;
    const char* state = i.state == Instance::State::kStarting ? "starting"
                        : i.state == Instance::State::kStarted ? "started"
                        : i.state == Instance::State::kReady   ? (i.self_stopping ? "stopping" : "ready")
                                                               : "stopping";
    absl::StrAppend(&out, ",\"instance\":", i.id, ",\"state\":\"", state, "\",\"pid\":", i.outer_pid,
                    ",\"sandbox_pid\":", i.inner_pid,
                    absl::StrFormat(",\"uptime_s\":%.3f", absl::ToDoubleSeconds(now - i.start_time)),
                    ",\"status\":", json::Quote(i.status_text));
    if (slot.next != 0) absl::StrAppend(&out, ",\"replacement\":", slot.next);
    out += "}";
  }
  out += "]}";
  return out;
}

absl::Status Pool::StartInstance(int slot_index, uint32_t replaces) {
  Slot& slot = slots_[slot_index];
  uint64_t sandbox_id;
  if (options_.isolation == Isolation::kPool) {
    if (pool_sandbox_ == 0 || !sandboxes_.contains(pool_sandbox_)) {
      CMSGLIB_ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> made, MakeSandbox());
      pool_sandbox_ = made->id;
      sandboxes_[made->id] = std::move(made);
    }
    sandbox_id = pool_sandbox_;
  } else {
    std::unique_ptr<Sandbox> sandbox = std::move(spare_);
    if (!sandbox) { CMSGLIB_ASSIGN_OR_RETURN(sandbox, MakeSandbox()); }
    sandbox_id = sandbox->id;
    sandboxes_[sandbox_id] = std::move(sandbox);
  }
  Sandbox& sandbox = *sandboxes_[sandbox_id];
  auto instance = std::make_unique<Instance>();
  instance->id = next_instance_id_++;
  instance->slot = slot_index;
  instance->sandbox = sandbox_id;
  instance->replaces = replaces;
  instance->start_time = absl::Now();
  instance->ready_deadline = instance->start_time + options_.ready_timeout;
  AgentRequest request{.op = AgentRequest::kStart, .id = instance->id, .value = slot_index};
  if (send(sandbox.agent.get(), &request, sizeof(request), MSG_NOSIGNAL) != sizeof(request))
    return ErrnoError("send(start request to the pool agent)");
  sandbox.instances.push_back(instance->id);
  if (replaces != 0) {
    slot.next = instance->id;
  } else {
    slot.current = instance->id;
  }
  slot.restart_at = absl::InfiniteFuture();
  Instance* raw = instance.get();
  instances_[raw->id] = std::move(instance);
  Event(slot_index, raw, absl::StrCat("event=starting", replaces ? absl::StrCat(" replaces=", replaces) : ""));
  return absl::OkStatus();
}

void Pool::SendToAgent(Instance& instance, uint32_t op, int value) {
  if (op == AgentRequest::kKill && instance.sandbox_kill_at == absl::InfiniteFuture())
    instance.sandbox_kill_at = absl::Now() + options_.kill_after;
  auto it = sandboxes_.find(instance.sandbox);
  if (it == sandboxes_.end()) return;
  AgentRequest request{.op = op, .id = instance.id, .value = value};
  (void)send(it->second->agent.get(), &request, sizeof(request), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Pool::Stop(Instance& instance, int signal) {
  if (instance.stop_requested && signal != SIGKILL) return;
  instance.stop_requested = true;
  instance.state = Instance::State::kStopping;
  SendToAgent(instance, signal == SIGKILL ? AgentRequest::kKill : AgentRequest::kSignal, signal);
  if (signal != SIGKILL) instance.kill_at = absl::Now() + options_.kill_after;
  Event(instance.slot, &instance, absl::StrCat("event=stopping signal=", sigabbrev_np(signal)));
}

void Pool::OnAgentEvent(Sandbox& sandbox, const AgentEvent& event) {
  auto it = instances_.find(event.id);
  if (it == instances_.end()) return;
  Instance& instance = *it->second;
  if (instance.sandbox != sandbox.id) return;  // not this agent's to report
  switch (event.op) {
    case AgentEvent::kStarted: {
      instance.inner_pid = event.pid;
      if (instance.state == Instance::State::kStarting) instance.state = Instance::State::kStarted;
      // Its pid outside: the agent is the shim's child, the worker the agent's.
      for (pid_t agent : Children(sandbox.child->pid())) {
        for (pid_t worker : Children(agent)) {
          std::optional<ProcInfo> info = ReadProcInfo(worker);
          if (info && info->innermost_pid == event.pid) instance.outer_pid = worker;
        }
      }
      Event(instance.slot, &instance,
            absl::StrCat("event=started pid=", instance.outer_pid, " sandbox_pid=", event.pid,
                         absl::StrFormat(" start_ms=%.3f", absl::ToDoubleMilliseconds(absl::Now() - instance.start_time))));
      if (options_.ready == ReadyMode::kStarted && !instance.stop_requested) OnReady(instance);
      // Its notifications may have been read before this event.
      RetryHeldNotify();
      return;
    }
    case AgentEvent::kExecFailed:
      Fatal(absl::FailedPreconditionError(absl::StrCat(
          "cannot execute ", options_.argv[0], ": ", strerror(event.value),
          " (inside the sandbox; not restarting)")));
      return;
    case AgentEvent::kExited:
      OnExit(instance, event.signaled != 0, event.value);
      return;
  }
}

void Pool::OnReady(Instance& instance) {
  if (instance.state == Instance::State::kReady || instance.state == Instance::State::kStopping) return;
  instance.state = Instance::State::kReady;
  instance.ready_time = absl::Now();
  instance.ready_deadline = absl::InfiniteFuture();
  if (options_.watchdog > absl::ZeroDuration())
    instance.watchdog_deadline = instance.ready_time + options_.watchdog;
  Event(instance.slot, &instance,
        absl::StrFormat("event=ready ready_ms=%.3f",
                        absl::ToDoubleMilliseconds(instance.ready_time - instance.start_time)));
  Slot& slot = slots_[instance.slot];
  if (slot.next == instance.id) {
    // The replacement is serving: the old one may go.
    uint32_t old = slot.current;
    slot.current = instance.id;
    slot.next = 0;
    if (auto it = instances_.find(old); it != instances_.end()) Stop(*it->second, SIGTERM);
    AdvanceRolling();
  }
}

void Pool::OnExit(Instance& instance, bool signaled, int value) {
  const uint32_t id = instance.id;
  const int slot_index = instance.slot;
  Slot& slot = slots_[slot_index];
  const bool requested = instance.stop_requested;
  const bool early = instance.state != Instance::State::kReady && !requested
                         ? true
                         : instance.ready_time + options_.min_uptime > absl::Now();
  Event(slot_index, &instance, absl::StrCat("event=exited ", absl::StrReplaceAll(DescribeExit(signaled, value), {{" ", "_"}})));
  // A worker sandbox ends with its worker (which kills anything left in it).
  if (auto sb = sandboxes_.find(instance.sandbox); sb != sandboxes_.end()) {
    auto& ids = sb->second->instances;
    ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
    if (options_.isolation == Isolation::kWorker) sandboxes_.erase(sb);
  }
  const bool was_current = slot.current == id;
  const bool was_next = slot.next == id;
  instances_.erase(id);  // `instance` is gone from here on
  if (was_current) slot.current = 0;
  if (was_next) slot.next = 0;
  if (shutting_down_ || requested) return;
  if (!was_current && !was_next) return;
  if (early) {
    ++consecutive_failures_;
  } else {
    consecutive_failures_ = 0;
  }
  if (consecutive_failures_ >= options_.crash_limit && was_next) {
    // A new version that does not come up: the old workers keep serving.
    rolling_.clear();
    consecutive_failures_ = 0;
    Event(slot_index, nullptr,
          absl::StrCat("event=replacement_abandoned reason=", json::Quote(absl::StrCat(
                           options_.crash_limit, " replacements in a row ended early (last ",
                           DescribeExit(signaled, value), "); the old workers keep serving"))));
    return;
  }
  if (consecutive_failures_ >= options_.crash_limit) {
    Fatal(absl::AbortedError(absl::StrCat(
        "crash loop: workers ended early ", consecutive_failures_, " times in a row (last: slot ",
        slot_index, " ", DescribeExit(signaled, value), ")")));
    return;
  }
  absl::Duration delay = absl::ZeroDuration();
  if (early) {
    delay = options_.backoff_initial;
    for (int i = 1; i < consecutive_failures_ && delay < options_.backoff_max; ++i) delay *= 2;
    delay = std::min(delay, options_.backoff_max);
  }
  ++slot.restarts;
  slot.restart_at = absl::Now() + delay;
  slot.replacing = was_next;
  Event(slot_index, nullptr, absl::StrFormat("event=restart_scheduled delay_ms=%.0f%s",
                                             absl::ToDoubleMilliseconds(delay),
                                             was_next ? " replacement=1" : ""));
}

void Pool::OnSandboxEnd(uint64_t sandbox_id) {
  auto it = sandboxes_.find(sandbox_id);
  if (it == sandboxes_.end()) return;
  std::vector<uint32_t> ids = it->second->instances;
  // Everything in it died with it.
  for (uint32_t id : ids) {
    auto inst = instances_.find(id);
    if (inst != instances_.end()) OnExit(*inst->second, true, SIGKILL);
  }
  sandboxes_.erase(sandbox_id);
  if (pool_sandbox_ == sandbox_id) pool_sandbox_ = 0;
}

Pool::SenderTrace Pool::TraceSender(pid_t pid) {
  // Walk from the sender up to a sandbox's pid 1, noting each process's pid
  // inside; the worker is the sandbox's instance whose main pid is among them.
  SenderTrace trace;
  for (int steps = 0; pid > 1 && steps < 64; ++steps) {
    for (auto& [id, sandbox] : sandboxes_) {
      if (sandbox->child && sandbox->child->pid() == pid) {
        trace.sandbox = id;
        return trace;
      }
    }
    std::optional<ProcInfo> info = ReadProcInfo(pid);
    if (!info) break;
    trace.inner.push_back(info->innermost_pid);
    pid = info->ppid;
  }
  trace.inner.clear();
  return trace;
}

Pool::Instance* Pool::MatchSender(const SenderTrace& trace) {
  auto sandbox = sandboxes_.find(trace.sandbox);
  if (trace.sandbox == 0 || sandbox == sandboxes_.end()) return nullptr;
  for (uint32_t instance_id : sandbox->second->instances) {
    auto it = instances_.find(instance_id);
    if (it == instances_.end()) continue;
    Instance& instance = *it->second;
    if (instance.inner_pid != 0 &&
        std::find(trace.inner.begin(), trace.inner.end(), instance.inner_pid) != trace.inner.end())
      return &instance;
  }
  return nullptr;
}

void Pool::OnNotify(const NotifyMessage& message) {
  SenderTrace trace = TraceSender(message.pid);
  if (Instance* instance = MatchSender(trace)) {
    ApplyNotify(*instance, message);
    return;
  }
  if (trace.sandbox != 0 && held_notify_.size() < kMaxHeldNotify) {
    held_notify_.push_back({std::move(trace), message, absl::Now() + kHeldNotify});
    return;
  }
  if (options_.on_event) {
    std::optional<ProcInfo> info = ReadProcInfo(message.pid);
    options_.on_event(absl::StrCat("event=notify_ignored sender_pid=", message.pid,
                                   info ? absl::StrCat(" parent=", info->ppid) : " (gone)",
                                   " fields=", message.fields.size(), " (no worker's)"));
  }
}

void Pool::RetryHeldNotify() {
  const absl::Time now = absl::Now();
  std::vector<HeldNotify> held;
  held.swap(held_notify_);
  for (HeldNotify& h : held) {
    if (Instance* instance = MatchSender(h.trace)) {
      ApplyNotify(*instance, h.message);
    } else if (h.until > now) {
      held_notify_.push_back(std::move(h));
    } else if (options_.on_event) {
      options_.on_event(absl::StrCat("event=notify_ignored sender_pid=", h.message.pid,
                                     " fields=", h.message.fields.size(),
                                     " (no worker's in ", absl::FormatDuration(kHeldNotify), ")"));
    }
  }
}

void Pool::ApplyNotify(Instance& instance, const NotifyMessage& message) {
  if (std::optional<std::string> status = message.Get("STATUS")) {
    instance.status_text = *status;
    Event(instance.slot, &instance, absl::StrCat("event=status text=", json::Quote(*status)));
  }
  if (message.Get("STOPPING") == "1" && !instance.self_stopping) {
    instance.self_stopping = true;
    Event(instance.slot, &instance, "event=stopping_notified");
  }
  if (message.Get("WATCHDOG") == "1" && options_.watchdog > absl::ZeroDuration() &&
      instance.state == Instance::State::kReady)
    instance.watchdog_deadline = absl::Now() + options_.watchdog;
  if (message.Get("READY") == "1" && options_.ready == ReadyMode::kNotify && !instance.stop_requested &&
      instance.state == Instance::State::kStarted)
    OnReady(instance);
}

void Pool::AdvanceRolling() {
  if (shutting_down_) return;
  for (const Slot& slot : slots_)
    if (slot.next != 0 || (slot.replacing && slot.restart_at != absl::InfiniteFuture())) return;
  while (!rolling_.empty()) {
    int s = rolling_.front();
    rolling_.erase(rolling_.begin());
    Slot& slot = slots_[s];
    if (slot.current == 0) continue;  // restarting anyway: it will be new
    absl::Status started = StartInstance(s, slot.current);
    if (!started.ok()) {
      Event(s, nullptr, absl::StrCat("event=start_failed error=", json::Quote(started.message())));
      ++consecutive_failures_;
      slot.restart_at = absl::Now() + options_.backoff_initial;
      slot.replacing = true;
    }
    return;
  }
}

void Pool::Fatal(absl::Status status) {
  if (fatal_) return;
  fatal_ = std::move(status);
  shutting_down_ = true;
  WriteStatus();  // the caller reports the reason, once
}

bool Pool::AnyStarting() const {
  for (const auto& [id, instance] : instances_)
    if (instance->state == Instance::State::kStarting) return true;
  return false;
}

absl::Time Pool::NextTimer() const {
  absl::Time next = absl::InfiniteFuture();
  if (!shutting_down_)
    for (const Slot& slot : slots_) next = std::min(next, slot.restart_at);
  for (const auto& [id, i] : instances_)
    next = std::min({next, i->kill_at, i->sandbox_kill_at, i->ready_deadline, i->watchdog_deadline});
  for (const HeldNotify& h : held_notify_) next = std::min(next, h.until);
  return next;
}

void Pool::RunTimers() {
  const absl::Time now = absl::Now();
  if (!held_notify_.empty()) RetryHeldNotify();
  std::vector<uint32_t> ids;
  for (const auto& [id, i] : instances_) ids.push_back(id);
  for (uint32_t id : ids) {
    auto it = instances_.find(id);
    if (it == instances_.end()) continue;
    Instance& i = *it->second;
    if (i.kill_at <= now) {
      i.kill_at = absl::InfiniteFuture();
      if (i.stop_requested) {
        Stop(i, SIGKILL);
      } else {
        SendToAgent(i, AgentRequest::kKill, SIGKILL);  // its exit is still a failure
      }
    }
    if (i.sandbox_kill_at <= now) {
      i.sandbox_kill_at = absl::InfiniteFuture();
      auto sb = sandboxes_.find(i.sandbox);
      if (sb != sandboxes_.end() && sb->second->child) {
        Event(i.slot, &i, absl::StrCat("event=sandbox_killed sandbox=", i.sandbox,
                                       " (the worker outlived SIGKILL: its agent does not answer)"));
        // Its pidfd turns readable; the loop then ends every worker in it.
        (void)sb->second->child->Kill();
      }
      continue;
    }
    if (i.ready_deadline <= now) {
      i.ready_deadline = absl::InfiniteFuture();
      Event(i.slot, &i, absl::StrCat("event=not_ready_in_time ready_timeout=", absl::FormatDuration(options_.ready_timeout)));
      // Killed but not "requested": its exit counts as an early one.
      SendToAgent(i, AgentRequest::kKill, SIGKILL);
    }
    if (i.watchdog_deadline <= now) {
      i.watchdog_deadline = absl::InfiniteFuture();
      Event(i.slot, &i, "event=watchdog_expired");
      SendToAgent(i, AgentRequest::kSignal, SIGABRT);
      i.kill_at = now + options_.kill_after;
    }
  }
  if (shutting_down_) return;
  for (size_t s = 0; s < slots_.size(); ++s) {
    Slot& slot = slots_[s];
    if (slot.restart_at > now) continue;
    slot.restart_at = absl::InfiniteFuture();
    const bool replacing = slot.replacing && slot.current != 0;
    slot.replacing = false;
    absl::Status started = StartInstance(static_cast<int>(s), replacing ? slot.current : 0);
    if (!started.ok()) {
      Event(static_cast<int>(s), nullptr, absl::StrCat("event=start_failed error=", json::Quote(started.message())));
      if (++consecutive_failures_ >= options_.crash_limit) {
        Fatal(absl::AbortedError(absl::StrCat("cannot start workers: ", started.message())));
        return;
      }
      slot.restart_at = now + options_.backoff_initial * (1 << std::min(consecutive_failures_, 10));
      slot.replacing = replacing;
    }
  }
}

absl::Status Pool::Run() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : kHandled) sigaddset(&mask, s);
  sigset_t old;
  sigprocmask(SIG_BLOCK, &mask, &old);
  UniqueFd signals(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals.ok()) return ErrnoError("signalfd");
  started_at_ = absl::Now();
  Event(-1, nullptr, absl::StrCat("event=pool_started workers=", options_.workers, " isolation=",
                                  options_.isolation == Isolation::kPool ? "pool" : "worker"));
  for (int s = 0; s < options_.workers && !fatal_; ++s) {
    absl::Status started = StartInstance(s, 0);
    if (!started.ok()) Fatal(started);
  }
  while (!fatal_) {
    if (shutting_down_ && instances_.empty()) break;
    // The next spare sandbox is built while nothing is starting, so that
    // building it does not delay a start's report.
    if (options_.isolation == Isolation::kWorker && !spare_ && !shutting_down_ && !AnyStarting()) {
      absl::StatusOr<std::unique_ptr<Sandbox>> spare = MakeSandbox();
      if (spare.ok()) {
        spare_ = std::move(*spare);
      } else {
        Event(-1, nullptr, absl::StrCat("event=spare_failed error=", json::Quote(spare.status().message())));
      }
    }
    std::vector<pollfd> fds = {{signals.get(), POLLIN, 0}, {notify_->fd(), POLLIN, 0}};
    std::vector<uint64_t> owners;
    for (auto& [id, sandbox] : sandboxes_) {
      fds.push_back({sandbox->agent.get(), POLLIN, 0});
      owners.push_back(id);
      fds.push_back({sandbox->child->pidfd(), POLLIN, 0});
      owners.push_back(id);
    }
    absl::Duration wait = NextTimer() - absl::Now();
    int ms = wait == absl::InfiniteDuration()
                 ? -1
                 : static_cast<int>(std::clamp<int64_t>(
                       absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))), 0, INT_MAX));
    int ready = poll(fds.data(), fds.size(), ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      Fatal(ErrnoError("poll"));
      break;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      while (read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
        switch (info.ssi_signo) {
          case SIGTERM:
          case SIGINT:
            if (!shutting_down_) {
              shutting_down_ = true;
              rolling_.clear();
              Event(-1, nullptr, absl::StrCat("event=shutdown signal=", sigabbrev_np(info.ssi_signo)));
              std::vector<uint32_t> ids;
              for (const auto& [id, i] : instances_) ids.push_back(id);
              for (uint32_t id : ids) Stop(*instances_[id], SIGTERM);
              spare_.reset();
            }
            break;
          case SIGHUP:
            if (!shutting_down_) {
              rolling_.clear();
              for (int s = 0; s < options_.workers; ++s) rolling_.push_back(s);
              Event(-1, nullptr, "event=replace_all");
              AdvanceRolling();
            }
            break;
          case SIGUSR1: {
            std::string json = StatusJson() + "\n";
            ssize_t ignored = write(options_.status_fd >= 0 ? options_.status_fd : STDERR_FILENO,
                                    json.data(), json.size());
            (void)ignored;
            break;
          }
        }
      }
    }
    if (fds[1].revents & POLLIN) {
      for (int n = 0; n < 64; ++n) {  // bounded: one flooding worker cannot starve the rest
        absl::StatusOr<std::optional<NotifyMessage>> m = notify_->Receive();
        if (!m.ok()) {
          if (options_.on_event) options_.on_event(absl::StrCat("event=notify_dropped error=", json::Quote(m.status().message())));
          continue;
        }
        if (!*m) break;
        OnNotify(**m);
      }
    }
    std::vector<uint64_t> ended;
    for (size_t k = 2; k < fds.size() && !fatal_; ++k) {
      if (fds[k].revents == 0) continue;
      uint64_t id = owners[k - 2];
      auto it = sandboxes_.find(id);
      if (it == sandboxes_.end()) continue;
      if (fds[k].fd == it->second->agent.get()) {
        for (;;) {
          AgentEvent event;
          ssize_t n = recv(fds[k].fd, &event, sizeof(event), MSG_DONTWAIT);
          if (n == sizeof(event)) {
            OnAgentEvent(*it->second, event);
            it = sandboxes_.find(id);
            if (it == sandboxes_.end() || fatal_) break;
            continue;
          }
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
          ended.push_back(id);  // the agent hung up: the sandbox is gone
          break;
        }
      } else {
        ended.push_back(id);
      }
    }
    for (uint64_t id : ended) {
      if (fatal_) break;
      if (sandboxes_.contains(id)) Event(-1, nullptr, absl::StrCat("event=sandbox_ended sandbox=", id));
      OnSandboxEnd(id);
    }
    if (!fatal_) RunTimers();
  }
  spare_.reset();
  sandboxes_.clear();
  instances_.clear();
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (fatal_) return *fatal_;
  Event(-1, nullptr, "event=pool_stopped");
  return absl::OkStatus();
}

}  // namespace cmsg::sandbox
