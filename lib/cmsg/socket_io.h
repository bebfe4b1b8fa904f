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
// The fast path, for kinds known at compile time: no variant, no list, no
// heap.
//
//   CMSGLIB_RETURN_IF_ERROR(cmsg::SendMsg(sock, "hi", cmsg::ScmRights{fds}).status());
//   CMSGLIB_ASSIGN_OR_RETURN(cmsg::ReceivedInfo info, cmsg::RecvMsg(sock, data, control.span(),
//       [&](cmsg::OwnedFdRange& r) { file = r.Take(0); }));
//
// All retry EINTR. Received fds always arrive close-on-exec.
#ifndef LIB_CMSG_SOCKET_IO_H_
#define LIB_CMSG_SOCKET_IO_H_

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/base/optimization.h"
#include "lib/cmsg/codec.h"
#include "lib/cmsg/messages.h"
#include "lib/cmsg/visit.h"
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

// How RecvMsg calls recvmsg.
struct RecvOptions {
  // MSG_* flags for recvmsg (MSG_CMSG_CLOEXEC is always added).
  int flags = 0;
  // Whether to ask for the sender's address (ReceivedInfo::peer). A
  // connected socket (stream, seqpacket, a socketpair) knows its peer
  // already: false spares the kernel the address copy on every receive,
  // which is what a hand-written recvmsg with no msg_name does.
  bool peer = true;
};

// What recvmsg reported about one message: its size, flags, sender and
// whether its control data arrived whole.
struct ReceivedInfo {
  // Data bytes received (with MSG_TRUNC in the call flags: the real length).
  size_t bytes = 0;
  // msg_flags as the kernel set them (MSG_TRUNC, MSG_ERRQUEUE, MSG_EOR, ...).
  int flags = 0;
  // The sender, where the socket reports one and the call asked for it
  // (RecvOptions::peer); empty otherwise.
  SocketAddress peer;
  // OK when every control message the kernel had for this message was
  // decoded. Otherwise (MSG_CTRUNC: the control buffer was too small or the
  // fd limit was reached; or malformed control data) says what was lost, no
  // control message is given to the caller and every fd that arrived is
  // already closed; the data, `bytes`, `flags` and `peer` are still valid. A
  // caller that wants an error asks for it:
  // CMSGLIB_RETURN_IF_ERROR(m.control_status).
  absl::Status control_status;

  // True when the datagram was longer than the buffer given.
  [[nodiscard]] bool data_truncated() const { return flags & MSG_TRUNC; }
  // True when the kernel had more control data than the buffer held.
  [[nodiscard]] bool control_truncated() const { return flags & MSG_CTRUNC; }
};

// One received message with its decoded control data.
struct ReceivedMessage : ReceivedInfo {
  // Decoded control messages; owns any received fds. Empty unless
  // control_status is OK.
  ControlMessages control;

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
    RecvOptions options = {});
[[nodiscard]] absl::StatusOr<ReceivedMessage> RecvMsg(
    int fd, absl::Span<char> data, absl::Span<std::byte> control,
    RecvOptions options = {});

// ------------------------------------------------------------ fast path

// Receives one message as RecvMsg does (MSG_CMSG_CLOEXEC, EINTR retried,
// the same MSG_CTRUNC contract) but hands each control message to `visitor`
// as ForEachMessage (visit.h) does instead of building a list: `const T&`
// for values, `OwnedFdRange&` for SCM_RIGHTS (fds not taken are closed when
// the visitor returns), `ScmPidfd&`, `const UnknownView&`. The visitor runs
// before this returns, and only if the control data is whole and well
// formed; otherwise `control_status` says why and every fd that arrived is
// closed. Allocates nothing.
//
//   cmsg::ControlBuffer<cmsg::Fds<1>> control;
//   UniqueFd file;
//   CMSGLIB_ASSIGN_OR_RETURN(cmsg::ReceivedInfo info, cmsg::RecvMsg(sock, data, control.span(),
//       [&](cmsg::OwnedFdRange& fds) { file = fds.Take(0); }));
//   CMSGLIB_RETURN_IF_ERROR(info.control_status);  // if truncation is an error here
template <typename Visitor>
  requires VisitsSomeKind<Visitor>
[[nodiscard]] absl::StatusOr<ReceivedInfo> RecvMsg(int fd, absl::Span<const iovec> iov,
                                                   absl::Span<std::byte> control,
                                                   Visitor&& visitor, RecvOptions options = {});
template <typename Visitor>
  requires VisitsSomeKind<Visitor>
[[nodiscard]] absl::StatusOr<ReceivedInfo> RecvMsg(int fd, absl::Span<char> data,
                                                   absl::Span<std::byte> control,
                                                   Visitor&& visitor, RecvOptions options = {});

namespace internal {
template <typename T>
inline constexpr bool kIsSendOptions = std::is_same_v<T, SendOptions>;
// Sendable kinds, then at most one SendOptions, last.
template <typename... Args>
constexpr bool ValidSendArgs() {
  constexpr bool options[] = {kIsSendOptions<Args>..., false};
  size_t count = 0;
  for (bool o : options) count += o;
  if (count > 1 || (count == 1 && !options[sizeof...(Args) - 1])) return false;
  return ((kIsSendOptions<Args> || SendableKind<Args>) && ...);
}
template <typename... Args>
concept SendArgs = ValidSendArgs<Args...>();
}  // namespace internal

