// Decoding a received control buffer without building a list: each message
// is handed to a visitor as a value on the stack, so nothing is allocated
// and no variant is built or destroyed.
//
//   absl::Status s = cmsg::ForEachMessage(cmsg::ReceivedControl::Adopt(msg), Overloaded{
//       [&](const cmsg::Ipv4PacketInfo& p) { arrived_on = p.addr; },
//       [&](cmsg::OwnedFdRange& fds) { if (!fds.empty()) file = fds.Take(0); },
//   });
//
// The visitor is called only for the types it accepts; other messages are
// skipped (their fds closed). Decode (codec.h) gives the same messages as an
// owning list, for callers that keep them.
#ifndef LIB_CMSG_VISIT_H_
#define LIB_CMSG_VISIT_H_

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <variant>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "lib/cmsg/codec.h"
#include "lib/cmsg/internal/decode.h"
#include "lib/cmsg/internal/decode_table.h"
#include "lib/cmsg/internal/kinds.h"
#include "lib/cmsg/messages.h"
#include "lib/fd/unique_fd.h"

namespace cmsg {

namespace internal {
template <bool kAdopt, bool kCheck, typename Visitor>
struct VisitSink;
}  // namespace internal

// The fds of one SCM_RIGHTS message, read in place from the control buffer.
// The range owns them while the visitor runs: whatever the visitor does not
// Take() is closed when the visitor returns. Neither copyable nor movable.
class OwnedFdRange {
 public:
  OwnedFdRange(const OwnedFdRange&) = delete;
  OwnedFdRange& operator=(const OwnedFdRange&) = delete;
  ~OwnedFdRange() {
    if (!owns_ || left_ == 0) return;
    for (size_t i = 0; i < size_; ++i) {
      if (!Taken(i)) ::close(Read(i));
    }
  }

  [[nodiscard]] size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }

  // The fd at `i`, still owned by the range; -1 once taken, and -1 for
  // i >= size().
  [[nodiscard]] int get(size_t i) const { return i >= size_ || Taken(i) ? -1 : Read(i); }

  // Takes the fd at `i`; an empty UniqueFd if it was taken before or if
  // i >= size().
  [[nodiscard]] UniqueFd Take(size_t i) {
    if (i >= size_ || Taken(i)) return UniqueFd();
    if (taken_state_ == kNoneTaken) {
      // The set is cleared only now: a range whose fds are all released at
      // once, or all closed, never touches it.
      for (size_t w = 0; w <= (size_ - 1) / 64; ++w) taken_[w] = 0;
      taken_state_ = kSomeTaken;
    }
    taken_[i / 64] |= uint64_t{1} << (i % 64);
    --left_;
    return UniqueFd(owns_ ? Read(i) : -1);
  }

  // Takes every fd not taken yet into out[i] for i < min(size(), out.size());
  // slots of fds taken before are left alone.
  void TakeAll(absl::Span<UniqueFd> out) {
    for (size_t i = 0; i < size_ && i < out.size(); ++i) {
      if (!Taken(i)) out[i] = Take(i);
    }
  }

  // Gives away the fds not taken yet, in order, as plain numbers into `out`
  // (as UniqueFd::release does): the caller must close them. Fds that do
  // not fit stay owned by the range. Returns how many were written.
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE size_t ReleaseAll(absl::Span<int> out) {
    if (taken_state_ == kNoneTaken && out.size() >= size_) {  // the usual case: one copy
      const size_t n = size_;
      int* dst = out.data();
      if (owns_) {
        CopyFds(dst, data_, n);
      } else {
        for (size_t i = 0; i < n; ++i) dst[i] = -1;
      }
      taken_state_ = kAllTaken;
      left_ = 0;
      return size_;
    }
    size_t n = 0;
    for (size_t i = 0; i < size_ && n < out.size(); ++i) {
      if (!Taken(i)) out[n++] = Take(i).release();
    }
    return n;
  }

 private:
  template <bool kAdopt, bool kCheck, typename Visitor>
  friend struct internal::VisitSink;

  // `size` is at most kMaxFdsPerMessage (checked before visiting).
  OwnedFdRange(const std::byte* data, size_t size, bool owns)
      : data_(data), size_(size), left_(size), owns_(owns) {}

