#include "sandbox/vfork_exec.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/activation/activation.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace cmsg::sandbox {
namespace {

constexpr int kPidDigits = 12;

// Writes `value` in decimal at `out` (room for kPidDigits, NUL-terminated).
void FormatPid(char* out, pid_t value) {
  char digits[kPidDigits];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < kPidDigits - 1);
  for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\0';
}

// What the child reads, and where it leaves the exec's errno (the caller
// reads it only after clone returns, i.e. after the child exec'd or exited).
struct StartArgs {
  const ExecPlan* plan;
  void (*prepare)();
  int error;
};

// Not instrumented: a sanitizer would take the clone's stack for a foreign
// one at the _exit (and the child shares the sanitizer's state).
__attribute__((no_sanitize("address", "undefined"))) int ChildMain(void* raw) {
  auto* args = static_cast<StartArgs*>(raw);
  if (args->prepare != nullptr) args->prepare();
  const int error = ExecFromPlan(*args->plan);
  args->error = error;
  _exit(error == ENOENT || error == ENOTDIR ? 127 : 126);
}

// The child's stack: it only makes system calls (and the exec's path
// search), a few hundred bytes.
alignas(64) char child_stack[64 * 1024];

}  // namespace

pid_t StartFromPlan(const ExecPlan& plan, void (*prepare)(), int* exec_error) {
  StartArgs args{&plan, prepare, 0};
#if defined(__SANITIZE_ADDRESS__)
  // The last child's frames never returned (it exec'd or _exit'ed): the
  // redzones they poisoned on this stack are still poisoned.
  ASAN_UNPOISON_MEMORY_REGION(child_stack, sizeof(child_stack));
#endif
  const pid_t pid = clone(ChildMain, child_stack + sizeof(child_stack),
                          CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  *exec_error = pid > 0 ? args.error : 0;
  return pid;
}

ExecPlan PlanExec(absl::Span<const std::string> argv, std::vector<std::string> env,
                  absl::Span<const std::string> names, std::vector<int> sources,
                  absl::Span<const char* const> pid_vars) {
  ExecPlan plan;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& kv : env)
    if (absl::StartsWith(kv, "PATH=")) path = kv.substr(5);
  plan.env_strings = std::move(env);
  // ListenEnv's order, with LISTEN_PID (if asked for) where it puts it; the
  // other pid variables after them.
  std::vector<std::pair<size_t, size_t>> slots;  // env index, var length
  auto add_pid_var = [&](absl::string_view var) {
    slots.emplace_back(plan.env_strings.size(), var.size());
    plan.env_strings.push_back(absl::StrCat(var, std::string(kPidDigits, '\0')));
  };
  for (const std::string& kv : ListenEnv(names, 0)) {
    if (!absl::StartsWith(kv, kListenPidVar)) {
      plan.env_strings.push_back(kv);
      continue;
    }
    for (const char* var : pid_vars)
      if (absl::string_view(var) == kListenPidVar) add_pid_var(var);
  }
  for (const char* var : pid_vars)
    if (absl::string_view(var) != kListenPidVar) add_pid_var(var);
  // Pointers only once the vector no longer grows.
  for (std::string& kv : plan.env_strings) plan.envp.push_back(kv.data());
  plan.envp.push_back(nullptr);
  for (const auto& [index, length] : slots)
    plan.pid_slots.push_back(plan.env_strings[index].data() + length);
  for (const std::string& a : argv) plan.argvp.push_back(const_cast<char*>(a.c_str()));
  plan.argvp.push_back(nullptr);
  static char kShell[] = "/bin/sh";
  plan.script_argvp = {kShell, nullptr};
  plan.script_argvp.insert(plan.script_argvp.end(), plan.argvp.begin() + 1, plan.argvp.end());
  const std::string& command = argv[0];
  if (command.find('/') != std::string::npos) {
    plan.candidates.push_back(command);
  } else {
    for (absl::string_view dir : absl::StrSplit(path, ':'))
      plan.candidates.push_back(absl::StrCat(dir.empty() ? "." : dir, "/", command));
  }
  for (const std::string& c : plan.candidates) plan.candidatep.push_back(c.c_str());
  plan.sources = std::move(sources);
  return plan;
}

int ExecFromPlan(const ExecPlan& plan) {
  for (size_t i = 0; i < plan.sources.size(); ++i) {
    if (dup2(plan.sources[i], kListenFdsStart + static_cast<int>(i)) < 0) return errno;
  }
  const pid_t self = static_cast<pid_t>(syscall(SYS_getpid));
  for (char* slot : plan.pid_slots) FormatPid(slot, self);
  int last = ENOENT;
  for (const char* candidate : plan.candidatep) {
    execve(candidate, plan.argvp.data(), plan.envp.data());
    // As execvp: a file the kernel cannot run is a shell script; look past a
    // missing or refused file (remembering the refusal); any other error is
    // the answer.
    if (errno == ENOEXEC) {
      plan.script_argvp[1] = const_cast<char*>(candidate);
      execve(plan.script_argvp[0], plan.script_argvp.data(), plan.envp.data());
      return ENOEXEC;
    }
    if (errno == EACCES) {
      last = EACCES;
    } else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV &&
               errno != ETIMEDOUT) {
      return errno;
    }
  }
  return last;
}

}  // namespace cmsg::sandbox
