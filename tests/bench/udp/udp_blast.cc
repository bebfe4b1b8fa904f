// A sendmmsg traffic generator for the relay benchmark and the flood test.
//
//   udp_blast --target=127.0.0.1:5300 --size=64 --seconds=2 [--gso=1]
//     one socket, back-to-back sendmmsg batches (or GSO sends of up to 64
//     segments) for the given time; prints "sent=N seconds=S".
//   udp_blast --target=127.0.0.1:5300 --size=64 --seconds=2 --clients=10000
//     many clients at once: one socket sends, back to back, sendmmsg batches
//     whose datagrams come round-robin from N source addresses (127.2.X.Y,
//     set per datagram with IP_PKTINFO), and reads the replies an echo sends
//     back through the target; prints "sent=N seconds=S replies=R". A
//     warm-up sends each client's first datagram, a batch at a time waiting
//     for its replies, so the timed part sees known clients only; it prints
//     "warmup_seconds=W warmup_replies=K" too.
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

// Client i of ManyClients: 127.2.0.1 ... 127.2.255.250.
in_addr ClientAddress(long i) {
  in_addr a;
  a.s_addr = htonl((127u << 24) | (2u << 16) | ((i / 250) << 8) | (i % 250 + 1));
  return a;
}

int ManyClients(const cmsg::SocketAddress& target, size_t size, double seconds, long clients,
                int batch) {
  if (target.family() != AF_INET || clients < 1 || clients > 250 * 256) {
    fprintf(stderr, "udp_blast: --clients wants an IPv4 target and 1-64000 clients\n");
    return 2;
  }
  cmsg::UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  int buf = 8 << 20;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0)
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  buf = 4 << 20;
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  sockaddr_in any{};
  any.sin_family = AF_INET;  // every 127.2.X.Y: the port answers on all of them
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0) {
    perror("bind");
    return 1;
  }
  std::string payload(size, 'c');
  cmsg::SendBatch out(batch, cmsg::kSpaceFor<cmsg::Ipv4PacketInfo>);
  cmsg::RecvBatch in(batch, 2048, 0);
  uint64_t sent = 0, replies = 0;
  long next = 0;
  auto read_replies = [&] {
    for (int k = 0; k < 4; ++k) {
      absl::StatusOr<size_t> n = in.Recv(fd.get(), MSG_DONTWAIT);
      if (!n.ok() || *n == 0) return;
      replies += *n;
    }
  };
  // Warm-up: every client once, a batch at a time, each batch waiting (up
  // to 20 ms) for its replies: the relay opens its sessions here, and the
  // timed part measures clients that are all known. Its rate is reported.
  const double warm_start = Now();
  uint64_t warm_replies = 0;
  for (long first = 0; first < clients; first += batch) {
    out.Clear();
    const long n = std::min<long>(batch, clients - first);
    for (long i = first; i < first + n; ++i) {
      cmsg::Ipv4PacketInfo from;
      from.spec_dst = ClientAddress(i);
      (void)out.Add(payload, &target, {from});
    }
    (void)out.Send(fd.get());
    replies = 0;
    for (double give_up = Now() + 0.02; replies < static_cast<uint64_t>(n) && Now() < give_up;)
      read_replies();
    warm_replies += replies;
    replies = 0;
  }
  const double warm_seconds = Now() - warm_start;
  double start = Now(), end = start + seconds;
  while (Now() < end) {
    out.Clear();
    for (int i = 0; i < batch; ++i) {
      cmsg::Ipv4PacketInfo from;
      from.spec_dst = ClientAddress(next);
      next = (next + 1) % clients;
      (void)out.Add(payload, &target, {from});
    }
    absl::StatusOr<size_t> n = out.Send(fd.get());
    if (n.ok()) sent += *n;
    read_replies();
  }
  const double elapsed = Now() - start;
  // Replies still on their way: what the target answered in time counts.
  for (double stop = Now() + 0.3; Now() < stop;) read_replies();
  printf("sent=%llu seconds=%.3f replies=%llu warmup_seconds=%.3f warmup_replies=%llu\n",
         static_cast<unsigned long long>(sent), elapsed, static_cast<unsigned long long>(replies),
         warm_seconds, static_cast<unsigned long long>(warm_replies));
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
                          "first_source", "per_source", "sync_every", "clients"});
  absl::StatusOr<cmsg::SocketAddress> target =
      cmsg::SocketAddress::Parse(args.Get("target", ""));
  if (!target.ok()) {
    fprintf(stderr, "udp_blast: --target: %s\n", std::string(target.status().message()).c_str());
    return 2;
  }
  size_t size = args.Int("size", 64);
  if (args.Int("clients", 0) > 0) {
    return ManyClients(*target, size, args.Double("seconds", 2), args.Int("clients", 0),
                       args.Int("batch", 64));
  }
  if (args.Int("sources", 0) > 0) {
    return ManySources(*target, size, args.Int("first_source", 0), args.Int("sources", 0),
                       args.Int("per_source", 10), args.Int("sync_every", 0));
  }
  return Blast(*target, size, args.Double("seconds", 2), args.Int("batch", 64),
               args.Int("gso", 0) != 0);
}
