#include "tools/sandbox_run/json_status.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/json/quote.h"
#include "lib/status/errno_status.h"

namespace cmsg::sandbox_run {

absl::StatusOr<int> JsonStatus::ParseFd(absl::string_view text) {
  if (text.empty()) return -1;
  int fd = -1;
  if (!absl::SimpleAtoi(text, &fd) || fd < 0)
    return absl::InvalidArgumentError(absl::StrCat("--json_status_fd: \"", text,
                                                   "\": want an open file descriptor number"));
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ErrnoError(absl::StrCat("--json_status_fd: fd ", fd));
  if ((flags & O_ACCMODE) == O_RDONLY)
    return absl::InvalidArgumentError(
        absl::StrCat("--json_status_fd: fd ", fd, " is not open for writing"));
  // Not for anything sandbox_run might start. Fds 0-2 stay as they are:
  // the sandbox inherits them, and close-on-exec would take them away.
  if (fd > 2 && fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return ErrnoError("fcntl(F_SETFD)");
  return fd;
}

void JsonStatus::Start(pid_t pid) {
  Write(absl::StrCat("{\"event\": \"start\", \"pid\": ", pid, "}\n"));
}

void JsonStatus::Exit(int exit_code, absl::string_view cause, int signal, int oom_kills,
                      absl::string_view error) {
  std::string line =
      absl::StrCat("{\"event\": \"exit\", \"exit_code\": ", exit_code, ", \"cause\": ",
                   json::Quote(cause));
  if (signal != 0) absl::StrAppend(&line, ", \"signal\": ", signal);
  if (oom_kills != 0) absl::StrAppend(&line, ", \"oom_kills\": ", oom_kills);
  if (!error.empty()) absl::StrAppend(&line, ", \"error\": ", json::Quote(error));
  absl::StrAppend(&line, "}\n");
  Write(line);
}

void JsonStatus::Write(const std::string& line) {
  if (fd_ < 0) return;
  ssize_t n;
  do {
    n = write(fd_, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(line.size())) return;
  std::string message = n < 0 ? std::string(ErrnoError("--json_status_fd").message())
                              : std::string("--json_status_fd: short write");
  fprintf(stderr, "sandbox_run: %s; no further status lines\n", message.c_str());
  fd_ = -1;
}

}  // namespace cmsg::sandbox_run
