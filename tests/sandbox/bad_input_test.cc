// Bad input to sandbox_run: every malformed flag value gets exit 125 and one
// clear line on stderr, and leaves nothing behind: no process (the test is a
// child subreaper, so any orphan would become its child), no mount, no
// socket file.
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/run_util.h"

namespace cmsg::sandbox_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct BadCase {
  std::vector<std::string> flags;
  std::string message;  // a part of the one stderr line
};

// Mounts on /tmp, where the sandbox builds its root in its own mount
// namespace: none may ever appear on the host.
std::vector<std::string> SuspectMounts() {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (line.find(" /tmp ") != std::string::npos || line.find(" /tmp/") != std::string::npos)
      out.push_back(line);
  }
  return out;
}

class BadInputTest : public ::testing::TestWithParam<BadCase> {
 protected:
  static void SetUpTestSuite() { prctl(PR_SET_CHILD_SUBREAPER, 1); }
};

void ExpectLauncherFailure(const std::vector<std::string>& argv, const std::string& message) {
  const std::vector<std::string> mounts_before = SuspectMounts();
  RunResult r = RunProgram(argv);
  EXPECT_EQ(r.code, 125) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("sandbox_run: "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(message));
  // Nothing left running: any orphan would have been reparented to us.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(SuspectMounts(), mounts_before);
}

TEST_P(BadInputTest, Exits125WithOneLine) {
  std::vector<std::string> argv = {SandboxRun()};
  argv.insert(argv.end(), GetParam().flags.begin(), GetParam().flags.end());
  argv.push_back("--");
  argv.push_back("/bin/true");
  ExpectLauncherFailure(argv, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Flags, BadInputTest,
    ::testing::Values(
        BadCase{{"--ro_bind=usr"}, "SRC must be an absolute path"},
        BadCase{{"--ro_bind=/no/such/dir"}, "bind source /no/such/dir: ENOENT"},
        BadCase{{"--ro_bind=/usr:usr"}, "is not an absolute path"},
        BadCase{{"--ro_bind=/usr:/a:/b"}, "want SRC[:DEST]"},
        BadCase{{"--ro_bind=/usr:/a/../b"}, "'..'"},
        BadCase{{"--ro_bind=/usr:/"}, "cannot be /"},
        BadCase{{"--ro_bind=/usr,"}, "want SRC[:DEST]"},
        BadCase{{"--bind=/no/such/dir"}, "bind source /no/such/dir: ENOENT"},
        BadCase{{"--tmpfs=tmp"}, "is not an absolute path"},
        BadCase{{"--tmpfs=/a//b"}, "empty"},
        BadCase{{"--net=bridge"}, "--net: \"bridge\": want none or host"},
        BadCase{{"--listen=tcp:nowhere"}, "--listen"},
        BadCase{{"--listen=sctp:127.0.0.1:80"}, "--listen"},
        BadCase{{"--listen=tcp:127.0.0.1:99999"}, "--listen"},
        BadCase{{"--listen=tcp:192.0.2.1:80"}, "listen tcp:192.0.2.1:80"},
        BadCase{{"--listen=unix:/no/such/dir/s.sock"}, "listen unix:/no/such/dir/s.sock"},
        BadCase{{"--pass_file=relative"}, "want an absolute PATH"},
        BadCase{{"--pass_file=/no/such/file"}, "pass_file /no/such/file: ENOENT"},
        BadCase{{"--pass_file=/etc/hostname:x"}, "mode must be r, w, rw or a"},
        BadCase{{"--pass_file=/etc/hostname=a:b"}, "--pass_file"},
        BadCase{{"--broker_allow=/no/such/dir"}, "broker path /no/such/dir: ENOENT"},
        BadCase{{"--broker_allow=/etc:w"}, "mode must be r or rw"},
        BadCase{{"--broker_allow=etc"}, "is not an absolute path"},
        BadCase{{"--broker_allow=/etc:r,/etc:rw"}, "broker path /etc is given twice"},
        BadCase{{"--seccomp=lax"}, "want default, strict or off"},
        BadCase{{"--timeout=soon"}, "--timeout"},
        BadCase{{"--timeout=-1s"}, "--timeout"},
        BadCase{{"--timeout=10"}, "--timeout"},
        BadCase{{"--kill_after=later"}, "--kill_after"},
        BadCase{{"--allow_socket=inet7"}, "--allow_socket: \"inet7\""},
        BadCase{{"--outside_ids=0:100"}, "--outside_ids"},
        BadCase{{"--outside_ids=4294967200:1000"}, "--outside_ids"},
        BadCase{{"--outside_ids=100000"}, "want FIRST:COUNT"},
        BadCase{{"--rlimit_core=big"}, "--rlimit_core"},
        BadCase{{"--rlimit_as=lots"}, "--rlimit_as"},
        BadCase{{"--rlimit_as=-1"}, "--rlimit_as"},
        BadCase{{"--rlimit_nofile=1.5"}, "--rlimit_nofile"},
        BadCase{{"--rlimit_nproc=10X"}, "--rlimit_nproc"},
        BadCase{{"--rlimit_cpu=99999999999999999999999"}, "--rlimit_cpu"},
        BadCase{{"--rlimit_fsize=1T"}, "--rlimit_fsize"},
        BadCase{{"--uid=-1"}, "--uid"},
        BadCase{{"--uid=root"}, "--uid"},
        BadCase{{"--uid=4294967295"}, "--uid"},
        BadCase{{"--gid=x"}, "--gid"},
        BadCase{{"--hostname="}, "--hostname"},
        BadCase{{"--hostname=" + std::string(65, 'h')}, "--hostname"},
        BadCase{{"--chdir=relative"}, "chdir"},
        BadCase{{"--chdir=/no/such/dir"}, "sandbox setup: chdir(/no/such/dir): ENOENT"},
        BadCase{{"--setenv=NOVALUE"}, "--setenv: \"NOVALUE\": want K=V"},
        BadCase{{"--setenv==v"}, "want K=V"},
        BadCase{{"--verbose=maybe"}, "is not a boolean"},
        BadCase{{"--frobnicate"}, "unknown flag --frobnicate"},
        BadCase{{"--net=none", "--net=host"}, "--net given twice"}));

TEST(BadInputTest, NoCommand) {
  ExpectLauncherFailure({SandboxRun(), "--net=none"}, "no COMMAND given");
  ExpectLauncherFailure({SandboxRun(), "--net=none", "--"}, "no COMMAND given");
}

TEST(BadInputTest, FlagWithoutItsValue) {
  ExpectLauncherFailure({SandboxRun(), "--net"}, "--net needs a value");
}

// A unix socket bound before a later step fails is removed again.
TEST(BadInputTest, FailureAfterBindingRemovesTheSocketFile) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  TempDir dir;
  const std::string sock = dir.File("s.sock");
  ExpectLauncherFailure(
      {SandboxRun(), "--listen=unix:" + sock + ",tcp:192.0.2.1:80", "--", "/bin/true"},
      "listen tcp:192.0.2.1:80");
  EXPECT_NE(access(sock.c_str(), F_OK), 0);
  // This time the namespace set-up fails, after the socket was bound.
  ExpectLauncherFailure({SandboxRun(), "--listen=unix:" + sock, "--chdir=/nowhere", "--",
                         "/bin/true"},
                        "chdir(/nowhere)");
  EXPECT_NE(access(sock.c_str(), F_OK), 0);
}

