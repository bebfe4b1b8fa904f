#include "lib/udp/cidr.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cmsg::udp {

bool AddressBytes(const SocketAddress& address, std::array<uint8_t, 16>& bytes,
                  bool& ipv4) {
  bytes.fill(0);
  if (address.family() == AF_INET) {
    std::memcpy(bytes.data(), &address.ipv4().sin_addr, 4);
    ipv4 = true;
    return true;
  }
  if (address.family() == AF_INET6) {
    const in6_addr& a = address.ipv6().sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      std::memcpy(bytes.data(), &a.s6_addr[12], 4);
      ipv4 = true;
    } else {
      std::memcpy(bytes.data(), &a, 16);
      ipv4 = false;
    }
    return true;
  }
  return false;
}

absl::StatusOr<Cidr> Cidr::Parse(absl::string_view text) {
  std::pair<std::string, std::string> parts =
      absl::StrSplit(text, absl::MaxSplits('/', 1));
  Cidr c;
  const std::string& host = parts.first;
  if (inet_pton(AF_INET, host.c_str(), c.bytes.data()) == 1) {
    c.ipv4 = true;
  } else if (inet_pton(AF_INET6, host.c_str(), c.bytes.data()) == 1) {
    c.ipv4 = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not an IP prefix"));
  }
  int max = c.ipv4 ? 32 : 128;
  c.length = max;
  if (text.find('/') != absl::string_view::npos &&
      (!absl::SimpleAtoi(parts.second, &c.length) || c.length < 0 || c.length > max)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': the prefix length must be 0-", max));
  }
  for (int bit = c.length; bit < max; ++bit) {
    if (c.bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "' has bits set beyond its prefix length"));
    }
  }
  return c;
}

bool Cidr::Contains(const SocketAddress& address) const {
  std::array<uint8_t, 16> a;
  bool v4;
  if (!AddressBytes(address, a, v4) || v4 != ipv4) return false;
  int full = length / 8;
  if (std::memcmp(a.data(), bytes.data(), full) != 0) return false;
  int rest = length % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == bytes[full];
}

absl::StatusOr<CidrList> CidrList::Parse(absl::string_view text) {
  CidrList list;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<Cidr> c = Cidr::Parse(absl::StripAsciiWhitespace(item));
    if (!c.ok()) return c.status();
    list.cidrs_.push_back(*c);
  }
  return list;
}

bool CidrList::Contains(const SocketAddress& address) const {
  for (const Cidr& c : cidrs_)
    if (c.Contains(address)) return true;
  return false;
}

}  // namespace cmsg::udp
