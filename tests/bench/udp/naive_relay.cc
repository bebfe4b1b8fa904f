// The comparison peer: the relay most people would write. One recvmsg per
// datagram with IP_PKTINFO, one sendto per datagram to a per-client
// connected upstream socket, one sendmsg per reply with IP_PKTINFO from the
// arrival address. No batching, no GSO/GRO, one thread, no session limit.
//
//   naive_relay --listen=127.0.0.1:5300 --upstream=127.0.0.1:7000
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>

#include "lib/net/socket_address.h"
#include "tests/bench/udp/bench_args.h"

namespace {

struct Client {
  sockaddr_in peer;
  in_pktinfo arrival;
  int upstream;
};

volatile sig_atomic_t stop = 0;
void OnSignal(int) { stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  cmsg::bench::Args args(argc, argv, {"listen", "upstream"});
  auto listen = cmsg::SocketAddress::Parse(args.Get("listen", ""));
  auto upstream = cmsg::SocketAddress::Parse(args.Get("upstream", ""));
  if (!listen.ok() || !upstream.ok() || listen->family() != AF_INET) {
    fprintf(stderr, "naive_relay: want --listen=IPv4:PORT --upstream=ADDR:PORT\n");
    return 2;
  }
  int lfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
  if (bind(lfd, listen->addr(), listen->size()) != 0) {
    perror("bind");
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  fprintf(stderr, "serving %s\n", cmsg::SocketAddress::LocalOf(lfd)->ToString().c_str());

  std::unordered_map<std::string, Client> by_key;   // peer+local -> client
  std::unordered_map<int, Client*> by_upstream;
  static char buf[65536];
  alignas(cmsghdr) char control[256];
  while (!stop) {
    epoll_event events[64];
    int n = epoll_wait(ep, events, 64, 200);
    for (int e = 0; e < n; ++e) {
      int fd = events[e].data.fd;
      if (fd == lfd) {
        sockaddr_in peer{};
        iovec iov{buf, sizeof(buf)};
        msghdr msg{};
        msg.msg_name = &peer;
        msg.msg_namelen = sizeof(peer);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        ssize_t len = recvmsg(lfd, &msg, MSG_DONTWAIT);
        if (len < 0) continue;
        in_pktinfo info{};
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
          if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
            memcpy(&info, CMSG_DATA(c), sizeof(info));
        std::string key(reinterpret_cast<char*>(&peer), sizeof(peer));
        key.append(reinterpret_cast<char*>(&info.ipi_spec_dst), sizeof(in_addr));
        auto it = by_key.find(key);
        if (it == by_key.end()) {
          int up = socket(upstream->family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
          connect(up, upstream->addr(), upstream->size());
          it = by_key.emplace(key, Client{peer, info, up}).first;
          by_upstream[up] = &it->second;
          epoll_event uev{};
          uev.events = EPOLLIN;
          uev.data.fd = up;
          epoll_ctl(ep, EPOLL_CTL_ADD, up, &uev);
        }
        send(it->second.upstream, buf, len, MSG_DONTWAIT);
      } else {
        ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        auto it = by_upstream.find(fd);
        if (len < 0 || it == by_upstream.end()) continue;
        Client* c = it->second;
        iovec iov{buf, static_cast<size_t>(len)};
        msghdr msg{};
        msg.msg_name = &c->peer;
        msg.msg_namelen = sizeof(c->peer);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
        cmsghdr* cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo out{};
        out.ipi_ifindex = c->arrival.ipi_ifindex;
        out.ipi_spec_dst = c->arrival.ipi_spec_dst;
        memcpy(CMSG_DATA(cm), &out, sizeof(out));
        sendmsg(lfd, &msg, MSG_DONTWAIT);
      }
    }
  }
  for (auto& [fd, c] : by_upstream) close(fd);
  close(ep);
  close(lfd);
  return 0;
}
