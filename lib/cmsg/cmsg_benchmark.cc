// The library beside the same work written with the raw CMSG_* macros, in
// one run, one core, with ratios:
//
//   tools/bazel run -c opt //lib/cmsg:cmsg_benchmark
//
// Rows: build+parse of ScmRights (1 and 16 fds) and of every kind both
// sides have; parse only for the kinds only the kernel builds (both sides
// parse bytes the raw macros wrote once, before the timed loop); build only
// for the kinds only a sender writes; fd passing over a socketpair (1 and
// 64 fds per message). Three columns per row: `raw` (cmsg(3) code, sizes
// known at compile time, a plain CMSG_FIRSTHDR/CMSG_NXTHDR loop that stops
// at the message it wants), `cmsg` (the list: Encode / Decode + Find, or
// SendMsg / RecvMsg) and `fast` (the typed path: EncodeTyped /
// ForEachMessage, or the typed SendMsg / RecvMsg with a visitor). Each
// library side ends where the raw side does: the value copied out, or the
// fds held as plain numbers (build+parse) or closed (fd passing).
//
// Medians of --benchmark_repetitions (default 5, shuffled across rows), CPU
// time per operation, and instructions and cycles per operation where the
// machine has hardware counters. Without them (the first lines say why),
// instructions come from a run of the same rows under valgrind's callgrind
// (bench/callgrind_counts.h; `--instructions=off` skips it) and cycles read
// "n/a".
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/if_alg.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "lib/cmsg/bench/callgrind_counts.h"
#include "lib/cmsg/bench/cpu_counters.h"
#include "lib/cmsg/bench/ratio_report.h"
#include "lib/cmsg/cmsg.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

namespace cmsg {
namespace {

using ::cmsg::bench::CpuCounters;
using ::cmsg::bench::CpuCounts;

CpuCounters* g_counters = nullptr;
// Under callgrind: the benchmark running now, as the report names it.
const std::string* g_running = nullptr;

// Counts instructions and cycles over a benchmark's timed loop and reports
// them per iteration beside its time; under callgrind, has the loop's
// instructions counted instead (bench/callgrind_counts.h).
class Counted {
 public:
  explicit Counted(benchmark::State& state) : state_(state) {
    if (g_running != nullptr) bench::BeginCounting();
    g_counters->Start();
  }
  ~Counted() {
    if (g_running != nullptr) bench::EndCounting(*g_running, state_.iterations());
    CpuCounts c = g_counters->Stop();
    if (!g_counters->ok()) return;
    state_.counters["ins"] = benchmark::Counter(static_cast<double>(c.instructions),
                                                benchmark::Counter::kAvgIterations);
    state_.counters["cyc"] = benchmark::Counter(static_cast<double>(c.cycles),
                                                benchmark::Counter::kAvgIterations);
  }

 private:
  benchmark::State& state_;
};

// Makes `buffer` visible outside the function, as handing it to sendmsg or
// recvmsg does: from then on ClobberMemory() makes the compiler write it and
// read it back (the kernel reads what was built and writes what is parsed),
// rather than forward the values through registers.
inline void Escape(void* buffer) { asm volatile("" : : "g"(buffer) : "memory"); }

// Stands for the kernel between build and parse: the buffer is written out
// and read back, and its length (msg_controllen) is not known in advance.
template <typename Len>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Kernel(Len& len) {
  benchmark::ClobberMemory();
  benchmark::DoNotOptimize(len);
}

// Fd numbers that are never open: build+parse only moves numbers, and the
// library sides release them (as a caller taking them would), never close.
template <size_t N>
struct FakeFds {
  FakeFds() {
    for (size_t i = 0; i < N; ++i) fds[i] = 100000 + static_cast<int>(i);
  }
  int fds[N];
};

// ------------------------------------------------------- raw side (cmsg(3))

// One message of `value` written as cmsg(3) shows, into `buf` of exactly
// CMSG_SPACE(sizeof(Raw)); returns msg_controllen.
template <int kLevel, int kType, typename Raw>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline size_t RawBuild(unsigned char (&buf)[CMSG_SPACE(sizeof(Raw))],
                                                    const Raw& value) {
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = sizeof(buf);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = kLevel;
  c->cmsg_type = kType;
  c->cmsg_len = CMSG_LEN(sizeof(Raw));
  std::memcpy(CMSG_DATA(c), &value, sizeof(Raw));
  return sizeof(buf);
}

// The first kLevel/kType message of the right length, copied into `out`.
template <int kLevel, int kType, typename Raw>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool RawParse(unsigned char* buf, size_t len, Raw& out) {
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = len;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == kLevel && c->cmsg_type == kType && c->cmsg_len == CMSG_LEN(sizeof(Raw))) {
      std::memcpy(&out, CMSG_DATA(c), sizeof(Raw));
      return true;
    }
  }
  return false;
}

