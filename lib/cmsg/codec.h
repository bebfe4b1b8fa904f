// Encoding control messages into a msg_control buffer and decoding them out
// of one, without the caller touching CMSG_* macros, cmsg_len or alignment.
//
//   alignas(cmsghdr) std::byte buf[256];
//   absl::StatusOr<size_t> n = cmsg::Encode({cmsg::Ipv4Ttl{3}}, buf);
//   absl::StatusOr<cmsg::ControlMessages> m = cmsg::Decode(absl::MakeSpan(buf, *n));
//   // Only control data recvmsg filled adopts its fds:
//   auto received = cmsg::Decode(cmsg::ReceivedControl::Adopt(msg));
//
// Most callers want SendMsg / RecvMsg (socket_io.h), which do this for them.
#ifndef LIB_CMSG_CODEC_H_
#define LIB_CMSG_CODEC_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <variant>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "lib/cmsg/internal/decode.h"
#include "lib/cmsg/internal/kinds.h"
#include "lib/cmsg/internal/wire.h"
#include "lib/cmsg/messages.h"
#include "lib/cmsg/space.h"

namespace cmsg {

// The control-buffer bytes `messages` need (the sum of their CMSG_SPACE).
[[nodiscard]] inline size_t EncodedSize(
    absl::Span<const ControlMessage> messages);

// Writes `messages` into `buffer` (which must be aligned for cmsghdr) and
// returns the bytes used, for msg_controllen. Fails without writing if the
// buffer is too small or a message is invalid (e.g. more than 253 fds).
[[nodiscard]] inline absl::StatusOr<size_t> Encode(
    absl::Span<const ControlMessage> messages, absl::Span<std::byte> buffer);

namespace internal {
template <typename T, typename Variant>
inline constexpr bool kAlternativeOf = false;
template <typename T, typename... Ts>
inline constexpr bool kAlternativeOf<T, std::variant<Ts...>> = (std::is_same_v<T, Ts> || ...);
}  // namespace internal

// A kind the typed Encode and SendMsg take: every alternative of
// ControlMessage (the send-side kinds).
template <typename T>
concept SendableKind = internal::kAlternativeOf<T, ControlMessage>;

// Most IV bytes an AlgSetIv may carry through EncodeTyped's callers that size
// their buffer with kMaxEncodedSize (the typed SendMsg); the list form takes
// up to 65535. AF_ALG ciphers use 8 to 32.
inline constexpr size_t kMaxTypedIvBytes = 256;

// The most payload one message of kind T has: its fixed size, or for the
// kinds of variable size the most the typed path holds.
template <typename T>
inline constexpr size_t kMaxPayload = internal::Kind<T>::kSendSize;
template <>
inline constexpr size_t kMaxPayload<ScmRights> = kMaxFdsPerMessage * sizeof(int);
template <>
inline constexpr size_t kMaxPayload<AlgSetIv> = sizeof(uint32_t) + kMaxTypedIvBytes;

// The control-buffer bytes one message of each of Ms needs at most (the sum
// of their CMSG_SPACE), as a constant expression.
template <typename... Ms>
inline constexpr size_t kMaxEncodedSize = (size_t{0} + ... + CMSG_SPACE(kMaxPayload<Ms>));

// Encode for messages whose kinds are known at compile time: no variant,
// and with constant sizes the compiler reduces it to the raw macros' stores.
// Same bytes, same checks and same errors as the list form.
//
//   ControlBuffer<Fds<2>, Ipv4Ttl> buf;
//   CMSGLIB_ASSIGN_OR_RETURN(size_t len, cmsg::EncodeTyped(buf.span(), ScmRights{fds}, Ipv4Ttl{3}));
template <SendableKind... Ms>
[[nodiscard]] absl::StatusOr<size_t> EncodeTyped(absl::Span<std::byte> buffer,
                                                 const Ms&... messages);

// A kind every value of which is valid and of one size (all but ScmRights
// and AlgSetIv): encoding it cannot fail given the room.
template <typename T>
concept FixedSizeKind = SendableKind<T> && requires { internal::Kind<T>::kSendSize; };

// EncodeTyped into a ControlBuffer that has room for the messages by its
// type: nothing can fail, so it returns the bytes used (msg_controllen)
// and checks nothing at run time.
//
//   ControlBuffer<Ipv4PacketInfo, Ipv4Ttl> buf;
//   size_t len = cmsg::EncodeTyped(buf, Ipv4PacketInfo{...}, Ipv4Ttl{3});
template <typename... Ts, FixedSizeKind... Ms>
  requires(sizeof...(Ms) > 0 && kMaxEncodedSize<Ms...> <= ControlBuffer<Ts...>::kSize)
[[nodiscard]] size_t EncodeTyped(ControlBuffer<Ts...>& buffer, const Ms&... messages);

// Control data that recvmsg or recvmmsg filled. The kernel installed every
// fd in it into this process, so decoding it takes ownership of them: only
// this type adopts fds. Any other buffer (one Encode wrote, bytes read from
// somewhere) holds mere numbers, which Decode and ForEachMessage of a plain
// span never close or hand out as owned.
//
//   recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
//   auto messages = cmsg::Decode(cmsg::ReceivedControl::Adopt(msg));
class ReceivedControl {
 public:
  // The control data of `msg` as recvmsg/recvmmsg just filled it
  // (msg_control, msg_controllen, and msg_flags for MSG_CTRUNC). Its fds
  // become the decoder's: decode it once.
  [[nodiscard]] static ReceivedControl Adopt(const msghdr& msg) {
    return ReceivedControl(
        absl::MakeConstSpan(static_cast<const std::byte*>(msg.msg_control),
                            msg.msg_control != nullptr ? msg.msg_controllen : 0),
        msg.msg_flags);
  }
  // `bytes` that recvmsg filled, with the call's msg_flags.
  [[nodiscard]] static ReceivedControl AdoptBytes(absl::Span<const std::byte> bytes,
                                                  int msg_flags = 0) {
    return ReceivedControl(bytes, msg_flags);
  }

