// Resource limits for the whole sandbox tree through cgroups: memory (an
// out-of-memory kill is its own exit status, 123), pids and CPU; the
// sandbox's cgroup is gone when sandbox_run ends, however it ends; --tmpfs
// takes a size.
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
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

constexpr int kOutOfMemory = 123;

std::string FeatureProbe() { return Runfile("tests/sandbox/feature_probe"); }

std::vector<std::string> Sandboxed(std::vector<std::string> flags,
                                   const std::vector<std::string>& args) {
  flags.push_back("--ro_bind=" + FeatureProbe() + ":/fprobe");
  std::vector<std::string> command = {"/fprobe"};
  command.insert(command.end(), args.begin(), args.end());
  return SandboxCommand(flags, command);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// This process's cgroup directory for `controller`, found from its own
// /proc/self/cgroup and /proc/self/mountinfo: v2 if the controller is
// enabled for children there, else its v1 hierarchy; "" if neither.
std::string OwnCgroupDir(const std::string& controller) {
  std::map<std::string, std::string> v1_paths;  // controller -> path
  std::string v2_path;
  std::ifstream cgroups("/proc/self/cgroup");
  for (std::string line; std::getline(cgroups, line);) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    std::string names = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.substr(0, a) == "0" && names.empty()) v2_path = path;
    std::stringstream split(names);
    for (std::string name; std::getline(split, name, ',');) v1_paths[name] = path;
  }
  std::ifstream mounts("/proc/self/mountinfo");
  std::string v1_dir, v2_dir;
  for (std::string line; std::getline(mounts, line);) {
    std::vector<std::string> f;
    std::stringstream words(line);
    for (std::string w; words >> w;) f.push_back(w);
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 3 >= f.size() + 1 || dash + 3 > f.size()) continue;
    const std::string& type = f[dash + 1];
    if (type == "cgroup2" && f[3] == "/" && !v2_path.empty()) v2_dir = f[4] + v2_path;
    if (type == "cgroup" && f[3] == "/" && v1_paths.count(controller)) {
      std::stringstream options(f[dash + 3]);
      for (std::string o; std::getline(options, o, ',');)
        if (o == controller) v1_dir = f[4] + v1_paths[controller];
    }
  }
  if (!v2_dir.empty()) {
    std::string enabled = " " + ReadText(v2_dir + "/cgroup.subtree_control");
    for (char& c : enabled) c = c == '\n' ? ' ' : c;
    if (enabled.find(" " + controller + " ") != std::string::npos) return v2_dir;
  }
  return v1_dir;
}

// The sandbox cgroups of the sandbox_run with pid `launcher`.
std::vector<std::string> SandboxCgroups(const std::string& parent, pid_t launcher) {
  std::vector<std::string> out;
  DIR* dir = opendir(parent.c_str());
  if (dir == nullptr) return out;
  std::string prefix = "sandbox_run-" + std::to_string(launcher) + "-";
  while (dirent* e = readdir(dir)) {
    if (std::string(e->d_name).rfind(prefix, 0) == 0) out.push_back(parent + "/" + e->d_name);
  }
  closedir(dir);
  return out;
}

class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    memory_ = OwnCgroupDir("memory");
    pids_ = OwnCgroupDir("pids");
    if (memory_.empty() || pids_.empty())
      GTEST_SKIP() << "no memory or pids cgroup controller (v2 delegated or v1 mounted) here";
    if (access((memory_ + "/cgroup.procs").c_str(), W_OK) != 0)
      GTEST_SKIP() << "cannot create cgroups under " << memory_ << " (not root, not delegated)";
  }
  std::string memory_, pids_;
};

