// The escape suite: each isolation claim of the sandbox, tested by a real
// program inside it (escape_probe) that tries to break it.
#include <arpa/inet.h>
#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <iostream>
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

// Built twice: as is, with the test's own uid (root on CI) as the launcher,
// and with SANDBOX_TEST_LAUNCHER_UID set, with sandbox_run run as that uid.
class LauncherEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
#ifdef SANDBOX_TEST_LAUNCHER_UID
    SetLauncherUid(SANDBOX_TEST_LAUNCHER_UID);
    if (geteuid() != 0) GTEST_SKIP() << "the unprivileged variant runs as root to drop to a uid";
#endif
    if (std::string why = WhyNoUserNamespace(); !why.empty()) GTEST_SKIP() << why;
  }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new LauncherEnvironment);

RunResult Probe(const std::vector<std::string>& flags, const std::vector<std::string>& args,
                RunOptions options = {}) {
  std::vector<std::string> command = {"/probe"};
  command.insert(command.end(), args.begin(), args.end());
  return RunProgram(SandboxCommand(flags, command), options);
}

TEST(EscapeTest, UnboundHostPathIsInvisible) {
  TempDir dir;
  WriteFile(dir.File("secret"), "host secret");
  RunResult r = Probe({}, {"read", dir.File("secret")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "ENOENT\n");
  // The same read with the file bound works: the probe can tell.
  r = Probe({"--ro_bind=" + dir.File("secret")}, {"read", dir.File("secret")});
  EXPECT_EQ(r.out, "ok host secret\n") << r.err;
}

TEST(EscapeTest, ReadOnlyBindCannotBeWritten) {
  TempDir dir;  // mode 0777: only the read-only mount can refuse the write
  RunResult r = Probe({"--ro_bind=" + dir.path() + ":/data"}, {"write", "/data/x"});
  EXPECT_EQ(r.out, "EROFS\n") << r.err;
  EXPECT_FALSE(access(dir.File("x").c_str(), F_OK) == 0);
  r = Probe({"--bind=" + dir.path() + ":/data"}, {"write", "/data/x"});
  EXPECT_EQ(r.out, "ok 7\n") << r.err;
  EXPECT_TRUE(access(dir.File("x").c_str(), F_OK) == 0);
}

// mount(2) is filtered, but the read-only flag must hold without the filter
// too: the command has no capability, and in a user namespace of its own the
// flag is locked.
TEST(EscapeTest, ReadOnlyBindCannotBeRemountedWritable) {
  TempDir dir;  // mode 0777: only the read-only mount can refuse the write
  const std::string bind = "--ro_bind=" + dir.path() + ":/data";
  EXPECT_EQ(Probe({bind}, {"remount_rw", "/data"}).out, "EROFS\n");
  EXPECT_EQ(Probe({bind, "--seccomp=off"}, {"remount_rw", "/data"}).out, "EROFS\n");
  RunResult r = Probe({bind, "--seccomp=off"}, {"remount_rw", "/data", "nested"});
  EXPECT_EQ(r.out, "EROFS\n") << r.err;
  EXPECT_NE(access(dir.File("escaped").c_str(), F_OK), 0);
}

TEST(EscapeTest, SkeletonRootIsReadOnly) {
  RunResult r = Probe({}, {"write", "/newfile"});
  EXPECT_EQ(r.out, "EROFS\n") << r.err;
}

TEST(EscapeTest, NetNoneCannotReachHostLoopback) {
  int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(server, 8), 0);
  socklen_t len = sizeof(addr);
  getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string port = std::to_string(ntohs(addr.sin_port));
  RunResult r = Probe({}, {"connect", "127.0.0.1", port});
  EXPECT_EQ(r.out, "ECONNREFUSED\n") << r.err;  // its own lo, with nothing on it
  r = Probe({"--net=host"}, {"connect", "127.0.0.1", port});
  EXPECT_EQ(r.out, "ok 0\n") << r.err;
  close(server);
}

TEST(EscapeTest, HostAbstractUnixSocketsAreUnreachable) {
  // Abstract unix sockets belong to the network namespace.
  const std::string name = "sbx-escape-" + std::to_string(getpid());
  int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path + 1, name.data(), name.size());
  socklen_t len = offsetof(sockaddr_un, sun_path) + 1 + name.size();
  ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(server, 8), 0);
  RunResult r = Probe({}, {"abstract", name});
  EXPECT_EQ(r.out, "ECONNREFUSED\n") << r.err;
  r = Probe({"--net=host"}, {"abstract", name});
  EXPECT_EQ(r.out, "ok 0\n") << r.err;
  close(server);
}

TEST(EscapeTest, HostSysvIpcIsInvisible) {
  const key_t key = 0x5b0000 + (getpid() & 0xffff);
  int queue = msgget(key, IPC_CREAT | 0666);
  ASSERT_GE(queue, 0);
  RunResult r = Probe({}, {"msgget", std::to_string(key)});
  EXPECT_EQ(r.out, "ENOENT\n") << r.err;
  msgctl(queue, IPC_RMID, nullptr);
}

TEST(EscapeTest, HostPidsAreInvisible) {
  RunResult r = Probe({}, {"kill", std::to_string(getpid())});
  EXPECT_EQ(r.out, "ESRCH\n") << r.err;
  // kill(-1) reaches every process it may signal but init and itself: in the
  // sandbox's pid namespace, none - not even a host process of the
  // sandbox's own uid (65534 outside when the test runs as root).
  pid_t same_uid = fork();
  if (same_uid == 0) {
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) _exit(1);
    pause();
    _exit(0);
  }
  r = Probe({}, {"kill", "-1"});
  EXPECT_EQ(r.out, "ESRCH\n") << r.err;
  kill(same_uid, SIGKILL);
  waitpid(same_uid, nullptr, 0);
  // Only the shim (1) and the probe (2) exist in the sandbox's /proc.
  r = Probe({}, {"pids"});
  EXPECT_EQ(r.out, "ok 1 2\n") << r.err;
}

