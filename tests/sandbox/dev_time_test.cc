// /dev/shm (a private tmpfs of a set size) and /dev/pts (a new devpts
// instance: only the sandbox's own ptys) on request, and a time namespace on
// request, with its clocks moved by an offset or started as if just booted.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
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

std::string FeatureProbe() { return Runfile("tests/sandbox/feature_probe"); }

RunResult RunProbe(std::vector<std::string> flags, const std::vector<std::string>& args) {
  flags.push_back("--ro_bind=" + FeatureProbe() + ":/fprobe");
  std::vector<std::string> command = {"/fprobe"};
  command.insert(command.end(), args.begin(), args.end());
  return RunProgram(SandboxCommand(flags, command));
}

TEST(DevShmTest, OnlyOnRequestAndBounded) {
  EXPECT_EQ(RunProbe({}, {"fill", "/dev/shm/x", "1000"}).out, "ENOENT\n");
  EXPECT_EQ(RunProbe({"--dev_shm=1M"}, {"fill", "/dev/shm/x", "100000"}).out, "ok 100000\n");
  EXPECT_EQ(RunProbe({"--dev_shm=1M"}, {"fill", "/dev/shm/x", "2000000"}).out, "ENOSPC\n");
  // POSIX semaphores (Python's multiprocessing locks) need it.
  const std::string lock = "import multiprocessing; multiprocessing.Lock(); print('locked')";
  RunResult r = RunProgram(SandboxCommand({"--dev_shm=1M"}, {"/usr/bin/python3", "-c", lock}));
  EXPECT_EQ(r.out, "locked\n") << r.err;
  r = RunProgram(SandboxCommand({}, {"/usr/bin/python3", "-c", lock}));
  EXPECT_NE(r.code, 0);
  for (const char* bad : {"--dev_shm=0", "--dev_shm=lots"}) {
    r = RunProbe({bad}, {"clocks"});
    EXPECT_EQ(r.code, 125) << bad;
    EXPECT_THAT(r.err, StartsWith("sandbox_run: --dev_shm")) << r.err;
  }
}

TEST(DevPtsTest, ANewInstanceOnRequest) {
  EXPECT_EQ(RunProbe({}, {"pty"}).out, "ENOENT\n");
  EXPECT_EQ(RunProbe({"--dev_pts"}, {"pty"}).out, "ok /dev/pts/0 x\n");
  // None of the host's ptys is there, whatever the host has open.
  RunResult r = RunProgram(SandboxCommand({"--dev_pts"}, {"/bin/ls", "/dev/pts"}));
  EXPECT_EQ(r.out, "ptmx\n") << r.err;
  r = RunProgram(SandboxCommand({"--dev_pts"}, {"/bin/sh", "-c", "ls -l /dev/ptmx"}));
  EXPECT_THAT(r.out, HasSubstr("/dev/ptmx -> pts/ptmx")) << r.err;
}

// The instance is bounded (limits are explicit): at most 64 ptys.
TEST(DevPtsTest, AtMost64Ptys) {
  RunResult r = RunProbe({"--dev_pts", "--rlimit_nofile=200"}, {"ptys", "100"});
  EXPECT_EQ(r.out, "ptys 64 ENOSPC\n") << r.err;
}

long HostSeconds(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec;
}

std::string HostTimeNs() {
  char target[256];
  ssize_t n = readlink("/proc/self/ns/time", target, sizeof(target) - 1);
  return n > 0 ? std::string(target, n) : "";
}

TEST(TimeNamespaceTest, OnRequest) {
  if (HostTimeNs().empty()) GTEST_SKIP() << "no time namespaces in this kernel";
  EXPECT_EQ(RunProbe({}, {"ns", "time"}).out, HostTimeNs() + "\n");
  RunResult r = RunProbe({"--time_ns=on"}, {"ns", "time"});
  EXPECT_THAT(r.out, MatchesRegex("time:\\[[0-9]+\\]\n")) << r.err;
  EXPECT_NE(r.out, HostTimeNs() + "\n");
}

TEST(TimeNamespaceTest, ClocksMoveByTheOffset) {
  if (HostTimeNs().empty()) GTEST_SKIP() << "no time namespaces in this kernel";
  constexpr long kOffset = 1000000;  // seconds; the slack below is 600
  RunResult r = RunProbe({"--time_ns=+1000000s"}, {"clocks"});
  long monotonic = 0, boottime = 0;
  ASSERT_EQ(sscanf(r.out.c_str(), "%ld %ld", &monotonic, &boottime), 2) << r.out << r.err;
  EXPECT_NEAR(monotonic - HostSeconds(CLOCK_MONOTONIC), kOffset, 600);
  EXPECT_NEAR(boottime - HostSeconds(CLOCK_BOOTTIME), kOffset, 600);
}

TEST(TimeNamespaceTest, BootHidesTheHostsUptime) {
  if (HostTimeNs().empty()) GTEST_SKIP() << "no time namespaces in this kernel";
  if (HostSeconds(CLOCK_BOOTTIME) < 1200) GTEST_SKIP() << "the host itself booted just now";
  RunResult r = RunProbe({"--time_ns=boot"}, {"clocks"});
  long monotonic = 0, boottime = 0;
  ASSERT_EQ(sscanf(r.out.c_str(), "%ld %ld", &monotonic, &boottime), 2) << r.out << r.err;
  EXPECT_LT(monotonic, 600);
  EXPECT_LT(boottime, 600);
  r = RunProgram(SandboxCommand({"--time_ns=boot"}, {"/bin/cat", "/proc/uptime"}));
  EXPECT_LT(atof(r.out.c_str()), 600) << r.out << r.err;
}

TEST(TimeNamespaceTest, BadValuesAreRefused) {
  for (const char* bad : {"--time_ns=yes", "--time_ns=+1x", "--time_ns=-1000000000000s"}) {
    RunResult r = RunProbe({bad}, {"clocks"});
    EXPECT_EQ(r.code, 125) << bad;
    EXPECT_THAT(r.err, StartsWith("sandbox_run: ")) << r.err;
    EXPECT_THAT(r.err, HasSubstr("time_ns")) << r.err;
  }
  // Three years back takes the clocks below 0: the kernel refuses, at set-up.
  RunResult r = RunProbe({"--time_ns=-100000000s"}, {"clocks"});
  EXPECT_EQ(r.code, 125);
  EXPECT_THAT(r.err, HasSubstr("timens_offsets): ERANGE")) << r.err;
}

}  // namespace
}  // namespace cmsg::sandbox_testing