template <int kLevel, int kType, typename Raw>
void RawBuildParse(benchmark::State& state, Raw value) {
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(Raw))] = {};
  Escape(buf);
  Raw out{};
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(value);
    size_t len = RawBuild<kLevel, kType>(buf, value);
    Kernel(len);
    bool found = RawParse<kLevel, kType>(buf, len, out);
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(out);
  }
}

// The kernel's bytes for a parse row, written once: recvmsg has long
// finished writing them when a receiver reads them. Writing them again in
// the loop would have every parse read stores still in flight, and time
// how each side's compiler ordered its loads against those stores (store
// forwarding) rather than the parse (lib/cmsg/README.md, "Parse rows").
template <int kLevel, int kType, typename Raw>
size_t KernelWrote(unsigned char (&buf)[CMSG_SPACE(sizeof(Raw))], const Raw& value) {
  size_t len = RawBuild<kLevel, kType>(buf, value);
  Escape(buf);
  return len;
}

// A parse row that stopped finding its message measures nothing.
inline void MustFind(benchmark::State& state, bool found) {
  if (!found) state.SkipWithError("the message was not found");
}

template <int kLevel, int kType, typename Raw>
void RawParseOnly(benchmark::State& state, Raw value) {
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(Raw))] = {};
  size_t len = KernelWrote<kLevel, kType>(buf, value);
  Raw out{};
  bool found = false;
  Counted counted(state);
  for (auto _ : state) {
    Kernel(len);
    found = RawParse<kLevel, kType>(buf, len, out);
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(out);
  }
  MustFind(state, found);
}

template <int kLevel, int kType, typename Raw>
void RawBuildOnly(benchmark::State& state, Raw value) {
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(Raw))] = {};
  Escape(buf);
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(value);
    size_t len = RawBuild<kLevel, kType>(buf, value);
    benchmark::DoNotOptimize(len);
    benchmark::ClobberMemory();
  }
}

// SCM_RIGHTS of up to N fds, as a receiver expecting up to N writes it.
template <size_t N>
void RawRights(benchmark::State& state) {
  FakeFds<N> in;
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(int) * N)] = {};
  Escape(buf);
  int out[N] = {};
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(in.fds);
    msghdr msg{};
    msg.msg_control = buf;
    msg.msg_controllen = sizeof(buf);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * N);
    std::memcpy(CMSG_DATA(c), in.fds, sizeof(int) * N);
    size_t len = sizeof(buf);
    Kernel(len);
    msg.msg_controllen = len;
    size_t n = 0;
    for (c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (n > N) n = N;
        std::memcpy(out, CMSG_DATA(c), n * sizeof(int));
        break;
      }
    }
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out);
  }
}

// ---------------------------------------------------------- library side

