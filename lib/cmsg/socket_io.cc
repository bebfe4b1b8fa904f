#include "lib/cmsg/socket_io.h"

#include <cerrno>

#include "lib/cmsg/codec.h"
#include "lib/cmsg/internal/decode.h"
#include "lib/status/errno_status.h"

namespace cmsg {

namespace internal {

absl::Status RecvInto(int fd, msghdr& msg, const RecvOptions& options, ReceivedInfo& info) {
  const size_t control_size = msg.msg_controllen;
  for (;;) {
    msg.msg_name = options.peer ? info.peer.mutable_addr() : nullptr;
    msg.msg_namelen = options.peer ? SocketAddress::capacity() : 0;
    msg.msg_controllen = control_size;
    ssize_t n = recvmsg(fd, &msg, options.flags | MSG_CMSG_CLOEXEC);
    if (ABSL_PREDICT_TRUE(n >= 0)) {
      if (options.peer) info.peer.set_size(msg.msg_namelen);
      info.bytes = static_cast<size_t>(n);
      info.flags = msg.msg_flags;
      return absl::OkStatus();
    }
    if (errno != EINTR) return ErrnoError("recvmsg");
  }
}

absl::StatusOr<size_t> SendWith(int fd, msghdr& msg, const SendOptions& options) {
  if (options.to != nullptr && !options.to->empty()) {
    msg.msg_name = const_cast<sockaddr*>(options.to->addr());
    msg.msg_namelen = options.to->size();
  }
  for (;;) {
    ssize_t n = sendmsg(fd, &msg, options.flags | MSG_NOSIGNAL);
    if (ABSL_PREDICT_TRUE(n >= 0)) return static_cast<size_t>(n);
    if (errno != EINTR) return ErrnoError("sendmsg");
  }
}

}  // namespace internal

absl::StatusOr<size_t> SendMsg(int fd, absl::Span<const iovec> iov,
                               absl::Span<const ControlMessage> control,
                               SendOptions options) {
  alignas(cmsghdr) std::byte buffer[kMaxSendControl];
  absl::StatusOr<size_t> control_len = Encode(control, buffer);
  if (!control_len.ok()) return control_len.status();
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov.data());
  msg.msg_iovlen = iov.size();
  msg.msg_control = *control_len > 0 ? buffer : nullptr;
  msg.msg_controllen = *control_len;
  return internal::SendWith(fd, msg, options);
}

absl::StatusOr<size_t> SendMsg(int fd, absl::string_view data,
                               absl::Span<const ControlMessage> control,
                               SendOptions options) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  return SendMsg(fd, absl::MakeConstSpan(&iov, 1), control, options);
}

absl::StatusOr<ReceivedMessage> RecvMsg(int fd, absl::Span<const iovec> iov,
                                        absl::Span<std::byte> control,
                                        RecvOptions options) {
  // Built in place: the message (and its fds) is never moved.
  absl::StatusOr<ReceivedMessage> result(absl::in_place);
  ReceivedMessage& out = *result;
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov.data());
  msg.msg_iovlen = iov.size();
  msg.msg_control = control.empty() ? nullptr : control.data();
  msg.msg_controllen = control.size();
  if (absl::Status s = internal::RecvInto(fd, msg, options, out); ABSL_PREDICT_FALSE(!s.ok())) {
    result = std::move(s);
    return result;
  }
  out.control_status = internal::DecodeReceivedInto(ReceivedControl::Adopt(msg).bytes(),
                                                    msg.msg_flags, control.size(),
                                                    /*adopt_fds=*/true, out.control);
  return result;
}

absl::StatusOr<ReceivedMessage> RecvMsg(int fd, absl::Span<char> data,
                                        absl::Span<std::byte> control,
                                        RecvOptions options) {
  iovec iov{data.data(), data.size()};
  return RecvMsg(fd, absl::MakeConstSpan(&iov, 1), control, options);
}

}  // namespace cmsg
