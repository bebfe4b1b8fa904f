#include "lib/udp/signals.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>

#include "lib/status/errno_status.h"

namespace cmsg::udp {
namespace {

sigset_t ServerSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  return set;
}

}  // namespace

absl::Status BlockServerSignals() {
  // Counters written to a closed stderr pipe must not kill the server: the
  // write fails with EPIPE instead.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set = ServerSignals();
  int err = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (err != 0) return ErrnoStatus(err, "pthread_sigmask");
  return absl::OkStatus();
}

int WaitForStop(absl::Duration interval, const std::function<void()>& print,
                const std::function<bool()>& healthy, absl::Duration tick,
                absl::Time until) {
  sigset_t set = ServerSignals();
  absl::Time next_print = absl::Now() + interval;
  for (;;) {
    if (!healthy()) return 0;
    if (absl::Now() >= until) return -1;
    absl::Duration wait = absl::Seconds(1);
    if (tick > absl::ZeroDuration()) wait = std::min(wait, tick);
    if (until != absl::InfiniteFuture())
      wait = std::min(wait, std::max(until - absl::Now(), absl::ZeroDuration()));
    if (interval > absl::ZeroDuration()) {
      wait = std::min(wait, std::max(next_print - absl::Now(), absl::ZeroDuration()));
    }
    timespec timeout = absl::ToTimespec(wait);
    int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig == SIGINT || sig == SIGTERM) return sig;
    if (sig == SIGUSR1) print();
    if (interval > absl::ZeroDuration() && absl::Now() >= next_print) {
      print();
      next_print = absl::Now() + interval;
    }
  }
}

}  // namespace cmsg::udp
