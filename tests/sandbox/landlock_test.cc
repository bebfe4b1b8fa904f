// Landlock as the second wall: files the mount namespace lets the command
// reach by some other way than the policy's mounts (a passed fd reopened
// through /proc/self/fd with more access, stdin) are refused with it on and
// reachable with --landlock=off; the policy's own paths keep working.
#include <fcntl.h>
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

TEST_F(LandlockTest, BadModeIsRefused) {
  RunResult r = RunProbe({"--landlock=maybe"}, {"open", "/", "dir"});
  EXPECT_EQ(r.code, 125);
  EXPECT_THAT(r.err, StartsWith("sandbox_run: --landlock: \"maybe\""));
}

}  // namespace
}  // namespace cmsg::sandbox_testing
