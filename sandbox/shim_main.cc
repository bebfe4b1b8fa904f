// sandbox_shim: pid 1 of a sandbox. Receives the command, its environment
// and its fds over the control socket (fd 3) as SCM_RIGHTS, runs the command
// as its child (started as vfork does) with the fds at 3.. in the systemd
// socket-activation layout, passes on the signals the launcher sends it,
// reaps orphans, and reports how the command ended. When it exits the
// kernel kills whatever is left.
//
// It links no C library (shim_syscalls.h says why): system calls only, no
// allocator but mmap, no static constructors.
//
// Exit codes of its own: 125 when the handoff fails; the command's child
// exits 127 (not found) or 126 (cannot execute) as a shell would.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstddef>
#include <cstdint>

#include "sandbox/broker_protocol.h"
#include "sandbox/handoff_wire.h"
#include "sandbox/shim_syscalls.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace cmsg::sandbox {
namespace {

using raw::Syscall;

constexpr int kFirstPassedFd = 3;  // SD_LISTEN_FDS_START
constexpr int kForwarded[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,
                              SIGUSR2, SIGWINCH, SIGCONT, SIGALRM};
constexpr int kPidDigits = 12;
constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

volatile int command_pid = 0;

void Forward(int signal) {
  if (command_pid > 0) Syscall(SYS_kill, command_pid, signal);
}

size_t Length(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

bool StartsWith(const char* s, const char* prefix) {
  for (; *prefix != '\0'; ++s, ++prefix)
    if (*s != *prefix) return false;
  return true;
}

// Appends `s` at `out`; returns the end (not NUL-terminated).
char* Append(char* out, const char* s) {
  while (*s != '\0') *out++ = *s++;
  return out;
}

char* AppendNumber(char* out, unsigned long value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0);
  while (n > 0) *out++ = digits[--n];
  return out;
}

struct ErrnoName {
  int error;
  const char* name;
  const char* description;
};

// The errors the shim's calls and an exec can report, as strerrorname_np
// and strerrordesc_np name them.
constexpr ErrnoName kErrnoNames[] = {
    {EPERM, "EPERM", "Operation not permitted"},
    {ENOENT, "ENOENT", "No such file or directory"},
    {EINTR, "EINTR", "Interrupted system call"},
    {EIO, "EIO", "Input/output error"},
    {E2BIG, "E2BIG", "Argument list too long"},
    {ENOEXEC, "ENOEXEC", "Exec format error"},
    {EBADF, "EBADF", "Bad file descriptor"},
    {ECHILD, "ECHILD", "No child processes"},
    {EAGAIN, "EAGAIN", "Resource temporarily unavailable"},
    {ENOMEM, "ENOMEM", "Cannot allocate memory"},
    {EACCES, "EACCES", "Permission denied"},
    {EFAULT, "EFAULT", "Bad address"},
    {ENOTDIR, "ENOTDIR", "Not a directory"},
    {EISDIR, "EISDIR", "Is a directory"},
    {EINVAL, "EINVAL", "Invalid argument"},
    {ENFILE, "ENFILE", "Too many open files in system"},
    {EMFILE, "EMFILE", "Too many open files"},
    {ETXTBSY, "ETXTBSY", "Text file busy"},
    {EPIPE, "EPIPE", "Broken pipe"},
    {ENAMETOOLONG, "ENAMETOOLONG", "File name too long"},
    {ENOSYS, "ENOSYS", "Function not implemented"},
    {ELOOP, "ELOOP", "Too many levels of symbolic links"},
    {ELIBBAD, "ELIBBAD", "Accessing a corrupted shared library"},
    {ECONNRESET, "ECONNRESET", "Connection reset by peer"},
};

// One line on stderr: "sandbox: WHAT: CALL: ENAME (description)", or
// "sandbox: WHAT: DETAIL" when `error` is 0. `what` and `call` may be long
// (a command's name): the line is cut at the buffer's end.
void Report(const char* what, const char* call, int error, const char* detail = "") {
  char line[1024];
  char* const end = line + sizeof(line) - 1;
  char* out = line;
  auto add = [&](const char* s) {
    while (*s != '\0' && out < end) *out++ = *s++;
  };
  add("sandbox: ");
  add(what);
  add(": ");
  if (error == 0) {
    add(detail);
  } else {
    add(call);
    add(": ");
    const ErrnoName* known = nullptr;
    for (const ErrnoName& e : kErrnoNames)
      if (e.error == error) known = &e;
    if (known != nullptr) {
      add(known->name);
      add(" (");
      add(known->description);
      add(")");
    } else {
      char number[24];
      *AppendNumber(number, static_cast<unsigned long>(error)) = '\0';
      add("errno ");
      add(number);
      add(" (unknown error)");
    }
  }
  *out++ = '\n';
  Syscall(SYS_write, 2, line, out - line);
}

// Everything the command's child needs, built before it starts: it shares
// the shim's memory and only makes system calls.
struct Plan {
  char** argv;
  char** envp;
  char** script_argv;  // {"/bin/sh", <candidate>, argv[1...], nullptr}
  const char* path;    // searched for argv[0] unless it has a '/'
  const int* sources;  // fds to put at 3, 4, ... (all above them)
  int source_count;
  char* pid_digits;  // the room after "LISTEN_PID="
  int error;         // the exec's errno, left by the child
};

// Runs `command` (argv[0], or a PATH candidate) as execvp does: a file the
// kernel cannot run is a shell script; returns the errno.
long ExecCandidate(Plan& plan, const char* candidate) {
  long rc = Syscall(SYS_execve, candidate, plan.argv, plan.envp);
  if (rc == -ENOEXEC) {
    plan.script_argv[1] = const_cast<char*>(candidate);
    Syscall(SYS_execve, plan.script_argv[0], plan.script_argv, plan.envp);
    return -ENOEXEC;
  }
  return rc;
}

// In the command's child. Not instrumented: a sanitizer would take the
// clone's stack for a foreign one (and the child shares its state).
__attribute__((no_sanitize("address", "undefined"))) int ChildMain(void* raw_plan) {
  Plan& plan = *static_cast<Plan*>(raw_plan);
  // Default handlers for the forwarded signals (one arriving before the exec
  // must not run Forward here) and nothing blocked.
  for (int signal : kForwarded) raw::SetHandler(signal, SIG_DFL, 0);
  uint64_t none = 0;
  Syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof(none));
  for (int i = 0; i < plan.source_count; ++i) {
    // dup2 clears close-on-exec on the copy: exactly what the command needs.
    long rc = Syscall(SYS_dup2, plan.sources[i], kFirstPassedFd + i);
    if (rc < 0) {
      plan.error = static_cast<int>(-rc);
      return 126;
    }
  }
  *AppendNumber(plan.pid_digits, static_cast<unsigned long>(Syscall(SYS_getpid))) = '\0';

