// Internal: writing a sendable message (header, payload from the table of
// kinds in kinds.h, padding) and dispatching over ControlMessage.
// Header-only so Encode can be inlined and, for messages known at compile
// time, fold to a few stores. Not part of the API: use Encode / SendMsg.
#ifndef LIB_CMSG_INTERNAL_WIRE_H_
#define LIB_CMSG_INTERNAL_WIRE_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <variant>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "lib/cmsg/internal/kinds.h"
#include "lib/cmsg/messages.h"

namespace cmsg::wire {

using internal::Put;

// Per sendable type: kLevel, kType, Size(v), Write(v, out), Valid(v), from
// the one table of kinds (kinds.h).
template <typename T>
using Wire = internal::Kind<T>;

// Writes one message's header for a payload of `n` bytes at `out`.
template <typename W>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void WriteHeader(size_t n, std::byte* out) {
  if constexpr (requires { W::kHeaderAsOneStore; }) {
    if (__builtin_constant_p(n)) {
      // A size the compiler knows: the header is a constant, stored as one
      // 16-byte block. Only for a kind that nothing reads back soon (the
      // kernel reads it a system call later): a parser's 8-byte loads of a
      // header just stored as one block miss store forwarding (SCM_RIGHTS
      // built and parsed in one loop ran up to 1.5x slower).
      static_assert(sizeof(cmsghdr) == 2 * sizeof(uint64_t));
      const int level_type[2] = {W::kLevel, W::kType};
      uint64_t second;
      std::memcpy(&second, level_type, sizeof(second));
      // A vector store, or GCC splits the header into two 8-byte stores.
      using Block [[gnu::vector_size(16), gnu::aligned(1), gnu::may_alias]] = uint64_t;
      *reinterpret_cast<Block*>(out) = Block{CMSG_LEN(n), second};
      return;
    }
  }
  // Field by field, in the widths the parser reads them with: a header
  // built on the stack and copied as one 16-byte block stalls store
  // forwarding when the payload size is not a constant.
  Put(out + offsetof(cmsghdr, cmsg_len), static_cast<decltype(cmsghdr::cmsg_len)>(CMSG_LEN(n)));
  Put(out + offsetof(cmsghdr, cmsg_level), static_cast<int>(W::kLevel));
  Put(out + offsetof(cmsghdr, cmsg_type), static_cast<int>(W::kType));
}

// Writes one message (header, payload, zeroed padding) at `out`, which has
// room for CMSG_SPACE of its payload; returns that space.
template <typename T>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline size_t WriteMessage(const T& v, std::byte* out) {
  using W = Wire<T>;
  const size_t n = W::Size(v);
  WriteHeader<W>(n, out);
  // Zero the padding so no stale bytes reach the kernel, without a store
  // of its own where the payload's last store can carry it.
  std::byte* payload = out + CMSG_LEN(0);
  if constexpr (requires { W::kSendSize; }) {
    constexpr size_t kPadded = CMSG_SPACE(W::kSendSize) - CMSG_LEN(0);
    if constexpr (kPadded == sizeof(uint64_t)) {
      // A scalar: written zero-extended, one 8-byte store.
      uint64_t word = 0;
      W::Write(v, reinterpret_cast<std::byte*>(&word));
      Put(payload, word);
      return CMSG_SPACE(n);
    } else if constexpr (W::kCopiedWhole && W::kSendSize % 8 == 4) {
      // A struct of 12 or 20 bytes: its last 4 bytes zero-extended (a
      // block built on the stack would be stored narrow and read back
      // wide, stalling store forwarding).
      constexpr size_t kHead = W::kSendSize - sizeof(uint32_t);
      const auto* src = reinterpret_cast<const std::byte*>(&v);
      std::memcpy(payload, src, kHead);
      uint32_t tail;
      std::memcpy(&tail, src + kHead, sizeof(tail));
      Put(payload + kHead, uint64_t{tail});
      return CMSG_SPACE(n);
    }
  }
  // The padding is under 8 bytes: zeroing the message's last 8 (before the
  // payload is written over them) is one store instead of a memset of a
  // runtime size.
  static_assert(CMSG_SPACE(1) - CMSG_LEN(1) < 8 && CMSG_LEN(0) >= 8);
  if (CMSG_SPACE(n) != CMSG_LEN(n)) Put(out + CMSG_SPACE(n) - 8, uint64_t{0});
  W::Write(v, payload);
  return CMSG_SPACE(n);
}

// Calls f(alternative) for the message's active alternative. An if-chain on
// index() rather than std::visit: with the index known at the call site the
// compiler folds it away (libstdc++'s visit goes through a function table
// for variants this large).
template <typename F, size_t... I>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline auto DispatchImpl(const ControlMessage& m, F&& f, std::index_sequence<I...>) {
  using R = decltype(f(std::get<0>(m)));
  R result{};
  (void)((m.index() == I ? (result = f(*std::get_if<I>(&m)), true) : false) || ...);
  return result;
}
template <typename F>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline auto Dispatch(const ControlMessage& m, F&& f) {
  return DispatchImpl(m, std::forward<F>(f),
                      std::make_index_sequence<std::variant_size_v<ControlMessage>>());
}

}  // namespace cmsg::wire

namespace cmsg::internal {
// The errors Encode returns, built out of line (they are the cold path).
[[nodiscard]] absl::Status InvalidMessageError(absl::Span<const ControlMessage> messages);
[[nodiscard]] absl::Status BufferTooSmallError(size_t messages, size_t need, size_t have);
}  // namespace cmsg::internal

#endif  // LIB_CMSG_INTERNAL_WIRE_H_