  enum TakenState : uint8_t {
    kNoneTaken,  // taken_ not in use (not even cleared)
    kSomeTaken,  // taken_ says which
    kAllTaken,   // ReleaseAll took them all; taken_ not in use
  };

  // Copies n fds. Up to kInlineFds, two overlapping fixed-size copies
  // (first and last 4, 8, 16 or 32 bytes) instead of a loop, which GCC
  // turns into `rep movsq` (a slow start: it was 60% of a 16-fd parse), or
  // a memcpy of a runtime size (a call).
  ABSL_ATTRIBUTE_ALWAYS_INLINE static void CopyFds(int* dst, const std::byte* src, size_t n) {
    auto* out = reinterpret_cast<std::byte*>(dst);
    const size_t bytes = n * sizeof(int);
    auto two = [&](auto block) {
      constexpr size_t k = sizeof(block);
      std::memcpy(&block, src, k);
      std::memcpy(out, &block, k);
      std::memcpy(&block, src + bytes - k, k);
      std::memcpy(out + bytes - k, &block, k);
    };
    struct B16 { uint64_t a, b; };
    struct B32 { uint64_t a, b, c, d; };
    if (n > 16) {
      std::memcpy(out, src, bytes);
    } else if (n > 8) {
      two(B32{});
    } else if (n > 4) {
      two(B16{});
    } else if (n > 2) {
      two(uint64_t{});
    } else if (n > 0) {
      two(uint32_t{});
    }
  }

  int Read(size_t i) const {
    int fd;
    std::memcpy(&fd, data_ + i * sizeof(int), sizeof(int));
    return fd;
  }
  bool Taken(size_t i) const {
    if (taken_state_ != kSomeTaken) return taken_state_ == kAllTaken;
    return (taken_[i / 64] >> (i % 64)) & 1;
  }

  const std::byte* data_;
  size_t size_;
  size_t left_;
  bool owns_;
  TakenState taken_state_ = kNoneTaken;
  uint64_t taken_[(kMaxFdsPerMessage + 63) / 64];  // cleared by the first Take
};

// A message of a kind this library has no type for, viewed in the buffer.
struct UnknownView {
  int level = 0;
  int type = 0;
  absl::Span<const std::byte> data;
};

// Two overloads in one visitor: Overloaded{[](const A&) {}, [](B&) {}}.
template <typename... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <typename... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

// ---------------------------------------------------------------- details

namespace internal {

// Checks lengths by the kinds' rules (kinds.h), remembering the first
// error (as Decode reports it). Unlike Decode it also refuses more than
// kMaxFdsPerMessage fds in one message.
struct CheckSink {
  absl::Status error;

  void Fail(absl::Status s) {
    if (error.ok()) error = std::move(s);
  }
  template <typename T>
  static bool Refused(absl::Span<const std::byte> p) {
    return Kind<T>::kReceive.WrongSize(p.size()) || Kind<T>::kReceive.TooMany(p.size());
  }
  template <typename T>
  void Value(absl::Span<const std::byte> p) {
    if (ABSL_PREDICT_FALSE(Refused<T>(p))) Fail(LengthError<T>(p.size()));
  }
  void Rights(absl::Span<const std::byte> p) { Value<ScmRightsOwned>(p); }
  void Pidfd(absl::Span<const std::byte> p) { Value<ScmPidfd>(p); }
  void Other(int, int, absl::Span<const std::byte>) {}
};

// Closes every whole fd in every SCM_RIGHTS message (after an error),
// counting them.
struct CloseSink {
  size_t closed = 0;
  template <typename T>
  void Value(absl::Span<const std::byte>) {}
  void Rights(absl::Span<const std::byte> p) { closed += CloseAll(p); }
  void Pidfd(absl::Span<const std::byte> p) {
    if (!Kind<ScmPidfd>::kReceive.WrongSize(p.size())) closed += CloseAll(p);
  }
  void Other(int, int, absl::Span<const std::byte>) {}

