// The launcher <-> shim wire format's constants and structs (handoff.h
// describes the conversation). Only <cstddef>/<cstdint>: sandbox_shim,
// which links no C library, reads them too.
#ifndef SANDBOX_HANDOFF_WIRE_H_
#define SANDBOX_HANDOFF_WIRE_H_

#include <cstddef>
#include <cstdint>

namespace cmsg::sandbox {

// The control socket's number in the shim.
inline constexpr int kShimControlFd = 3;
// Most fds (listening sockets, files and the broker) one sandbox receives.
inline constexpr size_t kMaxPassedFds = 253;
// Most bytes of fd names, argv and env together.
inline constexpr uint32_t kMaxHandoffBlob = 4 << 20;

inline constexpr uint32_t kHandoffMagic = 0x53424f58;  // "SBOX"

struct HandoffHeader {
  uint32_t magic = kHandoffMagic;
  uint32_t fd_count = 0;    // activation fds (excluding the broker)
  uint32_t has_broker = 0;  // 1: one more fd, the broker socket, follows them
  uint32_t argc = 0;
  uint32_t envc = 0;
  uint32_t blob_size = 0;
};

inline constexpr char kShimReady = 'R';

// How the command ended, as the shim saw it from inside.
struct CommandStatus {
  int32_t signaled = 0;  // 1: killed by signal `value`; 0: exited with `value`
  int32_t value = 0;
};

}  // namespace cmsg::sandbox

#endif  // SANDBOX_HANDOFF_WIRE_H_
