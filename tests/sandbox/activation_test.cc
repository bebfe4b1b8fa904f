// Socket activation end to end: Debian's python3 in a --net=none sandbox
// serves TCP, UDP and a unix socket on the fds sandbox_run bound outside,
// and clients outside the sandbox talk to it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/sandbox/run_util.h"

namespace cmsg::sandbox_testing {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

std::string Exchange(int fd, const std::string& message) {
  EXPECT_EQ(write(fd, message.data(), message.size()), static_cast<ssize_t>(message.size()));
  char buf[128];
  ssize_t n = read(fd, buf, sizeof(buf));
  return n > 0 ? std::string(buf, n) : "";
}

TEST(ActivationTest, PythonServesTcpUdpAndUnixFromPassedSockets) {
  TempDir dir;
  const std::string unix_path = dir.File("ctl.sock");
  const std::string script = Runfile("tests/sandbox/activation_server.py");
  Started server = Start(SandboxCommand(
      {"--listen=tcp:127.0.0.1:0=web,udp:127.0.0.1:0=dns,unix:" + unix_path + "=ctl",
       "--ro_bind=" + script + ":/server.py", "--timeout=30s"},
      {"/usr/bin/python3", "/server.py"}));
  std::istringstream line(ReadLine(server.out_fd));
  std::string ready, names, tcp_type, udp_type, unix_family, interfaces;
  int count = 0, tcp_port = 0, udp_port = 0;
  line >> ready >> count >> names >> tcp_type >> udp_type >> unix_family >> tcp_port >>
      udp_port >> interfaces;
  ASSERT_EQ(ready, "ready");
  EXPECT_EQ(count, 3);
  EXPECT_EQ(names, "web:dns:ctl");
  EXPECT_EQ(tcp_type, "SOCK_STREAM");
  EXPECT_EQ(udp_type, "SOCK_DGRAM");
  EXPECT_EQ(unix_family, "AF_UNIX");
  EXPECT_EQ(interfaces, "lo");  // --net=none: nothing but its own loopback

  int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(tcp_port);
  ASSERT_EQ(connect(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(Exchange(tcp, "hello"), "tcp:hello");
  close(tcp);

  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  addr = Loopback(udp_port);
  ASSERT_EQ(connect(udp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(Exchange(udp, "query"), "udp:query");
  close(udp);

  int unix_client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  strncpy(un.sun_path, unix_path.c_str(), sizeof(un.sun_path) - 1);
  ASSERT_EQ(connect(unix_client, reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
  EXPECT_EQ(Exchange(unix_client, "status"), "unix:status");
  close(unix_client);

  EXPECT_EQ(WaitExit(server.pid), 0);
  close(server.out_fd);
  // The launcher removes the socket file it bound.
  EXPECT_NE(access(unix_path.c_str(), F_OK), 0);
}

TEST(ActivationTest, NoListenGivesNoFds) {
  RunResult r = RunProgram(SandboxCommand({"--setenv=A=1,B=x=y"}, {"/usr/bin/env"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("LISTEN_FDS=0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("A=1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("B=x=y\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PATH=/usr/local/bin:/usr/bin:/bin\n"), std::string::npos);
  EXPECT_EQ(r.out.find("HOME="), std::string::npos) << "the launcher's environment leaked";
}

}  // namespace
}  // namespace cmsg::sandbox_testing
