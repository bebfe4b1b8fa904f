#include "lib/cmsg/testing/test_sockets.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
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

bool WriteFile(const char* path, const char* text) {
  UniqueFd fd(open(path, O_WRONLY | O_CLOEXEC));
  return fd.ok() && write(fd.get(), text, strlen(text)) == static_cast<ssize_t>(strlen(text));
}

std::string Errno(const char* what) { return std::string(what) + ": " + strerror(errno); }

std::string BringLoopbackUp() {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) return Errno("SIOCGIFFLAGS(lo)");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0) return Errno("SIOCSIFFLAGS(lo)");
  return "";
}

std::string EnterNamespaces() {
  if (unshare(CLONE_NEWNET) == 0) return BringLoopbackUp();
  const std::string plain = Errno("unshare(CLONE_NEWNET)");
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
    return plain + "; " + Errno("unshare(CLONE_NEWUSER|CLONE_NEWNET)");
  }
  char map[64];
  snprintf(map, sizeof(map), "0 %u 1", uid);
  if (!WriteFile("/proc/self/uid_map", map)) return Errno("writing uid_map");
  WriteFile("/proc/self/setgroups", "deny");
  snprintf(map, sizeof(map), "0 %u 1", gid);
  if (!WriteFile("/proc/self/gid_map", map)) return Errno("writing gid_map");
  return BringLoopbackUp();
}

}  // namespace

std::string EnterOwnNetworkNamespace() {
  static const std::string* const result = new std::string(EnterNamespaces());
  return *result;
}

std::string SetLoopbackMtu(int mtu) {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  strcpy(ifr.ifr_name, "lo");
  ifr.ifr_mtu = mtu;
  if (ioctl(s.get(), SIOCSIFMTU, &ifr) < 0) return Errno("SIOCSIFMTU(lo)");
  return "";
}

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
