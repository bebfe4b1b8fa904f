#include "lib/activation/activation.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cmsg {
namespace {

TEST(ActivationTest, NoVariablesMeansNoFds) {
  unsetenv("LISTEN_FDS");
  auto fds = TakeListenFds();
  ASSERT_TRUE(fds.ok());
  EXPECT_TRUE(fds->empty());
}

TEST(ActivationTest, IgnoresVariablesForAnotherPid) {
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_PID", "1", 1);
  auto fds = TakeListenFds();
  ASSERT_TRUE(fds.ok());
  EXPECT_TRUE(fds->empty());
  EXPECT_EQ(getenv("LISTEN_FDS"), nullptr);
}

TEST(ActivationTest, RejectsMalformedVariables) {
  std::string pid = absl::StrCat(getpid());
  setenv("LISTEN_FDS", "two", 1);
  setenv("LISTEN_PID", pid.c_str(), 1);
  EXPECT_FALSE(TakeListenFds().ok());
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_PID", "x", 1);
  EXPECT_FALSE(TakeListenFds().ok());
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_PID", pid.c_str(), 1);
  setenv("LISTEN_FDNAMES", "a:b", 1);
  EXPECT_FALSE(TakeListenFds().ok());
}

// The child execs /bin/sh, which reports what it sees at fd 3 and 4 and the
// activation variables; the parent checks the report.
TEST(ActivationTest, ExecPutsFdsAtThreeWithVariables) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    std::vector<UniqueFd> fds;
    fds.emplace_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    fds.emplace_back(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    auto s = ExecWithListenFds(
        std::move(fds), {"null", "zero"},
        {"sh", "-c",
         "echo $LISTEN_FDS $LISTEN_FDNAMES $([ $LISTEN_PID = $$ ] && echo "
         "pid-ok) $(readlink /proc/self/fd/3) $(readlink /proc/self/fd/4)"},
        {"PATH=/usr/bin:/bin"});
    _exit(100);
  }
  close(out[1]);
  char buf[256] = {};
  std::string got;
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) got.append(buf, n);
  close(out[0]);
  int status;
  waitpid(pid, &status, 0);
  EXPECT_EQ(got, "2 null:zero pid-ok /dev/null /dev/zero\n");
}

}  // namespace
}  // namespace cmsg
