// Counters of one worker thread, written by that thread only and read by the
// thread that prints them; and the one-line text form of their sum.
//
//   stats.Add(cmsg::udp::Counter::kClientRxPackets, n);
//   std::string line = cmsg::udp::StatsLine("stats", {&a, &b});
//   // "stats client_rx_packets=12 client_rx_bytes=640 ... sessions=3"
#ifndef LIB_UDP_STATS_H_
#define LIB_UDP_STATS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cmsg::udp {

enum class Counter : size_t {
  kClientRxPackets,
  kClientRxBytes,
  kUpstreamTxPackets,
  kUpstreamTxBytes,
  kUpstreamRxPackets,
  kUpstreamRxBytes,
  kClientTxPackets,
  kClientTxBytes,
  kSessionsCreated,
  kSessionsEvicted,
  kSessionsExpired,
  kSessionsEvictedForPort,  // closed because no ephemeral port was left
  kSessionsEvictedForFd,    // closed because the fd limit was reached
  kDropNoPacketInfo,     // arrived without IP_PKTINFO: no way to reply right
  kDropBadControl,       // truncated or malformed control data
  kDropTruncated,        // larger than the read buffer
  kDropUpstreamSend,     // upstream socket refused or was full
  kDropClientSend,       // the reply could not be sent to the client
  kDropNoSession,        // failed to open an upstream socket
  kErrUpstreamUnreachable,  // ICMP errors read from upstream error queues
  kErrClientUnreachable,  // ICMP errors for replies, read from a listener
  kErrSocket,            // other socket errors
  kDropLoop,             // from the upstream, or this host with a listening port: would loop
  kDropRxQueueOverflow,  // dropped by the kernel, listener queue full (SO_MEMINFO)
  kDropDraining,         // a new client while draining (SIGTERM, --drain_timeout)
  kDropDenied,           // a new client outside --allow or inside --deny
  kDropRateLimited,      // a new client over --new_session_rate for its prefix
  kDropReflectorPort,    // from a source port in the deny set (Loop DoS)
  kUpstreamFailovers,    // sessions moved off an upstream that was unreachable
  kGsoFallbacks,         // GSO sends refused (EIO/EINVAL), resent plain
  kCount,
};

// The counter's name in a stats line ("client_rx_packets").
absl::string_view CounterName(Counter c);

class Stats {
 public:
  // Only the owning thread writes, so a relaxed load+store is enough and
  // cheaper than an atomic increment.
  void Add(Counter c, uint64_t n = 1) {
    auto& v = values_[static_cast<size_t>(c)];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t Get(Counter c) const {
    return values_[static_cast<size_t>(c)].load(std::memory_order_relaxed);
  }
  // A gauge: sessions open now.
  void SetSessions(uint64_t n) { sessions_.store(n, std::memory_order_relaxed); }
  [[nodiscard]] uint64_t sessions() const {
    return sessions_.load(std::memory_order_relaxed);
  }
  // The latest error that dropped datagrams or failed a call, with what it
  // hit ("to upstream: sendmmsg: No route to host"). Called on errors only.
  void SetLastError(absl::string_view what, absl::string_view message);
  // {sequence (0: none yet), message}; the sequence orders workers' errors.
  [[nodiscard]] std::pair<uint64_t, std::string> last_error() const;

 private:
  mutable std::mutex error_mu_;
  uint64_t error_seq_ = 0;
  std::string last_error_;
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Counter::kCount)> values_{};
  std::atomic<uint64_t> sessions_{0};
};

// "<prefix> name=value ... sessions=N", summed over `stats`: every counter,
// or only those in `only` (and then no sessions gauge); then
// last_error="..." (the newest of any worker's) once there is one.
std::string StatsLine(absl::string_view prefix, absl::Span<const Stats* const> stats,
                      absl::Span<const Counter> only = {});

}  // namespace cmsg::udp

#endif  // LIB_UDP_STATS_H_
