// A program another workspace builds against @cmsg: it passes a pipe over
// SCM_RIGHTS with //lib/cmsg, stores and fetches a socket through an fdstore
// server with //lib/fdstore:client, and runs a command in a sandbox with
// //sandbox. Prints one line per library; exits non-zero on the first failure.
//
//   app FDSTORE_BINARY            all three
//   app --cmsg_only               the cmsg part alone (runs inside a sandbox)
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "lib/cmsg/cmsg.h"
#include "lib/fdstore/client.h"
#include "sandbox/spawn.h"

extern char** environ;

namespace {

int Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "app: %s: %s\n", what, status.ToString().c_str());
  return 1;
}

int CmsgPart() {
  int pair[2], pipe_fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0 || pipe2(pipe_fds, O_CLOEXEC) != 0) {
    std::perror("app: socketpair/pipe");
    return 1;
  }
  int fds[] = {pipe_fds[0]};
  if (auto sent = cmsg::SendMsg(pair[0], "pipe", {cmsg::ScmRights{fds}}); !sent.ok())
    return Fail("SendMsg", sent.status());
  close(pipe_fds[0]);
  cmsg::ControlBuffer<cmsg::Fds<1>> control;
  char data[16];
  auto received = cmsg::RecvMsg(pair[1], data, control.span());
  if (!received.ok()) return Fail("RecvMsg", received.status());
  auto* rights = received->Find<cmsg::ScmRightsOwned>();
  if (rights == nullptr || rights->fds.size() != 1) return Fail("RecvMsg", absl::InternalError("no fd came"));
  if (write(pipe_fds[1], "through", 7) != 7) return Fail("write", absl::InternalError("short write"));
  char got[8] = {};
  if (read(rights->fds[0].get(), got, 7) != 7) return Fail("read", absl::InternalError("short read"));
  std::printf("cmsg: a pipe passed over SCM_RIGHTS reads \"%s\"\n", got);
  close(pair[0]);
  close(pair[1]);
  close(pipe_fds[1]);
  return 0;
}

int FdstorePart(const std::string& fdstore) {
  char dir_template[] = "/tmp/consumer.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return Fail("mkdtemp", absl::InternalError("failed"));
  const std::string dir = dir_template, socket_path = dir + "/ctl";
  std::string socket_flag = "--socket=" + socket_path;
  char* argv[] = {const_cast<char*>(fdstore.c_str()), const_cast<char*>("serve"), socket_flag.data(), nullptr};
  pid_t server;
  if (posix_spawn(&server, argv[0], nullptr, nullptr, argv, environ) != 0) {
    rmdir(dir.c_str());
    return Fail("posix_spawn fdstore", absl::InternalError(fdstore));
  }
  int rc = 1;
  absl::StatusOr<cmsg::fdstore::Client> client = absl::UnavailableError("not tried");
  for (int i = 0; i < 500 && !client.ok(); ++i) {
    client = cmsg::fdstore::Client::Connect(socket_path);
    if (!client.ok()) usleep(10000);
  }
  if (!client.ok()) {
    Fail("Connect", client.status());
  } else {
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int stored[] = {udp};
    if (absl::Status s = client->Store({"kept"}, stored); !s.ok()) {
      Fail("Store", s);
    } else if (auto fetched = client->Fetch({"kept"}); !fetched.ok()) {
      Fail("Fetch", fetched.status());
    } else {
      std::printf("fdstore: stored a UDP socket and fetched it back as \"%s\" (fd %d)\n",
                  (*fetched)[0].name.c_str(), (*fetched)[0].fd.get());
      rc = 0;
    }
    close(udp);
  }
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  rmdir(dir.c_str());
  return rc;
}

int SandboxPart() {
  cmsg::sandbox::Policy policy;
  policy.binds = {{.source = "/usr"}, {.source = "/lib"}, {.source = "/lib64"}, {.source = "/bin"}};
  std::vector<std::string> argv = {"/bin/sh", "-c", "exit 7"};
  auto child = cmsg::sandbox::Spawn(policy, argv);
  if (!child.ok()) return Fail("sandbox::Spawn", child.status());
  auto status = child->Wait();
  if (!status.ok()) return Fail("Wait", status.status());
  if (status->ShellCode() != 7) return Fail("sandbox", absl::InternalError("exit status is not 7"));
  std::printf("sandbox: /bin/sh ran in a sandbox and exited %d\n", status->ShellCode());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--cmsg_only") return CmsgPart();
  if (argc != 2) {
    std::fprintf(stderr, "usage: app FDSTORE_BINARY | app --cmsg_only\n");
    return 2;
  }
  if (int rc = CmsgPart(); rc != 0) return rc;
  if (int rc = FdstorePart(argv[1]); rc != 0) return rc;
  return SandboxPart();
}
