// A Google Benchmark reporter for "library vs raw" pairs: it keeps each
// benchmark's median CPU time (and its "ins"/"cyc" counters, if set) and
// prints one line per row with the ratios and whether the target was met.
//
// Each row names three benchmarks: "<row> | raw", "<row> | cmsg" and
// "<row> | fast". Output (one line per row, after the usual table):
//
//   work   raw ns  cmsg ns  ratio  fast ns  ratio  raw ins  fast ins  raw cyc  fast cyc  target
#ifndef LIB_CMSG_BENCH_RATIO_REPORT_H_
#define LIB_CMSG_BENCH_RATIO_REPORT_H_

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"

namespace cmsg::bench {

struct Row {
  // kTime: ratio = library time / raw time, met when <= target.
  // kThroughput: ratio = raw time / library time (library rate / raw
  // rate), met when >= target.
  enum Goal { kTime, kThroughput };
  std::string name;
  Goal goal;
  double target;
};

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(std::vector<Row> rows) : rows_(std::move(rows)) {}

  // Instructions per operation counted elsewhere (under callgrind), by
  // benchmark name: shown where the run itself counted none.
  void SetInstructions(std::map<std::string, double> instructions) {
    instructions_ = std::move(instructions);
  }

  void ReportRuns(const std::vector<Run>& runs) override;
  // The ratio table; the target is judged on the better library column.
  void PrintRatios() const;

 private:
  struct Figures {
    double ns = 0;
    double ins = -1;  // -1: not counted
    double cyc = -1;
  };
  std::vector<Row> rows_;
  std::map<std::string, Figures> figures_;
  std::set<std::string> medians_;
  std::map<std::string, double> instructions_;
};

}  // namespace cmsg::bench

#endif  // LIB_CMSG_BENCH_RATIO_REPORT_H_