  const char* command = plan.argv[0];
  bool has_slash = false;
  for (const char* c = command; *c != '\0'; ++c) has_slash |= *c == '/';
  long last = -ENOENT;
  if (has_slash) {
    last = ExecCandidate(plan, command);
  } else {
    char candidate[4096];
    const size_t command_length = Length(command);
    const char* dir = plan.path;
    for (;;) {
      const char* dir_end = dir;
      while (*dir_end != ':' && *dir_end != '\0') ++dir_end;
      const size_t dir_length = dir_end == dir ? 1 : static_cast<size_t>(dir_end - dir);
      if (dir_length + 1 + command_length < sizeof(candidate)) {
        char* out = candidate;
        if (dir_end == dir) {
          *out++ = '.';
        } else {
          for (const char* c = dir; c < dir_end; ++c) *out++ = *c;
        }
        *out++ = '/';
        out = Append(out, command);
        *out = '\0';
        const long rc = ExecCandidate(plan, candidate);
        // As execvp: look past a missing or refused file (remembering the
        // refusal); any other error is the answer.
        if (rc == -EACCES) {
          last = rc;
        } else if (rc != -ENOENT && rc != -ENOTDIR && rc != -ESTALE && rc != -ENODEV &&
                   rc != -ETIMEDOUT) {
          last = rc;
          break;
        }
      }
      if (*dir_end == '\0') break;
      dir = dir_end + 1;
    }
  }
  plan.error = static_cast<int>(-last);
  return plan.error == ENOENT || plan.error == ENOTDIR ? 127 : 126;
}

// The child's stack: its frames and one candidate path, a few KiB.
alignas(64) char child_stack[64 * 1024];

// 0 when all was read, 1 at end of file, else -errno.
long ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    const long n = Syscall(SYS_read, fd, data, size);
    if (n == -EINTR) continue;
    if (n <= 0) return n == 0 ? 1 : n;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