  static size_t CloseAll(absl::Span<const std::byte> p) {
    for (size_t i = 0; i < p.size() / sizeof(int); ++i) {
      int fd;
      std::memcpy(&fd, p.data() + i * sizeof(int), sizeof(int));
      ::close(fd);
    }
    return p.size() / sizeof(int);
  }
};

// Hands each message to the visitor; copies a payload out only if the
// visitor takes its type. With kCheck it first checks each message as
// CheckSink does and, on error, skips it (closing its fds); without, the
// buffer has been checked already.
template <bool kAdopt, bool kCheck, typename Visitor>
struct VisitSink {
  Visitor& visitor;
  CheckSink check;

  template <typename T>
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Value(absl::Span<const std::byte> p) {
    using K = Kind<T>;
    if constexpr (kCheck) {
      if (ABSL_PREDICT_FALSE(CheckSink::Refused<T>(p))) return check.Value<T>(p);
    }
    if constexpr (std::is_invocable_v<Visitor&, const T&>) {
      if constexpr (K::kCopiedWhole) {
        T v;
        std::memcpy(&v, p.data(), sizeof(T));
        visitor(static_cast<const T&>(v));
      } else {
        const T v = K::Read(p.data(), p.size());
        visitor(v);
      }
    }
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Rights(absl::Span<const std::byte> p) {
    if constexpr (kCheck) {
      if (ABSL_PREDICT_FALSE(CheckSink::Refused<ScmRightsOwned>(p))) {
        check.Rights(p);
        if constexpr (kAdopt) CloseSink::CloseAll(p);
        return;
      }
    }
    OwnedFdRange fds(p.data(), p.size() / sizeof(int), kAdopt);
    if constexpr (std::is_invocable_v<Visitor&, OwnedFdRange&>) visitor(fds);
  }
  void Pidfd(absl::Span<const std::byte> p) {
    if constexpr (kCheck) {
      if (ABSL_PREDICT_FALSE(CheckSink::Refused<ScmPidfd>(p))) return check.Pidfd(p);
    }
    int fd;
    std::memcpy(&fd, p.data(), sizeof(fd));
    ScmPidfd v{UniqueFd(kAdopt ? fd : -1)};  // owned before anything else runs
    if constexpr (std::is_invocable_v<Visitor&, ScmPidfd&>) visitor(v);
  }
  void Other(int level, int type, absl::Span<const std::byte> p) {
    if constexpr (std::is_invocable_v<Visitor&, const UnknownView&>) {
      const UnknownView v{level, type, p};
      visitor(v);
    }
  }
};

// If walking `control` meets exactly one message (as a datagram's control
// data usually holds), sets its header and payload and returns true, so
// checking and visiting it can be one step.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool OnlyMessage(absl::Span<const std::byte> control,
                                                     cmsghdr& h,
                                                     absl::Span<const std::byte>& payload) {
  if (control.size() < sizeof(cmsghdr)) return false;
  std::memcpy(&h, control.data(), sizeof(h));
  if (h.cmsg_len < CMSG_LEN(0) || h.cmsg_len > control.size()) return false;
  const size_t step = CMSG_ALIGN(h.cmsg_len);
  if (step < control.size() && control.size() - step >= sizeof(cmsghdr)) return false;
  payload = absl::MakeConstSpan(control.data() + CMSG_LEN(0), h.cmsg_len - CMSG_LEN(0));
  return true;
}

template <bool kAdopt, typename Visitor>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status VisitChecked(
    absl::Span<const std::byte> control, Visitor& visitor) {
  cmsghdr h;
  absl::Span<const std::byte> payload;
  if (ABSL_PREDICT_TRUE(OnlyMessage(control, h, payload))) {
    VisitSink<kAdopt, /*kCheck=*/true, Visitor> sink{visitor, {}};
    DispatchMessage(h.cmsg_level, h.cmsg_type, payload, sink);
    return std::move(sink.check.error);
  }
  // Several messages (or none): check them all before visiting any.
  CheckSink check;
  absl::Status s = WalkControl(control, check);
  if (ABSL_PREDICT_FALSE(!s.ok() || !check.error.ok())) {
    if constexpr (kAdopt) {
      CloseSink close;
      (void)WalkControl(control, close);
    }
    return s.ok() ? std::move(check.error) : s;
  }
  VisitSink<kAdopt, /*kCheck=*/false, Visitor> sink{visitor, {}};
  (void)WalkControl(control, sink);  // checked above: cannot fail
  return absl::OkStatus();
}

// MSG_CTRUNC: closes every fd that arrived and says so (`capacity`: the
// control buffer's size); visits nothing.
[[gnu::cold]] inline absl::Status CloseTruncated(absl::Span<const std::byte> control,
                                                 size_t capacity) {
  CloseSink close;
  (void)WalkControl(control, close);
  return TruncatedError(capacity, close.closed);
}

// ForEachMessage of received control data whose buffer had `capacity`
// bytes.
template <typename Visitor>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status VisitReceived(ReceivedControl control,
                                                               size_t capacity,
                                                               Visitor& visitor) {
  if (ABSL_PREDICT_FALSE(control.truncated())) {
    return CloseTruncated(control.bytes(), capacity);
  }
  return VisitChecked</*kAdopt=*/true>(control.bytes(), visitor);
}

}  // namespace internal

