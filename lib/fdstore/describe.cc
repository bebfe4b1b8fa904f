#include "lib/fdstore/describe.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "lib/net/socket_address.h"

namespace cmsg::fdstore {
namespace {

int IntOption(int fd, int name) {
  int value = -1;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, SOL_SOCKET, name, &value, &len) < 0) return -1;
  return value;
}

std::string SocketKind(int fd) {
  const int domain = IntOption(fd, SO_DOMAIN);
  const int type = IntOption(fd, SO_TYPE);
  const int protocol = IntOption(fd, SO_PROTOCOL);
  if (domain == AF_UNIX) {
    if (type == SOCK_DGRAM) return "unix-dgram";
    if (type == SOCK_SEQPACKET) return "unix-seqpacket";
    return "unix";
  }
  if (domain == AF_INET || domain == AF_INET6) {
    if (protocol == IPPROTO_TCP) return "tcp";
    if (protocol == IPPROTO_UDP) return "udp";
    if (protocol == IPPROTO_SCTP) return "sctp";
  }
  return "socket";
}

}  // namespace

FdDescription DescribeFd(int fd) {
  FdDescription d{"other", "-"};
  struct stat st;
  if (fstat(fd, &st) < 0) return d;
  switch (st.st_mode & S_IFMT) {
    case S_IFSOCK: {
      d.kind = SocketKind(fd);
      absl::StatusOr<SocketAddress> local = SocketAddress::LocalOf(fd);
      if (local.ok() && !local->empty()) d.address = local->ToString();
      break;
    }
    case S_IFREG: d.kind = "file"; break;
    case S_IFDIR: d.kind = "dir"; break;
    case S_IFIFO: d.kind = "pipe"; break;
    case S_IFCHR: d.kind = "char"; break;
    case S_IFBLK: d.kind = "block"; break;
    default: break;
  }
  return d;
}

}  // namespace cmsg::fdstore
