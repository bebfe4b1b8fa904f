// The library beside the same work done with raw CMSG_* macros, in one run:
// build+parse of ScmRights (1 and 16 fds), Ipv4PacketInfo, Ipv6PacketInfo
// and ScmTimestampns, and fd passing over a socketpair (1 and 64 fds per
// message). After the usual table it prints each pair side by side with the
// ratio and the target; build+parse is measured both through Decode (an
// owning list) and through ForEachMessage (no list).
//
//   tools/bazel run -c opt //lib/cmsg:cmsg_benchmark
//
// The raw side is written as cmsg(3) shows: CMSG_FIRSTHDR/CMSG_NXTHDR, a
// level/type/length check per message and memcpy out of CMSG_DATA.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "lib/cmsg/cmsg.h"

namespace cmsg {
namespace {

// ---------------------------------------------------------------- raw side

// Builds one message of `n` payload bytes; returns msg_controllen.
size_t RawBuild(void* buf, size_t cap, int level, int type, const void* payload,
                size_t n) {
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = cap;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(n);
  std::memcpy(CMSG_DATA(c), payload, n);
  return CMSG_SPACE(n);
}

// Finds the first level/type message of exactly `n` payload bytes and copies
// it out; false if there is none.
bool RawParse(void* buf, size_t len, int level, int type, void* out, size_t n) {
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = len;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == level && c->cmsg_type == type && c->cmsg_len == CMSG_LEN(n)) {
      std::memcpy(out, CMSG_DATA(c), n);
      return true;
    }
  }
  return false;
}

// Parses SCM_RIGHTS of any count into `fds`; returns the count.
size_t RawParseRights(void* buf, size_t len, int* fds) {
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = len;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len >= CMSG_LEN(0)) {
      size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      std::memcpy(fds, CMSG_DATA(c), n * sizeof(int));
      return n;
    }
  }
  return 0;
}

// Fds that are never open: build+parse only moves numbers, and the library
// side releases them (as a caller taking them would) so nothing is closed.
std::vector<int> FakeFds(size_t n) {
  std::vector<int> fds(n);
  for (size_t i = 0; i < n; ++i) fds[i] = 100000 + static_cast<int>(i);
  return fds;
}

void RawRights(benchmark::State& state) {
  std::vector<int> fds = FakeFds(state.range(0));
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(16 * sizeof(int))];
  int out[16];
  for (auto _ : state) {
    benchmark::DoNotOptimize(fds.data());
    size_t len = RawBuild(buf, sizeof(buf), SOL_SOCKET, SCM_RIGHTS, fds.data(),
                          fds.size() * sizeof(int));
    benchmark::ClobberMemory();
    size_t n = RawParseRights(buf, len, out);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out);
  }
}

void LibRights(benchmark::State& state) {
  std::vector<int> fds = FakeFds(state.range(0));
  ControlBuffer<Fds<16>> buf;
  int out[16];
  for (auto _ : state) {
    benchmark::DoNotOptimize(fds.data());
    absl::StatusOr<size_t> len = Encode({ScmRights{fds}}, buf.span());
    benchmark::ClobberMemory();
    // Adopting, as received control data is (the fake fds are released
    // below, never closed).
    absl::StatusOr<ControlMessages> m =
        Decode(ReceivedControl::AdoptBytes(buf.span().first(*len)));
    size_t n = 0;
    if (m.ok()) {
      if (auto* r = Find<ScmRightsOwned>(*m)) {
        for (UniqueFd& fd : r->fds) out[n++] = fd.release();
      }
    }
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out);
  }
}

// The same through ForEachMessage: no list is built.
void VisitRights(benchmark::State& state) {
  std::vector<int> fds = FakeFds(state.range(0));
  ControlBuffer<Fds<16>> buf;
  int out[16];
  for (auto _ : state) {
    benchmark::DoNotOptimize(fds.data());
    absl::StatusOr<size_t> len = Encode({ScmRights{fds}}, buf.span());
    benchmark::ClobberMemory();
    size_t n = 0;
    // Takes them all as numbers, as the raw side and LibRights end up.
    absl::Status s = ForEachMessage(ReceivedControl::AdoptBytes(buf.span().first(*len)),
                                    [&](OwnedFdRange& r) { n = r.ReleaseAll(out); });
    benchmark::DoNotOptimize(s.ok());
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out);
  }
}

