// The benchmark's receiving end: recvmmsg (optionally with UDP_GRO) on one
// socket, counting datagrams until SIGTERM/SIGINT, then printing
// "received=N bytes=B". With --echo=1 it also sends each datagram back to
// its sender (one sendmmsg per batch): the upstream of the many-clients row.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstdio>
#include <string>

#include "lib/cmsg/cmsg.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"
#include "tests/bench/udp/bench_args.h"

namespace {
volatile sig_atomic_t stop = 0;
void OnSignal(int) { stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  cmsg::bench::Args args(argc, argv, {"listen", "gro", "batch", "echo"});
  absl::StatusOr<cmsg::SocketAddress> listen =
      cmsg::SocketAddress::Parse(args.Get("listen", "127.0.0.1:0"));
  if (!listen.ok()) return 2;
  cmsg::UniqueFd fd(socket(listen->family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  int buf = 8 << 20;
  // Beyond rmem_max where allowed (root), so the sink is never the bottleneck.
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0)
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  bool gro = args.Int("gro", 0) != 0;
  if (gro) (void)cmsg::ReceiveGro(fd.get());
  if (bind(fd.get(), listen->addr(), listen->size()) != 0) {
    perror("bind");
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;  // no SA_RESTART: recvmmsg returns EINTR
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  fprintf(stderr, "serving %s\n", cmsg::SocketAddress::LocalOf(fd.get())->ToString().c_str());
  timeval tv{0, 200000};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int batch = args.Int("batch", 64);
  cmsg::RecvBatch in(batch, gro ? 65536 : 2048, cmsg::kSpaceFor<cmsg::UdpGroSegments>);
  const bool echo = args.Int("echo", 0) != 0;
  cmsg::SendBatch out(batch, 0);
  unsigned long long packets = 0, bytes = 0;
  while (!stop) {
    absl::StatusOr<size_t> n = in.Recv(fd.get());
    if (!n.ok()) continue;  // timeout or EINTR: check `stop`
    for (size_t i = 0; i < *n; ++i) {
      size_t len = in.message(i).bytes;
      const auto* g = in.message(i).Find<cmsg::UdpGroSegments>();
      size_t seg = g && g->segment_size > 0 ? g->segment_size : 0;
      packets += seg && len > seg ? (len + seg - 1) / seg : 1;
      bytes += len;
      if (echo) (void)out.Add(absl::string_view(in.data(i).data(), len), &in.message(i).peer);
    }
    if (echo) {
      (void)out.Send(fd.get(), MSG_DONTWAIT);  // a full buffer drops: counted as loss
      out.Clear();
    }
  }
  printf("received=%llu bytes=%llu\n", packets, bytes);
  return 0;
}