TEST_F(CgroupTest, OutOfMemoryKillsTheTreeAndHasItsOwnExitStatus) {
  // The control: without a limit the same allocation works.
  RunResult r = RunProgram(Sandboxed({}, {"alloc", "256"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "ok 256\n");
  // In a grandchild: the limit holds for the tree, not one process.
  r = RunProgram(Sandboxed({"--cgroup_memory=64M"}, {"alloc", "256"}));
  EXPECT_EQ(r.code, kOutOfMemory) << r.err;
  EXPECT_THAT(r.err, HasSubstr("out of memory"));
  r = RunProgram(SandboxCommand(
      {"--cgroup_memory=64M", "--ro_bind=" + FeatureProbe() + ":/fprobe"},
      // Each holds its 40 MiB for 3 s: the three overlap however slowly
      // they start (without the hold, on a loaded machine one could end
      // before the next began and all three fit).
      {"/bin/sh", "-c",
       "/fprobe alloc 40 3000 & /fprobe alloc 40 3000 & /fprobe alloc 40 3000 & wait"}));
  EXPECT_EQ(r.code, kOutOfMemory) << r.out << r.err;
  // Under the limit: the command's own status.
  r = RunProgram(Sandboxed({"--cgroup_memory=64M"}, {"alloc", "16"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "ok 16\n");
}

TEST_F(CgroupTest, PidsLimitHoldsForTheTree) {
  RunResult r = RunProgram(Sandboxed({}, {"forks", "40"}));
  EXPECT_EQ(r.out, "forked 40 none\n") << r.err;
  // The shim, the probe and 8 children make 10.
  r = RunProgram(Sandboxed({"--cgroup_pids=10"}, {"forks", "40"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "forked 8 EAGAIN\n");
}

TEST_F(CgroupTest, LimitsAreWrittenAndCpuIsThrottled) {
  std::string cpu = OwnCgroupDir("cpu");
  if (cpu.empty()) GTEST_SKIP() << "no cpu controller";
  // The probe holds after spinning until we close its stdout: its cgroups
  // live until they are read (else sandbox_run may have removed them).
  Started s = Start(Sandboxed({"--cgroup_memory=100M", "--cgroup_pids=50", "--cgroup_cpu=0.1"},
                              {"spin", "300", "hold"}));
  ASSERT_EQ(ReadLine(s.out_fd), "ok spun");
  std::vector<std::string> mem = SandboxCgroups(memory_, s.pid);
  std::vector<std::string> pids = SandboxCgroups(pids_, s.pid);
  std::vector<std::string> cpus = SandboxCgroups(cpu, s.pid);
  ASSERT_EQ(mem.size(), 1u);
  ASSERT_EQ(pids.size(), 1u);
  ASSERT_EQ(cpus.size(), 1u);
  if (access((mem[0] + "/memory.max").c_str(), F_OK) == 0) {
    EXPECT_EQ(ReadText(mem[0] + "/memory.max"), "104857600\n");
    EXPECT_EQ(ReadText(cpus[0] + "/cpu.max"), "10000 100000\n");
  } else {
    EXPECT_EQ(ReadText(mem[0] + "/memory.limit_in_bytes"), "104857600\n");
    EXPECT_EQ(ReadText(cpus[0] + "/cpu.cfs_quota_us"), "10000\n");
    EXPECT_EQ(ReadText(cpus[0] + "/cpu.cfs_period_us"), "100000\n");
  }
  EXPECT_EQ(ReadText(pids[0] + "/pids.max"), "50\n");
  // 300 ms of CPU at 10 ms per 100 ms period cannot pass unthrottled.
  std::string stat = ReadText(cpus[0] + "/cpu.stat");
  EXPECT_THAT(stat, Not(HasSubstr("nr_throttled 0\n"))) << stat;
  EXPECT_THAT(stat, HasSubstr("nr_throttled ")) << stat;
  // Let the probe go; once sandbox_run has exited its cgroups are gone.
  close(s.out_fd);
  EXPECT_EQ(WaitExit(s.pid), 0);
  EXPECT_THAT(SandboxCgroups(memory_, s.pid), ::testing::IsEmpty());
  EXPECT_THAT(SandboxCgroups(pids_, s.pid), ::testing::IsEmpty());
  EXPECT_THAT(SandboxCgroups(cpu, s.pid), ::testing::IsEmpty());
}

TEST_F(CgroupTest, NothingIsLeftBehindHoweverTheSandboxEnds) {
  // Each sandbox_run's cgroups are named after its pid: other tests running
  // sandboxes at the same time do not count.
  auto run = [&](const std::vector<std::string>& argv) {
    Started s = Start(argv);
    while (!ReadLine(s.out_fd).empty()) {
    }
    int code = WaitExit(s.pid);
    close(s.out_fd);
    EXPECT_THAT(SandboxCgroups(memory_, s.pid), ::testing::IsEmpty());
    EXPECT_THAT(SandboxCgroups(pids_, s.pid), ::testing::IsEmpty());
    return code;
  };
  const std::vector<std::string> limits = {"--cgroup_memory=64M", "--cgroup_pids=20"};
  // Exits, is OOM-killed, times out, fails in set-up after the clone, is
  // stopped by a signal.
  EXPECT_EQ(run(Sandboxed(limits, {"alloc", "1"})), 0);
  EXPECT_EQ(run(Sandboxed(limits, {"alloc", "200"})), kOutOfMemory);
  std::vector<std::string> flags = limits;
  flags.push_back("--timeout=300ms");
  EXPECT_EQ(run(Sandboxed(flags, {"spin", "100000"})), 124);
  flags = limits;
  flags.push_back("--chdir=/no/such/dir");
  EXPECT_EQ(run(Sandboxed(flags, {"alloc", "1"})), 125);
  Started s = Start(SandboxCommand(limits, {"/bin/sh", "-c", "echo ready; exec sleep 30"}));
  ASSERT_EQ(ReadLine(s.out_fd), "ready");
  EXPECT_EQ(SandboxCgroups(memory_, s.pid).size(), 1u);
  kill(s.pid, SIGTERM);
  EXPECT_EQ(WaitExit(s.pid), 128 + SIGTERM);
  close(s.out_fd);
  EXPECT_THAT(SandboxCgroups(memory_, s.pid), ::testing::IsEmpty());
  EXPECT_THAT(SandboxCgroups(pids_, s.pid), ::testing::IsEmpty());
  // And when sandbox_run is ended by a signal it does not pass on.
  s = Start(SandboxCommand(limits, {"/bin/sh", "-c", "echo ready; exec sleep 30"}));
  ASSERT_EQ(ReadLine(s.out_fd), "ready");
  kill(s.pid, SIGALRM);
  EXPECT_EQ(WaitExit(s.pid), 128 + SIGALRM);
  close(s.out_fd);
  EXPECT_THAT(SandboxCgroups(memory_, s.pid), ::testing::IsEmpty());
  EXPECT_THAT(SandboxCgroups(pids_, s.pid), ::testing::IsEmpty());
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);  // nothing left running
}

// Makes an empty cgroup `name` (and its "sandbox" leaf) under each of
// `parents`, as a SIGKILLed sandbox_run leaves them.
void MakeStaleCgroup(const std::vector<std::string>& parents, const std::string& name) {
  for (const std::string& parent : parents) {
    mkdir((parent + "/" + name).c_str(), 0755);
    mkdir((parent + "/" + name + "/sandbox").c_str(), 0755);
  }
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

TEST_F(CgroupTest, LeftoversOfAKilledLauncherAreSweptAndDoNotBlockTheNext) {
  if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/unshare";
  const std::vector<std::string> limits = {"--cgroup_memory=64M", "--cgroup_pids=20"};
  std::vector<std::string> parents = {memory_};
  if (pids_ != memory_) parents.push_back(pids_);

  // A launcher killed by SIGKILL: its sandbox dies with it, its cgroups stay
  // until the next sandbox_run sweeps them.
  Started s = Start(SandboxCommand(limits, {"/bin/sh", "-c", "echo ready; exec sleep 30"}));
  ASSERT_EQ(ReadLine(s.out_fd), "ready");
  std::vector<std::string> killed = SandboxCgroups(memory_, s.pid);
  ASSERT_EQ(killed.size(), 1u);
  kill(s.pid, SIGKILL);
  EXPECT_EQ(WaitExit(s.pid), 128 + SIGKILL);
  close(s.out_fd);
  // Its sandbox (reparented to this subreaper) dies by PDEATHSIG.
  while (waitpid(-1, nullptr, 0) > 0) {
  }
  for (int i = 0; i < 200 && !ReadText(killed[0] + "/sandbox/cgroup.procs").empty(); ++i)
    usleep(10000);

  // A launcher that is pid 1 of a fresh pid namespace, as in a container,
  // after an earlier one with that pid was SIGKILLed.
  MakeStaleCgroup(parents, "sandbox_run-1-0");
  // A leftover that still has a process in it is never touched.
  const std::string busy = pids_ + "/sandbox_run-0-busy";
  ASSERT_EQ(mkdir(busy.c_str(), 0755), 0) << busy;
  pid_t sleeper = fork();
  if (sleeper == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(sleeper, 0);
  WriteFile(busy + "/cgroup.procs", std::to_string(sleeper));

  std::vector<std::string> argv = {"/usr/bin/unshare", "-pf", "--mount-proc"};
  for (const std::string& a : SandboxCommand(limits, {"/bin/true"})) argv.push_back(a);
  RunResult r = RunProgram(argv);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  for (const std::string& parent : parents)
    EXPECT_FALSE(Exists(parent + "/sandbox_run-1-0")) << parent;
  EXPECT_THAT(SandboxCgroups(memory_, s.pid), ::testing::IsEmpty());
  EXPECT_THAT(SandboxCgroups(pids_, s.pid), ::testing::IsEmpty());
  // A second one with the same pid, and nothing of either left behind.
  r = RunProgram(argv);
  EXPECT_EQ(r.code, 0) << r.err;
  for (const std::string& parent : parents)
    EXPECT_THAT(SandboxCgroups(parent, 1), ::testing::IsEmpty()) << parent;

  EXPECT_TRUE(Exists(busy));
  EXPECT_EQ(ReadText(busy + "/cgroup.procs"), std::to_string(sleeper) + "\n");
  kill(sleeper, SIGKILL);
  waitpid(sleeper, nullptr, 0);
  for (int i = 0; i < 100 && rmdir(busy.c_str()) != 0; ++i) usleep(10000);
  for (const std::string& parent : parents) {  // on failure, do not leave ours
    rmdir((parent + "/sandbox_run-1-0/sandbox").c_str());
    rmdir((parent + "/sandbox_run-1-0").c_str());
  }
}

// Each launcher sweeps the empty, unlocked sandbox_run-* directories of
// killed launchers before it makes its own; a launcher starting at the same
// moment has one that is empty and not locked yet for an instant. Launchers
// started 8 at a time, 30 times: none may fail (one in about 70 did, with
// "open .../sandbox_run-PID-...: ENOENT", when a neighbour swept its
// directory between its mkdir and its open).
TEST_F(CgroupTest, LaunchersStartingTogetherDoNotSweepEachOther) {
  const std::vector<std::string> argv =
      SandboxCommand({"--cgroup_memory=64M", "--cgroup_pids=20"}, {"/bin/true"});
  int failed = 0;
  for (int round = 0; round < 30; ++round) {
    std::vector<Started> launchers;
    for (int i = 0; i < 8; ++i) launchers.push_back(Start(argv));
    for (Started& s : launchers) {
      if (WaitExit(s.pid) != 0) ++failed;
      close(s.out_fd);
      EXPECT_THAT(SandboxCgroups(memory_, s.pid), ::testing::IsEmpty());
    }
  }
  EXPECT_EQ(failed, 0) << "of 240 launchers (their errors are above)";
}

TEST_F(CgroupTest, BadLimitsAreRefused) {
  for (const char* flag : {"--cgroup_memory=lots", "--cgroup_memory=0", "--cgroup_pids=-1",
                           "--cgroup_pids=0", "--cgroup_cpu=0", "--cgroup_cpu=-1",
                           "--cgroup_cpu=x", "--cgroup_cpu=1e9"}) {
    RunResult r = RunProgram(Sandboxed({flag}, {"alloc", "1"}));
    EXPECT_EQ(r.code, 125) << flag;
    EXPECT_THAT(r.err, StartsWith("sandbox_run: --cgroup_")) << flag << r.err;
  }
}

TEST(TmpfsSizeTest, TmpfsWithASizeIsFull) {
  RunResult r = RunProgram(Sandboxed({"--tmpfs=/scratch:1M"}, {"fill", "/scratch/f", "2000000"}));
  EXPECT_EQ(r.out, "ENOSPC\n") << r.err;
  r = RunProgram(Sandboxed({"--tmpfs=/scratch:4M"}, {"fill", "/scratch/f", "2000000"}));
  EXPECT_EQ(r.out, "ok 2000000\n") << r.err;
  r = RunProgram(Sandboxed({"--tmpfs=/scratch"}, {"fill", "/scratch/f", "2000000"}));
  EXPECT_EQ(r.out, "ok 2000000\n") << r.err;
  for (const char* bad : {"--tmpfs=/scratch:", "--tmpfs=/scratch:0", "--tmpfs=/scratch:big",
                          "--tmpfs=/scratch:1M:2M"}) {
    r = RunProgram(Sandboxed({bad}, {"alloc", "1"}));
    EXPECT_EQ(r.code, 125) << bad;
    EXPECT_THAT(r.err, StartsWith("sandbox_run: --tmpfs")) << bad << r.err;
  }
}

}  // namespace
}  // namespace cmsg::sandbox_testing
