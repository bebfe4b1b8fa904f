// Running sandbox_run (and other programs) from tests: real processes, their
// output captured, their exit codes as a shell reports them.
#ifndef TESTS_SANDBOX_RUN_UTIL_H_
#define TESTS_SANDBOX_RUN_UTIL_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace cmsg::sandbox_testing {

struct RunResult {
  int code = -1;  // exit code, or 128 + signal
  std::string out;
  std::string err;
};

struct RunOptions {
  int stdin_fd = -1;  // default: /dev/null
};

// Runs argv to completion (argv[0] is a path) and collects its output.
RunResult RunProgram(const std::vector<std::string>& argv, RunOptions options = {});

// A started process whose stdout the test reads line by line.
struct Started {
  pid_t pid = -1;
  int out_fd = -1;  // read end of its stdout (owned by the caller)
};
Started Start(const std::vector<std::string>& argv);
// Reads one line from `fd` (without '\n'); "" at EOF.
std::string ReadLine(int fd);
// Waits up to `seconds` for EOF on `fd`; true when every writer is gone.
bool WaitForEof(int fd, int seconds);
// waitpid; exit code or 128 + signal.
int WaitExit(pid_t pid);

// The uid sandbox_run runs as: the test's own (root on CI), or, for the
// unprivileged variant of a suite, one it sets before any test runs. Then
// sandbox_run (from RunProgram or Start) runs as that uid and gid with no
// supplementary groups, and SandboxRun()/Probe() are copies of the binaries
// that uid can execute.
void SetLauncherUid(uid_t uid);
uid_t LauncherUid();
bool UnprivilegedLauncher();
// Empty when a process of LauncherUid() can create a user namespace; else
// why not (for GTEST_SKIP).
std::string WhyNoUserNamespace();

// Paths in the test's runfiles.
std::string Runfile(const std::string& path);  // e.g. "tools/sandbox_run/sandbox_run"
std::string SandboxRun();
std::string Probe();  // tests/sandbox/escape_probe, resolved

// sandbox_run with the read-only system binds a dynamically linked program
// needs, the probe at /probe, and `flags`, then "--" and `command`.
std::vector<std::string> SandboxCommand(const std::vector<std::string>& flags,
                                        const std::vector<std::string>& command);

// A fresh directory under /tmp (short enough for unix socket paths), mode
// 0777 so the sandbox's unprivileged ids can use it; removed with its
// contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& content);

}  // namespace cmsg::sandbox_testing

#endif  // TESTS_SANDBOX_RUN_UTIL_H_