// Build with Encode (a ControlMessage list) and/or parse with Decode + Find.
template <typename T, int kLevel, int kType, typename Raw>
void ListBuildParse(benchmark::State& state, T value, Raw) {
  ControlBuffer<T> buf;
  Escape(buf.span().data());
  T out{};
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(value);
    absl::StatusOr<size_t> len = Encode({value}, buf.span());
    if (!len.ok()) continue;
    size_t got = *len;
    Kernel(got);
    absl::StatusOr<ControlMessages> m = Decode(buf.span().first(got));
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

// The typed path: EncodeTyped and ForEachMessage.
template <typename T, int kLevel, int kType, typename Raw>
void TypedBuildParse(benchmark::State& state, T value, Raw) {
  ControlBuffer<T> buf;
  Escape(buf.span().data());
  T out{};
  bool found = false;
  // The visitor is made once, as a receive loop would.
  auto keep = [&](const T& v) {
    out = v;
    found = true;
  };
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(value);
    // A ControlBuffer with room for T by its type: nothing to check.
    size_t got = EncodeTyped(buf, value);
    Kernel(got);
    found = false;
    absl::Status s = ForEachMessage(absl::MakeConstSpan(buf.span().data(), got), keep);
    // Found and well formed: what the raw side's `found` says.
    benchmark::DoNotOptimize(s.ok() && found);
    benchmark::DoNotOptimize(out);
  }
}

// Kinds only the kernel builds: built with the raw macros on every side.
// What a parse row keeps of the value: a copy; for ScmPidfd, from data
// adopted as received, the pidfd taken as a number (as a caller keeping it
// would; the fake number is never closed).
template <typename T>
struct Received {
  using Arg = const T&;
  using Out = T;
  static constexpr bool kAdopts = false;
  static void Keep(const T& v, Out& out) { out = v; }
};
template <>
struct Received<ScmPidfd> {
  using Arg = ScmPidfd&;
  using Out = int;
  static constexpr bool kAdopts = true;
  static void Keep(ScmPidfd& v, Out& out) { out = v.fd.release(); }
};

// The `len` bytes at `buf` as recvmsg left them: adopted if T carries an fd.
template <typename T>
auto Control(const unsigned char* buf, size_t len) {
  auto bytes = absl::MakeConstSpan(reinterpret_cast<const std::byte*>(buf), len);
  if constexpr (Received<T>::kAdopts) {
    return ReceivedControl::AdoptBytes(bytes);
  } else {
    return bytes;
  }
}

template <typename T, int kLevel, int kType, typename Raw>
void ListParse(benchmark::State& state, Raw value) {
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(Raw))] = {};
  size_t len = KernelWrote<kLevel, kType>(buf, value);
  typename Received<T>::Out out{};
  bool found = false;
  Counted counted(state);
  for (auto _ : state) {
    Kernel(len);
    absl::StatusOr<ControlMessages> m = Decode(Control<T>(buf, len));
    found = false;
    if (m.ok()) {
      if (T* p = Find<T>(*m)) {
        Received<T>::Keep(*p, out);
        found = true;
      }
    }
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(out);
  }
  MustFind(state, found);
}

template <typename T, int kLevel, int kType, typename Raw>
void TypedParse(benchmark::State& state, Raw value) {
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(Raw))] = {};
  size_t len = KernelWrote<kLevel, kType>(buf, value);
  typename Received<T>::Out out{};
  bool found = false;
  auto keep = [&](typename Received<T>::Arg v) {
    Received<T>::Keep(v, out);
    found = true;
  };
  Counted counted(state);
  for (auto _ : state) {
    Kernel(len);
    found = false;
    absl::Status s = ForEachMessage(Control<T>(buf, len), keep);
    found = found && s.ok();
    benchmark::DoNotOptimize(found);
    benchmark::DoNotOptimize(out);
  }
  MustFind(state, found);
}

// Kinds only a sender writes.
template <typename T, int kLevel, int kType, typename Raw>
void ListBuild(benchmark::State& state, T value, Raw) {
  alignas(cmsghdr) std::byte buf[kMaxEncodedSize<T>] = {};
  Escape(buf);
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(value);
    absl::StatusOr<size_t> len = Encode({value}, buf);
    benchmark::DoNotOptimize(len.ok() ? *len : 0);
    benchmark::ClobberMemory();
  }
}

template <typename T, int kLevel, int kType, typename Raw>
void TypedBuild(benchmark::State& state, T value, Raw) {
  ControlBuffer<T> buf;
  Escape(buf.span().data());
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(value);
    size_t len = EncodeTyped(buf, value);
    benchmark::DoNotOptimize(len);
    benchmark::ClobberMemory();
  }
}