namespace internal {
// Whether ForEachMessage can hand a message of kind T (an alternative of
// ControlMessageOwned) to the visitor, with the argument it would use:
// `const T&` for values, OwnedFdRange& for SCM_RIGHTS, ScmPidfd& for
// SCM_PIDFD, `const UnknownView&` for unknown kinds. Only those signatures
// are tried, so a generic lambda's body is never instantiated with a type it
// is not called with (`const ScmRightsOwned&`, say).
template <typename Visitor, typename T>
constexpr bool AcceptsKind() {
  if constexpr (std::is_same_v<T, ScmRightsOwned>) {
    return std::is_invocable_v<Visitor&, OwnedFdRange&>;
  } else if constexpr (std::is_same_v<T, ScmPidfd>) {
    return std::is_invocable_v<Visitor&, ScmPidfd&>;
  } else if constexpr (std::is_same_v<T, Unknown>) {
    return std::is_invocable_v<Visitor&, const UnknownView&>;
  } else {
    return std::is_invocable_v<Visitor&, const T&>;
  }
}
template <typename Visitor, typename... Ts>
constexpr bool AcceptsAnyOf(std::variant<Ts...>*) {
  return (AcceptsKind<Visitor, Ts>() || ...);
}
}  // namespace internal

// A visitor that accepts at least one kind. One that accepts none would
// skip every message and silently close every fd, so it does not compile.
template <typename Visitor>
concept VisitsSomeKind = internal::AcceptsAnyOf<std::remove_reference_t<Visitor>>(
    static_cast<ControlMessageOwned*>(nullptr));

// Calls `visitor` with each message in control data the kernel filled
// (ReceivedControl, codec.h): `const T&` for each value type of
// ControlMessageOwned except ScmRightsOwned, ScmPidfd and Unknown,
// `OwnedFdRange&` for SCM_RIGHTS, `ScmPidfd&` for SCM_PIDFD (move the fd
// out to keep it) and `const UnknownView&` for unknown kinds. Types the
// visitor cannot be called with are skipped (their fds closed).
//
// The buffer is checked whole before the visitor sees anything, with the
// same exact-length checks and the same error messages as Decode; on error
// (or MSG_CTRUNC) the visitor is never called and every fd that arrived is
// closed. One difference: more than kMaxFdsPerMessage fds in one message
// (which the kernel never sends) is an error here. The buffer need not be
// aligned.
template <typename Visitor>
  requires VisitsSomeKind<Visitor>
[[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status ForEachMessage(
    ReceivedControl control, Visitor&& visitor) {
  return internal::VisitReceived(control, control.bytes().size(), visitor);
}

// The same over any buffer (one Encode wrote, say), adopting nothing: an
// OwnedFdRange shows the numbers (get) but Take() gives empty UniqueFds,
// ReleaseAll() writes -1, and no fd is ever closed.
template <typename Visitor>
  requires VisitsSomeKind<Visitor>
[[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status ForEachMessage(
    absl::Span<const std::byte> control, Visitor&& visitor) {
  return internal::VisitChecked</*kAdopt=*/false>(control, visitor);
}

}  // namespace cmsg

#endif  // LIB_CMSG_VISIT_H_
