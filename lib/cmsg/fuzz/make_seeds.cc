// Writes the fuzzer's seed corpus: our own encodings of every sendable
// message, and control buffers the kernel filled for real on loopback.
// Usage: make_seeds DIR
#include <arpa/inet.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lib/cmsg/cmsg.h"

namespace {

int g_count = 0;
std::string g_dir;

void Write(uint8_t mode, const void* p, size_t n) {
  std::string path = g_dir + "/seed-" + std::to_string(g_count++);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return;
  std::fputc(mode, f);
  std::fwrite(p, 1, n, f);
  std::fclose(f);
}

void Encoded(std::vector<cmsg::ControlMessage> messages) {
  alignas(cmsghdr) std::byte buf[4096];
  auto n = cmsg::Encode(messages, buf);
  if (!n.ok()) return;
  for (uint8_t mode : {0x00, 0x21, 0x10, 0x08}) Write(mode, buf, *n);
}

// One message of `n` payload bytes, laid out as the kernel does.
void Raw(int level, int type, const void* payload, size_t n) {
  alignas(cmsghdr) std::byte buf[512] = {};
  if (CMSG_SPACE(n) > sizeof(buf)) return;
  cmsghdr h{};
  h.cmsg_len = CMSG_LEN(n);
  h.cmsg_level = level;
  h.cmsg_type = type;
  std::memcpy(buf, &h, sizeof(h));
  std::memcpy(buf + CMSG_LEN(0), payload, n);
  for (uint8_t mode : {0x00, 0x10}) Write(mode, buf, CMSG_SPACE(n));
}

// Receives one datagram on `fd` (flags) and writes its raw control buffer.
void Captured(int fd, int flags) {
  pollfd p{fd, POLLIN, 0};
  poll(&p, 1, 1000);
  alignas(cmsghdr) char control[1024];
  char data[2048];
  iovec iov{data, sizeof(data)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  if (recvmsg(fd, &msg, flags | MSG_DONTWAIT | MSG_CMSG_CLOEXEC) < 0) return;
  Write(0x20, control, msg.msg_controllen);
  Write(0x13, control, msg.msg_controllen);
}

cmsg::UniqueFd Udp(int family) {
  cmsg::UniqueFd fd(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  cmsg::SocketAddress a = family == AF_INET
                              ? cmsg::SocketAddress::Ipv4({htonl(INADDR_LOOPBACK)}, 0)
                              : cmsg::SocketAddress::Ipv6(in6addr_loopback, 0);
  if (bind(fd.get(), a.addr(), a.size()) < 0) return cmsg::UniqueFd();
  return fd;
}

void KernelBuffers(int family) {
  cmsg::UniqueFd rx = Udp(family), tx = Udp(family);
  if (!rx.ok() || !tx.ok()) return;
  (void)cmsg::ReceivePacketInfo(rx.get());
  (void)cmsg::ReceiveTimestampNs(rx.get());
  (void)cmsg::ReceiveTtl(rx.get());
  (void)cmsg::ReceiveTos(rx.get());
  (void)cmsg::ReceiveOrigDstAddr(rx.get());
  (void)cmsg::ReceiveRxqOvfl(rx.get());
  (void)cmsg::ReceiveGro(rx.get());
  auto to = cmsg::SocketAddress::LocalOf(rx.get());
  (void)cmsg::SendMsg(tx.get(), "seed", {}, {.to = &*to});
  Captured(rx.get(), 0);
  (void)cmsg::ReceiveTimestamping(
      rx.get(), cmsg::TimestampingFlags::kRxSoftware | cmsg::TimestampingFlags::kSoftware);
  (void)cmsg::SendMsg(tx.get(), "seed", {}, {.to = &*to});
  Captured(rx.get(), 0);
  // An error-queue entry: a send to a port nobody listens on.
  auto closed = cmsg::SocketAddress::LocalOf(rx.get());
  rx.reset();
  (void)cmsg::ReceiveErrors(tx.get());
  (void)cmsg::SendMsg(tx.get(), "seed", {}, {.to = &*closed});
  Captured(tx.get(), MSG_ERRQUEUE);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  g_dir = argv[1];
  int fds[] = {0, 1, 2};
  uint8_t iv[16] = {};
  cmsg::Ipv4PacketInfo p4;
  p4.ifindex = 1;
  cmsg::Ipv6PacketInfo p6;
  p6.addr = in6addr_loopback;
  Encoded({cmsg::ScmRights{fds}});
  Encoded({cmsg::ScmCredentials{1, 2, 3}, cmsg::ScmRights{fds}});
  Encoded({p4, cmsg::Ipv4Ttl{3}, cmsg::Ipv4Tos{4}});
  Encoded({p6, cmsg::Ipv6HopLimit{3}, cmsg::Ipv6TClass{4}});
  Encoded({cmsg::UdpGsoSegments{1400}, cmsg::TxTime{5}, cmsg::RxqOvfl{6}});
  Encoded({cmsg::AlgSetOp{1}, cmsg::AlgSetIv{iv}, cmsg::AlgSetAeadAssoclen{8}});
  Encoded({cmsg::SoMark{7}, cmsg::SoPriority{3}, cmsg::ScmTsOptId{9},
           cmsg::SoTimestamping{cmsg::TimestampingFlags::kTxSoftware}});
  Encoded({cmsg::Ipv6DontFrag{1}, p6});
  // Receive-only kinds, assembled by hand as the kernel lays them out.
  {
    const char context[] = "system_u:object_r:unlabeled_t:s0";
    Raw(SOL_SOCKET, SCM_SECURITY, context, sizeof(context));
    ip6_mtuinfo mtu{};
    mtu.ip6m_addr.sin6_family = AF_INET6;
    mtu.ip6m_mtu = 1280;
    Raw(IPPROTO_IPV6, IPV6_PATHMTU, &mtu, sizeof(mtu));
    int value = 1280;
    Raw(IPPROTO_IP, IP_RECVFRAGSIZE, &value, sizeof(value));
    Raw(IPPROTO_IPV6, IPV6_RECVFRAGSIZE, &value, sizeof(value));
    Raw(SOL_TCP, TCP_CM_INQ, &value, sizeof(value));
  }
  KernelBuffers(AF_INET);
  KernelBuffers(AF_INET6);
  std::printf("make_seeds: wrote %d seeds to %s\n", g_count, g_dir.c_str());
  return 0;
}