// SCM_RIGHTS through the list: Encode, Decode (adopting, as received data
// is), then each UniqueFd released as a number.
template <size_t N>
void ListRights(benchmark::State& state) {
  FakeFds<N> in;
  ControlBuffer<Fds<N>> buf;
  Escape(buf.span().data());
  int out[N] = {};
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(in.fds);
    absl::StatusOr<size_t> len = Encode({ScmRights{in.fds}}, buf.span());
    if (!len.ok()) continue;
    size_t got = *len;
    Kernel(got);
    absl::StatusOr<ControlMessages> m = Decode(ReceivedControl::AdoptBytes(buf.span().first(got)));
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

// SCM_RIGHTS through the typed path: EncodeTyped, ForEachMessage, ReleaseAll.
template <size_t N>
void TypedRights(benchmark::State& state) {
  FakeFds<N> in;
  ControlBuffer<Fds<N>> buf;
  Escape(buf.span().data());
  int out[N] = {};
  size_t n = 0;
  auto release = [&](OwnedFdRange& r) { n = r.ReleaseAll(out); };
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(in.fds);
    absl::StatusOr<size_t> len = EncodeTyped(buf.span(), ScmRights{in.fds});
    if (!len.ok()) continue;
    size_t got = *len;
    Kernel(got);
    n = 0;
    absl::Status s = ForEachMessage(
        ReceivedControl::AdoptBytes(absl::MakeConstSpan(buf.span().data(), got)), release);
    // The count of a well-formed message: what the raw side's `n` says.
    benchmark::DoNotOptimize(s.ok() ? n : 0);
    benchmark::DoNotOptimize(out);
  }
}

// ALG_SET_IV of a 16-byte IV (an AES block), a size known at compile time
// on every side.
void RawIv(benchmark::State& state) {
  uint8_t iv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(af_alg_iv) + sizeof(iv))] = {};
  Escape(buf);
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(iv);
    msghdr msg{};
    msg.msg_control = buf;
    msg.msg_controllen = sizeof(buf);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_ALG;
    c->cmsg_type = ALG_SET_IV;
    c->cmsg_len = CMSG_LEN(sizeof(af_alg_iv) + sizeof(iv));
    auto* alg_iv = reinterpret_cast<af_alg_iv*>(CMSG_DATA(c));
    alg_iv->ivlen = sizeof(iv);
    std::memcpy(alg_iv->iv, iv, sizeof(iv));
    size_t len = sizeof(buf);
    benchmark::DoNotOptimize(len);
    benchmark::ClobberMemory();
  }
}

template <bool kTyped>
void LibIv(benchmark::State& state) {
  uint8_t iv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  alignas(cmsghdr) std::byte buf[CMSG_SPACE(sizeof(af_alg_iv) + sizeof(iv))] = {};
  Escape(buf);
  Counted counted(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(iv);
    absl::StatusOr<size_t> len =
        kTyped ? EncodeTyped(buf, AlgSetIv{iv}) : Encode({AlgSetIv{iv}}, buf);
    size_t got = len.ok() ? *len : 0;
    benchmark::DoNotOptimize(got);
    benchmark::ClobberMemory();
  }
}

// ------------------------------------------------------------ fd passing

// A socketpair and N open fds (one file) to pass each round.
template <size_t N>
struct FdPassing {
  FdPassing() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
      a.reset(sv[0]);
      b.reset(sv[1]);
    }
    file.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    for (int& fd : fds) fd = file.get();
  }
  UniqueFd a, b, file;
  int fds[N];
};

