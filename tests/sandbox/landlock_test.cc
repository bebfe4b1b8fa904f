// Landlock as the second wall: files the mount namespace lets the command
// reach by some other way than the policy's mounts (a passed fd reopened
// through /proc/self/fd with more access, stdin) are refused with it on and
// reachable with --landlock=off; the policy's own paths keep working.
#include <fcntl.h>
#include <signal.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
using ::testing::Not;
using ::testing::StartsWith;

std::string FeatureProbe() { return Runfile("tests/sandbox/feature_probe"); }

RunResult RunProbe(std::vector<std::string> flags, const std::vector<std::string>& args,
              RunOptions options = {}) {
  flags.push_back("--ro_bind=" + FeatureProbe() + ":/fprobe");
  std::vector<std::string> command = {"/fprobe"};
  command.insert(command.end(), args.begin(), args.end());
  return RunProgram(SandboxCommand(flags, command), options);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class LandlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi <= 0) GTEST_SKIP() << "the kernel has no Landlock (or it is disabled)";
  }
};

// A file handed in read-only, and world-writable on the host (so the
// sandbox's uid may write it): reopening it through /proc/self/fd for
// writing is a way around the fd's mode that no mount stops.
TEST_F(LandlockTest, PassedFileCannotBeReopenedWithMoreAccess) {
  TempDir dir;
  WriteFile(dir.File("data"), "host data");
  chmod(dir.File("data").c_str(), 0666);
  const std::string pass = "--pass_file=" + dir.File("data") + ":r";
  RunResult r = RunProbe({pass, "--landlock=off"}, {"reopen", "3", "rw"});
  EXPECT_EQ(r.out, "ok\n") << r.err;  // the mount namespace alone lets it
  r = RunProbe({pass}, {"reopen", "3", "rw"});
  EXPECT_EQ(r.out, "EACCES\n") << r.err;
  r = RunProbe({pass, "--landlock=on"}, {"reopen", "3", "w"});
  EXPECT_EQ(r.out, "EACCES\n") << r.err;
}

