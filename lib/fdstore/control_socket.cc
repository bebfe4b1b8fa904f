#include "lib/fdstore/control_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "lib/cmsg/sockopts.h"
#include "lib/net/socket_address.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::fdstore {
namespace {

// Whether a live server answers at `address`.
absl::StatusOr<bool> SomeoneListens(const SocketAddress& address) {
  // Non-blocking: a live server with a full backlog must not stall us.
  UniqueFd probe(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe.ok()) return ErrnoError("socket(AF_UNIX)");
  if (connect(probe.get(), address.addr(), address.size()) == 0) return true;
  // ECONNREFUSED: a socket inode with no listener. EPROTOTYPE: a listener of
  // another socket type; EAGAIN: a listener with a full backlog. Both are
  // someone's live socket.
  if (errno == ECONNREFUSED) return false;
  if (errno == EPROTOTYPE || errno == EAGAIN) return true;
  return ErrnoError(absl::StrCat("connect(", address.ToString(), ")"));
}

// Clears the way for bind(): nothing there, or a stale socket of ours.
absl::Status ClaimPath(const std::string& path, const SocketAddress& address) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(absl::StrCat("lstat(", path, ")"));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
  }
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, " is a socket owned by uid ", st.st_uid, ", not ", geteuid(),
        "; refusing to replace it"));
  }
  CMSGLIB_ASSIGN_OR_RETURN(bool live, SomeoneListens(address));
  if (live) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " is served by a running process; refusing to replace it"));
  }
  if (unlink(path.c_str()) < 0 && errno != ENOENT)
    return ErrnoError(absl::StrCat("unlink(", path, ")"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ControlSocket> ControlSocket::Listen(const std::string& path, int backlog) {
  if (path.empty() || path[0] == '@') {
    return absl::InvalidArgumentError("the control socket must be a filesystem path");
  }
  CMSGLIB_ASSIGN_OR_RETURN(SocketAddress address, SocketAddress::Unix(path));
  CMSGLIB_RETURN_IF_ERROR(ClaimPath(path, address));
  UniqueFd fd(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.ok()) return ErrnoError("socket(AF_UNIX, SOCK_SEQPACKET)");
  // Accepted sockets inherit SO_PASSCRED from the listener, so the first
  // message of every client already carries its credentials.
  CMSGLIB_RETURN_IF_ERROR(ReceiveCredentials(fd.get()));
  // The socket inode takes its mode from the umask at bind(); fchmod on the
  // fd would not reach it. No other thread creates files at this point.
  const mode_t old_mask = umask(0177);
  const int rc = bind(fd.get(), address.addr(), address.size());
  const int bind_errno = errno;
  umask(old_mask);
  if (rc < 0) return ErrnoStatus(bind_errno, absl::StrCat("bind(", path, ")"));
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) {
    int err = errno;
    unlink(path.c_str());
    return ErrnoStatus(err, absl::StrCat("lstat(", path, ")"));
  }
  ControlSocket socket(std::move(fd), path, st.st_dev, st.st_ino);
  if (listen(socket.fd(), backlog) < 0) return ErrnoError(absl::StrCat("listen(", path, ")"));
  return socket;
}

void ControlSocket::Unlink() {
  if (unlinked_ || path_.empty() || !fd_.ok()) return;
  unlinked_ = true;
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    unlink(path_.c_str());
  }
}

}  // namespace cmsg::fdstore
