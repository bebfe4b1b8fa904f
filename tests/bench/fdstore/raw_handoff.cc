#include "tests/bench/fdstore/raw_handoff.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

namespace {

constexpr int kMaxFds = 253;

}  // namespace

int RawServe(int listener, int stop_fd, const std::vector<int>& fds) {
  for (;;) {
    struct pollfd p[2] = {{stop_fd, POLLIN, 0}, {listener, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (p[0].revents) return 0;
    int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    struct ucred peer;
    socklen_t len = sizeof(peer);
    char request;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.uid == geteuid() &&
        recv(c, &request, 1, 0) == 1) {
      union {
        char buf[CMSG_SPACE(sizeof(int) * kMaxFds)];
        struct cmsghdr align;
      } control;
      char ok = 'k';
      struct iovec iov = {&ok, 1};
      struct msghdr msg = {};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.buf;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
      (void)sendmsg(c, &msg, MSG_NOSIGNAL);
    }
    close(c);
  }
}

int RawFetch(const char* path, int n) {
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
  int rc = -1;
  char request = 'f';
  if (connect(s, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0 &&
      send(s, &request, 1, MSG_NOSIGNAL) == 1) {
    union {
      char buf[CMSG_SPACE(sizeof(int) * kMaxFds)];
      struct cmsghdr align;
    } control;
    char ok;
    struct iovec iov = {&ok, 1};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    if (recvmsg(s, &msg, MSG_CMSG_CLOEXEC) == 1 && !(msg.msg_flags & MSG_CTRUNC)) {
      int got = 0;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (int i = 0; i < k; ++i) {
          int fd;
          memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          close(fd);
        }
        got += k;
      }
      if (got == n) rc = 0;
    }
  }
  close(s);
  return rc;
}
