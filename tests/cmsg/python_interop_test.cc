// Interop with Python 3's socket module (send_fds / recv_fds, sendmsg /
// recvmsg with ancillary data) in both directions, over unix socketpairs
// and UDP on loopback. The Python side checks what it receives and reports
// back; both sides' findings are asserted here.
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "tests/cmsg/python_peer.h"

namespace cmsg {
namespace {

using ::cmsg::testing::BoundUdpSocket;
using ::cmsg::testing::LocalAddress;
using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::PythonPeer;
using ::cmsg::testing::TempFileWith;
using ::cmsg::testing::UnixPair;

struct Pipe {
  Pipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
      r.reset(p[0]);
      w.reset(p[1]);
    }
  }
  UniqueFd r, w;
};

std::string ReadSome(int fd) {
  char buf[512];
  ssize_t n = read(fd, buf, sizeof(buf));
  return n > 0 ? std::string(buf, n) : std::string();
}

class PythonInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(::cmsg::testing::kPython, X_OK) != 0)
      GTEST_SKIP() << ::cmsg::testing::kPython << " is not installed";
  }
};

// Python: socket.send_fds() of a file and a pipe, then sendmsg() with an
// explicit SCM_CREDENTIALS; waits to see the pipe work from our side.
constexpr char kPythonSendsFds[] = R"py(
import os, socket, struct, sys, tempfile
s = socket.socket(fileno=3)
r, w = os.pipe()
f = tempfile.TemporaryFile()
f.write(b"written by python"); f.flush()
socket.send_fds(s, [b"fds"], [f.fileno(), w])
creds = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
s.sendmsg([b"creds"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])
os.close(w)
got = os.read(r, 100)
sys.exit(0 if got == b"pipe works" else 3)
)py";

TEST_F(PythonInteropTest, PythonSendsFdsAndCredentials) {
  UnixPair pair = MakeUnixPair(SOCK_SEQPACKET);
  ASSERT_TRUE(ReceiveCredentials(pair.a.get()).ok());
  PythonPeer peer = PythonPeer::Start(kPythonSendsFds, pair.b.get());
  ASSERT_GT(peer.pid(), 0) << peer.error();
  pair.b.reset();

  ControlBuffer<Fds<4>, ScmCredentials> control;
  char data[16];
  auto m = RecvMsg(pair.a.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "fds");
  auto* rights = m->Find<ScmRightsOwned>();
  ASSERT_NE(rights, nullptr);
  ASSERT_EQ(rights->fds.size(), 2u);
  char text[64];
  ssize_t n = pread(rights->fds[0].get(), text, sizeof(text), 0);
  EXPECT_EQ(std::string(text, n > 0 ? n : 0), "written by python");
  ASSERT_EQ(write(rights->fds[1].get(), "pipe works", 10), 10);
  rights->fds[1].reset();

  m = RecvMsg(pair.a.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "creds");
  const auto* creds = m->Find<ScmCredentials>();
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->pid, peer.pid());
  EXPECT_EQ(creds->uid, getuid());
  EXPECT_EQ(peer.Wait(), 0);
}

// Python: socket.recv_fds() of what we send, then recvmsg() of our
// SCM_CREDENTIALS; writes what it found into the pipe we passed. SO_PASSCRED
// goes on only after recv_fds(), whose control buffer has no room for
// credentials (the kernel checks it at receive time).
constexpr char kPythonReceivesFds[] = R"py(
import os, socket, struct, sys
s = socket.socket(fileno=3)
msg, fds, flags, addr = socket.recv_fds(s, 100, 4)
if msg != b"take these" or len(fds) != 2:
    sys.exit(3)
content = os.pread(fds[0], 100, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
msg, anc, flags, addr = s.recvmsg(100, socket.CMSG_SPACE(12))
pid = -1
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
        pid, uid, gid = struct.unpack("iII", data)
os.write(fds[1], b"read %s; creds pid %d" % (content, pid))
)py";

TEST_F(PythonInteropTest, PythonReceivesFdsAndCredentials) {
  UnixPair pair = MakeUnixPair(SOCK_SEQPACKET);
  PythonPeer peer = PythonPeer::Start(kPythonReceivesFds, pair.b.get());
  ASSERT_GT(peer.pid(), 0) << peer.error();
  pair.b.reset();

  UniqueFd file = TempFileWith("made in C++");
  Pipe pipe;
  int fds[] = {file.get(), pipe.w.get()};
  ASSERT_TRUE(SendMsg(pair.a.get(), "take these", {ScmRights{fds}}).ok());
  pipe.w.reset();
  ASSERT_TRUE(SendMsg(pair.a.get(), "who",
                      {ScmCredentials{getpid(), getuid(), getgid()}})
                  .ok());
  EXPECT_EQ(ReadSome(pipe.r.get()),
            absl::StrCat("read made in C++; creds pid ", getpid()));
  EXPECT_EQ(peer.Wait(), 0);
}

// Python: sendmsg() of a UDP datagram with IP_TTL and IP_PKTINFO (source
// 127.0.0.2) to the port given in argv[1].
constexpr char kPythonSendsUdp[] = R"py(
import socket, struct, sys
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
info = struct.pack("i4s4s", 0, socket.inet_aton("127.0.0.2"), bytes(4))
u.sendmsg([b"from python"], [
    (socket.IPPROTO_IP, socket.IP_TTL, struct.pack("i", 5)),
    (socket.IPPROTO_IP, IP_PKTINFO, info)], 0, ("127.0.0.1", int(sys.argv[1])))
)py";