// The shim receives the passed fds under the sandbox's own RLIMIT_NOFILE:
// when they do not fit, the error says so rather than blaming the hand-off.
TEST(BadInputTest, AnFdLimitTooLowForThePassedFdsIsNamed) {
  // 64 files against a limit of 32: room for the shim to start (a
  // sanitizer build loads shared libraries), not for the hand-off.
  TempDir dir;
  const std::string file = dir.File("f");
  WriteFile(file, "x");
  std::string files;
  for (int i = 0; i < 64; ++i) files += (i ? "," : "") + file + "=f" + std::to_string(i);
  RunResult r = RunProgram({SandboxRun(), "--ro_bind=/usr,/lib,/lib64,/bin", "--rlimit_nofile=32",
                            "--pass_file=" + files, "--", "/bin/true"});
  EXPECT_EQ(r.code, 125) << r.err;
  EXPECT_THAT(r.err, HasSubstr("RLIMIT_NOFILE"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Opening a FIFO waits for its other end: whoever can put one where a
// --pass_file path points must not be able to stall the (root) launcher
// for as long as they like, --timeout or not. `timeout -s KILL` ends a
// launcher that waits anyway, so the test fails rather than hangs.
TEST(BadInputTest, AFifoToPassIsRefusedWithoutWaiting) {
  TempDir dir;
  const std::string fifo = dir.File("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0666), 0);
  for (const char* mode : {"r", "w", "rw"}) {
    RunResult r = RunProgram({"/usr/bin/timeout", "-s", "KILL", "10", SandboxRun(),
                              "--timeout=2s", "--ro_bind=/usr,/lib,/lib64,/bin",
                              "--pass_file=" + fifo + ":" + mode, "--", "/bin/true"});
    EXPECT_EQ(r.code, 125) << mode << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("pass_file " + fifo)) << mode;
    EXPECT_THAT(r.err, HasSubstr("FIFO")) << mode;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// An existing socket file is not the launcher's to delete.
TEST(BadInputTest, ExistingUnixPathIsNotTouched) {
  TempDir dir;
  const std::string path = dir.File("taken");
  WriteFile(path, "mine");
  ExpectLauncherFailure({SandboxRun(), "--listen=unix:" + path, "--", "/bin/true"},
                        "listen unix:" + path);
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace cmsg::sandbox_testing
