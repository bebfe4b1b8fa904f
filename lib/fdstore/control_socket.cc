#include "lib/fdstore/control_socket.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/cmsg/sockopts.h"
#include "lib/net/socket_address.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::fdstore {
namespace {

// How long a store waits for another one taking over a path in the same
// directory (the lock is held only from the check to the rename).
constexpr absl::Duration kLockWait = absl::Seconds(10);

// The address of `name` inside the directory open at `dir`, reached through
// /proc so that no path is resolved again after the directory was opened.
// Without /proc (some sandboxes), the path as given: `fallback`.
absl::StatusOr<SocketAddress> AddressIn(int dir, const std::string& name,
                                        const std::string& fallback) {
  static const bool have_proc = access("/proc/self/fd", X_OK) == 0;
  if (!have_proc) return SocketAddress::Unix(fallback);
  return SocketAddress::Unix(absl::StrCat("/proc/self/fd/", dir, "/", name));
}

// Whether a live server answers at `address`.
absl::StatusOr<bool> SomeoneListens(const SocketAddress& address, const std::string& path) {
  // Non-blocking: a live server with a full backlog must not stall us.
  UniqueFd probe(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe.ok()) return ErrnoError("socket(AF_UNIX)");
  if (connect(probe.get(), address.addr(), address.size()) == 0) return true;
  // ECONNREFUSED: a socket inode with no listener. EPROTOTYPE: a listener of
  // another socket type; EAGAIN: a listener with a full backlog. Both are
  // someone's live socket.
  if (errno == ECONNREFUSED) return false;
  if (errno == EPROTOTYPE || errno == EAGAIN) return true;
  return ErrnoError(absl::StrCat("connect(", path, ")"));
}

// Whether `name` in `dir` is free (false) or a stale socket of ours that
// may be replaced (true); an error for anything else.
absl::StatusOr<bool> Claim(int dir, const std::string& name, const std::string& path) {
  struct stat st;
  if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return false;
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
  CMSGLIB_ASSIGN_OR_RETURN(SocketAddress address, AddressIn(dir, name, path));
  CMSGLIB_ASSIGN_OR_RETURN(bool live, SomeoneListens(address, path));
  if (live) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " is served by a running process; refusing to replace it"));
  }
  return true;
}

// Takes the directory's flock, waiting up to kLockWait; false if the
// directory cannot be locked at all (opened O_PATH: not readable by us).
absl::StatusOr<bool> LockDirectory(int dir, const std::string& dir_path) {
  const absl::Time give_up = absl::Now() + kLockWait;
  while (flock(dir, LOCK_EX | LOCK_NB) < 0) {
    if (errno == EBADF) return false;
    if (errno != EWOULDBLOCK && errno != EINTR)
      return ErrnoError(absl::StrCat("flock(", dir_path, ")"));
    if (absl::Now() >= give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "another process held the lock on ", dir_path, " for ",
          absl::FormatDuration(kLockWait)));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace

absl::StatusOr<ControlSocket> ControlSocket::Listen(const std::string& path, int backlog) {
  if (path.empty() || path[0] == '@') {
    return absl::InvalidArgumentError("the control socket must be a filesystem path");
  }
  // Clients connect by the whole path: it must fit in sun_path.
  CMSGLIB_RETURN_IF_ERROR(SocketAddress::Unix(path).status());
  const size_t slash = path.rfind('/');
  const std::string dir_path =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("the control socket path ", path, " names no file"));
  }
  UniqueFd dir(open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.ok() && errno == EACCES) {
    // Searchable but not readable: usable, but not lockable (see LockDirectory).
    dir.reset(open(dir_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  if (!dir.ok()) return ErrnoError(absl::StrCat("open(", dir_path, ")"));
  CMSGLIB_ASSIGN_OR_RETURN(bool locked, LockDirectory(dir.get(), dir_path));
  // The lock belongs to the open directory, which outlives this function in
  // the ControlSocket: release it by the raw fd, on every return.
  absl::Cleanup unlock = [locked, raw = dir.get()] {
    if (locked) flock(raw, LOCK_UN);
  };
  CMSGLIB_ASSIGN_OR_RETURN(const bool replace, Claim(dir.get(), name, path));

  UniqueFd fd(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.ok()) return ErrnoError("socket(AF_UNIX, SOCK_SEQPACKET)");
  // Accepted sockets inherit SO_PASSCRED from the listener, so the first
  // message of every client already carries its credentials.
  CMSGLIB_RETURN_IF_ERROR(ReceiveCredentials(fd.get()));

  // Bound and listening under a temporary name first. A name someone else
  // holds (EADDRINUSE) is skipped for another.
  std::random_device random;
  std::string temp;
  for (int attempt = 0;; ++attempt) {
    temp = absl::StrCat(".", name, ".", getpid(), ".", random() % 1000000, ".tmp");
    CMSGLIB_ASSIGN_OR_RETURN(SocketAddress address,
                             AddressIn(dir.get(), temp, absl::StrCat(dir_path, "/", temp)));
    // The socket inode takes its mode from the umask at bind(); fchmod on
    // the fd would not reach it. No other thread creates files now.
    const mode_t old_mask = umask(0177);
    const int rc = bind(fd.get(), address.addr(), address.size());
    const int bind_errno = errno;
    umask(old_mask);
    if (rc == 0) break;
    if (bind_errno != EADDRINUSE || attempt == 8)
      return ErrnoStatus(bind_errno, absl::StrCat("bind(", dir_path, "/", temp, ")"));
  }
  absl::Cleanup remove_temp = [&] { unlinkat(dir.get(), temp.c_str(), 0); };
  if (listen(fd.get(), backlog) < 0) return ErrnoError(absl::StrCat("listen(", path, ")"));
  struct stat st;
  if (fstatat(dir.get(), temp.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
    return ErrnoError(absl::StrCat("lstat(", dir_path, "/", temp, ")"));
  if (replace) {
    // Atomic: clients see the stale socket, then ours, never nothing.
    if (renameat(dir.get(), temp.c_str(), dir.get(), name.c_str()) < 0)
      return ErrnoError(absl::StrCat("rename(", temp, ", ", path, ")"));
  } else if (renameat2(dir.get(), temp.c_str(), dir.get(), name.c_str(), RENAME_NOREPLACE) <
             0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " appeared while this store was starting; refusing to replace it"));
    }
    return ErrnoError(absl::StrCat("rename(", temp, ", ", path, ")"));
  }
  std::move(remove_temp).Cancel();
  return ControlSocket(std::move(fd), std::move(dir), path, name, st.st_dev, st.st_ino);
}

void ControlSocket::Unlink() {
  if (unlinked_ || name_.empty() || !fd_.ok()) return;
  unlinked_ = true;
  struct stat st;
  if (fstatat(dir_.get(), name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == dev_ &&
      st.st_ino == ino_) {
    unlinkat(dir_.get(), name_.c_str(), 0);
  }
}

}  // namespace cmsg::fdstore