TEST(EscapeTest, OnlyStdioAndPassedFdsCrossIn) {
  // Inheritable fds in the launcher: none of them may reach the command.
  std::vector<int> leaked;
  for (int i = 0; i < 4; ++i) leaked.push_back(open("/dev/null", O_RDONLY));
  leaked.push_back(socket(AF_INET, SOCK_DGRAM, 0));
  RunResult r = Probe({}, {"fds"});
  EXPECT_EQ(r.out, "ok 0 1 2\n") << r.err;
  TempDir dir;
  WriteFile(dir.File("f"), "x");
  r = Probe({"--listen=tcp:127.0.0.1:0", "--pass_file=" + dir.File("f")}, {"fds"});
  EXPECT_EQ(r.out, "ok 0 1 2 3 4\n") << r.err;
  for (int fd : leaked) close(fd);
}

TEST(EscapeTest, TiocstiAndTioclinuxAreDenied) {
  int master, slave;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  RunResult r = Probe({}, {"tiocsti", "0"}, {.stdin_fd = slave});
  EXPECT_EQ(r.out, "EPERM\n") << r.err;
  r = Probe({}, {"tiocsti_high", "0"}, {.stdin_fd = slave});
  EXPECT_EQ(r.out, "EPERM\n") << r.err;
  r = Probe({}, {"tioclinux", "0"}, {.stdin_fd = slave});
  EXPECT_EQ(r.out, "EPERM\n") << r.err;
  // Unfiltered, the pty answers TIOCLINUX itself (it is no virtual console).
  r = Probe({"--seccomp=off"}, {"tioclinux", "0"}, {.stdin_fd = slave});
  EXPECT_NE(r.out, "EPERM\n") << r.err;
  close(master);
  close(slave);
}

class DeniedSyscallTest : public ::testing::TestWithParam<const char*> {};

TEST_P(DeniedSyscallTest, FailsWithEperm) {
  RunResult r = Probe({}, {"syscall", GetParam()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "EPERM\n") << r.err;
}

INSTANTIATE_TEST_SUITE_P(Escape, DeniedSyscallTest,
                         ::testing::Values("mount", "unshare", "setns", "keyctl", "bpf",
                                           "ptrace", "perf_event_open", "userfaultfd",
                                           "open_by_handle_at", "clone_newuser",
                                           "io_uring_setup", "personality"));

TEST(EscapeTest, Clone3IsUnavailable) {
  // clone3's flags sit in memory the filter cannot read: the call as a whole
  // fails as if the kernel lacked it, so libc falls back to clone.
  RunResult r = Probe({}, {"syscall", "clone3_newuser"});
  EXPECT_EQ(r.out, "ENOSYS\n") << r.err;
}

TEST(EscapeTest, PassedDirectoryIsRefused) {
  // A directory fd would resolve ".." on the host, outside the sandbox.
  TempDir dir;
  ASSERT_EQ(mkdir(dir.File("d").c_str(), 0777), 0);
  WriteFile(dir.File("secret"), "host secret");
  RunResult r = Probe({"--pass_file=" + dir.File("d")}, {"walk", "3", "../secret"});
  EXPECT_EQ(r.code, 125) << r.out;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("EISDIR"));
}

// "MOUNTPOINT OPTIONS" of the probe's mount at `point`.
std::string MountOptions(const std::string& mounts, const std::string& point) {
  size_t at = mounts.find(point + " ");
  if (at == std::string::npos || (at > 0 && mounts[at - 1] != '\n')) return "";
  size_t end = mounts.find('\n', at);
  return mounts.substr(at + point.size() + 1, end - at - point.size() - 1);
}

TEST(EscapeTest, BindsAreNosuidAndNodev) {
  TempDir dir;
  RunResult r = Probe({"--bind=" + dir.path() + ":/data"}, {"mounts"});
  for (const char* point : {"/probe", "/usr", "/data"}) {
    std::string options = MountOptions(r.out, point);
    EXPECT_THAT(options, HasSubstr("nosuid")) << point << "\n" << r.out << r.err;
    EXPECT_THAT(options, HasSubstr("nodev")) << point;
  }
  EXPECT_THAT(MountOptions(r.out, "/probe"), StartsWith("ro,"));
  EXPECT_THAT(MountOptions(r.out, "/data"), StartsWith("rw,"));
  // The device nodes keep working.
  EXPECT_THAT(MountOptions(r.out, "/dev/null"), HasSubstr("nosuid"));
  r = Probe({}, {"write", "/dev/null"});
  EXPECT_EQ(r.out, "ok 7\n") << r.err;
}

// Runs `flags` + `args` with a tmpfs mounted at dir/sub, in a private mount
// namespace of a child of the test (nothing is left mounted on the host).
std::string ProbeWithSubmount(const TempDir& dir, const std::vector<std::string>& flags,
                              const std::vector<std::string>& args) {
  int out[2];
  if (pipe(out) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(out[0]);
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", dir.File("sub").c_str(), "tmpfs", 0, "mode=0777") != 0) {
      _exit(3);
    }
    RunResult r = Probe(flags, args);
    ssize_t n = write(out[1], r.out.data(), r.out.size());
    _exit(n == static_cast<ssize_t>(r.out.size()) ? 0 : 4);
  }
  close(out[1]);
  std::string text;
  char buf[256];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) text.append(buf, n);
  close(out[0]);
  int status;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return "child failed " + std::to_string(status);
  return text;
}