TEST_F(PythonInteropTest, PythonSendsUdpWithTtlAndPacketInfo) {
  UniqueFd rx = BoundUdpSocket(AF_INET);
  ASSERT_TRUE(ReceiveTtl(rx.get()).ok());
  ASSERT_TRUE(ReceivePacketInfo(rx.get()).ok());
  UnixPair unused = MakeUnixPair(SOCK_STREAM);
  PythonPeer peer = PythonPeer::Start(kPythonSendsUdp, unused.b.get(),
                                      {std::to_string(LocalAddress(rx.get()).port())});
  ASSERT_GT(peer.pid(), 0) << peer.error();
  ASSERT_EQ(peer.Wait(), 0);
  ControlBuffer<Ipv4Ttl, Ipv4PacketInfo> control;
  char data[32];
  auto m = RecvMsg(rx.get(), absl::MakeSpan(data), control.span(), {.flags = MSG_DONTWAIT});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "from python");
  ASSERT_NE(m->Find<Ipv4Ttl>(), nullptr);
  EXPECT_EQ(m->Find<Ipv4Ttl>()->ttl, 5);
  EXPECT_EQ(AddressToString(m->peer.ipv4().sin_addr), "127.0.0.2");
  ASSERT_NE(m->Find<Ipv4PacketInfo>(), nullptr);
  EXPECT_EQ(AddressToString(m->Find<Ipv4PacketInfo>()->addr), "127.0.0.1");
}

// Python: binds UDP sockets for both families with IP_RECVTTL/IP_PKTINFO
// and IPV6_RECVHOPLIMIT/IPV6_RECVTCLASS on, reports their ports over fd 3,
// decodes our datagrams' ancillary data with recvmsg() and reports it.
constexpr char kPythonReceivesUdp[] = R"py(
import socket, struct
# Linux values for the constants older Pythons lack.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
IPV6_RECVTCLASS = getattr(socket, "IPV6_RECVTCLASS", 66)
IPV6_TCLASS = getattr(socket, "IPV6_TCLASS", 67)
ctl = socket.socket(fileno=3)
v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v4.bind(("127.0.0.1", 0))
v4.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
v4.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
v6.bind(("::1", 0))
v6.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
v6.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
ctl.send(b"%d %d" % (v4.getsockname()[1], v6.getsockname()[1]))
seen = []
msg, anc, flags, addr = v4.recvmsg(100, 256)
for level, kind, data in anc:
    if (level, kind) == (socket.IPPROTO_IP, socket.IP_TTL):
        seen.append("ttl=%d" % struct.unpack("i", data))
    if (level, kind) == (socket.IPPROTO_IP, IP_PKTINFO):
        ifindex, spec_dst, dst = struct.unpack("i4s4s", data)
        seen.append("dst=" + socket.inet_ntoa(dst))
seen.append("from=" + addr[0])
msg, anc, flags, addr = v6.recvmsg(100, 256)
for level, kind, data in anc:
    if (level, kind) == (socket.IPPROTO_IPV6, IPV6_HOPLIMIT):
        seen.append("hoplimit=%d" % struct.unpack("i", data))
    if (level, kind) == (socket.IPPROTO_IPV6, IPV6_TCLASS):
        seen.append("tclass=%d" % struct.unpack("i", data))
ctl.send(" ".join(sorted(seen)).encode())
)py";

TEST_F(PythonInteropTest, PythonReceivesUdpAncillaryDataWeSent) {
  UnixPair pair = MakeUnixPair(SOCK_SEQPACKET);
  PythonPeer peer = PythonPeer::Start(kPythonReceivesUdp, pair.b.get());
  ASSERT_GT(peer.pid(), 0) << peer.error();
  pair.b.reset();
  char ports[32];
  auto m = RecvMsg(pair.a.get(), absl::MakeSpan(ports), {});
  ASSERT_TRUE(m.ok()) << m.status();
  int v4_port = 0, v6_port = 0;
  ASSERT_EQ(sscanf(std::string(ports, m->bytes).c_str(), "%d %d", &v4_port, &v6_port), 2);

  UniqueFd tx4(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SocketAddress to4 = SocketAddress::Ipv4({htonl(INADDR_LOOPBACK)}, v4_port);
  Ipv4PacketInfo from;
  inet_pton(AF_INET, "127.0.0.3", &from.spec_dst);
  ASSERT_TRUE(SendMsg(tx4.get(), "v4", {Ipv4Ttl{9}, from}, {.to = &to4}).ok());
  UniqueFd tx6 = BoundUdpSocket(AF_INET6);
  SocketAddress to6 = SocketAddress::Ipv6(in6addr_loopback, v6_port);
  ASSERT_TRUE(
      SendMsg(tx6.get(), "v6", {Ipv6HopLimit{3}, Ipv6TClass{0x20}}, {.to = &to6}).ok());

  char report[256];
  m = RecvMsg(pair.a.get(), absl::MakeSpan(report), {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(report, m->bytes),
            "dst=127.0.0.1 from=127.0.0.3 hoplimit=3 tclass=32 ttl=9");
  EXPECT_EQ(peer.Wait(), 0);
}

}  // namespace
}  // namespace cmsg
