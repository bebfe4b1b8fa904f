#include "lib/activation/activation.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/status/errno_status.h"

namespace cmsg {

absl::StatusOr<std::vector<ActivatedFd>> TakeListenFds() {
  std::vector<ActivatedFd> out;
  const char* fds_env = getenv("LISTEN_FDS");
  const char* pid_env = getenv("LISTEN_PID");
  if (fds_env == nullptr) return out;
  std::string names_env = getenv("LISTEN_FDNAMES") ? getenv("LISTEN_FDNAMES") : "";
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  int pid = 0;
  if (pid_env == nullptr || !absl::SimpleAtoi(pid_env, &pid)) {
    return absl::InvalidArgumentError(
        absl::StrCat("LISTEN_PID=\"", pid_env ? pid_env : "", "\" is not a pid"));
  }
  if (pid != getpid()) return out;
  int n = 0;
  if (!absl::SimpleAtoi(fds_env, &n) || n < 0 || n > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("LISTEN_FDS=\"", fds_env, "\" is not a count"));
  }
  std::vector<std::string> names;
  if (!names_env.empty()) names = absl::StrSplit(names_env, ':');
  if (!names.empty() && static_cast<int>(names.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LISTEN_FDNAMES has ", names.size(), " names for LISTEN_FDS=", n));
  }
  for (int i = 0; i < n; ++i) {
    int fd = kListenFdsStart + i;
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return ErrnoError(absl::StrCat("fcntl(", fd, ", F_GETFD)"));
    if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
      return ErrnoError(absl::StrCat("fcntl(", fd, ", F_SETFD)"));
    out.push_back({UniqueFd(fd), names.empty() ? "unknown" : names[i]});
  }
  return out;
}

std::vector<std::string> ListenEnv(absl::Span<const std::string> names, pid_t pid) {
  return {absl::StrCat("LISTEN_FDS=", names.size()),
          absl::StrCat("LISTEN_PID=", pid),
          absl::StrCat("LISTEN_FDNAMES=", absl::StrJoin(names, ":"))};
}

absl::Status ExecWithListenFds(std::vector<UniqueFd> fds,
                               absl::Span<const std::string> names,
                               absl::Span<const std::string> argv,
                               absl::Span<const std::string> env) {
  if (argv.empty()) return absl::InvalidArgumentError("no command to run");
  if (names.size() != fds.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(fds.size(), " fds but ", names.size(), " names"));
  }
  const int n = static_cast<int>(fds.size());
  // Move every fd above the target range first so no dup2 overwrites a
  // source that is still to be moved.
  std::vector<UniqueFd> high;
  for (UniqueFd& fd : fds) {
    UniqueFd copy(fcntl(fd.get(), F_DUPFD_CLOEXEC, kListenFdsStart + n));
    if (!copy.ok()) return ErrnoError("fcntl(F_DUPFD_CLOEXEC)");
    high.push_back(std::move(copy));
    fd.reset();
  }
  for (int i = 0; i < n; ++i) {
    // dup2 clears close-on-exec on the target: exactly what the child needs.
    if (dup2(high[i].get(), kListenFdsStart + i) < 0)
      return ErrnoError(absl::StrCat("dup2(", kListenFdsStart + i, ")"));
  }
  std::vector<std::string> all_env(env.begin(), env.end());
  for (std::string& kv : ListenEnv(names, getpid())) all_env.push_back(std::move(kv));
  std::vector<char*> envp;
  for (std::string& kv : all_env) envp.push_back(kv.data());
  envp.push_back(nullptr);
  std::vector<std::string> args(argv.begin(), argv.end());
  std::vector<char*> argvp;
  for (std::string& a : args) argvp.push_back(a.data());
  argvp.push_back(nullptr);
  // execvpe searches PATH from the *current* environment; give it ours.
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& kv : env)
    if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
  setenv("PATH", path.c_str(), 1);
  execvpe(argvp[0], argvp.data(), envp.data());
  int err = errno;
  return ErrnoStatus(err, absl::StrCat("execvp(", argv[0], ")"));
}

}  // namespace cmsg
