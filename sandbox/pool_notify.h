// The pool's end of the systemd notification protocol (sd_notify): a unix
// datagram socket whose path is the workers' NOTIFY_SOCKET, read with
// SCM_CREDENTIALS so that each message names the process that sent it, as
// the kernel vouches for it (a sender without CAP_SYS_ADMIN cannot claim
// another pid), translated into the pool's pid namespace.
//
//   CMSGLIB_ASSIGN_OR_RETURN(NotifySocket notify, NotifySocket::Create());
//   // poll notify.fd(), then:
//   CMSGLIB_ASSIGN_OR_RETURN(std::optional<NotifyMessage> m, notify.Receive());
#ifndef SANDBOX_POOL_NOTIFY_H_
#define SANDBOX_POOL_NOTIFY_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/fd/unique_fd.h"

namespace cmsg::sandbox {

struct NotifyMessage {
  pid_t pid = 0;  // the sender, in the receiver's pid namespace
  uid_t uid = 0;
  std::vector<std::pair<std::string, std::string>> fields;  // "K=V" lines

  // The value of `key`, or std::nullopt.
  [[nodiscard]] std::optional<std::string> Get(absl::string_view key) const;
};

// "READY=1\nSTATUS=x\n" -> {{"READY","1"},{"STATUS","x"}}; lines without '='
// are skipped.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> ParseNotifyFields(
    absl::string_view text);

// Owns the socket and its private directory (mode 0755; the socket file is
// 0666 so sandboxes of any outside uid can send); both removed on
// destruction. Both are reached through fds held from their creation, never
// by path again: whoever can write $TMPDIR cannot redirect a chmod or an
// unlink with a symlink. Move-only.
class NotifySocket {
 public:
  // Binds a fresh socket in a new directory under $TMPDIR (or /tmp).
  // FailedPrecondition if someone other than root and this uid could
  // rename a directory on that path (owns one, or may write one that is not
  // sticky): the sandboxes bind the socket by path.
  [[nodiscard]] static absl::StatusOr<NotifySocket> Create();
  NotifySocket(NotifySocket&&) noexcept;
  NotifySocket& operator=(NotifySocket&&) noexcept;
  ~NotifySocket();

  [[nodiscard]] int fd() const { return fd_.get(); }
  // The socket file's path on the host.
  [[nodiscard]] const std::string& path() const { return path_; }

  // One waiting message, std::nullopt when none is. Messages over 4 KiB,
  // without credentials, or with more than 8 fds are dropped (an error
  // naming why); fds that come with a message (sd_notify_barrier's) are
  // closed when the message is destroyed, which releases the barrier.
  [[nodiscard]] absl::StatusOr<std::optional<NotifyMessage>> Receive();

 private:
  NotifySocket() = default;
  UniqueFd fd_;
  UniqueFd parent_;       // $TMPDIR
  std::string dir_name_;  // the private directory's name in it
  UniqueFd dir_;          // that directory, as created
  std::string path_;
};

// What /proc says about a process: its parent and its pid in the innermost
// pid namespace it belongs to (NSpid's last field). std::nullopt when it is
// gone.
struct ProcInfo {
  pid_t ppid = 0;
  pid_t innermost_pid = 0;
};
[[nodiscard]] std::optional<ProcInfo> ReadProcInfo(pid_t pid);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_POOL_NOTIFY_H_