template <size_t N>
void RawFdPassing(benchmark::State& state) {
  FdPassing<N> p;
  alignas(cmsghdr) unsigned char buf[CMSG_SPACE(sizeof(int) * N)] = {};
  Escape(buf);
  char byte = 'x';
  Counted counted(state);
  for (auto _ : state) {
    iovec iov{&byte, 1};
    msghdr out{};
    out.msg_iov = &iov;
    out.msg_iovlen = 1;
    out.msg_control = buf;
    out.msg_controllen = sizeof(buf);
    cmsghdr* c = CMSG_FIRSTHDR(&out);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * N);
    std::memcpy(CMSG_DATA(c), p.fds, sizeof(int) * N);
    if (sendmsg(p.a.get(), &out, MSG_NOSIGNAL) != 1) state.SkipWithError("sendmsg");
    msghdr in{};
    in.msg_iov = &iov;
    in.msg_iovlen = 1;
    in.msg_control = buf;
    in.msg_controllen = sizeof(buf);
    if (recvmsg(p.b.get(), &in, MSG_CMSG_CLOEXEC) != 1) state.SkipWithError("recvmsg");
    for (c = CMSG_FIRSTHDR(&in); c != nullptr; c = CMSG_NXTHDR(&in, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          close(fd);
        }
      }
    }
    if (in.msg_flags & MSG_CTRUNC) state.SkipWithError("MSG_CTRUNC");
  }
  state.SetItemsProcessed(state.iterations() * N);
}

template <size_t N>
void ListFdPassing(benchmark::State& state) {
  FdPassing<N> p;
  ControlBuffer<Fds<N>> control;
  char byte;
  Counted counted(state);
  for (auto _ : state) {
    if (!SendMsg(p.a.get(), "x", {ScmRights{p.fds}}).ok()) state.SkipWithError("SendMsg");
    // A socketpair's peer is known: no address asked for, as in the raw loop.
    absl::StatusOr<ReceivedMessage> m =
        RecvMsg(p.b.get(), absl::MakeSpan(&byte, 1), control.span(), {.peer = false});
    if (!m.ok() || !m->control_status.ok()) state.SkipWithError("RecvMsg");
    // Dropping `m` closes the received fds.
  }
  state.SetItemsProcessed(state.iterations() * N);
}

template <size_t N>
void TypedFdPassing(benchmark::State& state) {
  FdPassing<N> p;
  ControlBuffer<Fds<N>> control;
  char byte;
  Counted counted(state);
  for (auto _ : state) {
    if (!SendMsg(p.a.get(), "x", ScmRights{p.fds}).ok()) state.SkipWithError("SendMsg");
    // The range closes the fds the visitor does not take.
    absl::StatusOr<ReceivedInfo> m = RecvMsg(p.b.get(), absl::MakeSpan(&byte, 1), control.span(),
                                             [](OwnedFdRange&) {}, {.peer = false});
    if (!m.ok() || !m->control_status.ok()) state.SkipWithError("RecvMsg");
  }
  state.SetItemsProcessed(state.iterations() * N);
}

// ---------------------------------------------------------------- report

using bench::Row;
using Fn = void (*)(benchmark::State&);

std::vector<Row>& Rows() {
  static auto* rows = new std::vector<Row>;
  return *rows;
}

// Iterations of a loop counted under callgrind (N, then 2N): instruction
// counts do not vary from run to run, so a few suffice.
constexpr int64_t kCountedIterations = 1000;
constexpr int64_t kCountedFdPassings = 100;

void Add(const char* name, Row::Goal goal, double target, Fn raw, Fn list, Fn typed) {
  Rows().push_back({name, goal, target});
  for (auto [side, fn] : {std::pair{" | raw", raw}, {" | cmsg", list}, {" | fast", typed}}) {
    const std::string full = std::string(name) + side;
    if (!bench::UnderValgrind()) {
      benchmark::RegisterBenchmark(full.c_str(), fn);
      continue;
    }
    const int64_t n = goal == Row::kThroughput ? kCountedFdPassings : kCountedIterations;
    for (int64_t iterations : {n, 2 * n}) {
      benchmark::RegisterBenchmark(full.c_str(), [full, fn](benchmark::State& s) {
        g_running = &full;
        fn(s);
        g_running = nullptr;
      })->Iterations(iterations);
    }
  }
}

