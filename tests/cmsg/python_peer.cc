#include "tests/cmsg/python_peer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/fd/unique_fd.h"

namespace cmsg::testing {

PythonPeer PythonPeer::Start(const std::string& script, int fd,
                             const std::vector<std::string>& args) {
  PythonPeer peer;
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> strings = {"python3", "-c", script};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) {
    peer.error_ = strerror(errno);
    return peer;
  }
  UniqueFd report_r(report[0]), report_w(report[1]);
  pid_t pid = fork();
  if (pid < 0) {
    peer.error_ = strerror(errno);
    return peer;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int ok = fd == 3 ? fcntl(fd, F_SETFD, 0) : dup2(fd, 3);
    if (ok >= 0) execv(kPython, argv.data());
    int error = errno;
    (void)!write(report[1], &error, sizeof(error));
    _exit(127);
  }
  report_w.reset();
  int error = 0;
  if (read(report_r.get(), &error, sizeof(error)) == sizeof(error)) {
    waitpid(pid, nullptr, 0);
    peer.error_ = std::string("exec ") + kPython + ": " + strerror(error);
    return peer;
  }
  peer.pid_ = pid;
  return peer;
}

PythonPeer::PythonPeer(PythonPeer&& other) noexcept
    : pid_(other.pid_), error_(std::move(other.error_)) {
  other.pid_ = -1;
}

PythonPeer::~PythonPeer() { Kill(); }

void PythonPeer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int PythonPeer::Wait() {
  if (pid_ <= 0) return -1;
  for (int i = 0; i < 2000; ++i) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    timespec ten_ms{0, 10 * 1000 * 1000};
    nanosleep(&ten_ms, nullptr);
  }
  Kill();
  return -1;
}

}  // namespace cmsg::testing
