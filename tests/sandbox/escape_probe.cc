// escape_probe: runs inside a sandbox and tries one thing the sandbox should
// forbid, printing what happened: "ok ..." when it worked, or the errno's
// name (EPERM, ENOENT...) when it did not. The tests outside decide.
//
//   escape_probe read PATH | write PATH | connect IPV4 PORT | kill PID
//   escape_probe abstract NAME (unix @NAME) | msgget KEY (SysV queue)
//   escape_probe fds | pids | status | hostname | tiocsti FD | tioclinux FD
//   escape_probe syscall NAME   (mount unshare setns keyctl bpf ptrace
//                                perf_event_open userfaultfd open_by_handle_at
//                                clone_newuser clone3_newuser io_uring_setup
//                                personality shim_fd shim_proc_fd)
//   escape_probe tiocsti_high FD (TIOCSTI with bits set above the low 32)
//   escape_probe x32 | i386      (expected to be killed by SIGSYS)
//   escape_probe tree            (leaves sleeping grandchildren holding stdout)
//   escape_probe forkbomb        (forks until refused, prints the count)
//   escape_probe broker PATH r|w (asks the file broker, prints the content)
//   escape_probe broker_flood PATH  (sends the broker requests for PATH,
//                                each carrying the broker socket itself, and
//                                reads no reply, until the socket is full;
//                                prints how many, then exits)
//   escape_probe broker_walk PATH REL  (asks the broker for PATH, then reads
//                                openat(that fd, REL): "escaped ..." if it can)
//   escape_probe walk FD REL     (reads openat(FD, REL), FD a passed fd)
//   escape_probe mounts          (the mount point and options of each mount)
//   escape_probe readfd FD | env | session_keyring
//   escape_probe remount_rw PATH [nested]  (tries to make the mount at PATH
//                                writable, from a nested user and mount
//                                namespace with "nested", then writes in it)
//   escape_probe denied NAME...  (for each system call NAME, or clone:FLAG
//                                for clone with that CLONE_NEW* flag: the
//                                errno the sandbox's filter answers, the call
//                                itself never made; see Denied())
//   escape_probe killpg SIG      (kill(0, SIG): the probe's process group)
//   escape_probe socket FAMILY [PROTOCOL]  (socket(FAMILY, SOCK_DGRAM or,
//                                failing that, SOCK_STREAM, PROTOCOL))
//   escape_probe socket_high FAMILY  (socket() with bit 32 of the family set)
//   escape_probe rlimit_core | uid_map | sid (session and process group ids)
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/keyctl.h>
#include <linux/mount.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/ptrace.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <seccomp.h>

#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"
#include "sandbox/broker_client.h"
#include "sandbox/broker_protocol.h"

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer needs ptrace, which the sandbox denies; ASan also lowers
// RLIMIT_CORE to 0 at start unless told not to, which the rlimit probe reads.
extern "C" const char* __asan_default_options() { return "detect_leaks=0:disable_coredump=0"; }
#endif

namespace {

int Report(long rc) {
  if (rc < 0) {
    printf("%s\n", strerrorname_np(errno));
  } else {
    printf("ok %ld\n", rc);
  }
  return 0;
}

int Read(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Report(-1);
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n < 0) return Report(-1);
  buf[n] = '\0';
  printf("ok %s\n", buf);
  return 0;
}

int Write(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Report(-1);
  long n = write(fd, "escaped", 7);
  close(fd);
  return Report(n);
}

int ConnectAbstract(const char* name) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Report(-1);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = strnlen(name, sizeof(addr.sun_path) - 1);
  memcpy(addr.sun_path + 1, name, len);
  return Report(connect(fd, reinterpret_cast<sockaddr*>(&addr),
                        offsetof(sockaddr_un, sun_path) + 1 + len));
}