TEST(EscapeTest, ReadOnlyBindIsReadOnlyBelowItsSubmounts) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.File("sub").c_str(), 0777), 0);
  EXPECT_EQ(ProbeWithSubmount(dir, {"--ro_bind=" + dir.path() + ":/data"},
                              {"write", "/data/sub/x"}),
            "EROFS\n");
  // The submount is really there and writable when bound read-write.
  EXPECT_EQ(ProbeWithSubmount(dir, {"--bind=" + dir.path() + ":/data"},
                              {"write", "/data/sub/x"}),
            "ok 7\n");
  EXPECT_NE(access(dir.File("sub/x").c_str(), F_OK), 0);  // it was the tmpfs
}

// A mount target whose path runs through a symlink inside a bind (which
// whoever can write the bind's source may plant) must not lead the sandbox's
// set-up out of the new root onto the host.
// A mount target whose path runs through a symlink inside a bind (which
// whoever can write the bind's source may plant) must not lead the sandbox's
// set-up out of the new root onto the host: while the root is being built,
// ".." above it is the host's /.
TEST(EscapeTest, MountTargetsDoNotFollowSymlinks) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.File("data").c_str(), 0777), 0);
  ASSERT_EQ(mkdir(dir.File("other").c_str(), 0777), 0);
  // Outside /tmp, which the set-up covers with the new root's tmpfs.
  char victim[] = "/var/tmp/sbx-victim.XXXXXX";
  ASSERT_NE(mkdtemp(victim), nullptr);
  ASSERT_EQ(chmod(victim, 0777), 0);
  ASSERT_EQ(symlink((std::string("../../..") + victim).c_str(), dir.File("data/link").c_str()),
            0);
  const std::string made = std::string(victim) + "/made";
  for (const std::string& flag : std::vector<std::string>{
           "--tmpfs=/data/link/made",
           "--bind=" + dir.File("data") + ":/data," + dir.File("other") + ":/data/link/made"}) {
    std::vector<std::string> flags = {flag};
    if (flag.rfind("--tmpfs", 0) == 0) flags.push_back("--bind=" + dir.File("data") + ":/data");
    RunResult r = Probe(flags, {"hostname"});
    EXPECT_EQ(r.code, 125) << flag << ": " << r.out;
    EXPECT_THAT(r.err, HasSubstr("ELOOP")) << flag;
    EXPECT_NE(access(made.c_str(), F_OK), 0) << flag;
    rmdir(made.c_str());
  }
  rmdir(victim);
}

TEST(EscapeTest, ShimFdsAreOutOfReach) {
  RunResult r = Probe({}, {"syscall", "shim_fd"});
  EXPECT_EQ(r.out, "EPERM\n") << r.err;
  // Without the filter, the shim being non-dumpable still refuses it.
  r = Probe({"--seccomp=off"}, {"syscall", "shim_fd"});
  EXPECT_EQ(r.out, "EPERM\n") << r.err;
  r = Probe({"--seccomp=off"}, {"syscall", "shim_proc_fd"});
  EXPECT_EQ(r.out, "EACCES\n") << r.err;
  // Nor can it read (or write) the shim's memory.
  r = Probe({}, {"syscall", "shim_vm_read"});
  EXPECT_EQ(r.out, "EPERM\n") << r.err;
  r = Probe({"--seccomp=off"}, {"syscall", "shim_vm_read"});
  EXPECT_EQ(r.out, "EPERM\n") << r.err;
}

TEST(EscapeTest, SeccompOffLetsTheProbeSucceed) {
  // Shows the EPERMs above come from the filter, not from the probe.
  RunResult r = Probe({"--seccomp=off"}, {"syscall", "keyctl"});
  EXPECT_THAT(r.out, StartsWith("ok ")) << r.err;
}

// The filter can only be seen killing a foreign call that reaches syscall
// entry, where seccomp runs: a kernel without IA-32 emulation answers
// `int 0x80` with SIGSEGV before that. So the probe first makes the call
// outside the sandbox; an entry point the kernel refuses with a signal there
// is skipped with what happened. (An x32 number that the kernel answers with
// ENOSYS did reach syscall entry, so it is still tried.)
TEST(EscapeTest, ForeignArchitecturesAreKilled) {
  int tested = 0;
  std::string skipped;
  for (const char* arch : {"x32", "i386"}) {
    RunResult outside = RunProgram({::cmsg::sandbox_testing::Probe(), arch});
    // getpid through that entry point: exit 0 ("ok PID" or an errno name)
    // when the call reached syscall entry, 128 + signal when it did not.
    if (outside.code != 0) {
      skipped += std::string(" ") + arch + " (outside the sandbox: exit " +
                 std::to_string(outside.code) + ", " + outside.out + ")";
      continue;
    }
    ++tested;
    RunResult r = Probe({}, {arch});
    EXPECT_EQ(r.code, 128 + SIGSYS) << arch << ": " << r.out << r.err;
    EXPECT_EQ(r.out, "") << arch;
  }
  if (tested == 0) GTEST_SKIP() << "no foreign entry point works on this kernel:" << skipped;
  if (!skipped.empty()) std::cerr << "not tried:" << skipped << "\n";
}

