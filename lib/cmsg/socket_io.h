// sendmsg / recvmsg with typed control messages.
//
//   int fds[] = {file.get()};
//   CMSGLIB_RETURN_IF_ERROR(cmsg::SendMsg(sock, "hi", {cmsg::ScmRights{fds}}).status());
//
//   cmsg::ControlBuffer<cmsg::Fds<4>> control;
//   char data[64];
//   CMSGLIB_ASSIGN_OR_RETURN(cmsg::ReceivedMessage m, cmsg::RecvMsg(sock, data, control.span()));
//   if (auto* r = m.Find<cmsg::ScmRightsOwned>()) use(std::move(r->fds[0]));
//
// Both retry EINTR. Received fds always arrive close-on-exec.
#ifndef LIB_CMSG_SOCKET_IO_H_
#define LIB_CMSG_SOCKET_IO_H_

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lib/cmsg/messages.h"
#include "lib/net/socket_address.h"

namespace cmsg {

// Largest control data SendMsg encodes (on its stack, never the heap).
inline constexpr size_t kMaxSendControl = 2048;

struct SendOptions {
  // Destination for unconnected sockets; nullptr for connected ones.
  const SocketAddress* to = nullptr;
  // MSG_* flags for sendmsg (MSG_NOSIGNAL is always added).
  int flags = 0;
};

// Sends `iov` with `control`. Returns the bytes sent (possibly fewer than
// given on stream sockets).
[[nodiscard]] absl::StatusOr<size_t> SendMsg(
    int fd, absl::Span<const iovec> iov,
    absl::Span<const ControlMessage> control, SendOptions options = {});
[[nodiscard]] absl::StatusOr<size_t> SendMsg(
    int fd, absl::string_view data, absl::Span<const ControlMessage> control,
    SendOptions options = {});

// One received message: its size, flags, sender, decoded control data and
// whether that control data arrived whole.
struct ReceivedMessage {
  // Data bytes received (with MSG_TRUNC in the call flags: the real length).
  size_t bytes = 0;
  // msg_flags as the kernel set them (MSG_TRUNC, MSG_ERRQUEUE, MSG_EOR, ...).
  int flags = 0;
  // The sender, where the socket reports one; empty otherwise.
  SocketAddress peer;
  // Decoded control messages; owns any received fds.
  ControlMessages control;
  // OK when `control` holds every control message the kernel had for this
  // message. Otherwise (MSG_CTRUNC: the control buffer was too small or the
  // fd limit was reached; or malformed control data) says what was lost,
  // `control` is empty and every fd that arrived is already closed; the
  // data, `bytes`, `flags` and `peer` are still valid. A caller that wants
  // an error asks for it: CMSGLIB_RETURN_IF_ERROR(m.control_status).
  absl::Status control_status;

  // True when the datagram was longer than the buffer given.
  [[nodiscard]] bool data_truncated() const { return flags & MSG_TRUNC; }
  // True when the kernel had more control data than the buffer held.
  [[nodiscard]] bool control_truncated() const { return flags & MSG_CTRUNC; }
  template <typename T>
  [[nodiscard]] const T* Find() const { return cmsg::Find<T>(control); }
  template <typename T>
  [[nodiscard]] T* Find() { return cmsg::Find<T>(control); }
};

// Receives one message into `iov` with up to `control.size()` bytes of
// control data (size it with ControlBuffer). Fails only if recvmsg fails
// (would-block: IsWouldBlock). Truncated control data (MSG_CTRUNC: too small
// a buffer, or the kernel could not install every fd) does not fail the
// call, since the kernel has consumed the data: the message comes back with
// its data and a non-OK `control_status`, and the fds that did arrive are
// closed. A recvmsg that returns 0 on a stream socket is a message of 0
// bytes (end of stream).
[[nodiscard]] absl::StatusOr<ReceivedMessage> RecvMsg(
    int fd, absl::Span<const iovec> iov, absl::Span<std::byte> control,
    int flags = 0);
[[nodiscard]] absl::StatusOr<ReceivedMessage> RecvMsg(
    int fd, absl::Span<char> data, absl::Span<std::byte> control,
    int flags = 0);

}  // namespace cmsg

#endif  // LIB_CMSG_SOCKET_IO_H_
