#include "lib/cmsg/testing/test_sockets.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

namespace cmsg::testing {
namespace {

// Calls `f(fd)` for every open fd except the directory's own.
template <typename F>
bool ForEachOpenFd(F f) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  int self = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd != self) f(fd);
  }
  closedir(dir);
  return true;
}

}  // namespace

int CountOpenFds() {
  int n = 0;
  if (!ForEachOpenFd([&n](int) { ++n; })) return -1;
  return n;
}

int LimitAllowingNewFds(int n) {
  std::set<int> open;
  ForEachOpenFd([&open](int fd) { open.insert(fd); });
  int free = 0;
  for (int fd = 0;; ++fd) {
    if (open.count(fd)) continue;
    if (++free == n) return fd + 1;
  }
}

UnixPair MakeUnixPair(int type) {
  int sv[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) return {};
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

UniqueFd BoundUdpSocket(int family) {
  UniqueFd fd(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return fd;
  SocketAddress addr = family == AF_INET
                           ? SocketAddress::Ipv4({htonl(INADDR_LOOPBACK)}, 0)
                           : SocketAddress::Ipv6(in6addr_loopback, 0);
  if (bind(fd.get(), addr.addr(), addr.size()) < 0) return UniqueFd();
  return fd;
}

SocketAddress LocalAddress(int fd) {
  absl::StatusOr<SocketAddress> a = SocketAddress::LocalOf(fd);
  return a.ok() ? *a : SocketAddress();
}

UniqueFd TempFileWith(const char* contents) {
  char path[] = "/tmp/cmsg_test.XXXXXX";
  UniqueFd fd(mkostemp(path, O_CLOEXEC));
  if (!fd.ok()) return fd;
  unlink(path);
  size_t n = strlen(contents);
  if (pwrite(fd.get(), contents, n, 0) != static_cast<ssize_t>(n)) return UniqueFd();
  return fd;
}

std::string ReadFromStart(int fd) {
  char buf[256];
  ssize_t n = pread(fd, buf, sizeof(buf), 0);
  return n > 0 ? std::string(buf, n) : std::string();
}

}  // namespace cmsg::testing