TEST(EscapeTest, NoCapabilitiesAndNoNewPrivs) {
  RunResult r = Probe({}, {"status"});
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
    EXPECT_THAT(r.out, HasSubstr(std::string(set) + ":\t0000000000000000\n")) << r.err;
  EXPECT_THAT(r.out, HasSubstr("NoNewPrivs:\t1\n"));
  EXPECT_THAT(r.out, HasSubstr("Seccomp:\t2\n"));
  EXPECT_THAT(r.out, HasSubstr("Uid:\t65534\t65534\t65534\t65534\n"));
}

TEST(EscapeTest, RootInsideIsNotRootOutside) {
  TempDir dir;
  RunResult r = Probe({"--uid=0", "--gid=0", "--bind=" + dir.path() + ":/data"},
                      {"write", "/data/owned"});
  ASSERT_EQ(r.out, "ok 7\n") << r.err;
  struct stat st;
  ASSERT_EQ(stat(dir.File("owned").c_str(), &st), 0);
  EXPECT_NE(st.st_uid, 0u);
  EXPECT_NE(st.st_gid, 0u);
  if (UnprivilegedLauncher() || geteuid() != 0) {
    EXPECT_EQ(st.st_uid, LauncherUid());
  }
  // And root inside has no capabilities either.
  r = Probe({"--uid=0"}, {"status"});
  EXPECT_THAT(r.out, HasSubstr("CapEff:\t0000000000000000\n"));
  EXPECT_THAT(r.out, HasSubstr("Uid:\t0\t0\t0\t0\n"));
}

TEST(EscapeTest, TimeoutKillsGrandchildren) {
  // The grandchildren hold the stdout pipe: EOF means every one is gone. The
  // timeout leaves a loaded machine ample time to print "ready" first.
  Started s = Start(SandboxCommand({"--timeout=3s"}, {"/probe", "tree"}));
  EXPECT_EQ(ReadLine(s.out_fd), "ready");
  EXPECT_EQ(WaitExit(s.pid), 124);
  EXPECT_TRUE(WaitForEof(s.out_fd, 20));
  close(s.out_fd);
}

TEST(EscapeTest, LauncherSigkillKillsTheSandbox) {
  Started s = Start(SandboxCommand({}, {"/probe", "tree"}));
  ASSERT_EQ(ReadLine(s.out_fd), "ready");
  kill(s.pid, SIGKILL);
  EXPECT_EQ(WaitExit(s.pid), 128 + SIGKILL);
  EXPECT_TRUE(WaitForEof(s.out_fd, 20));
  close(s.out_fd);
}

TEST(EscapeTest, ForkBombStopsAtRlimitNproc) {
  RunResult r = Probe({"--rlimit_nproc=20", "--timeout=20s"}, {"forkbomb"});
  int forked = -1;
  char error[32] = {};
  ASSERT_EQ(sscanf(r.out.c_str(), "forked %d %31s", &forked, error), 2) << r.out << r.err;
  EXPECT_LT(forked, 20);
  EXPECT_STREQ(error, "EAGAIN");
  EXPECT_EQ(r.code, 128 + SIGKILL);  // it killed its own group
}

TEST(EscapeTest, LauncherEnvironmentStaysOutside) {
  setenv("SANDBOX_ESCAPE_SECRET", "leaked", 1);
  RunResult r = Probe({"--setenv=KEPT=1"}, {"env"});
  unsetenv("SANDBOX_ESCAPE_SECRET");
  EXPECT_EQ(r.out,
            "KEPT=1\nPATH=/usr/local/bin:/usr/bin:/bin\nLISTEN_FDS=0\nLISTEN_PID=2\n"
            "LISTEN_FDNAMES=\n")
      << r.err;
}

TEST(EscapeTest, RlimitsAreApplied) {
  // Read by Debian's python3. The limits apply from the shim on, and a
  // sanitizer build of the shim cannot live in 1G of address space.
#if defined(__SANITIZE_ADDRESS__)
  const std::string as_flag = "--rlimit_as=unlimited";
  const std::string as_line = "as -1 -1\n";
#else
  const std::string as_flag = "--rlimit_as=1G";
  const std::string as_line = "as 1073741824 1073741824\n";
#endif
  RunResult r = RunProgram(SandboxCommand(
      {as_flag, "--rlimit_nofile=64", "--rlimit_nproc=50", "--rlimit_cpu=7",
       "--rlimit_fsize=1M"},
      {"/usr/bin/python3", "-c",
       "import resource as r\n"
       "for n in ('as', 'nofile', 'nproc', 'cpu', 'fsize'):\n"
       "  print(n, *r.getrlimit(getattr(r, 'RLIMIT_' + n.upper())))"}));
  EXPECT_EQ(r.out, as_line + "nofile 64 64\nnproc 50 50\ncpu 7 7\nfsize 1048576 1048576\n")
      << r.err;
}

// The launcher's session keyring (possessed, so its keys readable) must not
// be the command's, even with the filter off.
TEST(EscapeTest, LauncherSessionKeyringIsNotInherited) {
  long launcher = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1);
  ASSERT_GT(launcher, 0);
  RunResult r = Probe({"--seccomp=off"}, {"session_keyring"});
  EXPECT_THAT(r.out, StartsWith("ok ")) << r.err;
  EXPECT_NE(r.out, "ok " + std::to_string(launcher) + "\n");
}

