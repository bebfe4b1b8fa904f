#include "lib/net/listen_spec.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace cmsg {
namespace {

TEST(ListenSpecTest, ParsesEachKind) {
  auto specs = ParseListenSpecs("tcp:127.0.0.1:0=web,udp:[::1]:53,unix:/tmp/x.sock=ctl");
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 3u);
  EXPECT_EQ((*specs)[0].kind, ListenSpec::Kind::kTcp);
  EXPECT_EQ((*specs)[0].name, "web");
  EXPECT_EQ((*specs)[1].kind, ListenSpec::Kind::kUdp);
  EXPECT_EQ((*specs)[1].name, "udp");
  EXPECT_EQ((*specs)[1].address.port(), 53);
  EXPECT_EQ((*specs)[2].ToString(), "unix:/tmp/x.sock=ctl");
}

TEST(ListenSpecTest, RejectsMalformed) {
  for (const char* text : {"", "tcp", "tcp:", "sctp:1.2.3.4:1", "tcp:1.2.3.4",
                           "udp:unix:/x", "tcp:1.2.3.4:1=", "tcp:1.2.3.4:1=a:b",
                           "tcp:1.2.3.4:1=a b", "unix:", "tcp:[::1]:99999"}) {
    EXPECT_FALSE(ParseListenSpec(text).ok()) << text;
  }
  EXPECT_FALSE(ParseListenSpecs("tcp:1.2.3.4:1,,udp:1.2.3.4:1").ok());
}

TEST(ListenSpecTest, BindsRealSockets) {
  auto tcp = BindListenSpec(*ParseListenSpec("tcp:127.0.0.1:0"));
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  int type = 0, listening = 0;
  socklen_t len = sizeof(int);
  getsockopt(tcp->get(), SOL_SOCKET, SO_TYPE, &type, &len);
  getsockopt(tcp->get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  EXPECT_EQ(type, SOCK_STREAM);
  EXPECT_EQ(listening, 1);

  auto udp = BindListenSpec(*ParseListenSpec("udp:127.0.0.1:0"));
  ASSERT_TRUE(udp.ok()) << udp.status();
  getsockopt(udp->get(), SOL_SOCKET, SO_TYPE, &type, &len);
  EXPECT_EQ(type, SOCK_DGRAM);

  // TEST_TMPDIR is too long for sun_path; use a fresh short directory.
  char dir[] = "/tmp/listen_spec_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/s.sock";
  auto spec = *ParseListenSpec("unix:" + path);
  auto unix_fd = BindListenSpec(spec);
  ASSERT_TRUE(unix_fd.ok()) << unix_fd.status();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  // An existing path is never replaced.
  auto again = BindListenSpec(spec);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(std::string(again.status().message()).find("EADDRINUSE"), std::string::npos);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace cmsg