bool SendAll(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const long n = Syscall(SYS_sendto, kShimControlFd, p, size, MSG_NOSIGNAL, nullptr, 0);
    if (n == -EINTR) continue;
    if (n < 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

constexpr char kReceiving[] = "receiving the command and its fds";

int Main() {
  // The command runs as the same user: without this it could ptrace the shim
  // or take its control socket with pidfd_getfd.
  if (long rc = Syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0); rc != 0) {
    Report("prctl", "prctl(PR_SET_DUMPABLE)", static_cast<int>(-rc));
    return 125;
  }
  if (long rc = Syscall(SYS_fcntl, kShimControlFd, F_SETFD, FD_CLOEXEC); rc < 0) {
    Report("control socket", "fcntl", static_cast<int>(-rc));
    return 125;
  }

  // The header, carrying every fd.
  HandoffHeader header;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
  iovec iov{&header, sizeof(header)};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  long received;
  do {
    received = Syscall(SYS_recvmsg, kShimControlFd, &message, MSG_WAITALL | MSG_CMSG_CLOEXEC);
  } while (received == -EINTR);
  if (received < 0) {
    Report(kReceiving, "recvmsg", static_cast<int>(-received));
    return 125;
  }
  if ((message.msg_flags & MSG_CTRUNC) != 0) {
    // The launcher never sends more than a hand-off carries: the kernel
    // dropped fds because this process's RLIMIT_NOFILE had no room.
    Report(kReceiving, "", 0,
           "control data truncated (MSG_CTRUNC): the passed fds exceed RLIMIT_NOFILE "
           "(raise --rlimit_nofile)");
    return 125;
  }
  if (received != sizeof(header) || header.magic != kHandoffMagic) {
    Report(kReceiving, "", 0, "bad handoff header");
    return 125;
  }
  int fds[kMaxPassedFds];
  size_t fd_total = 0;
  const char* const control_end = control + message.msg_controllen;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const unsigned char* data = CMSG_DATA(c);
      for (size_t i = 0; i < count && fd_total < kMaxPassedFds; ++i) {
        int fd;
        __builtin_memcpy(&fd, data + i * sizeof(int), sizeof(fd));
        fds[fd_total++] = fd;
      }
    }
    char* next = reinterpret_cast<char*>(c) + CMSG_ALIGN(c->cmsg_len);
    c = next + sizeof(cmsghdr) <= control_end ? reinterpret_cast<cmsghdr*>(next) : nullptr;
  }
  const size_t slots = static_cast<size_t>(header.fd_count) + (header.has_broker != 0);
  if (header.fd_count > kMaxPassedFds || header.has_broker > 1 || fd_total != slots) {
    Report(kReceiving, "", 0, "the handoff's fds are not the ones it promised");
    return 125;
  }
  // Every string is NUL-terminated: their count is bounded by the blob's size.
  const uint64_t strings = uint64_t{header.fd_count} + header.argc + header.envc;
  if (header.blob_size > kMaxHandoffBlob || strings > header.blob_size) {
    Report(kReceiving, "", 0, "handoff too large or cut short");
    return 125;
  }
  if (header.argc == 0) {
    Report(kReceiving, "", 0, "no command");
    return 125;
  }

  // One mapping for the strings received, LISTEN_FDNAMES (at most as long),
  // the other added variables and the pointer arrays.
  const size_t pointers = (header.argc + 1) + (header.argc + 2) + (header.envc + 5);
  const size_t extra_strings = 3 * 32 + sizeof("LISTEN_FDNAMES=");
  const size_t bytes = pointers * sizeof(char*) + 2 * size_t{header.blob_size} + extra_strings;
  const long mapped = Syscall(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped < 0) {
    Report(kReceiving, "mmap", static_cast<int>(-mapped));
    return 125;
  }
  char** const argv = reinterpret_cast<char**>(mapped);
  char** const script_argv = argv + header.argc + 1;
  char** const envp = script_argv + header.argc + 2;
  char* const blob = reinterpret_cast<char*>(envp + header.envc + 5);
  char* extra = blob + header.blob_size;
  if (long rc = ReadAll(kShimControlFd, blob, header.blob_size); rc != 0) {
    Report(kReceiving, "read", rc == 1 ? 0 : static_cast<int>(-rc),
           "control socket closed mid-message");
    return 125;
  }

  // The strings: fd names, argv, env.
  const char* const blob_end = blob + header.blob_size;
  const char* next = blob;
  auto take = [&]() -> char* {
    const char* s = next;
    while (next < blob_end && *next != '\0') ++next;
    if (next == blob_end) return nullptr;
    ++next;
    return const_cast<char*>(s);
  };
  char* const names = blob;  // the first name; the others follow it
  bool complete = true;
  for (uint32_t i = 0; i < header.fd_count && complete; ++i) complete = take() != nullptr;
  for (uint32_t i = 0; i < header.argc && complete; ++i) complete = (argv[i] = take()) != nullptr;
  size_t envc = 0;
  const char* path = kDefaultPath;
  for (uint32_t i = 0; i < header.envc && complete; ++i) {
    char* kv = take();
    complete = kv != nullptr;
    if (!complete) break;
    envp[envc++] = kv;
    if (StartsWith(kv, "PATH=")) path = kv + 5;
  }
  if (!complete) {
    Report(kReceiving, "", 0, "handoff strings cut short");
    return 125;
  }
  argv[header.argc] = nullptr;
  if (argv[0][0] == '\0') {
    Report(kReceiving, "", 0, "no command");
    return 125;
  }
  script_argv[0] = const_cast<char*>("/bin/sh");
  for (uint32_t i = 1; i <= header.argc; ++i) script_argv[i + 1] = argv[i];

  // The command's fds at 3.. with the broker socket right after them: first
  // all moved above those slots (close-on-exec: only the command's copies
  // cross), so no dup2 lands on one still to be moved.
  int high[kMaxPassedFds];
  for (size_t i = 0; i < slots; ++i) {
    const long fd = Syscall(SYS_fcntl, fds[i], F_DUPFD_CLOEXEC, kFirstPassedFd + slots);
    if (fd < 0) {
      Report(i < header.fd_count ? "placing fds" : "placing the broker socket",
             "fcntl(F_DUPFD_CLOEXEC)", static_cast<int>(-fd));
      return 125;
    }
    high[i] = static_cast<int>(fd);
  }

  // The added variables, in the order the activation library sets them.
  auto add_var = [&](const char* var, auto fill) {
    char* start = extra;
    extra = fill(Append(extra, var));
    *extra++ = '\0';
    envp[envc++] = start;
    return start + Length(var);
  };
  if (header.has_broker != 0) {
    add_var(kBrokerFdEnv, [&](char* out) {
      *out++ = '=';
      return AppendNumber(out, kFirstPassedFd + header.fd_count);
    });
  }
  add_var("LISTEN_FDS=", [&](char* out) { return AppendNumber(out, header.fd_count); });
  char* const pid_digits = add_var("LISTEN_PID=", [](char* out) {
    for (int i = 0; i < kPidDigits; ++i) *out++ = '\0';
    return out - 1;  // add_var terminates it
  });
  add_var("LISTEN_FDNAMES=", [&](char* out) {
    const char* name = names;
    for (uint32_t i = 0; i < header.fd_count; ++i) {
      if (i > 0) *out++ = ':';
      out = Append(out, name);
      name += Length(name) + 1;
    }
    return out;
  });
  envp[envc] = nullptr;

  Plan plan{argv, envp, script_argv, path, high, static_cast<int>(slots), pid_digits, 0};
  // Block the forwarded signals across the start so none is lost before the
  // command's pid is known; handlers make them deliverable to pid 1.
  uint64_t forwarded = 0;
  for (int signal : kForwarded) {
    forwarded |= uint64_t{1} << (signal - 1);
    raw::SetHandler(signal, &Forward, SA_RESTART);
  }
  uint64_t old_mask = 0;
  Syscall(SYS_rt_sigprocmask, SIG_BLOCK, &forwarded, &old_mask, sizeof(forwarded));
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(child_stack, sizeof(child_stack));
#endif
  const long pid = raw::CloneOnStack(CLONE_VM | CLONE_VFORK | SIGCHLD,
                                     child_stack + sizeof(child_stack), &ChildMain, &plan);
  if (pid < 0) {
    Report("clone", "clone(CLONE_VM | CLONE_VFORK)", static_cast<int>(-pid));
    return 125;
  }
  command_pid = static_cast<int>(pid);
  for (size_t i = 0; i < slots; ++i) {
    Syscall(SYS_close, high[i]);
    Syscall(SYS_close, fds[i]);
  }
  Syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old_mask, nullptr, sizeof(old_mask));
  if (plan.error != 0) {
    char what[256];
    char* end = what;
    const char* command = argv[0];
    end = Append(end, "cannot execute ");
    for (size_t i = 0; command[i] != '\0' && end < what + sizeof(what) - 1; ++i) *end++ = command[i];
    *end = '\0';
    char call[256];
    end = Append(call, "execvp(");
    for (size_t i = 0; command[i] != '\0' && end < call + sizeof(call) - 2; ++i) *end++ = command[i];
    *end++ = ')';
    *end = '\0';
    Report(what, call, plan.error);
  }
  // From here a signal the launcher sends reaches the command.
  (void)SendAll(&kShimReady, 1);

  for (;;) {
    int wstatus = 0;
    const long done = Syscall(SYS_wait4, -1, &wstatus, 0, nullptr);
    if (done == -EINTR) continue;
    if (done < 0) {
      Report("waitpid", "waitpid", static_cast<int>(-done));
      return 125;
    }
    if (done != pid) continue;  // an orphan, reaped
    CommandStatus status;
    status.signaled = WIFSIGNALED(wstatus);
    status.value = status.signaled ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
    (void)SendAll(&status, sizeof(status));
    return status.signaled ? 128 + status.value : status.value;
  }
}

}  // namespace
}  // namespace cmsg::sandbox

extern "C" int cmsg_shim_main() { return cmsg::sandbox::Main(); }