// Files for --pass_file are opened by the launcher, with its access (root's,
// often): a symlink anywhere in the path, which whoever can write that
// directory may plant, must not redirect the open.
TEST(EscapeTest, PassFileFollowsNoSymlink) {
  TempDir dir;
  WriteFile(dir.File("secret"), "launcher only");
  ASSERT_EQ(chmod(dir.File("secret").c_str(), 0600), 0);
  ASSERT_EQ(symlink(dir.File("secret").c_str(), dir.File("in").c_str()), 0);
  ASSERT_EQ(mkdir(dir.File("real").c_str(), 0777), 0);
  WriteFile(dir.File("real/f"), "through a directory link");
  ASSERT_EQ(symlink(dir.File("real").c_str(), dir.File("linkdir").c_str()), 0);
  for (const std::string& path : {dir.File("in"), dir.File("linkdir/f")}) {
    for (const char* mode : {"", ":w"}) {
      RunResult r = Probe({"--pass_file=" + path + mode}, {"readfd", "3"});
      EXPECT_EQ(r.code, 125) << path << mode << ": " << r.out;
      EXPECT_THAT(r.err, HasSubstr("ELOOP")) << path << mode;
    }
  }
  RunResult r = Probe({"--pass_file=" + dir.File("real/f")}, {"readfd", "3"});
  EXPECT_EQ(r.out, "ok through a directory link\n") << r.err;
  EXPECT_EQ(Probe({}, {"read", dir.File("secret")}).out, "ENOENT\n");
}

// Every mount the command can see is one the policy made: the host's root
// and everything under it were detached after the pivot.
TEST(EscapeTest, OldRootIsDetached) {
  TempDir dir;
  RunResult r = Probe({"--bind=" + dir.path() + ":/data", "--tmpfs=/scratch"}, {"mounts"});
  std::string points;
  for (size_t at = 0; at < r.out.size();) {
    size_t space = r.out.find(' ', at);
    size_t end = r.out.find('\n', at);
    if (space == std::string::npos || end == std::string::npos) break;
    points += r.out.substr(at, space - at) + " ";
    at = end + 1;
  }
  EXPECT_EQ(points,
            "/ /proc /dev /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty "
            "/usr /lib /lib64 /bin /probe /data /scratch ")
      << r.out << r.err;
}

// /proc/sys belongs to the host's root; the sandbox's ids (even 0 inside)
// are not that. With --uid=0 the command does own the sysctls of its own
// network namespace, which is why it is a new one.
TEST(EscapeTest, ProcSysIsNotWritable) {
  for (const char* path : {"/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern",
                           "/proc/sys/net/ipv4/ip_forward"}) {
    EXPECT_EQ(Probe({}, {"write", path}).out, "EACCES\n") << path;
    EXPECT_EQ(Probe({"--uid=0", "--net=host"}, {"write", path}).out, "EACCES\n") << path;
  }
  // /proc/1/exe is the shim's binary on the host, outside the new root.
  for (const char* path :
       {"/proc/1/environ", "/proc/1/root/probe", "/proc/1/mem", "/proc/1/exe", "/proc/1/cwd/probe"})
    EXPECT_EQ(Probe({"--seccomp=off"}, {"read", path}).out, "EACCES\n") << path;
}

// sandbox_run (often root) removes the unix socket files it bound when the
// sandbox ends. A directory on the path swapped for a symlink meanwhile must
// not make it unlink a file somewhere else.
TEST(EscapeTest, SocketFileCleanupFollowsNoSymlink) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.File("run").c_str(), 0777), 0);
  ASSERT_EQ(mkdir(dir.File("victim").c_str(), 0777), 0);
  // Writable for an unprivileged launcher too (mkdir applied the umask).
  ASSERT_EQ(chmod(dir.File("run").c_str(), 0777), 0);
  WriteFile(dir.File("victim/sock"), "keep me");
  Started s = Start(SandboxCommand({"--listen=unix:" + dir.File("run/sock")}, {"/probe", "tree"}));
  ASSERT_EQ(ReadLine(s.out_fd), "ready");
  ASSERT_EQ(rename(dir.File("run").c_str(), dir.File("run.moved").c_str()), 0);
  ASSERT_EQ(symlink(dir.File("victim").c_str(), dir.File("run").c_str()), 0);
  kill(s.pid, SIGTERM);  // passed on to the probe, which dies of it
  EXPECT_EQ(WaitExit(s.pid), 128 + SIGTERM);
  EXPECT_NE(access(dir.File("run.moved/sock").c_str(), F_OK), 0);  // its own file is gone
  close(s.out_fd);
  EXPECT_EQ(access(dir.File("victim/sock").c_str(), F_OK), 0);
}

TEST(EscapeTest, HostnameIsTheSandboxes) {
  RunResult r = Probe({"--hostname=box"}, {"hostname"});
  EXPECT_EQ(r.out, "ok box\n") << r.err;
}

