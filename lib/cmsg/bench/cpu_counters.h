// For micro-benchmarks: pinning the process to one core, and counting the
// instructions and cycles a piece of code takes with perf_event_open.
//
//   std::string where = cmsg::bench::PinToOneCore();   // "cpu 1" or why not
//   cmsg::bench::CpuCounters counters;                  // opened once
//   if (!counters.ok()) std::puts(counters.why_not().c_str());
//   counters.Start();  run();  cmsg::bench::CpuCounts c = counters.Stop();
#ifndef LIB_CMSG_BENCH_CPU_COUNTERS_H_
#define LIB_CMSG_BENCH_CPU_COUNTERS_H_

#include <cstdint>
#include <string>

#include "lib/fd/unique_fd.h"

namespace cmsg::bench {

// Pins the calling thread (and so the threads it starts later) to the core
// it is running on. Returns "cpu N", or what failed.
std::string PinToOneCore();

struct CpuCounts {
  uint64_t instructions = 0;
  uint64_t cycles = 0;
};

// Instructions and cycles of this thread, user and kernel, as one perf
// event group (both counted over the same interval). On machines without
// hardware counters (most VMs expose no PMU) ok() is false and why_not()
// says what the kernel answered.
class CpuCounters {
 public:
  CpuCounters();
  [[nodiscard]] bool ok() const { return leader_.ok(); }
  [[nodiscard]] const std::string& why_not() const { return why_not_; }

  void Start();
  // The counts since Start(); zeros when !ok().
  CpuCounts Stop();

 private:
  UniqueFd leader_;  // instructions
  UniqueFd cycles_;
  std::string why_not_;
};

}  // namespace cmsg::bench

#endif  // LIB_CMSG_BENCH_CPU_COUNTERS_H_