template <typename Raw, int kLevel, int kType>
void RawValue(benchmark::State& state, const Raw& value) {
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(Raw))];
  Raw out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&value);
    size_t len = RawBuild(buf, sizeof(buf), kLevel, kType, &value, sizeof(value));
    benchmark::ClobberMemory();
    bool found = RawParse(buf, len, kLevel, kType, &out, sizeof(out));
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(out);
  }
}

template <typename T>
void LibValue(benchmark::State& state, const T& value) {
  ControlBuffer<T> buf;
  T out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&value);
    absl::StatusOr<size_t> len = Encode({value}, buf.span());
    benchmark::ClobberMemory();
    absl::StatusOr<ControlMessages> m = Decode(buf.span().first(*len));
    bool found = false;
    if (m.ok()) {
      if (const T* p = Find<T>(*m)) {
        out = *p;
        found = true;
      }
    }
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(out);
  }
}

template <typename T>
void VisitValue(benchmark::State& state, const T& value) {
  ControlBuffer<T> buf;
  T out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&value);
    absl::StatusOr<size_t> len = Encode({value}, buf.span());
    benchmark::ClobberMemory();
    bool found = false;
    absl::Status s = ForEachMessage(buf.span().first(*len), [&](const T& v) {
      out = v;
      found = true;
    });
    benchmark::DoNotOptimize(s.ok());
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(out);
  }
}

in_pktinfo RawPktinfo4() {
  in_pktinfo p{};
  p.ipi_ifindex = 1;
  p.ipi_spec_dst.s_addr = htonl(INADDR_LOOPBACK);
  p.ipi_addr.s_addr = htonl(INADDR_LOOPBACK);
  return p;
}
in6_pktinfo RawPktinfo6() {
  in6_pktinfo p{};
  p.ipi6_addr = in6addr_loopback;
  p.ipi6_ifindex = 1;
  return p;
}

void RawPacketInfo4(benchmark::State& s) {
  RawValue<in_pktinfo, IPPROTO_IP, IP_PKTINFO>(s, RawPktinfo4());
}
void LibPacketInfo4(benchmark::State& s) {
  in_pktinfo r = RawPktinfo4();
  LibValue(s, Ipv4PacketInfo{r.ipi_ifindex, r.ipi_spec_dst, r.ipi_addr});
}
void VisitPacketInfo4(benchmark::State& s) {
  in_pktinfo r = RawPktinfo4();
  VisitValue(s, Ipv4PacketInfo{r.ipi_ifindex, r.ipi_spec_dst, r.ipi_addr});
}
void RawPacketInfo6(benchmark::State& s) {
  RawValue<in6_pktinfo, IPPROTO_IPV6, IPV6_PKTINFO>(s, RawPktinfo6());
}
void LibPacketInfo6(benchmark::State& s) {
  in6_pktinfo r = RawPktinfo6();
  LibValue(s, Ipv6PacketInfo{r.ipi6_addr, r.ipi6_ifindex});
}

void VisitPacketInfo6(benchmark::State& s) {
  in6_pktinfo r = RawPktinfo6();
  VisitValue(s, Ipv6PacketInfo{r.ipi6_addr, r.ipi6_ifindex});
}

// SCM_TIMESTAMPNS is only ever built by the kernel: both sides build it with
// the raw macros (standing in for the kernel) and differ in the parse.
void RawTimestampns(benchmark::State& state) {
  timespec t{1700000000, 123456789};
  RawValue<timespec, SOL_SOCKET, SCM_TIMESTAMPNS>(state, t);
}
void LibTimestampns(benchmark::State& state) {
  timespec t{1700000000, 123456789};
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(timespec))];
  timespec out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&t);
    size_t len = RawBuild(buf, sizeof(buf), SOL_SOCKET, SCM_TIMESTAMPNS, &t, sizeof(t));
    benchmark::ClobberMemory();
    absl::StatusOr<ControlMessages> m =
        Decode(absl::MakeConstSpan(reinterpret_cast<const std::byte*>(buf), len));
    bool found = false;
    if (m.ok()) {
      if (const auto* p = Find<ScmTimestampns>(*m)) {
        out = p->time;
        found = true;
      }
    }
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(out);
  }
}

