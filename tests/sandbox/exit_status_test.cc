// sandbox_run's exit status is the command's, as a shell would report it,
// and signals sent to sandbox_run reach the command.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/run_util.h"

namespace cmsg::sandbox_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ExitStatusTest, LikeAShell) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  RunResult r = RunProgram(SandboxCommand({}, {"/bin/sh", "-c", "exit 7"}));
  EXPECT_EQ(r.code, 7) << r.err;
  r = RunProgram(SandboxCommand({}, {"/bin/sh", "-c", "kill -TERM $$"}));
  EXPECT_EQ(r.code, 128 + SIGTERM) << r.err;
  r = RunProgram(SandboxCommand({}, {"no-such-command"}));
  EXPECT_EQ(r.code, 127);
  EXPECT_THAT(r.err, HasSubstr("no-such-command"));
  // Present but not executable.
  TempDir dir;
  WriteFile(dir.File("script"), "#!/bin/sh\n");
  r = RunProgram(SandboxCommand({"--ro_bind=" + dir.File("script") + ":/script"}, {"/script"}));
  EXPECT_EQ(r.code, 126);
  EXPECT_THAT(r.err, HasSubstr("EACCES"));
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
}

TEST(ExitStatusTest, SignalsToTheLauncherReachTheCommand) {
  for (int signal : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    Started s = Start(SandboxCommand({}, {"/bin/sh", "-c", "echo ready; exec sleep 30"}));
    ASSERT_EQ(ReadLine(s.out_fd), "ready");
    kill(s.pid, signal);
    EXPECT_EQ(WaitExit(s.pid), 128 + signal) << signal;
    close(s.out_fd);
  }
}

TEST(ExitStatusTest, HelpExitsZeroAndNamesEveryFlag) {
  RunResult r = RunProgram({SandboxRun(), "--help"});
  EXPECT_EQ(r.code, 0);
  const std::string help = r.out + r.err;
  for (const char* flag :
       {"ro_bind", "bind", "tmpfs", "net", "listen", "pass_file", "broker_allow", "seccomp",
        "timeout", "rlimit_as", "rlimit_nofile", "rlimit_nproc", "rlimit_cpu", "rlimit_fsize",
        "uid", "gid", "hostname", "chdir", "setenv", "verbose", "cgroup_memory", "cgroup_pids",
        "cgroup_cpu", "landlock", "dev_shm", "dev_pts", "time_ns", "json_status_fd"})
    EXPECT_THAT(help, HasSubstr(std::string("-") + flag + " (")) << flag;
  EXPECT_THAT(help, HasSubstr("Exit status"));
  EXPECT_THAT(help, HasSubstr("--flagfile=PATH"));  // the policy file
  EXPECT_THAT(help, Not(HasSubstr("fromenv")));     // gflags' other flags are not accepted
}

TEST(ExitStatusTest, TimeoutIs124) {
  RunResult r = RunProgram(SandboxCommand({"--timeout=200ms"}, {"/bin/sleep", "30"}));
  EXPECT_EQ(r.code, 124);
  EXPECT_EQ(r.err, "sandbox_run: timed out after 200ms; killed the sandbox\n");
}

}  // namespace
}  // namespace cmsg::sandbox_testing
