// libFuzzer target for the receive-side parser. The first input byte picks
// how the rest is fed in:
//   bit 0..2  offset of the copy (0..7): exercises misaligned buffers
//   bit 3     through DecodeReceived with MSG_CTRUNC set
//   bit 4     through DecodeReceived (as recvmsg/recvmmsg results are)
//   bit 5     additionally re-encode what decoded and decode it again
// Every input also goes through ForEachMessage, which must see the same
// messages as Decode or fail with the same error.
// Fds are never adopted (plain spans and the internal non-adopting hook):
// the "fds" in the input are arbitrary numbers.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "lib/cmsg/codec.h"
#include "lib/cmsg/internal/decode.h"
#include "lib/cmsg/socket_io.h"
#include "lib/cmsg/visit.h"

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
      cmsg::Decode(absl::MakeConstSpan(buffer, *n));
  // What we encode ourselves must always decode, message for message.
  if (!again.ok() || again->size() != out.size()) std::abort();
}

// Equal values, compared field by field where a type has padding.
bool SameMessage(const cmsg::ControlMessageOwned& a, const cmsg::ControlMessageOwned& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&b](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b);
        if constexpr (std::is_same_v<T, cmsg::ScmRightsOwned>) {
          return x.fds.size() == y.fds.size();
        } else if constexpr (std::is_same_v<T, cmsg::ScmPidfd>) {
          return x.fd.get() == y.fd.get();
        } else if constexpr (std::is_same_v<T, cmsg::Unknown>) {
          return x.level == y.level && x.type == y.type && x.data == y.data;
        } else if constexpr (std::is_same_v<T, cmsg::ScmSecurity>) {
          return x.context == y.context;
        } else {
          static_assert(std::is_trivially_copyable_v<T>);
          return std::memcmp(&x, &y, sizeof(T)) == 0;
        }
      },
      a);
}

// ForEachMessage on the same bytes must agree with Decode.
void VisitAndCompare(absl::Span<const std::byte> bytes) {
  absl::StatusOr<cmsg::ControlMessages> decoded =
      cmsg::Decode(bytes);
  cmsg::ControlMessages visited;
  absl::Status s = cmsg::ForEachMessage(
      bytes, [&](auto& v) -> void {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, cmsg::OwnedFdRange>) {
          if (v.size() > cmsg::kMaxFdsPerMessage) std::abort();
          if (v.size() > 0 && v.Take(0).ok()) std::abort();  // nothing adopted
          int out[cmsg::kMaxFdsPerMessage];
          const size_t rest = v.ReleaseAll(out);
          if (rest + (v.size() > 0 ? 1 : 0) != v.size()) std::abort();
          for (size_t i = 0; i < rest; ++i) {
            if (out[i] != -1) std::abort();
          }
          cmsg::ScmRightsOwned r;
          r.fds.resize(v.size());
          visited.emplace_back(std::move(r));
        } else if constexpr (std::is_same_v<T, cmsg::ScmPidfd>) {
          if (v.fd.ok()) std::abort();  // nothing adopted
          visited.emplace_back(std::move(v));
        } else if constexpr (std::is_same_v<T, cmsg::UnknownView>) {
          cmsg::Unknown u;
          u.level = v.level;
          u.type = v.type;
          const auto* p = reinterpret_cast<const uint8_t*>(v.data.data());
          u.data.assign(p, p + v.data.size());
          visited.emplace_back(std::move(u));
        } else {
          visited.emplace_back(v);
        }
      });
  if (!s.ok()) {
    if (!visited.empty()) std::abort();  // an error means no visit at all
    // The one documented difference: more fds than the kernel ever sends.
    if (absl::StrContains(s.message(), "exceed the kernel's limit")) return;
    if (decoded.ok() || decoded.status() != s) std::abort();
    return;
  }
  if (!decoded.ok() || decoded->size() != visited.size()) std::abort();
  for (size_t i = 0; i < visited.size(); ++i) {
    if (!SameMessage((*decoded)[i], visited[i])) std::abort();
  }
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

  VisitAndCompare(bytes);

  absl::StatusOr<cmsg::ControlMessages> decoded;
  if (mode & 0x18) {
    msghdr msg{};
    msg.msg_control = const_cast<std::byte*>(bytes.data());
    msg.msg_controllen = bytes.size();
    msg.msg_flags = (mode & 0x08) ? MSG_CTRUNC : 0;
    decoded = cmsg::internal::DecodeReceivedWithoutAdoptingFds(msg);
    if ((mode & 0x08) && decoded.ok()) std::abort();  // MSG_CTRUNC must fail
  } else {
    decoded = cmsg::Decode(bytes);
  }
  if (decoded.ok()) {
    for (const auto& m : *decoded) {
      if (const auto* p = std::get_if<cmsg::ScmPidfd>(&m); p && p->fd.ok()) std::abort();
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
