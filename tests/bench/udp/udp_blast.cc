// A sendmmsg traffic generator for the relay benchmark and the flood test.
//
//   udp_blast --target=127.0.0.1:5300 --size=64 --seconds=2 [--gso=1]
//     one socket, back-to-back sendmmsg batches (or GSO sends of up to 64
//     segments) for the given time; prints "sent=N seconds=S".
//   udp_blast --target=127.0.0.1:5300 --sources=100000 --per_source=10
//     each of N sockets bound to a distinct source (127.1.X.1, port 20000+;
//     --first_source=K skips the first K) sends M datagrams and closes;
//     prints "sent=N sources=N". With --sync_every=K it waits, every K
//     sources, for a datagram of its own to come back through the target (an
//     echo behind a relay), so the relay's socket buffer never overflows.
#include <cerrno>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "lib/cmsg/cmsg.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"
#include "tests/bench/udp/bench_args.h"

namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int Blast(const cmsg::SocketAddress& target, size_t size, double seconds, int batch,
          bool gso) {
  cmsg::UniqueFd fd(socket(target.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (connect(fd.get(), target.addr(), target.size()) != 0) {
    perror("connect");
    return 1;
  }
  int sndbuf = 4 << 20;
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  std::string payload(size, 'b');
  // Up to 64 segments per GSO send, within the 64 KiB a datagram can carry.
  const size_t segments = std::max<size_t>(1, std::min<size_t>(64, 65000 / std::max<size_t>(size, 1)));
  std::string super(size * segments, 'b');
  cmsg::SendBatch out(batch, cmsg::kSpaceFor<cmsg::UdpGsoSegments>);
  uint64_t sent = 0;
  double start = Now(), end = start + seconds;
  while (Now() < end) {
    out.Clear();
    for (int i = 0; i < batch; ++i) {
      absl::Status s =
          gso ? out.Add(super, nullptr, {cmsg::UdpGsoSegments{static_cast<uint16_t>(size)}})
              : out.Add(payload, nullptr);
      if (!s.ok()) {
        fprintf(stderr, "udp_blast: %s\n", std::string(s.message()).c_str());
        return 1;
      }
    }
    absl::StatusOr<size_t> n = out.Send(fd.get());
    // ECONNREFUSED: nothing listened for a moment; keep going.
    if (n.ok()) sent += *n * (gso ? segments : 1);
  }
  printf("sent=%llu seconds=%.3f\n", static_cast<unsigned long long>(sent), Now() - start);
  return 0;
}

// Sends a datagram on `fd` (connected through the relay to an echo) and
// waits for it to come back: everything sent to the relay before it has then
// been read by the relay.
bool Sync(int fd) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (send(fd, "sync", 4, 0) != 4) continue;
    char buf[16];
    if (recv(fd, buf, sizeof(buf), 0) == 4) return true;
  }
  return false;
}

int ManySources(const cmsg::SocketAddress& target, size_t size, long first,
                long sources, int per_source, long sync_every) {
  std::string payload(size, 's');
  uint64_t sent = 0;
  cmsg::UniqueFd sync(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  timeval tv{0, 200000};
  setsockopt(sync.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (sync_every > 0 && connect(sync.get(), target.addr(), target.size()) != 0) {
    perror("connect");
    return 1;
  }
  long skipped = 0;
  for (long i = first; i < first + sources; ++i) {
    // Flow control: the flood measures the relay's bookkeeping, not how many
    // datagrams a full socket buffer drops.
    if (sync_every > 0 && (i - first) % sync_every == 0 && !Sync(sync.get())) {
      fprintf(stderr, "udp_blast: no answer to a sync through %s\n",
              target.ToString().c_str());
      return 1;
    }
    cmsg::UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((i / 40000) << 8) | 1);
    from.sin_port = htons(static_cast<uint16_t>(20000 + i % 40000));
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
      // Another socket on the machine (a wildcard bind of the same port, say
      // a parallel test's) holds this source; skip it rather than fail.
      if (errno == EADDRINUSE) {
        ++skipped;
        continue;
      }
      perror("bind");
      return 1;
    }
    cmsg::SendBatch out(per_source, 0);
    for (int k = 0; k < per_source; ++k) (void)out.Add(payload, &target);
    absl::StatusOr<size_t> n = out.Send(fd.get());
    if (n.ok()) sent += *n;
  }
  printf("sent=%llu sources=%ld skipped=%ld\n", static_cast<unsigned long long>(sent),
         sources - skipped, skipped);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cmsg::bench::Args args(argc, argv,
                         {"target", "size", "seconds", "batch", "gso", "sources",
                          "first_source", "per_source", "sync_every"});
  absl::StatusOr<cmsg::SocketAddress> target =
      cmsg::SocketAddress::Parse(args.Get("target", ""));
  if (!target.ok()) {
    fprintf(stderr, "udp_blast: --target: %s\n", std::string(target.status().message()).c_str());
    return 2;
  }
  size_t size = args.Int("size", 64);
  if (args.Int("sources", 0) > 0) {
    return ManySources(*target, size, args.Int("first_source", 0), args.Int("sources", 0),
                       args.Int("per_source", 10), args.Int("sync_every", 0));
  }
  return Blast(*target, size, args.Double("seconds", 2), args.Int("batch", 64),
               args.Int("gso", 0) != 0);
}
