#include "lib/udp/prefix_rate_limiter.h"

#include <algorithm>

#include "lib/udp/cidr.h"

namespace cmsg::udp {

bool PrefixRateLimiter::Allow(const SocketAddress& client, int64_t now_ns) {
  if (!enabled()) return true;
  std::array<uint8_t, 16> bytes;
  bool ipv4;
  if (!AddressBytes(client, bytes, ipv4)) return false;
  Key key{};
  int bits = ipv4 ? limit_.ipv4_prefix : limit_.ipv6_prefix;
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(bits - 8 * i, 0, 8);
    key[i] = static_cast<uint8_t>(bytes[i] & (0xff00 >> keep));
  }
  key[16] = ipv4 ? 1 : 0;
  double burst = limit_.burst > 0 ? limit_.burst : std::max(limit_.per_second, 1.0);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limit_.max_prefixes) buckets_.clear();
    it = buckets_.emplace(key, Bucket{burst, now_ns}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::min(burst, b.tokens + (now_ns - b.updated_ns) * 1e-9 * limit_.per_second);
  b.updated_ns = now_ns;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace cmsg::udp
