// sandbox_run's life cycle as a supervisor sees it: --json_status_fd reports
// the start (with the sandbox's pid) and the end (exit code and cause) as
// JSON lines; the unix socket files of --listen (and the sandbox's cgroup)
// are removed even when sandbox_run itself is stopped by a signal it does
// not pass on.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/run_util.h"

namespace cmsg::sandbox_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs argv with `fd3` at fd 3, stdout and stderr to files in `dir`.
RunResult RunWithFd3(const std::vector<std::string>& argv, int fd3, const TempDir& dir) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string out = dir.File("stdout"), err = dir.File("stderr");
  pid_t pid = fork();
  if (pid == 0) {
    if (fd3 == 3) fcntl(3, F_SETFD, 0);  // dup2 onto itself keeps close-on-exec
    dup2(fd3, 3);
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(open("/dev/null", O_RDONLY), 0);
    dup2(o, 1);
    dup2(e, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  RunResult r;
  r.code = WaitExit(pid);
  r.out = ReadText(out);
  r.err = ReadText(err);
  return r;
}

// The status lines, each checked to be JSON by Python's parser and printed
// back with sorted keys.
std::string Normalized(const std::string& path) {
  RunResult r = RunProgram(
      {"/usr/bin/python3", "-c",
       "import json, sys\n"
       "for line in open(sys.argv[1]):\n"
       "  d = json.loads(line)\n"
       "  if 'pid' in d: d['pid'] = 'N' if isinstance(d['pid'], int) and d['pid'] > 1 else 'bad'\n"
       "  print(json.dumps(d, sort_keys=True))\n",
       path});
  return r.code == 0 ? r.out : "not JSON: " + r.err;
}

RunResult WithStatus(const TempDir& dir, const std::vector<std::string>& flags,
                     const std::vector<std::string>& command) {
  int fd = open(dir.File("status").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<std::string> all = flags;
  all.push_back("--json_status_fd=3");
  RunResult r = RunWithFd3(SandboxCommand(all, command), fd, dir);
  close(fd);
  return r;
}

TEST(JsonStatusTest, StartAndEndWithTheCause) {
  TempDir dir;
  RunResult r = WithStatus(dir, {}, {"/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_EQ(Normalized(dir.File("status")),
            "{\"event\": \"start\", \"pid\": \"N\"}\n"
            "{\"cause\": \"exited\", \"event\": \"exit\", \"exit_code\": 7}\n");
  r = WithStatus(dir, {}, {"/bin/sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.code, 128 + SIGTERM);
  EXPECT_EQ(Normalized(dir.File("status")),
            "{\"event\": \"start\", \"pid\": \"N\"}\n"
            "{\"cause\": \"signaled\", \"event\": \"exit\", \"exit_code\": 143, \"signal\": 15}\n");
  // The timeout covers the set-up too: ample for a loaded machine.
  r = WithStatus(dir, {"--timeout=2s"}, {"/bin/sleep", "30"});
  EXPECT_EQ(r.code, 124);
  EXPECT_EQ(Normalized(dir.File("status")),
            "{\"event\": \"start\", \"pid\": \"N\"}\n"
            "{\"cause\": \"timeout\", \"event\": \"exit\", \"exit_code\": 124}\n");
  // Set-up fails after the clone: no start, the error in the end record.
  r = WithStatus(dir, {"--chdir=/no\"such"}, {"/bin/true"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(Normalized(dir.File("status")),
            "{\"cause\": \"setup_failed\", \"error\": \"sandbox setup: chdir(/no\\\"such): ENOENT "
            "(No such file or directory)\", \"event\": \"exit\", \"exit_code\": 125}\n");
}

TEST(JsonStatusTest, TheStartPidIsTheSandboxes) {
  TempDir dir;
  // The sandbox's pid 1 as the host sees it: its /proc/PID/ns/pid differs.
  int fd = open(dir.File("status").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t launcher = fork();
  if (launcher == 0) {
    if (fd == 3) fcntl(3, F_SETFD, 0);
    dup2(fd, 3);
    std::vector<std::string> argv =
        SandboxCommand({"--json_status_fd=3"}, {"/bin/sleep", "30"});
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fd);
  std::string line;
  for (int i = 0; i < 200 && line.find('\n') == std::string::npos; ++i) {
    usleep(10000);
    line = ReadText(dir.File("status"));
  }
  int pid = 0;
  ASSERT_EQ(sscanf(line.c_str(), "{\"event\": \"start\", \"pid\": %d}", &pid), 1) << line;
  char mine[64] = {}, theirs[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/pid", mine, sizeof(mine) - 1), 0);
  const std::string their_ns = "/proc/" + std::to_string(pid) + "/ns/pid";
  ASSERT_GT(readlink(their_ns.c_str(), theirs, sizeof(theirs) - 1), 0) << their_ns;
  EXPECT_STRNE(mine, theirs);
  EXPECT_THAT(std::string(theirs), StartsWith("pid:["));
  kill(launcher, SIGTERM);
  WaitExit(launcher);
}

TEST(JsonStatusTest, AClosedReaderDoesNotStopTheSandbox) {
  TempDir dir;
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  close(p[0]);
  RunResult r = RunWithFd3(SandboxCommand({"--json_status_fd=3"}, {"/bin/sh", "-c", "exit 3"}),
                           p[1], dir);
  close(p[1]);
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--json_status_fd: EPIPE"));
}

// stderr as the status fd: the lines go there, and the command keeps its
// stderr (the flag must not make fds 0-2 close-on-exec).
TEST(JsonStatusTest, StderrCanCarryTheLines) {
  RunResult r = RunProgram(
      SandboxCommand({"--json_status_fd=2"}, {"/bin/sh", "-c", "echo to-stderr >&2"}));
  EXPECT_EQ(r.code, 0);
  // The start line is written once the sandbox runs: the command's own line
  // may come before it (a loaded machine showed it), never after the exit.
  const std::string start_line = "\\{\"event\": \"start\", \"pid\": [0-9]+\\}\n";
  const std::string exit_line = "\\{\"event\": \"exit\", \"exit_code\": 0, \"cause\": \"exited\"\\}\n";
  EXPECT_THAT(r.err, ::testing::AnyOf(MatchesRegex(start_line + "to-stderr\n" + exit_line),
                                      MatchesRegex("to-stderr\n" + start_line + exit_line)))
      << r.err;
}

TEST(JsonStatusTest, BadFdsAreRefused) {
  TempDir dir;
  for (const char* bad : {"--json_status_fd=99", "--json_status_fd=x", "--json_status_fd=-2"}) {
    RunResult r = RunProgram(SandboxCommand({bad}, {"/bin/true"}));
    EXPECT_EQ(r.code, 125) << bad;
    EXPECT_THAT(r.err, StartsWith("sandbox_run: --json_status_fd")) << r.err;
  }
  // Open, but not for writing.
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  RunResult r = RunWithFd3(SandboxCommand({"--json_status_fd=3"}, {"/bin/true"}), fd, dir);
  close(fd);
  EXPECT_EQ(r.code, 125);
  EXPECT_THAT(r.err, HasSubstr("not open for writing"));
}

class LauncherSignalTest : public ::testing::TestWithParam<int> {};

TEST_P(LauncherSignalTest, SocketFilesAreRemoved) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  TempDir dir;
  const std::string socket = dir.File("s.sock");
  Started s = Start(SandboxCommand({"--listen=unix:" + socket + "=web"},
                                   {"/bin/sh", "-c", "echo ready; exec sleep 30"}));
  ASSERT_EQ(ReadLine(s.out_fd), "ready");
  struct stat st;
  ASSERT_EQ(lstat(socket.c_str(), &st), 0);
  ASSERT_TRUE(S_ISSOCK(st.st_mode));
  kill(s.pid, GetParam());
  EXPECT_EQ(WaitExit(s.pid), 128 + GetParam());
  EXPECT_NE(lstat(socket.c_str(), &st), 0) << "socket file left behind";
  // The sandbox went with sandbox_run (its orphans would be ours).
  EXPECT_TRUE(WaitForEof(s.out_fd, 10));
  close(s.out_fd);
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
}

INSTANTIATE_TEST_SUITE_P(NotPassedOn, LauncherSignalTest,
                         ::testing::Values(SIGALRM, SIGVTALRM, SIGPROF, SIGRTMIN + 3));

}  // namespace
}  // namespace cmsg::sandbox_testing
