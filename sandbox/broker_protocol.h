// The file broker's wire format (BROKER_PROTOCOL.md says it in prose for
// clients in other languages). One SOCK_SEQPACKET datagram per request,
// one per reply, in host byte order:
//
//   request: uint32 flags (open(2) O_* bits), uint32 mode (for O_CREAT),
//            then the absolute path's bytes (no NUL), at most PATH_MAX-1.
//   reply:   int32 error: 0 and one fd as SCM_RIGHTS, or an errno value.
#ifndef SANDBOX_BROKER_PROTOCOL_H_
#define SANDBOX_BROKER_PROTOCOL_H_

#include <fcntl.h>

#include <cstdint>

namespace cmsg::sandbox {

// The environment variable holding the broker socket's fd number.
inline constexpr char kBrokerFdEnv[] = "SANDBOX_BROKER_FD";

struct BrokerRequest {
  uint32_t flags = 0;
  uint32_t mode = 0;
  // followed by the path
};

struct BrokerReply {
  int32_t error = 0;
};

// The open flags a request may carry; anything else is EINVAL.
inline constexpr uint32_t kBrokerAllowedFlags = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC |
                                                O_APPEND | O_DIRECTORY | O_NOFOLLOW |
                                                O_CLOEXEC | O_NONBLOCK;

}  // namespace cmsg::sandbox

#endif  // SANDBOX_BROKER_PROTOCOL_H_