int Connect(const char* ip, const char* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Report(-1);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(atoi(port));
  inet_pton(AF_INET, ip, &addr.sin_addr);
  return Report(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
}

// Lists the numeric entries of a /proc directory, skipping `skip`.
void ListNumbers(const char* dir, int skip) {
  DIR* d = opendir(dir);
  if (d == nullptr) {
    Report(-1);
    return;
  }
  std::string out = "ok";
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (atoi(e->d_name) == skip) continue;
    out += " ";
    out += e->d_name;
  }
  closedir(d);
  printf("%s\n", out.c_str());
}

int Fds() {
  // The directory's own fd is the lowest free one; find it first and skip it.
  int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  close(probe);
  ListNumbers("/proc/self/fd", probe);
  return 0;
}

int Status() {
  FILE* f = fopen("/proc/self/status", "re");
  if (f == nullptr) return Report(-1);
  char line[512];
  while (fgets(line, sizeof(line), f)) {
    if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) ||
        !strncmp(line, "Seccomp:", 8) || !strncmp(line, "Uid", 3) || !strncmp(line, "Gid", 3))
      fputs(line, stdout);
  }
  fclose(f);
  return 0;
}

int Syscall(const std::string& name) {
  if (name == "mount") return Report(mount("none", "/tmp", "tmpfs", 0, nullptr));
  if (name == "unshare") return Report(unshare(CLONE_NEWNS));
  if (name == "setns") {
    int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    return Report(setns(fd, CLONE_NEWNET));
  }
  if (name == "keyctl")
    return Report(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
  if (name == "bpf") {
    bpf_attr attr{};
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    return Report(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
  }
  if (name == "ptrace") return Report(ptrace(PTRACE_TRACEME, 0, nullptr, nullptr));
  if (name == "perf_event_open") {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    return Report(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  }
  if (name == "userfaultfd") return Report(syscall(SYS_userfaultfd, O_CLOEXEC));
  if (name == "open_by_handle_at") {
    char handle[sizeof(file_handle) + 8] = {};
    return Report(syscall(SYS_open_by_handle_at, AT_FDCWD, handle, O_RDONLY));
  }
  if (name == "shim_fd") {
    // The shim (pid 1) holds the launcher's control socket at fd 3.
    long pidfd = syscall(SYS_pidfd_open, 1, 0);
    if (pidfd < 0) return Report(pidfd);
    return Report(syscall(SYS_pidfd_getfd, pidfd, 3, 0));
  }
  if (name == "shim_proc_fd") return Report(open("/proc/1/fd/3", O_RDONLY | O_CLOEXEC));
  if (name == "clone_newuser") {
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, nullptr, 0);
    return Report(pid);
  }
  if (name == "shim_vm_read") {
    char byte;
    iovec local{&byte, 1};
    iovec remote{reinterpret_cast<void*>(0x10000), 1};
    return Report(syscall(SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0));
  }
  if (name == "clone3_newuser") {
    // struct clone_args v0: flags, pidfd, child_tid, parent_tid, exit_signal,
    // stack, stack_size, tls.
    uint64_t args[8] = {CLONE_NEWUSER, 0, 0, 0, SIGCHLD, 0, 0, 0};
    long pid = syscall(SYS_clone3, args, sizeof(args));
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, nullptr, 0);
    return Report(pid);
  }
  if (name == "io_uring_setup") {
    char params[120] = {};  // struct io_uring_params
    return Report(syscall(SYS_io_uring_setup, 8, params));
  }
  if (name == "personality") return Report(syscall(SYS_personality, 0x0400000));  // READ_IMPLIES_EXEC
  fprintf(stderr, "unknown syscall %s\n", name.c_str());
  return 2;
}

int ForeignArch(const std::string& kind) {
  fflush(stdout);
  long rc;
  if (kind == "x32") {
    rc = syscall(0x40000000 | SYS_getpid);
  } else {
    // getpid through the i386 entry point.
    long nr = 20;
    asm volatile("int $0x80" : "=a"(rc) : "a"(nr) : "memory");
  }
  return Report(rc);
}

int Tree() {
  for (int i = 0; i < 3; ++i) {
    if (fork() == 0) {
      setsid();
      if (fork() == 0) {
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        for (;;) pause();
      }
      _exit(0);
    }
  }
  while (wait(nullptr) > 0) {}
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}

int ForkBomb() {
  int forked = 0;
  for (; forked < 10000; ++forked) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) pause();
    }
    if (pid < 0) break;
  }
  printf("forked %d %s\n", forked, forked < 10000 ? strerrorname_np(errno) : "none");
  fflush(stdout);
  kill(0, SIGKILL);  // the whole group, this process included
  return 0;
}

