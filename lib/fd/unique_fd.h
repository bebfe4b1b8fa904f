// UniqueFd: the one owner of a file descriptor; closes it on destruction.
//
//   cmsg::UniqueFd fd(open("/etc/hosts", O_RDONLY | O_CLOEXEC));
//   if (!fd.ok()) return ErrnoError("open");
//   read(fd.get(), buf, n);           // borrow
//   int raw = fd.release();           // give ownership away
#ifndef LIB_FD_UNIQUE_FD_H_
#define LIB_FD_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace cmsg {

class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of `fd` (-1 means "none").
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  explicit operator bool() const { return ok(); }

  // Gives up ownership without closing.
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }

  // Closes the current fd (if any) and takes ownership of `fd`.
  void reset(int fd = -1) {
    // close() is not retried on EINTR: on Linux the fd is gone either way.
    if (fd_ >= 0 && fd_ != fd) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace cmsg

#endif  // LIB_FD_UNIQUE_FD_H_
