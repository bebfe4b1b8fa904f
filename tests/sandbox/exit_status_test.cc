// sandbox_run's exit status is the command's, as a shell would report it,
// and signals sent to sandbox_run reach the command.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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

// As execvp(3) and a shell: an executable file the kernel cannot run
// (ENOEXEC: no "#!" line) is run by /bin/sh.
TEST(ExitStatusTest, ScriptWithoutInterpreterLineRunsUnderSh) {
  TempDir dir;
  WriteFile(dir.File("script"), "echo from-script \"$1\"\nexit 5\n");
  ASSERT_EQ(chmod(dir.File("script").c_str(), 0755), 0);
  RunResult r = RunProgram(
      SandboxCommand({"--ro_bind=" + dir.File("script") + ":/script"}, {"/script", "arg"}));
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_EQ(r.out, "from-script arg\n");
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
        "cgroup_cpu", "landlock", "dev_shm", "dev_pts", "time_ns", "json_status_fd",
        "allow_socket", "kill_after", "rlimit_core", "outside_ids"})
    EXPECT_THAT(help, HasSubstr(std::string("-") + flag + " (")) << flag;
  EXPECT_THAT(help, HasSubstr("Exit status"));
  EXPECT_THAT(help, HasSubstr("session of its own"));  // what happens to the terminal
  EXPECT_THAT(help, HasSubstr("--flagfile=PATH"));  // the policy file
  EXPECT_THAT(help, Not(HasSubstr("fromenv")));     // gflags' other flags are not accepted
}

// The timeouts below cover the set-up too: they leave a loaded machine
// ample time to start the command before they run out.
TEST(ExitStatusTest, TimeoutIs124) {
  RunResult r = RunProgram(SandboxCommand({"--timeout=2s"}, {"/bin/sleep", "30"}));
  EXPECT_EQ(r.code, 124);
  EXPECT_EQ(r.err, "sandbox_run: timed out after 2s; killed the sandbox\n");
}

// With --kill_after, a command that ignores the SIGTERM passed on to it is
// killed (the whole sandbox) that much later.
TEST(ExitStatusTest, KillAfterKillsACommandThatIgnoresSigterm) {
  Started s = Start(SandboxCommand(
      {"--kill_after=300ms"}, {"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do :; done"}));
  ASSERT_EQ(ReadLine(s.out_fd), "ready");
  kill(s.pid, SIGTERM);
  EXPECT_EQ(WaitExit(s.pid), 128 + SIGKILL);
  close(s.out_fd);
}

// --timeout with --kill_after sends SIGTERM first: a command that handles it
// ends on its own, and the exit status is still 124.
TEST(ExitStatusTest, TimeoutWithKillAfterSendsSigtermFirst) {
  RunResult r = RunProgram(SandboxCommand(
      {"--timeout=2s", "--kill_after=20s"},
      {"/bin/sh", "-c", "trap 'echo got TERM; exit 3' TERM; while :; do sleep 0.05; done"}));
  EXPECT_EQ(r.code, 124);
  EXPECT_EQ(r.out, "got TERM\n");
  EXPECT_EQ(r.err, "sandbox_run: timed out after 2s; sent SIGTERM\n");
  // And one that ignores it is killed after --kill_after.
  r = RunProgram(SandboxCommand({"--timeout=2s", "--kill_after=200ms"},
                                {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"}));
  EXPECT_EQ(r.code, 124);
  EXPECT_THAT(r.err, HasSubstr("killed the sandbox"));
}

}  // namespace
}  // namespace cmsg::sandbox_testing