TEST_F(LandlockTest, StdinCannotBeReopenedForWriting) {
  TempDir dir;
  WriteFile(dir.File("input"), "keep me");
  chmod(dir.File("input").c_str(), 0666);
  int in = open(dir.File("input").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(in, 0);
  RunResult r = RunProbe({"--landlock=off"}, {"reopen", "0", "w"}, {.stdin_fd = in});
  EXPECT_EQ(r.out, "ok\n") << r.err;  // opened O_WRONLY: the file is truncated
  WriteFile(dir.File("input"), "keep me");
  chmod(dir.File("input").c_str(), 0666);
  r = RunProbe({}, {"reopen", "0", "w"}, {.stdin_fd = in});
  EXPECT_EQ(r.out, "EACCES\n") << r.err;
  EXPECT_EQ(ReadText(dir.File("input")), "keep me");
  close(in);
}

// The CVE-2024-21626 pattern: a host directory as stdin lets openat(0, ...)
// resolve outside the sandbox's root. Whether or not the launcher refuses
// or replaces such an fd, Landlock alone stops the read.
// Scripts write to /dev/stdout and /dev/stderr, which reopen fds 1 and 2
// through /proc/self/fd: that works, for stdio that is a host file, with
// the access the fd has (stdin, read-only, cannot be reopened for writing:
// StdinCannotBeReopenedForWriting).
TEST_F(LandlockTest, StdioCanBeReopenedAsItWasOpened) {
  TempDir dir;
  WriteFile(dir.File("in"), "from stdin\n");
  WriteFile(dir.File("out"), "");  // mode 0666: the sandbox's uid may open them
  WriteFile(dir.File("err"), "");
  std::string command;
  for (const std::string& arg :
       SandboxCommand({"--landlock=on"}, {"/bin/sh", "-c",
                                          "echo out > /dev/stdout; echo err >> /dev/stderr; "
                                          "cat /dev/stdin >> /dev/stderr; "
                                          "cat < /dev/fd/0 >> /dev/stderr"}))
    command += "'" + arg + "' ";
  command += "< " + dir.File("in") + " > " + dir.File("out") + " 2> " + dir.File("err");
  RunResult r = RunProgram({"/bin/sh", "-c", command});
  EXPECT_EQ(r.code, 0) << ReadText(dir.File("err"));
  EXPECT_EQ(ReadText(dir.File("out")), "out\n");
  EXPECT_EQ(ReadText(dir.File("err")), "err\nfrom stdin\nfrom stdin\n");
}

TEST_F(LandlockTest, DirectoryStdinReachesNothing) {
  TempDir dir;
  WriteFile(dir.File("secret"), "host secret");
  int in = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(in, 0);
  RunResult off = RunProbe({"--landlock=off"}, {"readat", "0", "secret"}, {.stdin_fd = in});
  RunResult on = RunProbe({"--landlock=on"}, {"readat", "0", "secret"}, {.stdin_fd = in});
  close(in);
  EXPECT_THAT(on.out, Not(HasSubstr("host secret"))) << on.err;
  if (off.out != "ok host secret\n")
    GTEST_SKIP() << "the launcher itself keeps directories off stdio: " << off.out << off.err;
  EXPECT_EQ(on.out, "EACCES\n") << on.err;
}

TEST_F(LandlockTest, ThePolicysPathsWork) {
  TempDir dir;
  WriteFile(dir.File("ro"), "read me");
  mkdir(dir.File("rw").c_str(), 0777);
  chmod(dir.File("rw").c_str(), 0777);
  const std::vector<std::string> flags = {"--ro_bind=" + dir.File("ro") + ":/ro",
                                          "--bind=" + dir.File("rw") + ":/rw", "--tmpfs=/scratch",
                                          "--landlock=on"};
  EXPECT_EQ(RunProbe(flags, {"open", "/ro", "r"}).out, "ok\n");
  EXPECT_EQ(RunProbe(flags, {"open", "/ro", "w"}).out, "EROFS\n");  // the mount refuses first
  EXPECT_EQ(RunProbe(flags, {"fill", "/rw/f", "10"}).out, "ok 10\n");
  EXPECT_EQ(RunProbe(flags, {"fill", "/scratch/f", "10"}).out, "ok 10\n");
  EXPECT_EQ(RunProbe(flags, {"open", "/dev/null", "rw"}).out, "ok\n");
  EXPECT_EQ(RunProbe(flags, {"open", "/proc/self/status", "r"}).out, "ok\n");
  EXPECT_EQ(RunProbe(flags, {"open", "/", "dir"}).out, "ok\n");
  EXPECT_EQ(RunProbe(flags, {"open", "/usr/bin", "dir"}).out, "ok\n");
  // A shell pipeline with redirections, and Python, run as usual.
  RunResult r = RunProgram(SandboxCommand(
      flags, {"/bin/sh", "-c",
              "echo hi > /rw/out && cat /rw/out | tr a-z A-Z > /dev/null && cat /ro && "
              "mkdir /rw/d && mv /rw/out /rw/d/out && ls /rw/d && rm -r /rw/d && "
              "/usr/bin/python3 -c 'import json; print(json.dumps([1]))'"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "read meout\n[1]\n");
}

// sandbox_run, its shim and the probe copied where an unprivileged user can
// run them (the runfiles are under root's home), and argv to run sandbox_run
// as uid/gid 65534 with setpriv.
class Unprivileged {
 public:
  Unprivileged() {
    chmod(dir_.path().c_str(), 0755);
    for (const char* name : {"tools/sandbox_run/sandbox_run", "sandbox/sandbox_shim",
                             "tests/sandbox/feature_probe"}) {
      std::string from = Runfile(name);
      std::string to = dir_.File(from.substr(from.rfind('/') + 1));
      std::ifstream in(from, std::ios::binary);
      std::ofstream(to, std::ios::binary) << in.rdbuf();
      chmod(to.c_str(), 0755);
    }
  }
  std::vector<std::string> Command(std::vector<std::string> flags,
                                   const std::vector<std::string>& command) const {
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                     "--clear-groups", dir_.File("sandbox_run"),
                                     "--ro_bind=/usr,/lib,/lib64,/bin," +
                                         dir_.File("feature_probe") + ":/fprobe"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }
  std::string File(const std::string& name) const { return dir_.File(name); }

 private:
  TempDir dir_;
};

// Launched by an ordinary user, the sandbox runs as that user on the host,
// so a file the user owns can be written by reopening a read-only fd: the
// mount namespace has no say. Landlock does.
TEST_F(LandlockTest, UnprivilegedLauncherCannotWriteThroughAReadOnlyFd) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become uid 65534";
  Unprivileged as_nobody;
  WriteFile(as_nobody.File("data"), "the user's data");
  chmod(as_nobody.File("data").c_str(), 0644);
  ASSERT_EQ(chown(as_nobody.File("data").c_str(), 65534, 65534), 0);
  const std::string pass = "--pass_file=" + as_nobody.File("data") + ":r";
  RunResult r = RunProgram(as_nobody.Command({pass, "--landlock=off"}, {"/fprobe", "reopen", "3", "rw"}));
  if (r.code == 125 && r.err.find("clone3") != std::string::npos)
    GTEST_SKIP() << "unprivileged user namespaces are off here: " << r.err;
  EXPECT_EQ(r.out, "ok\n") << r.err;
  r = RunProgram(as_nobody.Command({pass}, {"/fprobe", "reopen", "3", "rw"}));
  EXPECT_EQ(r.out, "EACCES\n") << r.err;
}

TEST(UnprivilegedCgroupTest, ACgroupThatCannotBeMadeIsOneLine) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become uid 65534";
  Unprivileged as_nobody;
  RunResult r = RunProgram(as_nobody.Command({"--cgroup_pids=10"}, {"/fprobe", "clocks"}));
  EXPECT_EQ(r.code, 125);
  EXPECT_THAT(r.err, MatchesRegex("sandbox_run: cgroup pids: (mkdir .*: EACCES|not available).*\n"))
      << r.err;
}

// kill(0) from inside reaches the launcher's process group when the sandbox
// shares it (and the sandbox's outside uid may signal its members). At ABI 6
// Landlock scopes signals to the sandbox: a process of that group outside
// the sandbox survives.
TEST_F(LandlockTest, KillZeroReachesNothingOutside) {
  if (syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION) < 6)
    GTEST_SKIP() << "Landlock ABI below 6: no signal scoping";
  // Returns the signal that ended a bystander in sandbox_run's process group.
  auto bystander_ends_by = [](const std::string& landlock) {
    pid_t bystander = fork();
    if (bystander == 0) {
      setpgid(0, 0);
      // The sandbox's uid outside (with a root launcher), so the kernel's
      // permission check alone would let the signal through.
      if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(1);
      pause();
      _exit(0);
    }
    setpgid(bystander, bystander);
    std::vector<std::string> argv = SandboxCommand({"--landlock=" + landlock},
                                                   {"/bin/sh", "-c", "kill -USR1 0"});
    pid_t launcher = fork();
    if (launcher == 0) {
      setpgid(0, bystander);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    setpgid(launcher, bystander);
    WaitExit(launcher);
    // A SIGUSR1 from inside is pending by now, and goes before SIGTERM.
    kill(bystander, SIGTERM);
    return WaitExit(bystander) - 128;
  };
  if (bystander_ends_by("off") != SIGUSR1)
    GTEST_SKIP() << "the sandbox has a process group of its own: kill(0) reaches nothing "
                    "outside even without Landlock";
  EXPECT_EQ(bystander_ends_by("on"), SIGTERM);
}

TEST_F(LandlockTest, BadModeIsRefused) {
  RunResult r = RunProbe({"--landlock=maybe"}, {"open", "/", "dir"});
  EXPECT_EQ(r.code, 125);
  EXPECT_THAT(r.err, StartsWith("sandbox_run: --landlock: \"maybe\""));
}

}  // namespace
}  // namespace cmsg::sandbox_testing