  [[nodiscard]] absl::Span<const std::byte> bytes() const { return bytes_; }
  [[nodiscard]] int msg_flags() const { return msg_flags_; }
  // MSG_CTRUNC: the kernel had more control data than the buffer held.
  [[nodiscard]] bool truncated() const { return msg_flags_ & MSG_CTRUNC; }

 private:
  ReceivedControl(absl::Span<const std::byte> bytes, int msg_flags)
      : bytes_(bytes), msg_flags_(msg_flags) {}
  absl::Span<const std::byte> bytes_;
  int msg_flags_;
};

// Decodes control data the kernel filled, owning every fd in it at once:
// they are closed if the caller drops the result or decoding fails. Each
// payload is copied out after an exact length check; a malformed buffer
// (bad cmsg_len, short or oversized payload) is an error and nothing is read
// out of bounds. MSG_CTRUNC is an error that says how many fds arrived (all
// closed). The buffer need not be aligned.
[[nodiscard]] inline absl::StatusOr<ControlMessages> Decode(ReceivedControl control);

// Decodes any control buffer (one Encode wrote, say) with the same checks,
// adopting nothing: SCM_RIGHTS comes back as a ScmRightsOwned of empty
// UniqueFds (one per number, none owned), and no fd is ever closed.
[[nodiscard]] inline absl::StatusOr<ControlMessages> Decode(
    absl::Span<const std::byte> buffer);

// Encode and EncodedSize are inline: for messages known at the call site the
// compiler reduces them to the stores the raw CMSG_* macros would make.
inline size_t EncodedSize(absl::Span<const ControlMessage> messages) {
  size_t total = 0;
  for (const auto& m : messages) {
    total += wire::Dispatch(m, [](const auto& v) -> size_t {
      using T = std::decay_t<decltype(v)>;
      return CMSG_SPACE(wire::Wire<T>::Size(v));
    });
  }
  return total;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> Encode(
    absl::Span<const ControlMessage> messages, absl::Span<std::byte> buffer) {
  size_t need = 0;
  bool valid = true;
  for (const auto& m : messages) {
    need += wire::Dispatch(m, [&valid](const auto& v) -> size_t {
      using W = wire::Wire<std::decay_t<decltype(v)>>;
      valid = valid && W::Valid(v);
      return CMSG_SPACE(W::Size(v));
    });
  }
  if (!valid) return internal::InvalidMessageError(messages);
  if (need > buffer.size()) {
    return internal::BufferTooSmallError(messages.size(), need, buffer.size());
  }
  std::byte* out = buffer.data();
  // Hides the buffer's identity from GCC's -Warray-bounds, which otherwise
  // flags the inlined writes of message kinds the caller cannot reach (the
  // size check above is what bounds them).
  asm("" : "+r"(out));
  for (const auto& m : messages) {
    out += wire::Dispatch(m, [out](const auto& v) -> size_t {
      return wire::WriteMessage(v, out);
    });
  }
  return need;
}

namespace internal {
[[nodiscard]] absl::Status TypedIvTooLongError(size_t bytes);

// The typed form's errors: the list form's (cold path). The messages are
// taken by value (each is a few words): by reference, the caller's
// messages would have their addresses passed out of line and so be built
// in memory on every call, not only on this path.
template <typename... Ms>
[[gnu::cold, gnu::noinline]] absl::Status InvalidTypedError(Ms... messages) {
  size_t long_iv = 0;
  (
      [&](const auto& m) {
        if constexpr (std::is_same_v<std::decay_t<decltype(m)>, AlgSetIv>) {
          if (m.iv.size() > kMaxTypedIvBytes) long_iv = m.iv.size();
        }
      }(messages),
      ...);
  if (long_iv != 0) return TypedIvTooLongError(long_iv);
  const ControlMessage all[] = {ControlMessage(messages)...};
  return InvalidMessageError(all);
}
}  // namespace internal

template <SendableKind... Ms>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<size_t> EncodeTyped(
    absl::Span<std::byte> buffer, const Ms&... messages) {
  const bool valid = ((wire::Wire<Ms>::Valid(messages) &&
                       wire::Wire<Ms>::Size(messages) <= kMaxPayload<Ms>) &&
                      ...);
  if (ABSL_PREDICT_FALSE(!valid)) return internal::InvalidTypedError(messages...);
  const size_t need = (size_t{0} + ... + CMSG_SPACE(wire::Wire<Ms>::Size(messages)));
  if (ABSL_PREDICT_FALSE(need > buffer.size())) {
    return internal::BufferTooSmallError(sizeof...(Ms), need, buffer.size());
  }
  std::byte* out = buffer.data();
  ((out += wire::WriteMessage(messages, out)), ...);
  return need;
}

template <typename... Ts, FixedSizeKind... Ms>
  requires(sizeof...(Ms) > 0 && kMaxEncodedSize<Ms...> <= ControlBuffer<Ts...>::kSize)
ABSL_ATTRIBUTE_ALWAYS_INLINE inline size_t EncodeTyped(ControlBuffer<Ts...>& buffer,
                                                       const Ms&... messages) {
  static_assert((wire::Wire<Ms>::Valid(Ms{}) && ...));
  std::byte* out = buffer.span().data();
  ((out += wire::WriteMessage(messages, out)), ...);
  return kMaxEncodedSize<Ms...>;
}

// Inline so the result is built straight in the caller's frame with one call
// into the parser.
inline absl::StatusOr<ControlMessages> Decode(ReceivedControl control) {
  absl::StatusOr<ControlMessages> result(absl::in_place);
  absl::Status s = internal::DecodeReceivedInto(control.bytes(), control.msg_flags(),
                                                control.bytes().size(),
                                                /*adopt_fds=*/true, *result);
  if (ABSL_PREDICT_FALSE(!s.ok())) result = std::move(s);
  return result;
}

inline absl::StatusOr<ControlMessages> Decode(absl::Span<const std::byte> buffer) {
  absl::StatusOr<ControlMessages> result(absl::in_place);
  absl::Status s = internal::DecodeInto(buffer, /*adopt_fds=*/false, *result);
  if (ABSL_PREDICT_FALSE(!s.ok())) result = std::move(s);
  return result;
}

}  // namespace cmsg

#endif  // LIB_CMSG_CODEC_H_
