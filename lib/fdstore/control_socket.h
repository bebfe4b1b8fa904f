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
  // create files.
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
  ControlSocket(UniqueFd fd, std::string path, dev_t dev, ino_t ino)
      : fd_(std::move(fd)), path_(std::move(path)), dev_(dev), ino_(ino) {}

  UniqueFd fd_;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  bool unlinked_ = false;
};

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_CONTROL_SOCKET_H_