// One row per kind: `kMode` says which of build and parse the row has.
enum Mode { kBuildParse, kParse, kBuild };
template <Mode kMode, typename T, int kLevel, int kType, typename Raw>
void AddKind(const char* name, T value, Raw raw) {
  // Captureless wrappers (RegisterBenchmark takes a function pointer or a
  // lambda; these keep the values in statics per instantiation).
  static T v;
  static Raw r;
  v = std::move(value);
  r = raw;
  constexpr double kTarget = 1.05;
  if constexpr (kMode == kBuildParse) {
    Add(name, Row::kTime, kTarget,
        [](benchmark::State& s) { RawBuildParse<kLevel, kType>(s, r); },
        [](benchmark::State& s) { ListBuildParse<T, kLevel, kType>(s, v, r); },
        [](benchmark::State& s) { TypedBuildParse<T, kLevel, kType>(s, v, r); });
  } else if constexpr (kMode == kParse) {
    Add(name, Row::kTime, kTarget,
        [](benchmark::State& s) { RawParseOnly<kLevel, kType>(s, r); },
        [](benchmark::State& s) { ListParse<T, kLevel, kType>(s, r); },
        [](benchmark::State& s) { TypedParse<T, kLevel, kType>(s, r); });
  } else {
    Add(name, Row::kTime, kTarget,
        [](benchmark::State& s) { RawBuildOnly<kLevel, kType>(s, r); },
        [](benchmark::State& s) { ListBuild<T, kLevel, kType>(s, v, r); },
        [](benchmark::State& s) { TypedBuild<T, kLevel, kType>(s, v, r); });
  }
}

// Raw payloads the kinds are laid out as.
struct RecvErr4 {
  sock_extended_err err;
  sockaddr_in from;
};
struct RecvErr6 {
  sock_extended_err err;
  sockaddr_in6 from;
};

