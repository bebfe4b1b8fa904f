// The pktinfo-aware UDP relay: per client session (listening socket, client
// address and port, local address it sent to) one connected upstream socket;
// replies go back from the address and interface the client's datagram
// arrived on. One epoll loop per worker thread; SO_REUSEPORT spreads clients
// over the workers when the relay binds its own sockets.
//
//   RelayOptions options{.upstream = up, .threads = 2};
//   CMSGLIB_ASSIGN_OR_RETURN(auto relay, Relay::Bind(listen_addresses, options));
//   relay->Start();
//   ... relay->StatsLine("stats") ...
//   relay->Stop();   // joins the workers
#ifndef LIB_UDP_RELAY_H_
#define LIB_UDP_RELAY_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"
#include "lib/udp/arrival.h"
#include "lib/udp/cidr.h"
#include "lib/udp/prefix_rate_limiter.h"
#include "lib/udp/source_ports.h"
#include "lib/udp/stats.h"
#include "lib/udp/udp_socket.h"
#include "lib/udp/worker_threads.h"

namespace cmsg::udp {

struct RelayOptions {
  // One or more. With several, each client address is sent to one of them
  // by rendezvous (highest random weight) hashing: stable across restarts,
  // and removing one moves only its clients. One that answers with ICMP
  // unreachable is skipped for kUpstreamDownTime and the session moved.
  std::vector<SocketAddress> upstreams;
  int threads = 1;
  size_t batch = 32;              // datagrams per recvmmsg / sendmmsg
  bool gso = false;               // send coalesced reads with UDP_SEGMENT
  bool gro = false;               // read with UDP_GRO (64 KiB buffers)
  absl::Duration session_timeout = absl::Seconds(60);
  size_t max_sessions = 65536;    // over all workers
  ReplyInterface reply_interface = ReplyInterface::kRoute;
  CidrList allow;                 // empty: every client may open a session
  CidrList deny;                  // wins over allow
  RateLimit new_sessions;         // per source prefix, per worker
  int rcvbuf = 0;                 // listening sockets' SO_RCVBUF (0: default)
  int sndbuf = 0;                 // listening sockets' SO_SNDBUF (0: default)
  // Each datagram leaves with the TOS byte / traffic class (DSCP and ECN)
  // it arrived with; off, with the sockets' default (one control message
  // fewer per datagram received).
  bool carry_tos = true;
  // The monotonic clock in nanoseconds; nullptr: CLOCK_MONOTONIC. Tests
  // stand in their own to play out stalls.
  int64_t (*now_ns)() = nullptr;
  // Client datagrams from these source ports are dropped (drop_reflector_port).
  SourcePortSet denied_source_ports = DefaultDeniedSourcePorts();
};

inline constexpr absl::Duration kUpstreamDownTime = absl::Seconds(10);

class RelayWorker;

class Relay {
 public:
  // Binds every address of `listen` once per worker (SO_REUSEPORT). A port 0
  // is resolved by the first bind and reused by the other workers.
  static absl::StatusOr<std::unique_ptr<Relay>> Bind(
      const std::vector<SocketAddress>& listen, const RelayOptions& options);
  // Serves sockets handed over (socket activation); each socket is served by
  // one worker, so at most `listeners.size()` workers run.
  static absl::StatusOr<std::unique_ptr<Relay>> Adopt(
      std::vector<UniqueFd> listeners, const RelayOptions& options);

  ~Relay();

  void Start();
  // Asks every worker to stop and joins them. Idempotent.
  void Stop();

  // Thread-safe: from now on no new session is opened (their datagrams
  // count as drop_draining); live sessions are still served.
  void Drain();
  // Thread-safe: sessions open now, over all workers.
  [[nodiscard]] uint64_t Sessions() const;

  // Thread-safe: false once a worker has stopped on a failure.
  [[nodiscard]] bool Healthy() const;
  // After Stop(): the first failure a worker stopped on, or OK.
  [[nodiscard]] absl::Status WorkerError() const;
  // Each worker's counters (thread-safe to read).
  [[nodiscard]] std::vector<const Stats*> WorkerStats() const;
  // One line of summed counters.
  [[nodiscard]] std::string StatsLine(absl::string_view prefix) const;
  // The local addresses served (of the first worker's sockets, or adopted).
  [[nodiscard]] const std::vector<SocketAddress>& local_addresses() const {
    return local_addresses_;
  }
  [[nodiscard]] int threads() const { return static_cast<int>(workers_.size()); }

 private:
  Relay() = default;
  static absl::StatusOr<std::unique_ptr<Relay>> Serve(WorkerSockets sockets,
                                                      const RelayOptions& options);
  absl::Status AddWorker(std::vector<UniqueFd> listeners, const RelayOptions& options,
                         size_t max_sessions, const std::vector<SocketAddress>& own);

  std::vector<SocketAddress> local_addresses_;
  WorkerThreads<RelayWorker> workers_;
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_RELAY_H_
