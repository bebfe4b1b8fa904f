// Decoding a received control buffer without building a list: each message
// is handed to a visitor by reference, to a value on the stack or (for the
// types laid out as their payload, where it is aligned for them) to the
// payload in the buffer, so nothing is allocated and no variant is built
// or destroyed. The reference is good for the call only.
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

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
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
template <bool kAdopt, typename Visitor>
struct VisitSink;
}  // namespace internal

// The fds of one SCM_RIGHTS message, read in place from the control buffer.
// The range owns them while the visitor runs: whatever the visitor does not
// Take() is closed when the visitor returns. Neither copyable nor movable.
class OwnedFdRange {
 public:
  OwnedFdRange(const OwnedFdRange&) = delete;
  OwnedFdRange& operator=(const OwnedFdRange&) = delete;
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~OwnedFdRange() {
    if (owns_ && left_ != 0) {
      // A copy of the taken set, so that the range's address is not taken
      // (see OnCopy).
      uint64_t taken[kTakenWords] = {};
      if (taken_state_ == kSomeTaken) std::memcpy(taken, taken_, sizeof(taken));
      CloseUntaken(data_, size_, taken);
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
    if (taken_state_ == kNoneTaken) taken_state_ = kSomeTaken;
    taken_[WordOf(i)] |= uint64_t{1} << (i % 64);
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
    // The usual case, one copy; anything else (fds taken before, too little
    // room, a range that owns nothing) goes out of line.
    if (ABSL_PREDICT_TRUE(owns_ && taken_state_ == kNoneTaken && out.size() >= size_)) {
      CopyFds(out.data(), data_, size_);
      taken_state_ = kAllTaken;
      left_ = 0;
      return size_;
    }
    return OnCopy([out](OwnedFdRange& r) { return r.ReleaseLeft(out); });
  }

 private:
  template <bool kAdopt, typename Visitor>
  friend struct internal::VisitSink;

  // `size` is at most kMaxFdsPerMessage (checked before visiting).
  OwnedFdRange(const std::byte* data, size_t size, bool owns)
      : data_(data), size_(size), left_(size), owns_(owns) {}

  // Runs f (an out-of-line function) on a copy of the range and takes the
  // copy's state back, so that this range's address is never taken: on the
  // usual path its fields stay in registers instead of being stored.
  template <typename F>
  ABSL_ATTRIBUTE_ALWAYS_INLINE size_t OnCopy(F f) {
    OwnedFdRange copy(data_, size_, owns_);
    CopyStateTo(copy);
    const size_t result = f(copy);
    copy.CopyStateTo(*this);
    copy.left_ = 0;  // its fds are this range's
    return result;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void CopyStateTo(OwnedFdRange& to) const {
    to.left_ = left_;
    to.taken_state_ = taken_state_;
    if (taken_state_ == kSomeTaken) std::memcpy(to.taken_, taken_, sizeof(taken_));
  }

  enum TakenState : uint8_t {
    kNoneTaken,  // taken_ not in use
    kSomeTaken,  // taken_ says which
    kAllTaken,   // ReleaseAll took them all; taken_ not in use
  };

  // Copies n fds: one inline, more in CopyFdsOutOfLine. The copy of a few
  // fds written inline would make a visitor that calls ReleaseAll too big
  // for GCC to inline, which costs more (the range built in memory, a call)
  // than this call does.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static void CopyFds(int* dst, const std::byte* src, size_t n) {
    if (n == 1) {
      std::memcpy(dst, src, sizeof(int));
    } else if (n > 1) {
      CopyFdsOutOfLine(dst, src, n);
    }
  }
  // Up to kInlineFds, two overlapping fixed-size copies (the first and
  // last 8, 16 or 32 bytes): a few moves, where a loop or a copy of a
  // bounded size is a loop of 8-byte moves and a memcpy of a runtime size
  // is a call through the PLT.
  [[gnu::noinline]] static void CopyFdsOutOfLine(int* dst, const std::byte* src, size_t n) {
    auto* out = reinterpret_cast<std::byte*>(dst);
    const size_t bytes = n * sizeof(int);
    auto two = [&](auto block) ABSL_ATTRIBUTE_ALWAYS_INLINE {
      constexpr size_t k = sizeof(block);
      std::memcpy(&block, src, k);
      std::memcpy(out, &block, k);
      std::memcpy(&block, src + bytes - k, k);
      std::memcpy(out + bytes - k, &block, k);
    };
    struct B16 { uint64_t a, b; };
    struct B32 { uint64_t a, b, c, d; };
    if (ABSL_PREDICT_FALSE(n > kInlineFds)) {
      std::memcpy(dst, src, bytes);
    } else if (n > 8) {
      two(B32{});
    } else if (n > 4) {
      two(B16{});
    } else {
      two(uint64_t{});
    }
  }

  // The uncommon halves of ~OwnedFdRange and ReleaseAll, out of line so
  // that a visitor calling ReleaseAll stays small enough to be inlined.
  [[gnu::noinline]] static void CloseUntaken(const std::byte* data, size_t size,
                                             const uint64_t* taken) {
    for (size_t i = 0; i < size; ++i) {
      if (((taken[WordOf(i)] >> (i % 64)) & 1) == 0) {
        int fd;
        std::memcpy(&fd, data + i * sizeof(int), sizeof(int));
        ::close(fd);
      }
    }
  }
  [[gnu::noinline]] size_t ReleaseLeft(absl::Span<int> out) {
    size_t n = 0;
    for (size_t i = 0; i < size_ && n < out.size(); ++i) {
      if (!Taken(i)) out[n++] = Take(i).release();
    }
    return n;
  }

  int Read(size_t i) const {
    int fd;
    std::memcpy(&fd, data_ + i * sizeof(int), sizeof(int));
    return fd;
  }
  bool Taken(size_t i) const {
    if (taken_state_ != kSomeTaken) return taken_state_ == kAllTaken;
    return (taken_[WordOf(i)] >> (i % 64)) & 1;
  }
  // The word of the taken set that holds fd `i`, reduced into the array (an
  // AND: kTakenWords is a power of two), so that no index can reach past it
  // even where a caller's bounds check is out of the compiler's view (GCC's
  // -Warray-bounds at -O2 warns on such a path).
  static size_t WordOf(size_t i) { return (i / 64) % kTakenWords; }

  const std::byte* data_;
  size_t size_;
  size_t left_;
  bool owns_;
  TakenState taken_state_ = kNoneTaken;
  static constexpr size_t kTakenWords = (kMaxFdsPerMessage + 63) / 64;
  static_assert((kTakenWords & (kTakenWords - 1)) == 0, "WordOf reduces by a mask");
  // Zeroed, which costs nothing where the range stays in registers (the
  // set is never read unless some fd was taken one by one).
  uint64_t taken_[kTakenWords] = {};
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

// Hands each message of a checked buffer (CheckForVisit) to the visitor;
// copies a payload out only if the visitor takes its type. Messages of
// other kinds are skipped, their fds closed (kAdopt).
template <bool kAdopt, typename Visitor>
struct VisitSink {
  Visitor& visitor;

  template <typename T>
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Value(absl::Span<const std::byte> p) {
    using K = Kind<T>;
    if constexpr (std::is_invocable_v<Visitor&, const T&>) {
      if constexpr (K::kCopiedWhole) {
        // The payload is a T (its bytes were written by the kernel or by
        // memcpy, which create such an object): handed over in place when
        // aligned for T, as the payload of a control buffer aligned for
        // cmsghdr is; else copied to the stack first. A copy on the stack is
        // a second copy of the value, and where the type's size is not a
        // multiple of 16 (sockaddr_in6: 28) the visitor's copy of it reads
        // back a 16-byte block that spans two of the first copy's stores,
        // which stalls store forwarding.
        const T* value = std::launder(reinterpret_cast<const T*>(p.data()));
        alignas(T) std::byte copy[sizeof(T)];
        if (ABSL_PREDICT_FALSE(reinterpret_cast<uintptr_t>(p.data()) % alignof(T) != 0)) {
          std::memcpy(copy, p.data(), sizeof(T));
          value = std::launder(reinterpret_cast<const T*>(copy));
        }
        visitor(*value);
      } else {
        const T v = K::Read(p.data(), p.size());
        visitor(v);
      }
    }
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Rights(absl::Span<const std::byte> p) {
    OwnedFdRange fds(p.data(), p.size() / sizeof(int), kAdopt);
    if constexpr (std::is_invocable_v<Visitor&, OwnedFdRange&>) visitor(fds);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Pidfd(absl::Span<const std::byte> p) {
    int fd;
    std::memcpy(&fd, p.data(), sizeof(fd));
    ScmPidfd v{UniqueFd(kAdopt ? fd : -1)};  // owned before anything else runs
    if constexpr (std::is_invocable_v<Visitor&, ScmPidfd&>) visitor(v);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Other(int level, int type, absl::Span<const std::byte> p) {
    if constexpr (std::is_invocable_v<Visitor&, const UnknownView&>) {
      const UnknownView v{level, type, p};
      visitor(v);
    }
  }
};

// (level, type) as one 64-bit value, as they lie in a cmsghdr.
struct LevelType {
  int level;
  int type;
};
constexpr uint64_t KeyOf(int level, int type) {
  return std::bit_cast<uint64_t>(LevelType{level, type});
}
static_assert(offsetof(cmsghdr, cmsg_type) == offsetof(cmsghdr, cmsg_level) + sizeof(int));

inline uint64_t LoadKey(const std::byte* header) {
  uint64_t key;
  std::memcpy(&key, header + offsetof(cmsghdr, cmsg_level), sizeof(key));
  return key;
}
inline size_t LoadLen(const std::byte* header) {
  decltype(cmsghdr::cmsg_len) len;
  std::memcpy(&len, header + offsetof(cmsghdr, cmsg_len), sizeof(len));
  return len;
}

// Whether the one-message fast path below can take kind T: an accepted kind
// with its own (level, type) and a payload of exact size, or SCM_RIGHTS.
template <typename Visitor, typename T>
constexpr bool AloneKind() {
  if constexpr (!AcceptsKind<Visitor, T>() || std::is_same_v<T, Unknown>) {
    return false;
  } else {
    return std::is_same_v<T, ScmRightsOwned> || Kind<T>::kReceive.shape == LengthRule::kExact;
  }
}
template <typename Visitor, typename T>
inline constexpr bool kAloneKind = AloneKind<Visitor, T>();

// If `control` is one message of kind T whose length T's rule accepts, and
// nothing after it but padding and less than a header (what the full walk
// would accept as that one message), visits it and returns true; otherwise
// returns false having read nothing past the buffer and visited nothing.
// Every comparison is against constants of T, so the usual datagram costs
// what the raw macros' loop does when the first message is the one wanted.
// Each refusal is marked unlikely so that the visit is laid out as the
// fall-through path (GCC otherwise moved it out of the loop, behind two
// taken jumps).
template <bool kAdopt, typename T, typename Visitor>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool VisitAlone(absl::Span<const std::byte> control,
                                                    Visitor& visitor) {
  constexpr size_t kHeader = CMSG_LEN(0);
  const std::byte* p = control.data();
  const size_t size = control.size();
  VisitSink<kAdopt, Visitor> sink{visitor};
  if constexpr (std::is_same_v<T, ScmRightsOwned>) {
    if (ABSL_PREDICT_FALSE(size < sizeof(cmsghdr) || LoadKey(p) != KeyOf(SOL_SOCKET, SCM_RIGHTS))) {
      return false;
    }
    const size_t len = LoadLen(p);
    // len - kHeader is a whole number of fds, at most kMaxFdsPerMessage:
    // rotated right by 2 it is the fd count only if the low bits were 0.
    const size_t units = len - kHeader;
    static_assert(sizeof(int) == 4);
    if (ABSL_PREDICT_FALSE(std::rotr(units, 2) > kMaxFdsPerMessage)) return false;
    // In bounds, and less than a header after it (the kernel's own padding
    // to CMSG_SPACE included); a longer tail takes the full walk.
    if (ABSL_PREDICT_FALSE(size - len >= sizeof(cmsghdr))) return false;
    sink.Rights(absl::MakeConstSpan(p + kHeader, units));
  } else {
    constexpr size_t kPayload = Kind<T>::kReceive.size;
    constexpr size_t kLen = CMSG_LEN(kPayload);
    // In bounds, and nothing but padding and less than a header after it.
    if (ABSL_PREDICT_FALSE(size - kLen >= CMSG_SPACE(kPayload) - kLen + sizeof(cmsghdr))) {
      return false;
    }
    if (ABSL_PREDICT_FALSE(LoadKey(p) != KeyOf(Kind<T>::kLevel, Kind<T>::kType) ||
                           LoadLen(p) != kLen)) {
      return false;
    }
    const auto payload = absl::MakeConstSpan(p + kHeader, kPayload);
    if constexpr (std::is_same_v<T, ScmPidfd>) {
      sink.Pidfd(payload);
    } else {
      sink.template Value<T>(payload);
    }
  }
  return true;
}

// VisitAlone for each kind the visitor takes, if it takes a few (and none
// of them by a length the kernel chooses); false if none matched.
inline constexpr size_t kMaxAloneKinds = 3;

template <bool kAdopt, typename Visitor, typename... Ts>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool VisitAloneAccepted(absl::Span<const std::byte> control,
                                                            Visitor& visitor,
                                                            std::variant<Ts...>*) {
  constexpr size_t kAccepted = (size_t{0} + ... + AcceptsKind<Visitor, Ts>());
  constexpr size_t kAlone = (size_t{0} + ... + kAloneKind<Visitor, Ts>);
  if constexpr (kAlone == 0 || kAlone != kAccepted || kAlone > kMaxAloneKinds) {
    return false;
  } else {
    auto one = [&](auto* kind) ABSL_ATTRIBUTE_ALWAYS_INLINE {
      using T = std::remove_pointer_t<decltype(kind)>;
      if constexpr (kAloneKind<Visitor, T>) {
        return VisitAlone<kAdopt, T>(control, visitor);
      } else {
        return false;
      }
    };
    return (one(static_cast<Ts*>(nullptr)) || ...);
  }
}

// Checks all of `control` as ForEachMessage must before the visitor sees
// anything: every header walkable, every payload of a length its kind's
// rule takes (CheckSink). On error closes every fd in it (with `adopt`) and
// returns the first error. Out of line, and no template of the visitor, so
// the visitor's address never leaves its caller: its captures, and what
// they point to, can stay in registers.
[[gnu::noinline]] inline absl::Status CheckForVisit(absl::Span<const std::byte> control,
                                                    bool adopt) {
  CheckSink check;
  absl::Status s = WalkControl(control, check);
  if (ABSL_PREDICT_TRUE(s.ok() && check.error.ok())) return absl::OkStatus();
  if (adopt) {
    CloseSink close;
    (void)WalkControl(control, close);
  }
  return s.ok() ? std::move(check.error) : s;
}

// WalkControl of a buffer CheckForVisit accepted: no error to report, so
// nothing but the sink is called out of line. Bounds are still kept.
template <typename Sink>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void WalkChecked(absl::Span<const std::byte> buffer,
                                                     Sink& sink) {
  constexpr size_t kHeader = CMSG_LEN(0);
  const size_t size = buffer.size();
  size_t offset = 0;
  while (size - offset >= sizeof(cmsghdr)) {
    const std::byte* h = buffer.data() + offset;
    const size_t len = LoadLen(h);
    const size_t remaining = size - offset;
    if (ABSL_PREDICT_FALSE(len < kHeader || len > remaining)) return;  // checked: never
    const LevelType lt = std::bit_cast<LevelType>(LoadKey(h));
    DispatchMessage(lt.level, lt.type, absl::MakeConstSpan(h + kHeader, len - kHeader), sink);
    const size_t step = CMSG_ALIGN(len);
    if (step >= remaining) break;
    offset += step;
  }
}

// Everything VisitAlone does not take: several messages, a kind the visitor
// does not take, a bad length. The check is out of line; the walk that
// follows is inline, so that the visitor is only ever called here, in its
// caller, and never has its address taken.
template <bool kAdopt, typename Visitor>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status VisitWalking(absl::Span<const std::byte> control,
                                                              Visitor& visitor) {
  absl::Status checked = CheckForVisit(control, kAdopt);
  if (ABSL_PREDICT_FALSE(!checked.ok())) return absl::Status(std::move(checked));
  VisitSink<kAdopt, Visitor> sink{visitor};
  WalkChecked(control, sink);
  return absl::OkStatus();
}

template <bool kAdopt, typename Visitor>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status VisitChecked(
    absl::Span<const std::byte> control, Visitor& visitor) {
  if (ABSL_PREDICT_TRUE(VisitAloneAccepted<kAdopt>(control, visitor,
                                                   static_cast<ControlMessageOwned*>(nullptr)))) {
    return absl::OkStatus();
  }
  return VisitWalking<kAdopt>(control, visitor);
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
