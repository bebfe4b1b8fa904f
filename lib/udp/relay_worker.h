// One relay worker: an epoll loop over its listening sockets and the
// upstream sockets of its sessions. Run() returns when Stop() is called or
// on a fatal error (epoll itself failing).
#ifndef LIB_UDP_RELAY_WORKER_H_
#define LIB_UDP_RELAY_WORKER_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/cmsg/mmsg.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"
#include "lib/udp/datagram_sender.h"
#include "lib/udp/relay.h"
#include "lib/udp/session_table.h"
#include "lib/udp/stats.h"

namespace cmsg::udp {

class RelayWorker {
 public:
  // Owns `listeners`; `max_sessions` is this worker's share.
  RelayWorker(std::vector<UniqueFd> listeners, const RelayOptions& options,
              size_t max_sessions);
  RelayWorker(const RelayWorker&) = delete;
  RelayWorker& operator=(const RelayWorker&) = delete;

  // Creates the epoll set and the wake-up eventfd.
  [[nodiscard]] absl::Status Init();
  // The loop. Sets error() if it stops on a failure.
  void Run();
  // Thread-safe: wakes the loop and makes it return.
  void Stop();
  // Thread-safe: no new sessions from now on.
  void Drain() { draining_.store(true, std::memory_order_relaxed); }

  [[nodiscard]] const Stats& stats() const { return stats_; }
  // Valid once Run() has returned.
  [[nodiscard]] const absl::Status& error() const { return error_; }
  // Thread-safe: whether Run() stopped on a failure.
  [[nodiscard]] bool failed() const { return failed_.load(); }

 private:
  void OnListener(int index, uint32_t events);
  // Whether a datagram from `peer` that arrived at `at` would loop.
  bool IsLoop(const SocketAddress& peer, const Arrival& at, int listener);
  void OnUpstream(uint64_t session_id, uint32_t events);
  Session* SessionFor(const SessionKey& key, int64_t now_ns);
  absl::StatusOr<UniqueFd> ConnectUpstream();
  // The largest reply segment for a client reached through `at`'s interface.
  size_t ReplyMaxSegment(int fd, const Arrival& at, int64_t now_ns);
  // Reads `fd`'s error queue; ICMP errors count under `icmp`.
  void DrainErrorQueue(int fd, Counter icmp);
  void CloseSession(Session& s);
  void Account(const DatagramSender::Counts& c, bool to_upstream);
  int EpollTimeoutMs(int64_t now_ns) const;
  void ExpireIdle(int64_t now_ns);

  std::vector<UniqueFd> listeners_;
  std::vector<uint16_t> listener_ports_;
  std::vector<uint32_t> rxq_dropped_;  // per listener, SO_RXQ_OVFL seen last
  RelayOptions options_;
  UniqueFd epoll_;
  UniqueFd wake_;
  SessionTable sessions_;
  PrefixRateLimiter new_session_limit_;
  RecvBatch from_clients_;
  RecvBatch from_upstream_;
  DatagramSender out_;
  // The session whose datagrams are queued in out_ (client to upstream).
  Session* queued_for_ = nullptr;
  DatagramSender::Counts counts_;
  absl::flat_hash_map<int64_t, size_t> mtu_cache_;  // ifindex*2+v6 -> payload
  int64_t mtu_cache_since_ns_ = 0;
  Stats stats_;
  absl::Status error_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> draining_{false};
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_RELAY_WORKER_H_
