// SocketAddress: an IPv4, IPv6 or unix socket address, by value.
//
//   absl::StatusOr<SocketAddress> a = SocketAddress::Parse("[::1]:53");
//   bind(fd, a->addr(), a->size());
//   std::string s = a->ToString();   // "[::1]:53", "1.2.3.4:53", "unix:/run/x"
#ifndef LIB_NET_SOCKET_ADDRESS_H_
#define LIB_NET_SOCKET_ADDRESS_H_

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace cmsg {

class SocketAddress {
 public:
  // An empty address (family AF_UNSPEC, size 0).
  SocketAddress() = default;

  // Parses "1.2.3.4:53", "[::1]:53", "[fe80::1%eth0]:53", "unix:/path" or
  // "unix:@abstract". Ports are required for IP addresses.
  static absl::StatusOr<SocketAddress> Parse(absl::string_view text);
  // Copies `len` bytes of `addr`; rejects lengths beyond sockaddr_storage.
  static absl::StatusOr<SocketAddress> FromSockaddr(const sockaddr* addr,
                                                    socklen_t len);
  static SocketAddress Ipv4(in_addr addr, uint16_t port);
  static SocketAddress Ipv6(const in6_addr& addr, uint16_t port,
                            uint32_t scope_id = 0);
  static absl::StatusOr<SocketAddress> Unix(absl::string_view path);

  // The local / remote address of a socket.
  static absl::StatusOr<SocketAddress> LocalOf(int fd);
  static absl::StatusOr<SocketAddress> PeerOf(int fd);

  [[nodiscard]] sa_family_t family() const { return storage_.ss_family; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  // Port in host order; 0 for unix or empty addresses.
  [[nodiscard]] uint16_t port() const;
  void set_port(uint16_t port);
  // True for 0.0.0.0 and ::.
  [[nodiscard]] bool is_wildcard() const;

  [[nodiscard]] const ::sockaddr* addr() const {
    return reinterpret_cast<const ::sockaddr*>(&storage_);
  }
  [[nodiscard]] ::sockaddr* mutable_addr() {
    return reinterpret_cast<::sockaddr*>(&storage_);
  }
  [[nodiscard]] socklen_t size() const { return size_; }
  // For recvfrom-style calls: set the size the kernel reported.
  void set_size(socklen_t size) { size_ = size; }
  [[nodiscard]] static constexpr socklen_t capacity() {
    return sizeof(sockaddr_storage);
  }

  // Only meaningful for the matching family.
  [[nodiscard]] const sockaddr_in& ipv4() const {
    return *reinterpret_cast<const sockaddr_in*>(&storage_);
  }
  [[nodiscard]] const sockaddr_in6& ipv6() const {
    return *reinterpret_cast<const sockaddr_in6*>(&storage_);
  }

  [[nodiscard]] std::string ToString() const;

  friend bool operator==(const SocketAddress& a, const SocketAddress& b);
  template <typename H>
  friend H AbslHashValue(H h, const SocketAddress& a) {
    return H::combine_contiguous(std::move(h),
                                 reinterpret_cast<const unsigned char*>(&a.storage_),
                                 a.size_);
  }

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

// Text form of an address alone (no port): "1.2.3.4", "::1".
std::string AddressToString(const in_addr& addr);
std::string AddressToString(const in6_addr& addr);

}  // namespace cmsg

#endif  // LIB_NET_SOCKET_ADDRESS_H_
