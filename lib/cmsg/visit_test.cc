// ForEachMessage: fds received over real sockets through the visitor (taken
// ones work, ignored ones are closed), hostile buffers rejected with Decode's
// errors and their fds closed, and the same messages as Decode on several
// encodings.
#include "lib/cmsg/visit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"

namespace cmsg {
namespace {

using ::cmsg::testing::CountOpenFds;
using ::cmsg::testing::MakeUnixPair;
using ::cmsg::testing::ReadFromStart;
using ::cmsg::testing::TempFileWith;
using ::cmsg::testing::UnixPair;
using ::testing::HasSubstr;

// Receives one message's raw control bytes (fds installed, not yet owned by
// anything but the bytes).
size_t RecvRaw(int fd, absl::Span<std::byte> control) {
  char data[8];
  iovec iov{data, sizeof(data)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  EXPECT_GE(recvmsg(fd, &msg, MSG_CMSG_CLOEXEC), 0);
  EXPECT_EQ(msg.msg_flags & MSG_CTRUNC, 0);
  return msg.msg_controllen;
}

class VisitFdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pair_ = MakeUnixPair(SOCK_DGRAM);
    ASSERT_TRUE(pair_.a.ok());
    file_ = TempFileWith("visited");
    ASSERT_TRUE(file_.ok());
  }
  void SendCopies(size_t n) {
    std::vector<int> fds(n, file_.get());
    auto sent = SendMsg(pair_.a.get(), "x", {ScmRights{fds}});
    ASSERT_TRUE(sent.ok()) << sent.status();
  }
  UnixPair pair_;
  UniqueFd file_;
};

TEST_F(VisitFdsTest, TakenFdsWorkAndTheRestAreClosed) {
  const int before = CountOpenFds();
  SendCopies(5);
  ControlBuffer<Fds<5>> control;
  size_t len = RecvRaw(pair_.b.get(), control.span());
  EXPECT_EQ(CountOpenFds(), before + 5);
  UniqueFd kept;
  size_t seen = 0;
  absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(control.span().first(len)), [&](OwnedFdRange& fds) {
    seen = fds.size();
    kept = fds.Take(3);
    EXPECT_EQ(fds.get(3), -1);
    EXPECT_FALSE(fds.Take(3).ok());  // taken once only
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, 5u);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(ReadFromStart(kept.get()), "visited");
  EXPECT_TRUE(fcntl(kept.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(CountOpenFds(), before + 1);
  kept.reset();
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(VisitFdsTest, TakeAllFillsASpan) {
  const int before = CountOpenFds();
  SendCopies(16);
  ControlBuffer<Fds<16>> control;
  size_t len = RecvRaw(pair_.b.get(), control.span());
  UniqueFd out[16];
  absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(control.span().first(len)),
                                  [&](OwnedFdRange& fds) { fds.TakeAll(out); });
  ASSERT_TRUE(s.ok()) << s;
  for (const UniqueFd& fd : out) EXPECT_EQ(ReadFromStart(fd.get()), "visited");
  EXPECT_EQ(CountOpenFds(), before + 16);
  for (UniqueFd& fd : out) fd.reset();
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(VisitFdsTest, ReleaseAllGivesTheRemainingNumbers) {
  const int before = CountOpenFds();
  SendCopies(4);
  ControlBuffer<Fds<4>> control;
  size_t len = RecvRaw(pair_.b.get(), control.span());
  UniqueFd first;
  int rest[2] = {-1, -1};
  size_t released = 0;
  absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(control.span().first(len)), [&](OwnedFdRange& fds) {
    first = fds.Take(0);
    released = fds.ReleaseAll(rest);  // room for two of the three left
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(released, 2u);
  EXPECT_EQ(ReadFromStart(first.get()), "visited");
  for (int fd : rest) EXPECT_EQ(ReadFromStart(fd), "visited");
  EXPECT_EQ(CountOpenFds(), before + 3);  // the fourth was closed
  for (int fd : rest) close(fd);
  first.reset();
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(VisitFdsTest, ReleaseAllInOneCopy) {
  const int before = CountOpenFds();
  SendCopies(16);
  ControlBuffer<Fds<16>> control;
  size_t len = RecvRaw(pair_.b.get(), control.span());
  int out[16];
  size_t released = 0;
  absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(control.span().first(len)), [&](OwnedFdRange& fds) {
    released = fds.ReleaseAll(out);
    EXPECT_EQ(fds.get(15), -1);
    EXPECT_FALSE(fds.Take(0).ok());
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(released, 16u);
  EXPECT_EQ(CountOpenFds(), before + 16);
  for (int fd : out) {
    EXPECT_EQ(ReadFromStart(fd), "visited");
    close(fd);
  }
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(VisitFdsTest, FdsOfAVisitorThatIgnoresRightsAreClosed) {
  const int before = CountOpenFds();
  SendCopies(7);
  ControlBuffer<Fds<7>> control;
  size_t len = RecvRaw(pair_.b.get(), control.span());
  EXPECT_EQ(CountOpenFds(), before + 7);
  int calls = 0;
  absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(control.span().first(len)),
                                  [&](const Ipv4PacketInfo&) { ++calls; });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(VisitFdsTest, ErrorAfterRightsClosesThemAndVisitsNothing) {
  const int before = CountOpenFds();
  SendCopies(3);
  alignas(cmsghdr) std::byte control[CMSG_SPACE(3 * sizeof(int)) + 64] = {};
  size_t len = RecvRaw(pair_.b.get(), absl::MakeSpan(control, CMSG_SPACE(3 * sizeof(int))));
  // A second message with a 3-byte IP_TTL payload (wants 4).
  cmsghdr bad{};
  bad.cmsg_len = CMSG_LEN(3);
  bad.cmsg_level = IPPROTO_IP;
  bad.cmsg_type = IP_TTL;
  std::memcpy(control + len, &bad, sizeof(bad));
  len += CMSG_SPACE(3);
  EXPECT_EQ(CountOpenFds(), before + 3);
  int calls = 0;
  absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(absl::MakeConstSpan(control, len)),
                                  [&](const auto&) { ++calls; });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "malformed IP_TTL control message: payload of 3 bytes, want 4");
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(VisitFdsTest, HalfAnFdInTheOnlyMessageClosesTheWholeOnes) {
  const int before = CountOpenFds();
  SendCopies(2);
  alignas(cmsghdr) std::byte control[CMSG_SPACE(2 * sizeof(int))] = {};
  size_t len = RecvRaw(pair_.b.get(), control);
  cmsghdr h;
  std::memcpy(&h, control, sizeof(h));
  h.cmsg_len -= 2;  // 2 fds and a half
  std::memcpy(control, &h, sizeof(h));
  int calls = 0;
  absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(absl::MakeConstSpan(control, len)),
                                  [&](OwnedFdRange&) { ++calls; });
  EXPECT_EQ(s.message(),
            "malformed SCM_RIGHTS control message: payload of 6 bytes is not a whole "
            "number of fds");
  EXPECT_EQ(calls, 0);
  // The first fd is whole and closed; the second's number was cut, so it is
  // left alone (as Decode does) and closed here from the received bytes.
  EXPECT_EQ(CountOpenFds(), before + 1);
  int second;
  std::memcpy(&second, control + CMSG_LEN(0) + sizeof(int), sizeof(int));
  EXPECT_EQ(close(second), 0);
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(VisitFdsTest, BadHeaderClosesTheFdsBeforeIt) {
  const int before = CountOpenFds();
  SendCopies(2);
  alignas(cmsghdr) std::byte control[CMSG_SPACE(2 * sizeof(int)) + 64] = {};
  size_t len = RecvRaw(pair_.b.get(), absl::MakeSpan(control, CMSG_SPACE(2 * sizeof(int))));
  cmsghdr bad{};
  bad.cmsg_len = 4096;  // runs past the end
  std::memcpy(control + len, &bad, sizeof(bad));
  len += sizeof(bad);
  absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(absl::MakeConstSpan(control, len)), [](OwnedFdRange&) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("cmsg_len 4096"));
  EXPECT_EQ(CountOpenFds(), before);
}

// A buffer with several kinds, built with the library's own encoder and by
// hand for receive-only kinds.
struct Built {
  alignas(cmsghdr) std::byte bytes[512] = {};
  size_t size = 0;
  void Add(int level, int type, const void* payload, size_t n) {
    cmsghdr h{};
    h.cmsg_len = CMSG_LEN(n);
    h.cmsg_level = level;
    h.cmsg_type = type;
    std::memcpy(bytes + size, &h, sizeof(h));
    std::memcpy(bytes + size + CMSG_LEN(0), payload, n);
    size += CMSG_SPACE(n);
  }
  absl::Span<const std::byte> span() const { return absl::MakeConstSpan(bytes, size); }
};

Built Mixed() {
  Built b;
  in_pktinfo p4{};
  p4.ipi_ifindex = 7;
  p4.ipi_addr.s_addr = htonl(0x7f000001);
  b.Add(IPPROTO_IP, IP_PKTINFO, &p4, sizeof(p4));
  timespec t{1700000000, 42};
  b.Add(SOL_SOCKET, SCM_TIMESTAMPNS, &t, sizeof(t));
  in6_pktinfo p6{};
  p6.ipi6_addr = in6addr_loopback;
  p6.ipi6_ifindex = 3;
  b.Add(IPPROTO_IPV6, IPV6_PKTINFO, &p6, sizeof(p6));
  int ttl = 9;
  b.Add(IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  uint8_t tos = 0x10;
  b.Add(IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
  int gro = 1400;
  b.Add(SOL_UDP, UDP_GRO, &gro, sizeof(gro));
  const char odd[] = "abc";
  b.Add(1234, 5, odd, 3);
  return b;
}

TEST(VisitTest, SameValuesAsDecodeInOrder) {
  Built b = Mixed();
  absl::StatusOr<ControlMessages> decoded = Decode(b.span());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  std::vector<size_t> kinds;  // ControlMessageOwned indices, in visit order
  absl::Status s = ForEachMessage(
      b.span(),
      Overloaded{
          [&](const Ipv4PacketInfo& v) {
            kinds.push_back(ControlMessageOwned(std::in_place_type<Ipv4PacketInfo>).index());
            const auto* d = Find<Ipv4PacketInfo>(*decoded);
            ASSERT_NE(d, nullptr);
            EXPECT_EQ(std::memcmp(d, &v, sizeof(v)), 0);
            EXPECT_EQ(v.ifindex, 7);
          },
          [&](const ScmTimestampns& v) {
            kinds.push_back(ControlMessageOwned(std::in_place_type<ScmTimestampns>).index());
            EXPECT_EQ(v.time.tv_sec, 1700000000);
            EXPECT_EQ(v.time.tv_nsec, 42);
          },
          [&](const Ipv6PacketInfo& v) {
            kinds.push_back(ControlMessageOwned(std::in_place_type<Ipv6PacketInfo>).index());
            EXPECT_EQ(std::memcmp(Find<Ipv6PacketInfo>(*decoded), &v, sizeof(v)), 0);
            EXPECT_EQ(v.ifindex, 3u);
          },
          [&](const Ipv4Ttl& v) {
            kinds.push_back(ControlMessageOwned(std::in_place_type<Ipv4Ttl>).index());
            EXPECT_EQ(v.ttl, 9);
          },
          [&](const Ipv4Tos& v) {
            kinds.push_back(ControlMessageOwned(std::in_place_type<Ipv4Tos>).index());
            EXPECT_EQ(v.tos, 0x10);
          },
          [&](const UdpGroSegments& v) {
            kinds.push_back(ControlMessageOwned(std::in_place_type<UdpGroSegments>).index());
            EXPECT_EQ(v.segment_size, 1400);
          },
          [&](const UnknownView& v) {
            kinds.push_back(ControlMessageOwned(std::in_place_type<Unknown>).index());
            EXPECT_EQ(v.level, 1234);
            EXPECT_EQ(v.type, 5);
            EXPECT_EQ(v.data.size(), 3u);
            const auto& u = *Find<Unknown>(*decoded);
            EXPECT_EQ(std::memcmp(u.data.data(), v.data.data(), 3), 0);
          },
      });
  ASSERT_TRUE(s.ok()) << s;
  std::vector<size_t> want;
  for (const auto& m : *decoded) want.push_back(m.index());
  EXPECT_EQ(kinds, want);
}

TEST(VisitTest, UnvisitedKindsAreSkipped) {
  Built b = Mixed();
  int calls = 0;
  absl::Status s = ForEachMessage(b.span(), [&](const Ipv4Ttl& v) {
    ++calls;
    EXPECT_EQ(v.ttl, 9);
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(calls, 1);
}

TEST(VisitTest, MisalignedBufferIsFine) {
  Built b = Mixed();
  std::vector<std::byte> shifted(3);
  shifted.insert(shifted.end(), b.bytes, b.bytes + b.size);
  int calls = 0;
  absl::Status s = ForEachMessage(absl::MakeConstSpan(shifted).subspan(3),
                                  [&](const auto&) { ++calls; });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(calls, 7);
}

// A type laid out as its payload is handed over in place when the payload
// is aligned for it, else copied: the same value either way, alone (the
// one-message path) or after another message (the walk).
TEST(VisitTest, WholeStructValuesAtEveryAlignment) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(53);
  sin6.sin6_addr = in6addr_loopback;
  sin6.sin6_scope_id = 5;
  timespec t{1700000000, 42};
  for (bool alone : {true, false}) {
    Built b;
    if (!alone) b.Add(SOL_SOCKET, SCM_TIMESTAMPNS, &t, sizeof(t));
    b.Add(IPPROTO_IPV6, IPV6_ORIGDSTADDR, &sin6, sizeof(sin6));
    for (size_t shift = 0; shift < 8; ++shift) {
      std::vector<std::byte> shifted(b.size + shift);
      std::memcpy(shifted.data() + shift, b.bytes, b.size);
      int calls = 0;
      absl::Status s = ForEachMessage(absl::MakeConstSpan(shifted).subspan(shift),
                                      [&](const Ipv6OrigDstAddr& v) {
                                        ++calls;
                                        EXPECT_EQ(std::memcmp(&v, &sin6, sizeof(sin6)), 0);
                                      });
      ASSERT_TRUE(s.ok()) << s;
      EXPECT_EQ(calls, 1) << "alone " << alone << " shift " << shift;
    }
  }
}

// Every hostile buffer: the same error as Decode, and no visit.
TEST(VisitTest, MalformedBuffersGiveDecodesErrors) {
  std::vector<Built> cases;
  {
    Built b;  // short pktinfo
    char p[8] = {};
    b.Add(IPPROTO_IP, IP_PKTINFO, p, sizeof(p));
    cases.push_back(b);
  }
  {
    Built b;  // oversized timestamp after a good one
    timespec t{};
    b.Add(SOL_SOCKET, SCM_TIMESTAMPNS, &t, sizeof(t));
    char p[24] = {};
    b.Add(SOL_SOCKET, SCM_TIMESTAMPNS, p, sizeof(p));
    cases.push_back(b);
  }
  {
    Built b;  // SCM_RIGHTS with half an fd (numbers never opened: -1s)
    int fds[2] = {-1, -1};
    b.Add(SOL_SOCKET, SCM_RIGHTS, fds, 6);
    cases.push_back(b);
  }
  {
    Built b;  // cmsg_len below the header size
    cmsghdr h{};
    h.cmsg_len = 4;
    std::memcpy(b.bytes, &h, sizeof(h));
    b.size = sizeof(h);
    cases.push_back(b);
  }
  {
    Built b;  // a good message, then a truncated one
    int ttl = 1;
    b.Add(IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
    b.Add(IPPROTO_IPV6, IPV6_PKTINFO, &ttl, sizeof(ttl));
    b.size -= 4;
    cases.push_back(b);
  }
  for (const Built& b : cases) {
    absl::StatusOr<ControlMessages> decoded = Decode(b.span());
    ASSERT_FALSE(decoded.ok());
    int calls = 0;
    absl::Status s = ForEachMessage(
        b.span(), [&](const auto&) { ++calls; });
    EXPECT_EQ(s, decoded.status());
    EXPECT_EQ(calls, 0);
  }
}

// Indexes past the end give nothing instead of reading past the range.
TEST(VisitTest, OwnedFdRangeIndexesAreBoundsChecked) {
  int fds[] = {5, 6};
  alignas(cmsghdr) std::byte buf[64];
  auto n = Encode({ScmRights{fds}}, buf);
  ASSERT_TRUE(n.ok());
  int calls = 0;
  absl::Status s = ForEachMessage(absl::MakeConstSpan(buf, *n), [&](OwnedFdRange& r) {
    ++calls;
    EXPECT_EQ(r.get(1), 6);
    EXPECT_EQ(r.get(2), -1);
    EXPECT_EQ(r.get(100000), -1);
    EXPECT_FALSE(r.Take(2).ok());
    EXPECT_FALSE(r.Take(100000).ok());
    EXPECT_EQ(r.get(1), 6);  // nothing taken by the bad indexes
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(calls, 1);
}

// A visitor that accepts no kind would silently close every fd: it does
// not compile.
template <typename V>
concept Visits = requires(V v, absl::Span<const std::byte> b) { ForEachMessage(b, v); };
static_assert(Visits<void (*)(const Ipv4Ttl&)>);
static_assert(Visits<void (*)(OwnedFdRange&)>);
static_assert(Visits<void (*)(const UnknownView&)>);
static_assert(!Visits<void (*)(int)>);
static_assert(!Visits<void (*)(const std::string&)>);

// The "accepts some kind" check instantiates a generic visitor only with
// what ForEachMessage calls it with: this one moves the pidfd out of
// `ScmPidfd&` and copies every value, which would not compile for
// `const ScmPidfd&`, `const ScmRightsOwned&` or `const Unknown&`.
TEST(VisitTest, GenericVisitorIsCheckedOnlyWithWhatItIsCalledWith) {
  Built b = Mixed();
  ControlMessages values;
  int unknown = 0, rights = 0;
  absl::Status s = ForEachMessage(b.span(), [&](auto& v) {
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<T, OwnedFdRange>) {
      ++rights;
    } else if constexpr (std::is_same_v<T, ScmPidfd>) {
      UniqueFd taken = std::move(v.fd);
    } else if constexpr (std::is_same_v<T, UnknownView>) {
      ++unknown;
    } else {
      values.emplace_back(v);
    }
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(values.size(), 6u);
  EXPECT_EQ(unknown, 1);
  EXPECT_EQ(rights, 0);
  // And the bare forms.
  int calls = 0;
  EXPECT_TRUE(ForEachMessage(b.span(), [&](auto&&) { ++calls; }).ok());
  EXPECT_TRUE(ForEachMessage(b.span(), [&](const auto&) { ++calls; }).ok());
  EXPECT_EQ(calls, 14);
}

// A visitor of one to three kinds has its kinds tried first on a lone
// message: the same values and the same errors as the full table.
TEST(VisitTest, LoneMessageOfAVisitorsFewKindsAsTheTableSaysIt) {
  for (size_t n : {size_t{0}, size_t{3}, sizeof(int), size_t{8}}) {
    Built b;
    int ttl = 9;
    char payload[8] = {};
    std::memcpy(payload, &ttl, sizeof(ttl));
    b.Add(IPPROTO_IP, IP_TTL, payload, n);
    absl::StatusOr<ControlMessages> decoded = Decode(b.span());
    int seen = 0;
    absl::Status s = ForEachMessage(b.span(), Overloaded{[&](const Ipv4Ttl& v) { seen = v.ttl; },
                                                         [&](const Ipv4Tos&) { seen = -1; }});
    EXPECT_EQ(s, decoded.status()) << n;
    EXPECT_EQ(seen, decoded.ok() ? 9 : 0) << n;
  }
  // Another kind is skipped; a _NEW timestamp (not the table's kType) is
  // still found through the table.
  Built other;
  int tos = 1;
  other.Add(IPPROTO_IP, IP_TOS, &tos, 1);
  int calls = 0;
  EXPECT_TRUE(ForEachMessage(other.span(), [&](const Ipv4Ttl&) { ++calls; }).ok());
  EXPECT_EQ(calls, 0);
  Built stamp;
  timespec t{1700000000, 7};
  stamp.Add(SOL_SOCKET, SO_TIMESTAMPNS_NEW, &t, sizeof(t));
  long ns = 0;
  EXPECT_TRUE(
      ForEachMessage(stamp.span(), [&](const ScmTimestampns& v) { ns = v.time.tv_nsec; }).ok());
  EXPECT_EQ(ns, 7);
}

// A lone message of a kind the visitor takes is visited without the walk
// when nothing but padding and less than a header follows it. Every buffer
// length around that edge (cut short, exact, with its padding, with a tail
// of zeros) gives Decode's status, and the value exactly when Decode has it.
TEST(VisitTest, LoneMessageAtEveryLengthAsDecodeSaysIt) {
  int ttl = 9;
  int fds[3] = {100, 101, 102};
  struct Case {
    int level, type;
    const void* payload;
    size_t n;
  };
  for (const Case& c : {Case{IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)},
                        Case{SOL_SOCKET, SCM_RIGHTS, fds, sizeof(int)},
                        Case{SOL_SOCKET, SCM_RIGHTS, fds, 2 * sizeof(int)},
                        Case{SOL_SOCKET, SCM_RIGHTS, fds, 3 * sizeof(int)}}) {
    Built b;
    b.Add(c.level, c.type, c.payload, c.n);
    for (size_t len = 0; len <= CMSG_SPACE(c.n) + 2 * sizeof(cmsghdr); ++len) {
      // Past the message: zeros (a header of cmsg_len 0 once there is room
      // for one).
      auto bytes = absl::MakeConstSpan(b.bytes, len);
      absl::StatusOr<ControlMessages> decoded = Decode(bytes);
      int seen_ttl = 0;
      size_t seen_fds = 0;
      int last_fd = 0;
      absl::Status s = ForEachMessage(
          bytes, Overloaded{[&](const Ipv4Ttl& v) { seen_ttl = v.ttl; },
                            [&](OwnedFdRange& r) {
                              seen_fds = r.size();
                              last_fd = r.get(r.size() - 1);
                            }});
      SCOPED_TRACE(::testing::Message() << "type " << c.type << ", " << c.n << " bytes in "
                                        << len);
      EXPECT_EQ(s, decoded.status());
      if (!decoded.ok() || decoded->empty()) {
        EXPECT_EQ(seen_ttl + seen_fds, 0u);
        continue;
      }
      if (c.type == IP_TTL) {
        EXPECT_EQ(seen_ttl, 9);
      } else {
        EXPECT_EQ(seen_fds, c.n / sizeof(int));
        EXPECT_EQ(last_fd, fds[seen_fds - 1]);
      }
    }
  }
}

// IP(V6)_RECVERR's offender is there exactly when its family is the
// message's, through ForEachMessage as through Decode.
TEST(VisitTest, RecvErrOffenderAsDecodeGivesIt) {
  for (sa_family_t family : {sa_family_t{AF_INET}, sa_family_t{AF_UNSPEC}}) {
    struct {
      sock_extended_err err;
      sockaddr_in from;
    } raw4{};
    raw4.err.ee_errno = ECONNREFUSED;
    raw4.from.sin_family = family;
    raw4.from.sin_addr.s_addr = htonl(0x7f000001);
    Built b;
    b.Add(IPPROTO_IP, IP_RECVERR, &raw4, sizeof(raw4));
    Ipv4RecvErr seen;
    ASSERT_TRUE(ForEachMessage(b.span(), [&](const Ipv4RecvErr& e) { seen = e; }).ok());
    absl::StatusOr<ControlMessages> decoded = Decode(b.span());
    ASSERT_TRUE(decoded.ok());
    const Ipv4RecvErr* want = Find<Ipv4RecvErr>(*decoded);
    ASSERT_NE(want, nullptr);
    EXPECT_EQ(seen.error.ee_errno, ECONNREFUSED);
    EXPECT_EQ(seen.offender().has_value(), family == AF_INET);
    EXPECT_EQ(seen.offender().has_value(), want->offender().has_value());
    if (seen.offender()) {
      EXPECT_EQ(seen.offender()->sin_addr.s_addr, htonl(0x7f000001));
    }
  }
  for (sa_family_t family : {sa_family_t{AF_INET6}, sa_family_t{AF_INET}}) {
    struct {
      sock_extended_err err;
      sockaddr_in6 from;
    } raw6{};
    raw6.err.ee_errno = EHOSTUNREACH;
    raw6.from.sin6_family = family;
    raw6.from.sin6_addr = in6addr_loopback;
    raw6.from.sin6_scope_id = 5;
    Built b;
    b.Add(IPPROTO_IPV6, IPV6_RECVERR, &raw6, sizeof(raw6));
    Ipv6RecvErr seen;
    ASSERT_TRUE(ForEachMessage(b.span(), [&](const Ipv6RecvErr& e) { seen = e; }).ok());
    EXPECT_EQ(seen.error.ee_errno, EHOSTUNREACH);
    ASSERT_EQ(seen.offender().has_value(), family == AF_INET6);
    if (seen.offender()) {
      EXPECT_EQ(std::memcmp(&seen.offender()->sin6_addr, &in6addr_loopback, 16), 0);
      EXPECT_EQ(seen.offender()->sin6_scope_id, 5u);
    }
  }
}

TEST(VisitTest, MoreFdsThanTheKernelSendsIsAnError) {
  std::vector<int> fds(kMaxFdsPerMessage + 1, -1);
  Built b;
  std::vector<std::byte> big(CMSG_SPACE(fds.size() * sizeof(int)));
  cmsghdr h{};
  h.cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
  h.cmsg_level = SOL_SOCKET;
  h.cmsg_type = SCM_RIGHTS;
  std::memcpy(big.data(), &h, sizeof(h));
  std::memcpy(big.data() + CMSG_LEN(0), fds.data(), fds.size() * sizeof(int));
  int calls = 0;
  absl::Status s = ForEachMessage(
      big, [&](OwnedFdRange&) { ++calls; });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("254 fds exceed the kernel's limit of 253"));
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace cmsg
