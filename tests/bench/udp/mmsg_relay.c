/* The strongest comparison peer: the relay a careful user writes by hand in
 * C. recvmmsg of 32 with IP_PKTINFO on the listening socket, a connected
 * upstream socket per (client, local address), sendmmsg of each run of
 * datagrams for one session; recvmmsg of 32 from an upstream socket and one
 * sendmmsg of the replies with IP_PKTINFO from the arrival address. No GSO or
 * GRO, one thread, sessions in an open-addressing table of 65536 that is
 * never evicted (a benchmark peer, not a server). Like any server with many
 * clients it raises its fd limit to the hard one (one socket per session),
 * and drops a datagram it cannot open a session for.
 *
 *   mmsg_relay --listen=0.0.0.0:5300 --upstream=127.0.0.1:7000   (IPv4 only) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define SLOTS 65536
#define BUF 65536

struct session {
  int used;
  struct sockaddr_in peer;
  struct in_addr local;
  int ifindex;
  int upstream;
};

static struct session table[SLOTS];
static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int parse(const char* arg, const char* name, struct sockaddr_in* out) {
  size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0) return 0;
  char host[64];
  const char* v = arg + n;
  const char* colon = strrchr(v, ':');
  if (!colon || colon - v >= (long)sizeof(host)) return -1;
  memcpy(host, v, colon - v);
  host[colon - v] = 0;
  memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)atoi(colon + 1));
  return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 1 : -1;
}

static uint32_t hash(const struct sockaddr_in* p, struct in_addr local) {
  uint64_t h = ((uint64_t)p->sin_addr.s_addr << 16 | p->sin_port) ^
               ((uint64_t)local.s_addr << 32);
  h *= 0x9e3779b97f4a7c15ull;
  return (uint32_t)(h >> 40) % SLOTS;
}

int main(int argc, char** argv) {
  struct sockaddr_in listen_at, upstream;
  int have_l = 0, have_u = 0;
  for (int i = 1; i < argc; ++i) {
    int l = parse(argv[i], "--listen=", &listen_at), u = parse(argv[i], "--upstream=", &upstream);
    if (l < 0 || u < 0 || (l == 0 && u == 0)) {
      fprintf(stderr, "mmsg_relay: want --listen=IPv4:PORT --upstream=IPv4:PORT\n");
      return 2;
    }
    have_l |= l;
    have_u |= u;
  }
  if (!have_l || !have_u) {
    fprintf(stderr, "mmsg_relay: want --listen=IPv4:PORT --upstream=IPv4:PORT\n");
    return 2;
  }
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  int lfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
  if (bind(lfd, (struct sockaddr*)&listen_at, sizeof(listen_at)) != 0) {
    perror("bind");
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)-1};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct sockaddr_in bound;
  socklen_t blen = sizeof(bound);
  getsockname(lfd, (struct sockaddr*)&bound, &blen);
  char text[INET_ADDRSTRLEN];
  fprintf(stderr, "serving %s:%d\n", inet_ntop(AF_INET, &bound.sin_addr, text, sizeof(text)),
          ntohs(bound.sin_port));

  static char bufs[BATCH][BUF];
  static char controls[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
  static struct sockaddr_in peers[BATCH];
  static struct iovec iov[BATCH];
  static struct mmsghdr in[BATCH], out[BATCH];
  static uint32_t slot_of[BATCH];
  while (!stop) {
    struct epoll_event events[64];
    int n = epoll_wait(ep, events, 64, 200);
    for (int e = 0; e < n; ++e) {
      uint64_t tag = events[e].data.u64;
      int from = tag == (uint64_t)-1 ? lfd : table[tag].upstream;
      for (int i = 0; i < BATCH; ++i) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = BUF;
        memset(&in[i].msg_hdr, 0, sizeof(in[i].msg_hdr));
        in[i].msg_hdr.msg_name = &peers[i];
        in[i].msg_hdr.msg_namelen = sizeof(peers[i]);
        in[i].msg_hdr.msg_iov = &iov[i];
        in[i].msg_hdr.msg_iovlen = 1;
        in[i].msg_hdr.msg_control = controls[i];
        in[i].msg_hdr.msg_controllen = sizeof(controls[i]);
      }
      int got = recvmmsg(from, in, BATCH, MSG_DONTWAIT, NULL);
      if (got <= 0) continue;
      if (from == lfd) {
        /* Find each datagram's session, then send runs of one session. */
        for (int i = 0; i < got; ++i) {
          struct in_pktinfo info = {0};
          for (struct cmsghdr* c = CMSG_FIRSTHDR(&in[i].msg_hdr); c;
               c = CMSG_NXTHDR(&in[i].msg_hdr, c))
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
              memcpy(&info, CMSG_DATA(c), sizeof(info));
          uint32_t s = hash(&peers[i], info.ipi_spec_dst);
          while (table[s].used && !(table[s].peer.sin_addr.s_addr == peers[i].sin_addr.s_addr &&
                                    table[s].peer.sin_port == peers[i].sin_port &&
                                    table[s].local.s_addr == info.ipi_spec_dst.s_addr))
            s = (s + 1) % SLOTS;
          if (!table[s].used) {
            int up = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (up < 0 || connect(up, (struct sockaddr*)&upstream, sizeof(upstream)) != 0) {
              if (up >= 0) close(up);
              slot_of[i] = SLOTS;  /* dropped */
              continue;
            }
            table[s] = (struct session){1, peers[i], info.ipi_spec_dst, info.ipi_ifindex, up};
            struct epoll_event uev = {.events = EPOLLIN, .data.u64 = s};
            epoll_ctl(ep, EPOLL_CTL_ADD, up, &uev);
          }
          slot_of[i] = s;
          iov[i].iov_len = in[i].msg_len;
          memset(&out[i].msg_hdr, 0, sizeof(out[i].msg_hdr));
          out[i].msg_hdr.msg_iov = &iov[i];
          out[i].msg_hdr.msg_iovlen = 1;
        }
        for (int i = 0; i < got;) {
          int j = i;
          while (j < got && slot_of[j] == slot_of[i]) ++j;
          if (slot_of[i] != SLOTS) sendmmsg(table[slot_of[i]].upstream, &out[i], j - i, MSG_DONTWAIT);
          i = j;
        }
      } else {
        struct session* s = &table[tag];
        for (int i = 0; i < got; ++i) {
          iov[i].iov_len = in[i].msg_len;
          memset(&out[i].msg_hdr, 0, sizeof(out[i].msg_hdr));
          out[i].msg_hdr.msg_name = &s->peer;
          out[i].msg_hdr.msg_namelen = sizeof(s->peer);
          out[i].msg_hdr.msg_iov = &iov[i];
          out[i].msg_hdr.msg_iovlen = 1;
          out[i].msg_hdr.msg_control = controls[i];
          out[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
          struct cmsghdr* c = CMSG_FIRSTHDR(&out[i].msg_hdr);
          c->cmsg_level = IPPROTO_IP;
          c->cmsg_type = IP_PKTINFO;
          c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
          struct in_pktinfo info = {.ipi_ifindex = s->ifindex, .ipi_spec_dst = s->local};
          memcpy(CMSG_DATA(c), &info, sizeof(info));
        }
        sendmmsg(lfd, out, got, MSG_DONTWAIT);
      }
    }
  }
  for (int s = 0; s < SLOTS; ++s)
    if (table[s].used) close(table[s].upstream);
  close(ep);
  close(lfd);
  return 0;
}