// A child of the test in a session of its own with a new pty as its
// controlling terminal on 0-2, running `argv`; the test holds the master.
struct OnTerminal {
  pid_t pid = -1;
  int master = -1;
};
OnTerminal StartOnTerminal(const std::vector<std::string>& argv) {
  int master, slave;
  if (openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return {};
  termios t;
  tcgetattr(slave, &t);
  t.c_lflag &= ~ECHO;  // the test reads only the command's output back
  tcsetattr(slave, TCSANOW, &t);
  // Start() would put a pipe on stdout; the terminal is the point here.
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    ioctl(slave, TIOCSCTTY, 0);
    dup2(slave, 0);
    dup2(slave, 1);
    dup2(slave, 2);
    close(master);
    if (slave > 2) close(slave);
    if (UnprivilegedLauncher()) {
      uid_t id = LauncherUid();
      if (setgroups(0, nullptr) != 0 || setresgid(id, id, id) != 0 || setresuid(id, id, id) != 0)
        _exit(126);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(slave);
  return {pid, master};
}

// Reads the terminal until `text` appears (or EOF/EIO); returns all read.
std::string ReadTerminalUntil(int master, const std::string& text) {
  std::string seen;
  char buf[256];
  while (seen.find(text) == std::string::npos) {
    ssize_t n = read(master, buf, sizeof(buf));
    if (n <= 0) break;
    seen.append(buf, n);
  }
  return seen;
}

// The command has a session (and process group) of its own, led by the
// shim: kill(0, ...) and the terminal's job control cannot reach past it.
TEST(EscapeTest, SandboxHasASessionOfItsOwn) {
  RunResult r = Probe({}, {"sid"});
  EXPECT_EQ(r.out, "ok 1 1\n") << r.err;
}

// kill(0, SIGKILL) inside one sandbox must not reach a second sandbox
// started from the same process group (the test's) - same outside uid
// before per-sandbox uids - nor, with an unprivileged launcher, the
// launchers, which run as that uid.
TEST(EscapeTest, KillZeroStaysInTheSandbox) {
  Started other = Start(SandboxCommand({}, {"/probe", "tree"}));
  ASSERT_EQ(ReadLine(other.out_fd), "ready");
  RunResult r = Probe({}, {"killpg", std::to_string(SIGKILL)});
  EXPECT_EQ(r.code, 128 + SIGKILL) << r.out << r.err;  // it killed itself
  // The other sandbox and its launcher are alive: no EOF, no exit.
  EXPECT_FALSE(WaitForEof(other.out_fd, 1));
  EXPECT_EQ(waitpid(other.pid, nullptr, WNOHANG), 0);
  kill(other.pid, SIGKILL);
  WaitExit(other.pid);
  close(other.out_fd);
}

// Ctrl-C on the terminal reaches the command although it is no longer in
// the terminal's foreground process group: sandbox_run forwards it.
TEST(EscapeTest, CtrlCOnTheTerminalReachesTheCommand) {
  OnTerminal t = StartOnTerminal(
      SandboxCommand({}, {"/bin/sh", "-c", "echo ready; exec /bin/sleep 30"}));
  ASSERT_GT(t.pid, 0);
  ASSERT_THAT(ReadTerminalUntil(t.master, "ready"), HasSubstr("ready"));
  ASSERT_EQ(write(t.master, "\x03", 1), 1);
  EXPECT_EQ(WaitExit(t.pid), 128 + SIGINT);
  close(t.master);
}

// CVE-2017-5226 (bubblewrap): with the launcher's controlling terminal on
// stdin, TIOCSTI pushes keystrokes into the shell that started it. The
// filter denies it; without the filter the kernel refuses it too, because
// the terminal is not the sandbox's controlling terminal.
TEST(EscapeTest, TiocstiIntoTheLaunchersTerminalFailsWithoutTheFilter) {
  OnTerminal t = StartOnTerminal(SandboxCommand({"--seccomp=off"}, {"/probe", "tiocsti", "0"}));
  ASSERT_GT(t.pid, 0);
  std::string seen = ReadTerminalUntil(t.master, "\n");
  EXPECT_EQ(WaitExit(t.pid), 0);
  EXPECT_THAT(seen, HasSubstr("EPERM")) << seen;
  close(t.master);
}

// Only unix, inet, inet6 and netlink (route only) sockets; vsock ignores
// network namespaces and reaches the host.
TEST(EscapeTest, SocketFamiliesAreAnAllowList) {
  constexpr int kVsock = 40, kPacket = 17, kNetlink = 16;
  for (int family : {AF_UNIX, AF_INET, AF_INET6})
    EXPECT_THAT(Probe({}, {"socket", std::to_string(family)}).out, StartsWith("ok ")) << family;
  EXPECT_THAT(Probe({}, {"socket", std::to_string(kNetlink), "0"}).out, StartsWith("ok "));
  EXPECT_EQ(Probe({}, {"socket", std::to_string(kNetlink), "15"}).out, "EPROTONOSUPPORT\n");
  EXPECT_EQ(Probe({}, {"socket", std::to_string(kPacket)}).out, "EAFNOSUPPORT\n");
  RunResult outside = RunProgram({::cmsg::sandbox_testing::Probe(), "socket", "40"});
  if (outside.out.rfind("ok ", 0) != 0) {
    GTEST_SKIP() << "no AF_VSOCK on this machine (outside the sandbox: " << outside.out << ")";
  }
  EXPECT_EQ(Probe({}, {"socket", std::to_string(kVsock)}).out, "EAFNOSUPPORT\n");
  // Not with a high bit set either (the kernel would truncate it away).
  EXPECT_EQ(Probe({}, {"socket_high", std::to_string(kVsock)}).out, "EAFNOSUPPORT\n");
  EXPECT_THAT(Probe({"--seccomp=off"}, {"socket_high", std::to_string(kVsock)}).out,
              StartsWith("ok "));
  // The policy can widen the list.
  RunResult r = Probe({"--allow_socket=vsock"}, {"socket", std::to_string(kVsock)});
  EXPECT_THAT(r.out, StartsWith("ok ")) << r.err;
}

// A FIFO where a file is to be bound: set-up must not block opening it.
TEST(EscapeTest, FifoAtABindTargetDoesNotHangSetup) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.File("data").c_str(), 0777), 0);
  ASSERT_EQ(mkfifo(dir.File("data/f").c_str(), 0666), 0);
  WriteFile(dir.File("file"), "bound");
  // Binds are made in order: /data first, then the file on its FIFO.
  RunResult r = Probe({"--timeout=20s",
                       "--bind=" + dir.File("data") + ":/data," + dir.File("file") + ":/data/f"},
                      {"read", "/data/f"});
  EXPECT_EQ(r.out, "ok bound\n") << r.code << r.err;
}

