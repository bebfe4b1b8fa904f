// The file broker end to end: the probe inside a sandbox asks sandbox_run's
// broker (SANDBOX_BROKER_FD) for host paths the sandbox cannot see.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/sandbox/run_util.h"

namespace cmsg::sandbox_testing {
namespace {

class BrokerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(mkdir(dir_.File("data").c_str(), 0777), 0);
    ASSERT_EQ(mkdir(dir_.File("out").c_str(), 0777), 0);
    WriteFile(dir_.File("data/in.txt"), "brokered input");
    WriteFile(dir_.File("secret"), "secret");
    ASSERT_EQ(symlink(dir_.File("secret").c_str(), dir_.File("data/link").c_str()), 0);
  }

  std::string Ask(const std::string& path, const std::string& mode) {
    RunResult r = RunProgram(SandboxCommand(
        {"--broker_allow=" + dir_.File("data") + ":r," + dir_.File("out") + ":rw"},
        {"/probe", "broker", path, mode}));
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  }

  TempDir dir_;
};

TEST_F(BrokerE2eTest, AllowedPathIsOpenedForTheSandbox) {
  EXPECT_EQ(Ask(dir_.File("data/in.txt"), "r"), "ok brokered input\n");
}

TEST_F(BrokerE2eTest, PathOutsideThePolicyIsDenied) {
  EXPECT_EQ(Ask(dir_.File("secret"), "r"), "EACCES\n");
}

TEST_F(BrokerE2eTest, DotDotIsRefused) {
  EXPECT_EQ(Ask(dir_.File("data/../secret"), "r"), "EACCES\n");
}

TEST_F(BrokerE2eTest, SymlinkOutOfTheTreeIsRefused) {
  EXPECT_EQ(Ask(dir_.File("data/link"), "r"), "EXDEV\n");
}

TEST_F(BrokerE2eTest, WritesOnlyUnderAWritableRule) {
  EXPECT_EQ(Ask(dir_.File("data/new"), "w"), "EACCES\n");
  EXPECT_EQ(Ask(dir_.File("out/new"), "w"), "ok 8\n");
  std::ifstream written(dir_.File("out/new"));
  std::stringstream content;
  content << written.rdbuf();
  EXPECT_EQ(content.str(), "brokered");
}

// A directory fd from the broker would resolve ".." on the host, outside
// the sandbox's root: the broker hands out no directories.
TEST_F(BrokerE2eTest, NoDirectoryFdToWalkOutOf) {
  RunResult r = RunProgram(SandboxCommand({"--broker_allow=" + dir_.File("data") + ":r"},
                                          {"/probe", "broker_walk", dir_.File("data"),
                                           "../secret"}));
  EXPECT_EQ(r.out, "EISDIR\n") << r.err;
}

// A command that floods the broker and never reads a reply, its requests
// carrying its own end of the socket, must not keep sandbox_run from
// ending once it has exited.
TEST_F(BrokerE2eTest, AClientThatReadsNoReplyDoesNotHangTheLauncher) {
  Started s = Start(SandboxCommand({"--broker_allow=" + dir_.File("data") + ":r"},
                                   {"/probe", "broker_flood", dir_.File("data/missing")}));
  ASSERT_GT(s.pid, 0);
  const std::string line = ReadLine(s.out_fd);
  EXPECT_TRUE(absl::StartsWith(line, "sent ")) << line;
  const bool ended = WaitForEof(s.out_fd, 20);
  if (!ended) kill(s.pid, SIGKILL);
  EXPECT_TRUE(ended) << "sandbox_run still running 20 s after its command exited";
  EXPECT_EQ(WaitExit(s.pid), ended ? 0 : 128 + SIGKILL);
  close(s.out_fd);
}

TEST_F(BrokerE2eTest, NoBrokerWithoutBrokerAllow) {
  RunResult r = RunProgram(SandboxCommand({}, {"/probe", "broker", dir_.File("data/in.txt"), "r"}));
  EXPECT_EQ(r.out, "no broker: SANDBOX_BROKER_FD is not set\n") << r.err;
}

}  // namespace
}  // namespace cmsg::sandbox_testing
