#include "lib/net/socket_address.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

absl::StatusOr<uint16_t> ParsePort(absl::string_view text, absl::string_view whole) {
  uint32_t port = 0;
  if (text.empty() || !absl::SimpleAtoi(text, &port) || port > 65535 ||
      text.find_first_not_of("0123456789") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port \"", text, "\" in address \"", whole, "\""));
  }
  return static_cast<uint16_t>(port);
}

}  // namespace

absl::StatusOr<SocketAddress> SocketAddress::Parse(absl::string_view text) {
  if (absl::StartsWith(text, "unix:")) return Unix(text.substr(5));
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad address \"", text, "\": ", why,
                     " (want 1.2.3.4:PORT, [::1]:PORT or unix:/PATH)"));
  };
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos) return bad("missing ']'");
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return bad("missing :PORT after ']'");
    std::string host(text.substr(1, close - 1));
    uint32_t scope = 0;
    if (size_t pct = host.find('%'); pct != std::string::npos) {
      std::string ifname = host.substr(pct + 1);
      host.resize(pct);
      if (!absl::SimpleAtoi(ifname, &scope)) {
        scope = if_nametoindex(ifname.c_str());
        if (scope == 0) return bad(absl::StrCat("no interface \"", ifname, "\""));
      }
    }
    in6_addr addr;
    if (inet_pton(AF_INET6, host.c_str(), &addr) != 1)
      return bad("not an IPv6 address");
    auto port = ParsePort(text.substr(close + 2), text);
    if (!port.ok()) return port.status();
    return Ipv6(addr, *port, scope);
  }
  size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) return bad("missing :PORT");
  std::string host(text.substr(0, colon));
  in_addr addr;
  if (inet_pton(AF_INET, host.c_str(), &addr) != 1) {
    return bad(host.find(':') != std::string::npos
                   ? "IPv6 addresses need brackets"
                   : "not an IPv4 address");
  }
  auto port = ParsePort(text.substr(colon + 1), text);
  if (!port.ok()) return port.status();
  return Ipv4(addr, *port);
}

absl::StatusOr<SocketAddress> SocketAddress::FromSockaddr(const ::sockaddr* addr,
                                                          socklen_t len) {
  if (len > sizeof(sockaddr_storage)) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket address of ", len, " bytes is too long"));
  }
  SocketAddress a;
  std::memcpy(&a.storage_, addr, len);
  a.size_ = len;
  return a;
}

SocketAddress SocketAddress::Ipv4(in_addr addr, uint16_t port) {
  SocketAddress a;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr = addr;
  sin.sin_port = htons(port);
  std::memcpy(&a.storage_, &sin, sizeof(sin));
  a.size_ = sizeof(sin);
  return a;
}

SocketAddress SocketAddress::Ipv6(const in6_addr& addr, uint16_t port,
                                  uint32_t scope_id) {
  SocketAddress a;
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_addr = addr;
  sin6.sin6_port = htons(port);
  sin6.sin6_scope_id = scope_id;
  std::memcpy(&a.storage_, &sin6, sizeof(sin6));
  a.size_ = sizeof(sin6);
  return a;
}

absl::StatusOr<SocketAddress> SocketAddress::Unix(absl::string_view path) {
  sockaddr_un sun{};
  if (path.empty()) return absl::InvalidArgumentError("empty unix socket path");
  if (path.size() >= sizeof(sun.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unix socket path \"", path, "\" is longer than ", sizeof(sun.sun_path) - 1,
        " bytes"));
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());
  bool abstract = path[0] == '@';
  if (abstract) sun.sun_path[0] = '\0';
  SocketAddress a;
  std::memcpy(&a.storage_, &sun, sizeof(sun));
  // Abstract names are exactly as long as given; paths include the NUL.
  a.size_ = offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1);
  return a;
}

absl::StatusOr<SocketAddress> SocketAddress::LocalOf(int fd) {
  SocketAddress a;
  socklen_t len = sizeof(a.storage_);
  if (getsockname(fd, a.mutable_addr(), &len) < 0)
    return ErrnoError("getsockname");
  a.size_ = len;
  return a;
}

absl::StatusOr<SocketAddress> SocketAddress::PeerOf(int fd) {
  SocketAddress a;
  socklen_t len = sizeof(a.storage_);
  if (getpeername(fd, a.mutable_addr(), &len) < 0)
    return ErrnoError("getpeername");
  a.size_ = len;
  return a;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(ipv4().sin_port);
  if (family() == AF_INET6) return ntohs(ipv6().sin6_port);
  return 0;
}

void SocketAddress::set_port(uint16_t port) {
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  }
}

bool SocketAddress::is_wildcard() const {
  if (family() == AF_INET) return ipv4().sin_addr.s_addr == htonl(INADDR_ANY);
  if (family() == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(&ipv6().sin6_addr);
  return false;
}

std::string AddressToString(const in_addr& addr) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr, buf, sizeof(buf));
  return buf;
}

std::string AddressToString(const in6_addr& addr) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &addr, buf, sizeof(buf));
  return buf;
}

std::string SocketAddress::ToString() const {
  switch (family()) {
    case AF_INET:
      return absl::StrCat(AddressToString(ipv4().sin_addr), ":", port());
    case AF_INET6: {
      std::string scope;
      if (ipv6().sin6_scope_id != 0) {
        char name[IF_NAMESIZE];
        scope = absl::StrCat("%", if_indextoname(ipv6().sin6_scope_id, name)
                                      ? name
                                      : absl::StrCat(ipv6().sin6_scope_id));
      }
      return absl::StrCat("[", AddressToString(ipv6().sin6_addr), scope, "]:",
                          port());
    }
    case AF_UNIX: {
      const auto* sun = reinterpret_cast<const sockaddr_un*>(&storage_);
      size_t n = size_ > offsetof(sockaddr_un, sun_path)
                     ? size_ - offsetof(sockaddr_un, sun_path)
                     : 0;
      if (n == 0) return "unix:(unnamed)";
      if (sun->sun_path[0] == '\0')
        return absl::StrCat("unix:@", absl::string_view(sun->sun_path + 1, n - 1));
      return absl::StrCat("unix:", absl::string_view(sun->sun_path, strnlen(sun->sun_path, n)));
    }
    case AF_UNSPEC:
      return "(none)";
    default:
      return absl::StrCat("(family ", family(), ")");
  }
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
  return a.size_ == b.size_ && std::memcmp(&a.storage_, &b.storage_, a.size_) == 0;
}

}  // namespace cmsg