int Broker(const char* path, const std::string& mode) {
  auto client = cmsg::sandbox::BrokerClient::FromEnvironment();
  if (!client.ok()) {
    printf("no broker: %s\n", std::string(client.status().message()).c_str());
    return 0;
  }
  int flags = mode == "w" ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY;
  auto fd = client->Open(path, flags, 0644);
  if (!fd.ok()) {
    printf("%s\n", strerrorname_np(cmsg::ErrnoOf(fd.status())));
    return 0;
  }
  if (mode == "w") return Report(write(fd->get(), "brokered", 8));
  char buf[256];
  ssize_t n = read(fd->get(), buf, sizeof(buf) - 1);
  if (n < 0) return Report(-1);
  buf[n] = '\0';
  printf("ok %s\n", buf);
  return 0;
}

// A client that stops reading replies: the broker's replies fill the
// socket, and the requests still queued keep this end of it alive after the
// sandbox is gone (each carries it), so a broker blocked on a reply would
// wait for ever.
int BrokerFlood(const char* path) {
  const char* env = getenv(cmsg::sandbox::kBrokerFdEnv);
  if (env == nullptr) {
    printf("no broker\n");
    return 0;
  }
  const int sock = atoi(env);
  char request[sizeof(cmsg::sandbox::BrokerRequest) + 256] = {};
  const size_t len = sizeof(cmsg::sandbox::BrokerRequest) + strlen(path);
  if (len > sizeof(request)) return Report(-1);
  memcpy(request + sizeof(cmsg::sandbox::BrokerRequest), path, strlen(path));
  const int fds[] = {sock};
  int sent = 0;
  for (int full = 0; full < 20;) {
    absl::StatusOr<size_t> n = cmsg::SendMsg(sock, absl::string_view(request, len),
                                             {cmsg::ScmRights{fds}}, {.flags = MSG_DONTWAIT});
    if (n.ok()) {
      ++sent;
    } else if (cmsg::ErrnoOf(n.status()) == EAGAIN) {
      ++full;
      usleep(20000);
    } else {
      return Report(-1);
    }
  }
  printf("sent %d\n", sent);
  return 0;
}

// Reads REL beneath `dir` (a directory fd handed in) and prints it.
int Walk(int dir, const char* rel) {
  int fd = openat(dir, rel, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Report(-1);
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n < 0) return Report(-1);
  buf[n] = '\0';
  printf("escaped %s\n", buf);
  return 0;
}

int BrokerWalk(const char* path, const char* rel) {
  auto client = cmsg::sandbox::BrokerClient::FromEnvironment();
  if (!client.ok()) {
    printf("no broker: %s\n", std::string(client.status().message()).c_str());
    return 0;
  }
  auto fd = client->Open(path, O_RDONLY, 0);
  if (!fd.ok()) {
    printf("%s\n", strerrorname_np(cmsg::ErrnoOf(fd.status())));
    return 0;
  }
  return Walk(fd->get(), rel);
}

// "MOUNTPOINT OPTIONS" per line of /proc/self/mountinfo.
int Mounts() {
  FILE* f = fopen("/proc/self/mountinfo", "re");
  if (f == nullptr) return Report(-1);
  char line[4096];
  while (fgets(line, sizeof(line), f)) {
    char point[1024], options[1024];
    if (sscanf(line, "%*s %*s %*s %*s %1023s %1023s", point, options) == 2)
      printf("%s %s\n", point, options);
  }
  fclose(f);
  return 0;
}

