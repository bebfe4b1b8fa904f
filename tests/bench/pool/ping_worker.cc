// The benchmark's worker: tells the harness it runs (one datagram, "up PID",
// to the unix socket named by argv[1]), then waits for SIGTERM and exits 0.
// Static and tiny, so that what is measured is the start, not a program's
// own initialisation.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, nullptr);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, argv[1], sizeof(addr.sun_path) - 1);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  char message[64];
  const char* instance = getenv("WORKER_POOL_INSTANCE");
  int n = snprintf(message, sizeof(message), "up %s", instance != nullptr ? instance : "-");
  if (fd < 0 || sendto(fd, message, n, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != n) {
    perror("ping_worker: sendto");
    return 1;
  }
  int signal;
  sigwait(&term, &signal);
  return 0;
}