// No core dumps by default: a crash inside must not run the host's core
// handler (a pipe in core_pattern runs as root on the host).
TEST(EscapeTest, CoreDumpsAreOffByDefault) {
  rlimit saved;
  getrlimit(RLIMIT_CORE, &saved);
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_CORE, &unlimited) != 0) {
    unlimited = {saved.rlim_max, saved.rlim_max};
    setrlimit(RLIMIT_CORE, &unlimited);
  }
  RunResult r = Probe({}, {"rlimit_core"});
  RunResult raised = Probe({"--rlimit_core=1M"}, {"rlimit_core"});
  setrlimit(RLIMIT_CORE, &saved);
  EXPECT_EQ(r.out, "ok 0 0\n") << r.err;
  EXPECT_EQ(raised.out, "ok 1048576 1048576\n") << raised.err;
}

// CVE-2024-21626's pattern: a directory fd on stdio resolves ".." on the
// host. Refused, and so is an O_PATH fd, naming the stream.
TEST(EscapeTest, DirectoryOrOpathOnStdioIsRefused) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.File("d").c_str(), 0777), 0);
  WriteFile(dir.File("secret.txt"), "host secret");
  int d = open(dir.File("d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(d, 0);
  RunResult r = Probe({}, {"walk", "0", "../secret.txt"}, {.stdin_fd = d});
  EXPECT_EQ(r.code, 125) << r.out;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("stdin (fd 0) is a directory"));
  close(d);
  int p = open(dir.File("secret.txt").c_str(), O_PATH | O_CLOEXEC);
  ASSERT_GE(p, 0);
  r = Probe({}, {"readfd", "0"}, {.stdin_fd = p});
  EXPECT_EQ(r.code, 125) << r.out;
  EXPECT_THAT(r.err, HasSubstr("stdin (fd 0) is an O_PATH fd"));
  close(p);
}

// Each sandbox of a root launcher has an outside uid of its own: not 0, not
// the host's nobody, and not another live sandbox's.
TEST(EscapeTest, EachSandboxHasItsOwnOutsideUid) {
  Started first = Start(SandboxCommand({}, {"/bin/sh", "-c",
                                            "/probe uid_map; exec /bin/sleep 30"}));
  std::string a = ReadLine(first.out_fd);
  RunResult second = Probe({}, {"uid_map"});
  kill(first.pid, SIGKILL);
  WaitExit(first.pid);
  close(first.out_fd);
  ASSERT_THAT(a, StartsWith("ok "));
  ASSERT_THAT(second.out, StartsWith("ok ")) << second.err;
  uid_t outside_a = std::stoul(a.substr(3)), outside_b = std::stoul(second.out.substr(3));
  if (UnprivilegedLauncher() || geteuid() != 0) {
    // Only its own uid can be mapped.
    EXPECT_EQ(outside_a, LauncherUid());
    EXPECT_EQ(outside_b, LauncherUid());
    return;
  }
  EXPECT_NE(outside_a, outside_b);
  for (uid_t outside : {outside_a, outside_b}) {
    EXPECT_NE(outside, 0u);
    EXPECT_NE(outside, 65534u);
  }
}

// A broker rule's root is opened without following symlinks: whoever can
// write the directory holding it must not point a root launcher's rule at
// "/" (and so /etc/shadow).
TEST(EscapeTest, BrokerRuleRootFollowsNoSymlink) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.File("real").c_str(), 0777), 0);
  WriteFile(dir.File("real/secret"), "elsewhere");
  ASSERT_EQ(symlink(dir.File("real").c_str(), dir.File("data").c_str()), 0);
  RunResult r = Probe({"--broker_allow=" + dir.File("data") + ":r"},
                      {"broker", dir.File("data/secret"), "r"});
  EXPECT_EQ(r.code, 125) << r.out;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("symlinks are not followed"));
  // A file rule's own name, likewise.
  r = Probe({"--broker_allow=" + dir.File("data/secret") + ":r"},
            {"broker", dir.File("data/secret"), "r"});
  EXPECT_EQ(r.code, 125) << r.out;
  EXPECT_THAT(r.err, HasSubstr("symlinks are not followed"));
}

// The rule that applies is the one of the path resolved, not of the path
// asked for: a symlink inside a read-write tree that points into a
// read-only subtree must not give write access there.
TEST(EscapeTest, BrokerChoosesTheRuleOfTheResolvedPath) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.File("data").c_str(), 0777), 0);
  ASSERT_EQ(mkdir(dir.File("data/keys").c_str(), 0777), 0);
  // Writable by an unprivileged launcher too (mkdir applied the umask).
  ASSERT_EQ(chmod(dir.File("data").c_str(), 0777), 0);
  ASSERT_EQ(chmod(dir.File("data/keys").c_str(), 0777), 0);
  WriteFile(dir.File("data/keys/k"), "key");
  ASSERT_EQ(symlink("keys", dir.File("data/link").c_str()), 0);
  const std::string rules =
      "--broker_allow=" + dir.File("data") + ":rw," + dir.File("data/keys") + ":r";
  RunResult r = Probe({rules}, {"broker", dir.File("data/link/k"), "w"});
  EXPECT_EQ(r.out, "EACCES\n") << r.err;
  r = Probe({rules}, {"broker", dir.File("data/link/new"), "w"});
  EXPECT_EQ(r.out, "EACCES\n") << r.err;
  EXPECT_NE(access(dir.File("data/keys/new").c_str(), F_OK), 0);
  std::ifstream in(dir.File("data/keys/k"));
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "key");
  // Reading through the link is what the read-only rule allows.
  r = Probe({rules}, {"broker", dir.File("data/link/k"), "r"});
  EXPECT_EQ(r.out, "ok key\n") << r.err;
  // And writing in the read-write tree still works.
  r = Probe({rules}, {"broker", dir.File("data/other"), "w"});
  EXPECT_EQ(r.out, "ok 8\n") << r.err;
}

