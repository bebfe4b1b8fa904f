// The server's unix control socket: created mode 0600 without replacing a
// path that is not ours, and removed only while it is still ours.
//
//   CMSGLIB_ASSIGN_OR_RETURN(ControlSocket s, ControlSocket::Listen("/run/app.fds"));
//   ... accept4(s.fd(), ...) ...
//   s.Unlink();  // also done on destruction
//
// Taking over an existing path: a missing path is created; a socket owned by
// our effective uid that nobody listens on (connect gives ECONNREFUSED) is
// stale and replaced; anything else (a live server, another owner, a file,
// a directory, a symlink) is refused with an error naming it.
//
// Races: the socket is bound and listening under a temporary name in the
// same directory, then renamed into place, so the path never shows a socket
// nobody listens on yet; stores taking over one path hold an flock on its
// directory from the check to the rename, so of two started at once exactly
// one owns the path and the other is told it is served. The directory is
// opened once: the check, the rename and the removal on exit all happen
// relative to it, so moving a directory of the path or replacing it with a
// symlink afterwards cannot make a store (maybe root) remove anything but
// its own socket.
#ifndef LIB_FDSTORE_CONTROL_SOCKET_H_
#define LIB_FDSTORE_CONTROL_SOCKET_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "lib/fd/unique_fd.h"

namespace cmsg::fdstore {

class ControlSocket {
 public:
  // A listening SOCK_SEQPACKET socket at `path` (non-blocking, close-on-exec,
  // SO_PASSCRED so every message carries the sender's credentials). Sets the
  // process umask to 0177 around bind(): call it before starting threads that
  // create files. Holds one more fd besides the socket: the directory.
  [[nodiscard]] static absl::StatusOr<ControlSocket> Listen(const std::string& path,
                                                           int backlog = 128);

  ControlSocket(ControlSocket&&) = default;
  ControlSocket& operator=(ControlSocket&&) = default;
  ~ControlSocket() { Unlink(); }

  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] const std::string& path() const { return path_; }

  // Removes the path if it is still the socket this object bound (a
  // successor may have replaced it). Idempotent.
  void Unlink();

 private:
  ControlSocket(UniqueFd fd, UniqueFd dir, std::string path, std::string name, dev_t dev,
                ino_t ino)
      : fd_(std::move(fd)),
        dir_(std::move(dir)),
        path_(std::move(path)),
        name_(std::move(name)),
        dev_(dev),
        ino_(ino) {}

  UniqueFd fd_;
  UniqueFd dir_;      // the directory of path_, opened at Listen
  std::string path_;  // as given
  std::string name_;  // the last component of path_, inside dir_
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  bool unlinked_ = false;
};

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_CONTROL_SOCKET_H_
