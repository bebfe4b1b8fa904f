// One relay worker: an epoll loop over its listening sockets and the
// upstream sockets of its sessions. Run() returns when Stop() is called or
// on a fatal error (epoll itself failing).
#ifndef LIB_UDP_RELAY_WORKER_H_
#define LIB_UDP_RELAY_WORKER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/cmsg/mmsg.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"
#include "lib/udp/datagram_info.h"
#include "lib/udp/datagram_sender.h"
#include "lib/udp/relay.h"
#include "lib/udp/session_table.h"
#include "lib/udp/stats.h"

namespace cmsg::udp {

class RelayWorker {
 public:
  // Owns `listeners`; `max_sessions` is this worker's share; `own` is every
  // listening address of the relay (all workers'), for loop checks.
  RelayWorker(std::vector<UniqueFd> listeners, const RelayOptions& options,
              size_t max_sessions, std::vector<SocketAddress> own);
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
  // The session of `key`, opened if need be; nullptr if refused, with its
  // `datagrams` (a GRO read holds several) counted under the reason.
  Session* SessionFor(const SessionKey& key, int64_t now_ns, uint64_t datagrams);
  absl::StatusOr<UniqueFd> ConnectUpstream(size_t index);
  // Whether `s` may be closed to free a port for a new session, which gets
  // that port: nothing of it waits to be sent and no answer may be due to
  // it (or that answer would reach the new client).
  bool MayGiveUpPort(const Session& s) const;
  // Fewer answers read than datagrams sent, the last sent under
  // kUnansweredGrace ago.
  bool AnswerMayBeDue(const Session& s) const;
  // Closes a session to make room: the longest idle that MayGiveUpPort, if
  // one is found among the longest idle, else the longest idle; counted
  // under `counter`. False if there was none to close. See CloseSession
  // for `keep_port_if_due`.
  bool EvictForRoom(Counter counter, bool keep_port_if_due);
  // The upstream for `client`: the highest rendezvous score among those not
  // marked down (among all if every one is).
  size_t ChooseUpstream(const SocketAddress& client, int64_t now_ns) const;
  // ICMP unreachable from session `s`'s upstream: with several upstreams,
  // mark it down and close the session (its client's next datagram opens
  // one to another upstream).
  void UpstreamFailed(Session& s);
  // The largest reply segment for a client reached through `at`'s interface.
  size_t ReplyMaxSegment(int fd, const Arrival& at, int64_t now_ns);
  // Reads `fd`'s error queue; ICMP errors count under `icmp`. Returns how
  // many ICMP errors it read.
  int DrainErrorQueue(int fd, Counter icmp);
  // Sends the replies queued this loop round: one sendmmsg per listening
  // socket for all the sessions that answered through it.
  void FlushReplies();
  // Runs before session `s` is destroyed (its upstream socket closes with
  // it): sends what waits to go through it. With `keep_port_if_due`, the
  // socket of a session an answer may still be due to is kept instead
  // (parked_), out of epoll, so that its port stays taken; without it (an
  // fd is what is needed), it closes.
  void CloseSession(Session& s, bool keep_port_if_due = true);
  // Closes the parked sockets whose answers are now too late; true if any.
  bool ReleaseParked(int64_t now_ns);
  // Queues datagram i of the last client read, forwards_[i], on out_ for `s`.
  void QueueForward(size_t i, const Session& s);
  // Adds the kernel's drops on the listening sockets since the last look.
  void CountListenerDrops();
  // Adds `c` to the stats and clears it.
  void Account(DatagramSender::Counts& c, bool to_upstream);
  int EpollTimeoutMs(int64_t now_ns) const;
  int64_t NowNs() const { return options_.now_ns(); }
  void ExpireIdle(int64_t now_ns);

  std::vector<UniqueFd> listeners_;
  std::vector<SocketAddress> own_;  // the relay's listening addresses
  std::vector<uint16_t> listener_ports_;
  std::vector<uint32_t> listener_drops_;  // per listener, kernel drops seen last
  int64_t drops_polled_ns_ = 0;
  // The clock read once per loop round, after epoll_wait: the time every
  // datagram of the round is taken to have arrived (idle timeouts and rate
  // limits need no finer).
  int64_t round_ns_ = 0;
  // New sessions are refused without trying for a port until then (see
  // kNoPortBackoffNs); 0 once a session closes or is answered.
  int64_t no_port_until_ns_ = 0;
  // Upstream sockets of closed sessions an answer may still be due to,
  // out of epoll, each kept until its answer would be too late so that its
  // port cannot pass to another client; in order of release.
  struct Parked {
    UniqueFd fd;
    int64_t until_ns;
  };
  std::deque<Parked> parked_;
  RelayOptions options_;
  std::vector<int64_t> upstream_down_until_ns_;  // per upstream
  UniqueFd epoll_;
  UniqueFd wake_;
  SessionTable sessions_;
  PrefixRateLimiter new_session_limit_;
  RecvBatch from_clients_;
  RecvBatch from_upstream_;
  // The control data of the datagrams of the last read, either batch.
  std::vector<DatagramInfo> info_;
  // What OnListener found for each datagram of a client read, before it
  // sends them: its session (nullptr: dropped, or already sent) and what
  // the send needs.
  struct Forward {
    Session* session = nullptr;
    size_t segment = 0;
    uint8_t tos = 0;
  };
  std::vector<Forward> forwards_;
  // While OnListener finds the sessions of a client read: how many entries
  // of forwards_ are filled, for CloseSession to send an evicted session's
  // datagrams first. 0 otherwise.
  size_t sorting_ = 0;
  DatagramSender out_;  // client to upstream, one session at a time
  // Upstream to client, one per listener: replies of every session are
  // copied in as they are read and leave at the end of the loop round.
  std::vector<std::unique_ptr<DatagramSender>> replies_;
  DatagramSender::Counts reply_counts_;
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