int ReadFd(int fd) {
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  if (n < 0) return Report(-1);
  buf[n] = '\0';
  printf("ok %s\n", buf);
  return 0;
}

int RemountRw(const char* path, bool nested) {
  if (nested) {
    // Full capabilities in a namespace of its own, over a copy of the mounts.
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return Report(-1);
  }
  if (mount(nullptr, path, nullptr, MS_REMOUNT | MS_BIND, nullptr) == 0) {
    printf("remounted\n");
  } else {
    mount_attr attr{};
    attr.attr_clr = MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, 0, &attr, sizeof(attr)) == 0)
      printf("setattr\n");
  }
  std::string file = std::string(path) + "/escaped";
  return Write(file.c_str());
}

// The errno the sandbox's own filter gives a call, without making the call:
// the probe stacks a filter of its own that answers the call with
// SECCOMP_RET_TRACE. With no tracer attached that fails the call with ENOSYS
// before it runs - unless a filter installed earlier (the sandbox's) returns
// SECCOMP_RET_ERRNO, which takes precedence. So "EPERM" means the sandbox
// denies it, "ENOSYS" that it would have let it run. The call is made with
// `arg0` and zeros (for clone, the flag under test). Each NAME is tried in a
// child process, as the filters stack up.
std::string DeniedOne(const std::string& what) {
  long nr;
  uint64_t arg0 = 0;
  if (what.rfind("clone:", 0) == 0) {
    static const struct {
      const char* name;
      uint64_t flag;
    } kFlags[] = {{"CLONE_NEWNS", CLONE_NEWNS},         {"CLONE_NEWUTS", CLONE_NEWUTS},
                  {"CLONE_NEWIPC", CLONE_NEWIPC},       {"CLONE_NEWUSER", CLONE_NEWUSER},
                  {"CLONE_NEWPID", CLONE_NEWPID},       {"CLONE_NEWNET", CLONE_NEWNET},
                  {"CLONE_NEWCGROUP", CLONE_NEWCGROUP}, {"CLONE_NEWTIME", CLONE_NEWTIME}};
    nr = SYS_clone;
    for (const auto& f : kFlags)
      if (what.substr(6) == f.name) arg0 = f.flag | SIGCHLD;
    if (arg0 == 0) return "unknown flag";
  } else {
    nr = seccomp_syscall_resolve_name(what.c_str());
    if (nr == __NR_SCMP_ERROR) return "unknown call";
  }
  int out[2];
  if (pipe(out) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{sizeof(code) / sizeof(code[0]), code};
    char answer[64] = "cannot stack a filter";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0) {
      long rc = syscall(nr, arg0, 0, 0, 0, 0, 0);
      snprintf(answer, sizeof(answer), "%s", rc < 0 ? strerrorname_np(errno) : "ran");
    }
    ssize_t ignored = write(out[1], answer, strlen(answer));
    (void)ignored;
    _exit(0);
  }
  close(out[1]);
  char buf[64] = {};
  ssize_t n = read(out[0], buf, sizeof(buf) - 1);
  close(out[0]);
  waitpid(pid, nullptr, 0);
  return n > 0 ? std::string(buf, n) : "no answer";
}

int Denied(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) printf("%s %s\n", argv[i], DeniedOne(argv[i]).c_str());
  return 0;
}

int Socket(int family, int protocol) {
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, protocol);
  if (fd < 0 && errno != EAFNOSUPPORT && errno != EPERM)
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, protocol);
  return Report(fd);
}

int RlimitCore() {
  rlimit limit;
  if (getrlimit(RLIMIT_CORE, &limit) != 0) return Report(-1);
  printf("ok %lld %lld\n", static_cast<long long>(limit.rlim_cur),
         static_cast<long long>(limit.rlim_max));
  return 0;
}

