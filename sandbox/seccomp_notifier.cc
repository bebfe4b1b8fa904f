#include "sandbox/seccomp_notifier.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "lib/status/errno_status.h"

namespace cmsg::sandbox {

absl::StatusOr<std::unique_ptr<SeccompNotifier>> SeccompNotifier::Start(UniqueFd listener) {
  UniqueFd stop(eventfd(0, EFD_CLOEXEC));
  if (!stop.ok()) return ErrnoError("eventfd");
  std::unique_ptr<SeccompNotifier> notifier(
      new SeccompNotifier(std::move(listener), std::move(stop)));
  notifier->thread_ = std::thread([n = notifier.get()] { n->Run(); });
  return notifier;
}

SeccompNotifier::SeccompNotifier(UniqueFd listener, UniqueFd stop)
    : listener_(std::move(listener)), stop_(std::move(stop)) {}

SeccompNotifier::~SeccompNotifier() {
  uint64_t one = 1;
  ssize_t ignored = write(stop_.get(), &one, sizeof(one));
  (void)ignored;
  if (thread_.joinable()) thread_.join();
}

void SeccompNotifier::Run() {
  for (;;) {
    pollfd fds[] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (fds[0].revents & POLLIN) {
      seccomp_notif request{};
      if (ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) {
        if (errno == EINTR || errno == ENOENT) continue;  // the caller went away
        return;
      }
      seccomp_notif_resp response{};
      response.id = request.id;
      response.error = -EPERM;
      // ENOENT: the caller died meanwhile; nothing to answer.
      (void)ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, &response);
      const int nr = request.data.nr;
      if (nr >= 0 && static_cast<size_t>(nr) < reported_.size() && !reported_[nr]) {
        reported_[nr] = true;
        char* name = seccomp_syscall_resolve_num_arch(request.data.arch, nr);
        std::string line =
            absl::StrCat("sandbox: --seccomp=strict refused system call ",
                         name != nullptr ? name : absl::StrCat("#", nr), " (EPERM)\n");
        free(name);
        ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
        (void)ignored;
      }
    } else if (fds[0].revents & (POLLHUP | POLLERR)) {
      return;  // no process uses the filter any more
    }
  }
}

}  // namespace cmsg::sandbox
