// Real sockets and fd counting for the cmsg tests.
//
//   UniqueFd rx = BoundUdpSocket(AF_INET);        // 127.0.0.1, any port
//   UnixPair pair = MakeUnixPair(SOCK_DGRAM);
//   int before = CountOpenFds();
#ifndef LIB_CMSG_TESTING_TEST_SOCKETS_H_
#define LIB_CMSG_TESTING_TEST_SOCKETS_H_

#include <sys/socket.h>

#include <string>

#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"

namespace cmsg::testing {

// Entries in /proc/self/fd (not counting the one used to list them); -1 on
// failure.
int CountOpenFds();

// The RLIMIT_NOFILE soft limit under which exactly `n` more fds can be
// opened (the kernel hands out the lowest free numbers below the limit).
int LimitAllowingNewFds(int n);

// A connected AF_UNIX pair of `type` (SOCK_STREAM, SOCK_DGRAM or
// SOCK_SEQPACKET), close-on-exec. Both ends are -1 on failure.
struct UnixPair {
  UniqueFd a;
  UniqueFd b;
};
UnixPair MakeUnixPair(int type);

// A UDP socket of `family` bound to the loopback address and an ephemeral
// port (-1 on failure).
UniqueFd BoundUdpSocket(int family);

// The local address of `fd` (empty on failure).
SocketAddress LocalAddress(int fd);

// Moves the process into a network namespace of its own with loopback up
// (a new user namespace too when CLONE_NEWNET alone is not permitted), so
// a test may change interfaces and socket marks with CAP_NET_ADMIN over it.
// Once per process, before any thread starts; later calls return the first
// result. Empty on success, else why not.
std::string EnterOwnNetworkNamespace();

// Sets the MTU of the loopback interface (in a namespace of our own). Empty
// on success, else why not.
std::string SetLoopbackMtu(int mtu);

// A file (unlinked, close-on-exec) holding `contents` at offset 0.
UniqueFd TempFileWith(const char* contents);

// Up to 256 bytes of the file `fd` from offset 0 ("" on failure).
std::string ReadFromStart(int fd);

}  // namespace cmsg::testing

#endif  // LIB_CMSG_TESTING_TEST_SOCKETS_H_