int UidMap() {
  FILE* f = fopen("/proc/self/uid_map", "re");
  if (f == nullptr) return Report(-1);
  long long inside, outside, count;
  if (fscanf(f, "%lld %lld %lld", &inside, &outside, &count) != 3) return Report(-1);
  fclose(f);
  printf("ok %lld\n", outside);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string what = argc > 1 ? argv[1] : "";
  if (what == "read" && argc == 3) return Read(argv[2]);
  if (what == "write" && argc == 3) return Write(argv[2]);
  if (what == "connect" && argc == 4) return Connect(argv[2], argv[3]);
  if (what == "abstract" && argc == 3) return ConnectAbstract(argv[2]);
  if (what == "msgget" && argc == 3) return Report(msgget(atoi(argv[2]), 0));
  if (what == "kill" && argc == 3) return Report(kill(atoi(argv[2]), 0));
  if (what == "fds") return Fds();
  if (what == "pids") {
    ListNumbers("/proc", -1);
    return 0;
  }
  if (what == "status") return Status();
  if (what == "hostname") {
    char name[128] = {};
    gethostname(name, sizeof(name) - 1);
    printf("ok %s\n", name);
    return 0;
  }
  if (what == "tiocsti" && argc == 3) {
    char c = 'x';
    return Report(ioctl(atoi(argv[2]), TIOCSTI, &c));
  }
  if (what == "tiocsti_high" && argc == 3) {
    // The kernel reads the request as an unsigned int: the high bits do not
    // change which ioctl runs, so they must not change the filter's verdict.
    char c = 'x';
    return Report(syscall(SYS_ioctl, atoi(argv[2]), (1UL << 32) | TIOCSTI, &c));
  }
  if (what == "tioclinux" && argc == 3) {
    char subcode = 12;  // TIOCL_GETSHIFTSTATE: harmless where it is allowed
    return Report(ioctl(atoi(argv[2]), TIOCLINUX, &subcode));
  }
  if (what == "syscall" && argc == 3) return Syscall(argv[2]);
  if (what == "x32" || what == "i386") return ForeignArch(what);
  if (what == "tree") return Tree();
  if (what == "forkbomb") return ForkBomb();
  if (what == "broker" && argc == 4) return Broker(argv[2], argv[3]);
  if (what == "broker_walk" && argc == 4) return BrokerWalk(argv[2], argv[3]);
  if (what == "broker_flood" && argc == 3) return BrokerFlood(argv[2]);
  if (what == "walk" && argc == 4) return Walk(atoi(argv[2]), argv[3]);
  if (what == "mounts") return Mounts();
  if (what == "remount_rw" && (argc == 3 || argc == 4))
    return RemountRw(argv[2], argc == 4 && std::string(argv[3]) == "nested");
  if (what == "readfd" && argc == 3) return ReadFd(atoi(argv[2]));
  if (what == "env") {
    for (char** e = environ; *e != nullptr; ++e) printf("%s\n", *e);
    return 0;
  }
  if (what == "denied" && argc >= 3) return Denied(argc, argv);
  if (what == "killpg" && argc == 3) {
    fflush(stdout);
    return Report(kill(0, atoi(argv[2])));
  }
  if (what == "socket" && (argc == 3 || argc == 4))
    return Socket(atoi(argv[2]), argc == 4 ? atoi(argv[3]) : 0);
  if (what == "socket_high" && argc == 3) {
    // The family with a high bit set: the kernel reads only the low 32.
    return Report(syscall(SYS_socket, (1UL << 32) | atoi(argv[2]), SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  if (what == "rlimit_core") return RlimitCore();
  if (what == "uid_map") return UidMap();
  if (what == "sid") {
    // 1 when the shim (pid 1) leads the probe's session; 0 when the session
    // is one from outside the sandbox's pid namespace.
    printf("ok %d %d\n", getsid(0), getpgid(0));
    return 0;
  }
  if (what == "session_keyring")
    return Report(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
  fprintf(stderr, "usage: see escape_probe.cc\n");
  return 2;
}
