// Instructions per operation on machines without hardware counters (most
// VMs expose no PMU): the benchmark runs once more under valgrind's
// callgrind, which counts every user-space instruction it executes.
//
//   In the benchmark (any process):
//     BeginCounting();  <timed loop>  EndCounting("row | side", iterations);
//   These do nothing unless the process runs under callgrind.
//
//   In the parent:
//     absl::StatusOr<InstructionCounts> ins = CountUnderCallgrind(argv);
//
// Each loop is run twice, N and 2N iterations; (count(2N) - count(N)) / N
// cancels what starting and ending a loop costs. Kernel work (system calls)
// is not counted: callgrind sees user space only.
#ifndef LIB_CMSG_BENCH_CALLGRIND_COUNTS_H_
#define LIB_CMSG_BENCH_CALLGRIND_COUNTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cmsg::bench {

// True in a process valgrind runs.
bool UnderValgrind();

// Bracket one loop; EndCounting records its count under `name`.
void BeginCounting();
void EndCounting(const std::string& name, int64_t iterations);

// Instructions per iteration, by the names given to EndCounting.
using InstructionCounts = std::map<std::string, double>;

// Runs `argv` (argv[0] a path) under `valgrind --tool=callgrind` and reads
// the counts of the loops that ran with N and with 2N iterations. Fails
// with what went wrong (valgrind missing, the run failing) rather than
// returning partial counts silently: a name without both runs is left out.
absl::StatusOr<InstructionCounts> CountUnderCallgrind(const std::vector<std::string>& argv);

}  // namespace cmsg::bench

#endif  // LIB_CMSG_BENCH_CALLGRIND_COUNTS_H_
