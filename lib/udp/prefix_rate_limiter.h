// A token bucket per source prefix (IPv4 /24, IPv6 /56 by default): how
// many new sessions a network may open per second. Bounded: at most
// `max_prefixes` buckets; when that many are tracked, the whole table is
// forgotten (each prefix then starts again from a full bucket), so memory
// stays fixed under a flood of many prefixes. Not thread-safe (one per worker).
//
//   PrefixRateLimiter limit({.per_second = 50, .burst = 100});
//   if (!limit.Allow(client, now_ns)) drop;
#ifndef LIB_UDP_PREFIX_RATE_LIMITER_H_
#define LIB_UDP_PREFIX_RATE_LIMITER_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "lib/net/socket_address.h"

namespace cmsg::udp {

struct RateLimit {
  double per_second = 0;   // 0: no limit
  double burst = 0;        // bucket size; 0: per_second (at least 1)
  int ipv4_prefix = 24;
  int ipv6_prefix = 56;
  size_t max_prefixes = 65536;
};

class PrefixRateLimiter {
 public:
  explicit PrefixRateLimiter(const RateLimit& limit) : limit_(limit) {}

  // Takes one token from the bucket of `client`'s prefix; false if empty.
  [[nodiscard]] bool Allow(const SocketAddress& client, int64_t now_ns);
  [[nodiscard]] bool enabled() const { return limit_.per_second > 0; }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ns = 0;
  };
  using Key = std::array<uint8_t, 17>;  // masked address, then "is IPv4"

  RateLimit limit_;
  absl::flat_hash_map<Key, Bucket> buckets_;
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_PREFIX_RATE_LIMITER_H_