void Register() {
  Add("build+parse ScmRights 1 fd", Row::kTime, 1.0, RawRights<1>, ListRights<1>,
      TypedRights<1>);
  Add("build+parse ScmRights 16 fds", Row::kTime, 1.0, RawRights<16>, ListRights<16>,
      TypedRights<16>);

  const in_addr lo{htonl(INADDR_LOOPBACK)};
  const ucred cred{1234, 1000, 1000};
  AddKind<kBuildParse, ScmCredentials, SOL_SOCKET, SCM_CREDENTIALS>(
      "build+parse ScmCredentials", ScmCredentials{cred.pid, cred.uid, cred.gid}, cred);
  AddKind<kBuildParse, Ipv4PacketInfo, IPPROTO_IP, IP_PKTINFO>(
      "build+parse Ipv4PacketInfo", Ipv4PacketInfo{1, lo, lo}, in_pktinfo{1, lo, lo});
  AddKind<kBuildParse, Ipv6PacketInfo, IPPROTO_IPV6, IPV6_PKTINFO>(
      "build+parse Ipv6PacketInfo", Ipv6PacketInfo{in6addr_loopback, 1},
      in6_pktinfo{in6addr_loopback, 1});
  AddKind<kBuildParse, Ipv6TClass, IPPROTO_IPV6, IPV6_TCLASS>("build+parse Ipv6TClass",
                                                              Ipv6TClass{0x20}, int{0x20});
  AddKind<kBuildParse, Ipv4Ttl, IPPROTO_IP, IP_TTL>("build+parse Ipv4Ttl", Ipv4Ttl{9}, int{9});
  AddKind<kBuildParse, Ipv6HopLimit, IPPROTO_IPV6, IPV6_HOPLIMIT>("build+parse Ipv6HopLimit",
                                                                  Ipv6HopLimit{9}, int{9});
  AddKind<kBuildParse, RxqOvfl, SOL_SOCKET, SO_RXQ_OVFL>("build+parse RxqOvfl", RxqOvfl{7},
                                                         uint32_t{7});
  AddKind<kBuildParse, SoMark, SOL_SOCKET, SO_MARK>("build+parse SoMark", SoMark{42},
                                                    uint32_t{42});
  AddKind<kBuildParse, SoPriority, SOL_SOCKET, SO_PRIORITY>("build+parse SoPriority",
                                                            SoPriority{6}, uint32_t{6});

  const timespec ts{1700000000, 123456789};
  AddKind<kParse, ScmTimestamp, SOL_SOCKET, SCM_TIMESTAMP>(
      "parse ScmTimestamp", ScmTimestamp{}, timeval{1700000000, 123456});
  AddKind<kParse, ScmTimestampns, SOL_SOCKET, SCM_TIMESTAMPNS>("parse ScmTimestampns",
                                                               ScmTimestampns{}, ts);
  struct Stamps {
    timespec t[3];
  };
  AddKind<kParse, ScmTimestamping, SOL_SOCKET, SCM_TIMESTAMPING>(
      "parse ScmTimestamping", ScmTimestamping{}, Stamps{{ts, {}, ts}});
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr = lo;
  sin.sin_port = htons(53);
  AddKind<kParse, Ipv4OrigDstAddr, IPPROTO_IP, IP_ORIGDSTADDR>("parse Ipv4OrigDstAddr",
                                                               Ipv4OrigDstAddr{}, sin);
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_addr = in6addr_loopback;
  sin6.sin6_port = htons(53);
  AddKind<kParse, Ipv6OrigDstAddr, IPPROTO_IPV6, IPV6_ORIGDSTADDR>("parse Ipv6OrigDstAddr",
                                                                   Ipv6OrigDstAddr{}, sin6);
  AddKind<kParse, UdpGroSegments, SOL_UDP, UDP_GRO>("parse UdpGroSegments", UdpGroSegments{},
                                                    int{1400});
  sock_extended_err ee{};
  ee.ee_errno = ECONNREFUSED;
  ee.ee_origin = SO_EE_ORIGIN_ICMP;
  AddKind<kParse, Ipv4RecvErr, IPPROTO_IP, IP_RECVERR>("parse Ipv4RecvErr", Ipv4RecvErr{},
                                                       RecvErr4{ee, sin});
  AddKind<kParse, Ipv6RecvErr, IPPROTO_IPV6, IPV6_RECVERR>("parse Ipv6RecvErr", Ipv6RecvErr{},
                                                           RecvErr6{ee, sin6});
  AddKind<kParse, Ipv4Tos, IPPROTO_IP, IP_TOS>("parse Ipv4Tos", Ipv4Tos{}, uint8_t{0x10});
  AddKind<kParse, TlsGetRecordType, SOL_TLS, TLS_GET_RECORD_TYPE>(
      "parse TlsGetRecordType", TlsGetRecordType{}, uint8_t{23});
  AddKind<kParse, ScmPidfd, SOL_SOCKET, SCM_PIDFD>("parse ScmPidfd", ScmPidfd{}, int{100000});
  AddKind<kParse, Ipv4RecvFragsize, IPPROTO_IP, IP_RECVFRAGSIZE>(
      "parse Ipv4RecvFragsize", Ipv4RecvFragsize{}, int{1280});
  AddKind<kParse, Ipv6RecvFragsize, IPPROTO_IPV6, IPV6_RECVFRAGSIZE>(
      "parse Ipv6RecvFragsize", Ipv6RecvFragsize{}, int{1280});
  AddKind<kParse, Ipv6PathMtu, IPPROTO_IPV6, IPV6_PATHMTU>("parse Ipv6PathMtu", Ipv6PathMtu{},
                                                           ip6_mtuinfo{sin6, 1280});
  AddKind<kParse, TcpInq, SOL_TCP, TCP_CM_INQ>("parse TcpInq", TcpInq{}, int{6});

  AddKind<kBuild, Ipv4Tos, IPPROTO_IP, IP_TOS>("build Ipv4Tos", Ipv4Tos{0x10}, int{0x10});
  AddKind<kBuild, UdpGsoSegments, SOL_UDP, UDP_SEGMENT>("build UdpGsoSegments",
                                                        UdpGsoSegments{1200}, uint16_t{1200});
  AddKind<kBuild, TxTime, SOL_SOCKET, SCM_TXTIME>("build TxTime", TxTime{1700000000000000000},
                                                  uint64_t{1700000000000000000});
  Add("build AlgSetIv 16 bytes", Row::kTime, 1.05, RawIv, LibIv<false>, LibIv<true>);
  AddKind<kBuild, AlgSetOp, SOL_ALG, ALG_SET_OP>("build AlgSetOp", AlgSetOp{ALG_OP_ENCRYPT},
                                                 uint32_t{ALG_OP_ENCRYPT});
  AddKind<kBuild, AlgSetAeadAssoclen, SOL_ALG, ALG_SET_AEAD_ASSOCLEN>(
      "build AlgSetAeadAssoclen", AlgSetAeadAssoclen{16}, uint32_t{16});
  const TimestampingFlags tx = TimestampingFlags::kTxSoftware;
  AddKind<kBuild, SoTimestamping, SOL_SOCKET, SO_TIMESTAMPING>(
      "build SoTimestamping", SoTimestamping{tx}, tx.bits());
  AddKind<kBuild, ScmTsOptId, SOL_SOCKET, SCM_TS_OPT_ID>("build ScmTsOptId", ScmTsOptId{7},
                                                         uint32_t{7});
  AddKind<kBuild, Ipv6DontFrag, IPPROTO_IPV6, IPV6_DONTFRAG>("build Ipv6DontFrag",
                                                             Ipv6DontFrag{1}, int{1});

  Add("fd passing 1 fd/msg", Row::kThroughput, 0.98, RawFdPassing<1>, ListFdPassing<1>,
      TypedFdPassing<1>);
  Add("fd passing 64 fds/msg", Row::kThroughput, 0.98, RawFdPassing<64>, ListFdPassing<64>,
      TypedFdPassing<64>);
}

}  // namespace
}  // namespace cmsg

