// libFuzzer target for the receive-side parser. The first input byte picks
// how the rest is fed in:
//   bit 0..2  offset of the copy (0..7): exercises misaligned buffers
//   bit 3     through DecodeReceived with MSG_CTRUNC set
//   bit 4     through DecodeReceived (as recvmsg/recvmmsg results are)
//   bit 5     additionally re-encode what decoded and decode it again
// Fds are never adopted: the "fds" in the input are arbitrary numbers.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <variant>
#include <vector>

#include "lib/cmsg/codec.h"
#include "lib/cmsg/socket_io.h"

namespace {

// The sendable value types among what decoded, for the re-encode check.
void ReencodeAndCompare(const cmsg::ControlMessages& decoded) {
  std::vector<cmsg::ControlMessage> out;
  for (const auto& m : decoded) {
    std::visit(
        [&out](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          // IP_TOS is an int on send but one byte on receive, so a decoded
          // Ipv4Tos does not re-decode from its own encoding.
          if constexpr (std::is_constructible_v<cmsg::ControlMessage, T> &&
                        !std::is_same_v<T, cmsg::Ipv4Tos>) {
            out.push_back(v);
          }
        },
        m);
  }
  alignas(cmsghdr) static std::byte buffer[1 << 16];
  absl::StatusOr<size_t> n = cmsg::Encode(out, buffer);
  if (!n.ok()) return;  // e.g. more fds than one message may carry
  if (*n != cmsg::EncodedSize(out)) std::abort();
  absl::StatusOr<cmsg::ControlMessages> again =
      cmsg::internal::DecodeWithoutAdoptingFds(absl::MakeConstSpan(buffer, *n));
  // What we encode ourselves must always decode, message for message.
  if (!again.ok() || again->size() != out.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  ++data;
  --size;
  const size_t offset = mode & 7;
  // A fresh heap copy at the chosen offset, so reads past the end are caught.
  std::vector<std::byte> storage(offset + size);
  if (size) std::memcpy(storage.data() + offset, data, size);
  absl::Span<const std::byte> bytes = absl::MakeConstSpan(storage).subspan(offset);

  absl::StatusOr<cmsg::ControlMessages> decoded;
  if (mode & 0x18) {
    msghdr msg{};
    msg.msg_control = const_cast<std::byte*>(bytes.data());
    msg.msg_controllen = bytes.size();
    msg.msg_flags = (mode & 0x08) ? MSG_CTRUNC : 0;
    decoded = cmsg::internal::DecodeReceivedWithoutAdoptingFds(msg, bytes.size());
    if ((mode & 0x08) && decoded.ok()) std::abort();  // MSG_CTRUNC must fail
  } else {
    decoded = cmsg::internal::DecodeWithoutAdoptingFds(bytes);
  }
  if (decoded.ok()) {
    for (const auto& m : *decoded) {
      if (const auto* r = std::get_if<cmsg::ScmRightsOwned>(&m)) {
        for (const auto& fd : r->fds) {
          if (fd.ok()) std::abort();  // an adopted fd: it would be closed
        }
      }
    }
    if (mode & 0x20) ReencodeAndCompare(*decoded);
  }
  return 0;
}