void VisitTimestampns(benchmark::State& state) {
  timespec t{1700000000, 123456789};
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(timespec))];
  timespec out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&t);
    size_t len = RawBuild(buf, sizeof(buf), SOL_SOCKET, SCM_TIMESTAMPNS, &t, sizeof(t));
    benchmark::ClobberMemory();
    bool found = false;
    absl::Status s =
        ForEachMessage(absl::MakeConstSpan(reinterpret_cast<const std::byte*>(buf), len),
                       [&](const ScmTimestampns& v) {
                         out = v.time;
                         found = true;
                       });
    benchmark::DoNotOptimize(s.ok());
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(out);
  }
}

// ------------------------------------------------------------ fd passing

// A socketpair and `n` open fds (dups of one file) to pass each round.
struct FdPassing {
  explicit FdPassing(size_t n) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
      a.reset(sv[0]);
      b.reset(sv[1]);
    }
    file.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    fds.assign(n, file.get());
  }
  UniqueFd a, b, file;
  std::vector<int> fds;
};

void RawFdPassing(benchmark::State& state) {
  FdPassing p(state.range(0));
  const size_t n = p.fds.size();
  std::vector<unsigned char> space(CMSG_SPACE(kMaxFdsPerMessage * sizeof(int)) + 16);
  // A cmsghdr-aligned view into the vector.
  auto* buf = reinterpret_cast<unsigned char*>(
      (reinterpret_cast<uintptr_t>(space.data()) + 15) & ~uintptr_t{15});
  std::vector<int> received(n);
  char byte = 'x';
  for (auto _ : state) {
    iovec iov{&byte, 1};
    msghdr out{};
    out.msg_iov = &iov;
    out.msg_iovlen = 1;
    out.msg_control = buf;
    out.msg_controllen =
        RawBuild(buf, CMSG_SPACE(n * sizeof(int)), SOL_SOCKET, SCM_RIGHTS,
                 p.fds.data(), n * sizeof(int));
    if (sendmsg(p.a.get(), &out, MSG_NOSIGNAL) != 1) state.SkipWithError("sendmsg");
    msghdr in{};
    in.msg_iov = &iov;
    in.msg_iovlen = 1;
    in.msg_control = buf;
    in.msg_controllen = CMSG_SPACE(n * sizeof(int));
    if (recvmsg(p.b.get(), &in, MSG_CMSG_CLOEXEC) != 1 || (in.msg_flags & MSG_CTRUNC))
      state.SkipWithError("recvmsg");
    size_t got = RawParseRights(buf, in.msg_controllen, received.data());
    for (size_t i = 0; i < got; ++i) close(received[i]);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void LibFdPassing(benchmark::State& state) {
  FdPassing p(state.range(0));
  ControlBuffer<Fds<kMaxFdsPerMessage>> control;
  char byte;
  for (auto _ : state) {
    if (!SendMsg(p.a.get(), "x", {ScmRights{p.fds}}).ok()) state.SkipWithError("SendMsg");
    absl::StatusOr<ReceivedMessage> m =
        RecvMsg(p.b.get(), absl::MakeSpan(&byte, 1), control.span());
    if (!m.ok()) state.SkipWithError("RecvMsg");
    // Dropping `m` closes the received fds.
  }
  state.SetItemsProcessed(state.iterations() * p.fds.size());
}

// ---------------------------------------------------------------- report

struct Pair {
  const char* name;
  bool throughput;  // compare as throughput (fd passing) rather than time
};
constexpr Pair kPairs[] = {
    {"build+parse ScmRights 1 fd", false},
    {"build+parse ScmRights 16 fds", false},
    {"build+parse Ipv4PacketInfo", false},
    {"build+parse Ipv6PacketInfo", false},
    {"parse ScmTimestampns", false},
    {"fd passing 1 fd/msg", true},
    {"fd passing 64 fds/msg", true},
};

void Register() {
  // `visit` (ForEachMessage) is registered for the build+parse pairs only.
  auto both = [](const char* name, auto raw, auto lib, int arg = -1,
                 void (*visit)(benchmark::State&) = nullptr) {
    std::vector<benchmark::internal::Benchmark*> all = {
        benchmark::RegisterBenchmark((std::string(name) + " | raw").c_str(), raw),
        benchmark::RegisterBenchmark((std::string(name) + " | cmsg").c_str(), lib)};
    if (visit != nullptr) {
      all.push_back(
          benchmark::RegisterBenchmark((std::string(name) + " | visit").c_str(), visit));
    }
    for (auto* b : all) {
      if (arg >= 0) b->Arg(arg);
      b->Repetitions(5)->ReportAggregatesOnly(true);
    }
  };
  both(kPairs[0].name, RawRights, LibRights, 1, VisitRights);
  both(kPairs[1].name, RawRights, LibRights, 16, VisitRights);
  both(kPairs[2].name, RawPacketInfo4, LibPacketInfo4, -1, VisitPacketInfo4);
  both(kPairs[3].name, RawPacketInfo6, LibPacketInfo6, -1, VisitPacketInfo6);
  both(kPairs[4].name, RawTimestampns, LibTimestampns, -1, VisitTimestampns);
  both(kPairs[5].name, RawFdPassing, LibFdPassing, 1);
  both(kPairs[6].name, RawFdPassing, LibFdPassing, 64);
}

// Keeps each run's CPU time per iteration, keyed by its name.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    // With repetitions the median is kept, else the single run.
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      std::string name = run.run_name.function_name;
      if (median || !medians_.count(name)) ns_[name] = run.GetAdjustedCPUTime();
      if (median) medians_.insert(name);
    }
  }
  void PrintRatios() const {
    // cmsg = Decode into a ControlMessages list (or SendMsg/RecvMsg);
    // visit = ForEachMessage. The target is judged on the faster of the two.
    std::printf("\n%-30s %8s %8s %8s %8s %8s  %s\n", "work", "raw ns", "cmsg ns",
                "ratio", "visit ns", "ratio", "target");
    for (const Pair& p : kPairs) {
      auto raw = ns_.find(std::string(p.name) + " | raw");
      auto lib = ns_.find(std::string(p.name) + " | cmsg");
      auto visit = ns_.find(std::string(p.name) + " | visit");
      if (raw == ns_.end() || lib == ns_.end()) continue;
      if (p.throughput) {
        double ratio = raw->second / lib->second;  // cmsg throughput / raw
        std::printf("%-30s %8.1f %8.1f %7.3fx %8s %8s  throughput >= 0.95x raw: %s\n",
                    p.name, raw->second, lib->second, ratio, "-", "-",
                    ratio >= 0.95 ? "met" : "MISSED");
      } else {
        double ratio = lib->second / raw->second;  // cmsg time / raw
        double best = ratio;
        char visit_ns[16] = "-", visit_ratio[16] = "-";
        if (visit != ns_.end()) {
          double r = visit->second / raw->second;
          best = std::min(best, r);
          std::snprintf(visit_ns, sizeof(visit_ns), "%.1f", visit->second);
          std::snprintf(visit_ratio, sizeof(visit_ratio), "%.3fx", r);
        }
        std::printf("%-30s %8.1f %8.1f %7.3fx %8s %8s  time <= 1.15x raw: %s\n",
                    p.name, raw->second, lib->second, ratio, visit_ns, visit_ratio,
                    best <= 1.15 ? "met" : "MISSED");
      }
    }
  }

 private:
  std::map<std::string, double> ns_;
  std::set<std::string> medians_;
};

}  // namespace
}  // namespace cmsg

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  cmsg::Register();
  cmsg::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
