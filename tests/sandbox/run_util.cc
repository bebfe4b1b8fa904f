#include "tests/sandbox/run_util.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace cmsg::sandbox_testing {
namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool launcher_uid_set = false;
uid_t launcher_uid = 0;

// In a forked child about to exec `program`: sandbox_run becomes the
// unprivileged launcher. Exits 126 if it cannot.
void DropToLauncher(const char* program) {
  if (!UnprivilegedLauncher() || SandboxRun() != program) return;
  if (setgroups(0, nullptr) != 0 || setresgid(launcher_uid, launcher_uid, launcher_uid) != 0 ||
      setresuid(launcher_uid, launcher_uid, launcher_uid) != 0)
    _exit(126);
}

// A copy of a runfile in a directory every uid can read (the runfiles may be
// under root's home).
std::string Copied(const std::string& dir, const std::string& from, const std::string& name) {
  std::string to = dir + "/" + name;
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  chmod(to.c_str(), 0755);
  return to;
}

struct Binaries {
  std::string sandbox_run, probe;
};

const Binaries& GetBinaries() {
  static const Binaries* binaries = [] {
    auto* b = new Binaries;
    b->sandbox_run = Runfile("tools/sandbox_run/sandbox_run");
    b->probe = Runfile("tests/sandbox/escape_probe");
    if (UnprivilegedLauncher()) {
      char tmpl[] = "/tmp/sbx-bin.XXXXXX";
      if (mkdtemp(tmpl) == nullptr) abort();
      chmod(tmpl, 0755);
      // sandbox_run finds the shim beside itself.
      Copied(tmpl, Runfile("sandbox/sandbox_shim"), "sandbox_shim");
      b->sandbox_run = Copied(tmpl, b->sandbox_run, "sandbox_run");
      b->probe = Copied(tmpl, b->probe, "escape_probe");
      // Removed when the test binary exits.
      std::atexit([] {
        std::error_code ignored;
        std::filesystem::remove_all(
            std::filesystem::path(GetBinaries().sandbox_run).parent_path(), ignored);
      });
    }
    return b;
  }();
  return *binaries;
}

}  // namespace

void SetLauncherUid(uid_t uid) {
  launcher_uid = uid;
  launcher_uid_set = uid != geteuid();
}
uid_t LauncherUid() { return launcher_uid_set ? launcher_uid : geteuid(); }
bool UnprivilegedLauncher() { return launcher_uid_set; }

std::string WhyNoUserNamespace() {
  pid_t pid = fork();
  if (pid == 0) {
    if (UnprivilegedLauncher() &&
        (setgroups(0, nullptr) != 0 || setresgid(launcher_uid, launcher_uid, launcher_uid) != 0 ||
         setresuid(launcher_uid, launcher_uid, launcher_uid) != 0))
      _exit(2);
    _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  }
  int code = WaitExit(pid);
  if (code == 0) return "";
  if (code == 2) return "cannot change to the launcher's uid";
  return "unshare(CLONE_NEWUSER) fails for uid " + std::to_string(LauncherUid()) +
         " (see sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone, "
         "kernel.apparmor_restrict_unprivileged_userns)";
}

int WaitExit(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return ExitCode(status);
}

RunResult RunProgram(const std::vector<std::string>& argv, RunOptions options) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) abort();
  std::vector<char*> args = Argv(argv);
  pid_t pid = fork();
  if (pid == 0) {
    int in = options.stdin_fd >= 0 ? options.stdin_fd : open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    DropToLauncher(args[0]);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  RunResult result;
  pollfd fds[] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_count = 2;
  while (open_count > 0) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
        continue;
      }
      (i == 0 ? result.out : result.err).append(buf, n);
    }
  }
  result.code = WaitExit(pid);
  return result;
}

Started Start(const std::vector<std::string>& argv) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) abort();
  std::vector<char*> args = Argv(argv);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(open("/dev/null", O_RDONLY), 0);
    dup2(out[1], 1);
    DropToLauncher(args[0]);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  return {pid, out[0]};
}

std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1) {
    if (c == '\n') return line;
    line.push_back(c);
  }
  return line;
}

bool WaitForEof(int fd, int seconds) {
  pollfd p{fd, POLLIN, 0};
  for (int waited_ms = 0; waited_ms < seconds * 1000; waited_ms += 100) {
    if (poll(&p, 1, 100) > 0) {
      char buf[256];
      if (read(fd, buf, sizeof(buf)) == 0) return true;
    }
  }
  return false;
}

std::string Runfile(const std::string& path) {
  const char* dir = getenv("TEST_SRCDIR");
  std::string full = std::string(dir ? dir : ".") + "/cmsg/" + path;
  char resolved[PATH_MAX];
  if (realpath(full.c_str(), resolved) == nullptr) {
    fprintf(stderr, "missing runfile %s\n", full.c_str());
    abort();
  }
  return resolved;
}

std::string SandboxRun() { return GetBinaries().sandbox_run; }
std::string Probe() { return GetBinaries().probe; }

std::vector<std::string> SandboxCommand(const std::vector<std::string>& flags,
                                        const std::vector<std::string>& command) {
  // One --ro_bind: sandbox_run refuses a repeated flag.
  std::string ro_bind = "--ro_bind=/usr,/lib,/lib64,/bin," + Probe() + ":/probe";
  std::vector<std::string> argv = {SandboxRun()};
  for (const std::string& flag : flags) {
    if (flag.rfind("--ro_bind=", 0) == 0) {
      ro_bind += "," + flag.substr(strlen("--ro_bind="));
    } else {
      argv.push_back(flag);
    }
  }
  argv.push_back(ro_bind);
  argv.push_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/sbx.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) abort();
  path_ = tmpl;
  chmod(path_.c_str(), 0777);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
  chmod(path.c_str(), 0666);
}

}  // namespace cmsg::sandbox_testing
