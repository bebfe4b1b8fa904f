// Sends sd_notify messages (READY=1, WATCHDOG=1, STOPPING=1) from a thread
// of its own. libsystemd's sd_notify sends on a blocking socket: while the
// notification socket's queue is full (systemd busy or hung), it waits, and
// a main thread that also handles SIGTERM, SIGUSR1 and the drain would wait
// with it.
//
//   SystemdNotifier notifier;           // no thread without $NOTIFY_SOCKET
//   notifier.Notify("READY=1\nSTATUS=serving");
//   notifier.Notify("WATCHDOG=1");      // never blocks
#ifndef LIB_ACTIVATION_SYSTEMD_NOTIFIER_H_
#define LIB_ACTIVATION_SYSTEMD_NOTIFIER_H_

#include <memory>
#include <string>

namespace cmsg {

class SystemdNotifier {
 public:
  // Starts the sending thread if $NOTIFY_SOCKET is set.
  SystemdNotifier();
  // Gives queued messages (STOPPING=1) up to a second to leave, then lets a
  // thread stuck in sd_notify go (it ends with the process).
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // Queues `message` for sd_notify; never blocks. While the thread is
  // stuck, at most 16 messages wait and repeated ones (WATCHDOG=1) are
  // not queued twice.
  void Notify(std::string message);

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the thread, which may outlive us
};

}  // namespace cmsg

#endif  // LIB_ACTIVATION_SYSTEMD_NOTIFIER_H_