// Every call the default filter denies, and clone with every CLONE_NEW*
// flag: the filter answers EPERM, the call never runs (see Denied() in the
// probe). The list is written out here, not taken from the filter, so that
// dropping a call from the filter fails this test.
constexpr const char* kDeniedCalls[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare", "setns", "keyctl",
    "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "open_by_handle_at",
    "name_to_handle_at", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl",
    "quotactl_fd", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl",
    "ioperm", "lookup_dcookie", "vhangup", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "modify_ldt", "move_pages", "migrate_pages", "process_madvise",
    "clone:CLONE_NEWNS", "clone:CLONE_NEWUTS", "clone:CLONE_NEWIPC", "clone:CLONE_NEWUSER",
    "clone:CLONE_NEWPID", "clone:CLONE_NEWNET", "clone:CLONE_NEWCGROUP",
    "clone:CLONE_NEWTIME",
};

TEST(EscapeTest, EveryDeniedCallIsDenied) {
  std::vector<std::string> args = {"denied"};
  std::string expected, unfiltered;
  for (const char* call : kDeniedCalls) {
    args.push_back(call);
    expected += std::string(call) + " EPERM\n";
    unfiltered += std::string(call) + " ENOSYS\n";
  }
  RunResult r = Probe({}, args);
  EXPECT_EQ(r.out, expected) << r.err;
  // The probe can tell: without the filter every call would have run.
  r = Probe({"--seccomp=off"}, args);
  EXPECT_EQ(r.out, unfiltered) << r.err;
  // And an ordinary call is not denied.
  EXPECT_EQ(Probe({}, {"denied", "getppid"}).out, "getppid ENOSYS\n");
}

// --seccomp=strict runs ordinary workers: Python, a C server (the probe's
// own socket calls), a shell pipeline; and refuses the rest, naming the
// call on stderr.
TEST(EscapeTest, StrictSeccompRunsOrdinaryWorkers) {
  RunResult r = RunProgram(SandboxCommand(
      {"--seccomp=strict"},
      {"/usr/bin/python3", "-c",
       "import json, socket, subprocess, threading, tempfile\n"
       "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
       "t = threading.Thread(target=lambda: s.accept()[0].sendall(b'hi')); t.start()\n"
       "c = socket.create_connection(s.getsockname()); print(c.recv(2).decode()); t.join()\n"
       "print(subprocess.run(['/bin/echo', 'child'], capture_output=True).stdout.decode().strip())\n"
       "print(json.dumps({'ok': 1}))"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "hi\nchild\n{\"ok\": 1}\n") << r.err;
  r = RunProgram(SandboxCommand({"--seccomp=strict", "--tmpfs=/scratch"},
                                {"/bin/sh", "-c",
                                 "cd /scratch && printf 'b\\na\\nb\\n' > f && sort f | uniq -c | "
                                 "wc -l && ls /proc/self/fd >/dev/null && echo done"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "2\ndone\n") << r.err;
  // The C server of activation_test's kind: the probe binds, connects, reads.
  int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(server, 8), 0);
  socklen_t len = sizeof(addr);
  getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len);
  r = Probe({"--seccomp=strict", "--net=host"},
            {"connect", "127.0.0.1", std::to_string(ntohs(addr.sin_port))});
  EXPECT_EQ(r.out, "ok 0\n") << r.err;
  close(server);
}

TEST(EscapeTest, StrictSeccompRefusesTheRestAndNamesIt) {
  // Not on the allow list (and not on the deny list): refused, named.
  RunResult r = Probe({"--seccomp=strict"}, {"denied", "sync", "setxattr", "acct"});
  EXPECT_EQ(r.out, "sync EPERM\nsetxattr EPERM\nacct EPERM\n") << r.err;
  EXPECT_THAT(r.err, HasSubstr("sandbox: --seccomp=strict refused system call sync (EPERM)"));
  EXPECT_THAT(r.err, HasSubstr("refused system call setxattr"));
  // acct is on the deny list, whose EPERM comes first, unreported.
  EXPECT_THAT(r.err, Not(HasSubstr("acct")));
  // The probe can tell: the default filter lets sync run.
  EXPECT_EQ(Probe({}, {"denied", "sync"}).out, "sync ENOSYS\n");
  // Every call of the deny list stays denied.
  std::vector<std::string> args = {"denied"};
  std::string expected;
  for (const char* call : kDeniedCalls) {
    args.push_back(call);
    expected += std::string(call) + " EPERM\n";
  }
  EXPECT_EQ(Probe({"--seccomp=strict"}, args).out, expected);
  // And the argument rules: vsock and TIOCSTI.
  EXPECT_EQ(Probe({"--seccomp=strict"}, {"socket", "40"}).out, "EAFNOSUPPORT\n");
  EXPECT_EQ(Probe({"--seccomp=strict"}, {"syscall", "clone3_newuser"}).out, "ENOSYS\n");
}

}  // namespace
}  // namespace cmsg::sandbox_testing
