// What `fdstore list` prints for a stored fd: its kind and local address.
//
//   FdDescription d = DescribeFd(fd.get());  // {"tcp", "127.0.0.1:8080"}
#ifndef LIB_FDSTORE_DESCRIBE_H_
#define LIB_FDSTORE_DESCRIBE_H_

#include <string>

namespace cmsg::fdstore {

struct FdDescription {
  // tcp, udp, sctp, unix, unix-dgram, unix-seqpacket, socket, file, dir,
  // pipe, char, block, other.
  std::string kind;
  // The socket's local address ("127.0.0.1:8080", "unix:/run/x"), else "-".
  std::string address;
};

[[nodiscard]] FdDescription DescribeFd(int fd);

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_DESCRIBE_H_