// Sends `data` (or `iov`) with one control message per argument, the kinds
// known at compile time, and SendOptions last if needed:
//
//   SendMsg(sock, "x", ScmRights{fds});
//   SendMsg(udp, "pong", Ipv4PacketInfo{.ifindex = 0, .spec_dst = local}, SendOptions{.to = &peer});
//
// The control data is encoded on the stack into a buffer of
// kMaxEncodedSize of the kinds given (a constant: an ScmRights reserves room
// for 253 fds, an AlgSetIv for kMaxTypedIvBytes), never the heap. Same
// checks, errors, MSG_NOSIGNAL and EINTR retry as the list form.
template <typename... Args>
  requires internal::SendArgs<Args...>
[[nodiscard]] absl::StatusOr<size_t> SendMsg(int fd, absl::string_view data,
                                             const Args&... args);
template <typename... Args>
  requires internal::SendArgs<Args...>
[[nodiscard]] absl::StatusOr<size_t> SendMsg(int fd, absl::Span<const iovec> iov,
                                             const Args&... args);

// ---------------------------------------------------------------- details

namespace internal {

// recvmsg(fd, msg, options.flags | MSG_CMSG_CLOEXEC) with EINTR retried,
// the sender into `info.peer` if options.peer (msg_name is set here); fills
// info's bytes, flags, peer.
// On success msg_controllen and msg_flags are as the kernel left them.
[[nodiscard]] absl::Status RecvInto(int fd, msghdr& msg, const RecvOptions& options,
                                    ReceivedInfo& info);

// sendmsg with MSG_NOSIGNAL and options.to, EINTR retried.
[[nodiscard]] absl::StatusOr<size_t> SendWith(int fd, msghdr& msg, const SendOptions& options);

template <typename... Ms>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> SendTyped(
    int fd, absl::Span<const iovec> iov, const SendOptions& options, const Ms&... messages) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov.data());
  msg.msg_iovlen = iov.size();
  if constexpr (sizeof...(Ms) == 0) {
    return SendWith(fd, msg, options);
  } else {
    alignas(cmsghdr) std::byte buffer[kMaxEncodedSize<Ms...>];
    absl::StatusOr<size_t> len = EncodeTyped(buffer, messages...);
    if (ABSL_PREDICT_FALSE(!len.ok())) return len;
    msg.msg_control = buffer;
    msg.msg_controllen = *len;
    return SendWith(fd, msg, options);
  }
}

// Splits off the trailing SendOptions, if any.
template <typename Tuple, size_t... I>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> SendArgsSplit(
    int fd, absl::Span<const iovec> iov, const Tuple& args, std::index_sequence<I...>) {
  constexpr size_t n = std::tuple_size_v<Tuple>;
  if constexpr (sizeof...(I) < n) {  // the last argument is the options
    return SendTyped(fd, iov, std::get<n - 1>(args), std::get<I>(args)...);
  } else {
    return SendTyped(fd, iov, SendOptions{}, std::get<I>(args)...);
  }
}

}  // namespace internal

template <typename Visitor>
  requires VisitsSomeKind<Visitor>
absl::StatusOr<ReceivedInfo> RecvMsg(int fd, absl::Span<const iovec> iov,
                                     absl::Span<std::byte> control, Visitor&& visitor,
                                     RecvOptions options) {
  // Built in place: the result is never moved.
  absl::StatusOr<ReceivedInfo> result(absl::in_place);
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov.data());
  msg.msg_iovlen = iov.size();
  msg.msg_control = control.empty() ? nullptr : control.data();
  msg.msg_controllen = control.size();
  if (absl::Status s = internal::RecvInto(fd, msg, options, *result); ABSL_PREDICT_FALSE(!s.ok())) {
    result = std::move(s);
    return result;
  }
  result->control_status =
      internal::VisitReceived(ReceivedControl::Adopt(msg), control.size(), visitor);
  return result;
}

template <typename Visitor>
  requires VisitsSomeKind<Visitor>
absl::StatusOr<ReceivedInfo> RecvMsg(int fd, absl::Span<char> data,
                                     absl::Span<std::byte> control, Visitor&& visitor,
                                     RecvOptions options) {
  iovec iov{data.data(), data.size()};
  return RecvMsg(fd, absl::MakeConstSpan(&iov, 1), control, visitor, options);
}

template <typename... Args>
  requires internal::SendArgs<Args...>
absl::StatusOr<size_t> SendMsg(int fd, absl::Span<const iovec> iov, const Args&... args) {
  // Every argument but the trailing SendOptions, if any, is a message.
  constexpr size_t kMessages = (size_t{0} + ... + !internal::kIsSendOptions<Args>);
  return internal::SendArgsSplit(fd, iov, std::forward_as_tuple(args...),
                                 std::make_index_sequence<kMessages>());
}

template <typename... Args>
  requires internal::SendArgs<Args...>
absl::StatusOr<size_t> SendMsg(int fd, absl::string_view data, const Args&... args) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  return SendMsg(fd, absl::MakeConstSpan(&iov, 1), args...);
}

}  // namespace cmsg

#endif  // LIB_CMSG_SOCKET_IO_H_
