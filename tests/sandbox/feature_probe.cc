// feature_probe: runs inside a sandbox and reports what the resource limits,
// Landlock, /dev/shm, /dev/pts and the time namespace let it do: "ok ..."
// when the thing worked, else the errno's name. The tests outside decide.
//
//   feature_probe alloc MB [MS]   (allocates and touches MB MiB, then holds it MS ms)
//   feature_probe forks N         (starts N children that stay alive; prints
//                                  how many it got)
//   feature_probe spin MS [hold]  (burns MS ms of CPU time; hold: then waits
//                                 until the reader closes stdout)
//   feature_probe fill PATH BYTES (writes a file of BYTES bytes)
//   feature_probe open PATH r|w|rw|dir|x  (open(2) with that access; x: execve)
//   feature_probe reopen FD r|w|rw  (open("/proc/self/fd/FD") with that access)
//   feature_probe pty             (a pty pair from /dev/ptmx, a byte through it)
//   feature_probe ptys N          (opens /dev/ptmx N times; prints how many it got)
//   feature_probe readat FD REL   (reads openat(FD, REL): "ok CONTENT" if it can)
//   feature_probe clocks          (CLOCK_MONOTONIC and CLOCK_BOOTTIME, seconds)
//   feature_probe ns NAME         (readlink /proc/self/ns/NAME)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

// Sanitized builds: LeakSanitizer needs ptrace, which the sandbox denies
// (and "alloc" keeps what it allocates on purpose).
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

namespace {

int Errno() {
  printf("%s\n", strerrorname_np(errno));
  return 0;
}

int Alloc(long mb, long hold_ms) {
  std::vector<char*> blocks;
  for (long i = 0; i < mb; ++i) {
    char* block = static_cast<char*>(malloc(1 << 20));
    if (block == nullptr) return Errno();
    memset(block, 1, 1 << 20);  // touch it: charged only when used
    blocks.push_back(block);
  }
  printf("ok %ld\n", mb);
  fflush(stdout);
  // Held, so that several allocating at once do overlap.
  if (hold_ms > 0) usleep(static_cast<useconds_t>(hold_ms) * 1000);
  return 0;
}

int Forks(int n) {
  int hold[2];
  if (pipe(hold) != 0) return Errno();
  int got = 0;
  int error = 0;
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      error = errno;
      break;
    }
    if (pid == 0) {
      close(hold[1]);
      char c;
      ssize_t ignored = read(hold[0], &c, 1);  // until the parent lets go
      (void)ignored;
      _exit(0);
    }
    ++got;
  }
  close(hold[1]);
  while (wait(nullptr) > 0) {
  }
  printf("forked %d %s\n", got, error ? strerrorname_np(error) : "none");
  return 0;
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int Spin(long ms, bool hold) {
  double end = CpuSeconds() + ms / 1000.0;
  volatile unsigned long x = 0;
  while (CpuSeconds() < end) x = x + 1;
  printf("ok spun\n");
  fflush(stdout);
  if (hold) {
    // Until the reader of stdout closes it (POLLERR on a pipe's write end),
    // so the sandbox, and its cgroups, last until the test has looked.
    pollfd p{STDOUT_FILENO, 0, 0};
    poll(&p, 1, 30000);
  }
  return 0;
}

int Fill(const char* path, long bytes) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno();
  char buf[65536];
  memset(buf, 'x', sizeof(buf));
  for (long done = 0; done < bytes;) {
    long n = bytes - done < static_cast<long>(sizeof(buf)) ? bytes - done : sizeof(buf);
    ssize_t w = write(fd, buf, n);
    if (w < 0) return Errno();
    done += w;
  }
  if (close(fd) != 0) return Errno();
  printf("ok %ld\n", bytes);
  return 0;
}

int OpenFlags(const std::string& mode) {
  if (mode == "w") return O_WRONLY;
  if (mode == "rw") return O_RDWR;
  if (mode == "dir") return O_RDONLY | O_DIRECTORY;
  return O_RDONLY;
}

int Open(const char* path, const std::string& mode) {
  if (mode == "x") {
    char* argv[] = {const_cast<char*>(path), nullptr};
    execv(path, argv);
    return Errno();
  }
  int fd = open(path, OpenFlags(mode) | O_CLOEXEC);
  if (fd < 0) return Errno();
  printf("ok\n");
  return 0;
}

int Pty() {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return Errno();
  if (grantpt(master) != 0 || unlockpt(master) != 0) return Errno();
  const char* name = ptsname(master);
  if (name == nullptr) return Errno();
  std::string pts = name;
  int slave = open(pts.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) return Errno();
  if (write(master, "x\n", 2) != 2) return Errno();
  char c;
  if (read(slave, &c, 1) != 1) return Errno();
  printf("ok %s %c\n", pts.c_str(), c);
  return 0;
}

int Ptys(int n) {
  int got = 0;
  for (; got < n; ++got) {
    if (open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC) < 0) break;
  }
  printf("ptys %d %s\n", got, got < n ? strerrorname_np(errno) : "none");
  return 0;
}

int ReadAt(int dir, const char* relative) {
  int fd = openat(dir, relative, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno();
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  if (n < 0) return Errno();
  buf[n] = '\0';
  printf("ok %s\n", buf);
  return 0;
}

long Seconds(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  if (argc < 2) return 2;
  std::string cmd = argv[1];
  if (cmd == "alloc" && (argc == 3 || argc == 4))
    return Alloc(atol(argv[2]), argc == 4 ? atol(argv[3]) : 0);
  if (cmd == "forks" && argc == 3) return Forks(atoi(argv[2]));
  if (cmd == "spin" && (argc == 3 || (argc == 4 && std::strcmp(argv[3], "hold") == 0)))
    return Spin(atol(argv[2]), argc == 4);
  if (cmd == "fill" && argc == 4) return Fill(argv[2], atol(argv[3]));
  if (cmd == "open" && argc == 4) return Open(argv[2], argv[3]);
  if (cmd == "reopen" && argc == 4) {
    std::string path = std::string("/proc/self/fd/") + argv[2];
    return Open(path.c_str(), argv[3]);
  }
  if (cmd == "pty") return Pty();
  if (cmd == "ptys" && argc == 3) return Ptys(atoi(argv[2]));
  if (cmd == "readat" && argc == 4) return ReadAt(atoi(argv[2]), argv[3]);
  if (cmd == "clocks") {
    printf("%ld %ld\n", Seconds(CLOCK_MONOTONIC), Seconds(CLOCK_BOOTTIME));
    return 0;
  }
  if (cmd == "ns" && argc == 3) {
    char target[256];
    std::string path = std::string("/proc/self/ns/") + argv[2];
    ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    if (n < 0) return Errno();
    target[n] = '\0';
    printf("%s\n", target);
    return 0;
  }
  fprintf(stderr, "feature_probe: bad arguments\n");
  return 2;
}
