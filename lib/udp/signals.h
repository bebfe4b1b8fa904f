// The main thread's side of a server: waits for SIGINT / SIGTERM (stop),
// SIGUSR1 (print statistics now) and the statistics interval.
//
//   CMSGLIB_RETURN_IF_ERROR(cmsg::udp::BlockServerSignals());  // before threads start
//   int sig = cmsg::udp::WaitForStop(absl::Seconds(10), [&] { print(); });
#ifndef LIB_UDP_SIGNALS_H_
#define LIB_UDP_SIGNALS_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace cmsg::udp {

// Ignores SIGPIPE and blocks SIGINT, SIGTERM and SIGUSR1 in the calling
// thread; threads started afterwards inherit the mask, so only WaitForStop sees them.
[[nodiscard]] absl::Status BlockServerSignals();

// Calls `print` on SIGUSR1 and every `interval` (never when it is zero or
// less); returns the signal number on SIGINT or SIGTERM. `healthy` is polled
// at least once a second, and also every `tick` when that is positive; when
// it returns false, WaitForStop returns 0. (A watchdog ping goes in
// `healthy`: it runs often enough and knows whether the server is well.)
// With `until` not infinite, returns -1 once that time has passed.
int WaitForStop(absl::Duration interval, const std::function<void()>& print,
                const std::function<bool()>& healthy,
                absl::Duration tick = absl::ZeroDuration(),
                absl::Time until = absl::InfiniteFuture());

}  // namespace cmsg::udp

#endif  // LIB_UDP_SIGNALS_H_