int main(int argc, char** argv) {
  // --instructions=off: no run under callgrind where the machine has no
  // hardware counters.
  bool count_instructions = true;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--instructions=off") == 0) {
      count_instructions = false;
    } else {
      args.push_back(argv[i]);
    }
  }
  // Defaults a command line can override: five repetitions, medians only,
  // and the repetitions of all rows shuffled together, so that a machine
  // whose speed drifts during the run moves the raw and the library sides
  // alike instead of whichever ran later.
  auto given = [&](const char* flag) {
    for (int i = 1; i < argc; ++i)
      if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) return true;
    return false;
  };
  static char reps[] = "--benchmark_repetitions=5";
  static char aggregates[] = "--benchmark_report_aggregates_only=true";
  static char min_time[] = "--benchmark_min_time=0.1";
  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  if (!given("--benchmark_repetitions")) args.push_back(reps);
  if (!given("--benchmark_report_aggregates_only")) args.push_back(aggregates);
  if (!given("--benchmark_min_time")) args.push_back(min_time);
  if (!given("--benchmark_enable_random_interleaving")) args.push_back(interleave);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;

  const std::string pinned = cmsg::bench::PinToOneCore();
  cmsg::bench::CpuCounters counters;
  cmsg::g_counters = &counters;
  cmsg::Register();
  cmsg::bench::RatioReporter reporter(cmsg::Rows());
  std::string instructions = counters.ok() ? "perf_event_open" : counters.why_not();
  if (!counters.ok() && !cmsg::bench::UnderValgrind()) {
    if (!count_instructions) {
      instructions += "; not counted under callgrind (--instructions=off)";
    } else {
      // The same rows once more under callgrind, before the timed run.
      std::fprintf(stderr, "counting instructions under callgrind...\n");
      char self[PATH_MAX] = {};
      const bool found = readlink("/proc/self/exe", self, sizeof(self) - 1) > 0;
      std::vector<std::string> child = {found ? self : argv[0], "--benchmark_repetitions=1",
                                        "--benchmark_enable_random_interleaving=false"};
      for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--benchmark_filter=", 19) == 0) child.push_back(argv[i]);
      absl::StatusOr<cmsg::bench::InstructionCounts> counted =
          cmsg::bench::CountUnderCallgrind(child);
      if (counted.ok()) {
        reporter.SetInstructions(*std::move(counted));
        instructions += "; instructions counted under valgrind's callgrind instead (user "
                        "space only: no system call's work), cycles not counted";
      } else {
        instructions += "; no instructions either: " + std::string(counted.status().message());
      }
    }
  }
  double load[3] = {};
  getloadavg(load, 3);
  std::printf("pinned: %s\ninstructions/cycles: %s\nload average at start: %.2f %.2f %.2f\n",
              pinned.c_str(), instructions.c_str(), load[0], load[1], load[2]);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  getloadavg(load, 3);
  std::printf("\nload average at end: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
