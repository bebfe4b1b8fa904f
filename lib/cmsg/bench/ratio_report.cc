#include "lib/cmsg/bench/ratio_report.h"

#include <algorithm>
#include <cstdio>

namespace cmsg::bench {
namespace {

std::string Format(const char* format, double value) {
  if (value < 0) return "n/a";
  char text[32];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

}  // namespace

void RatioReporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  // With repetitions the median is kept, else the single run.
  for (const Run& run : runs) {
    if (run.error_occurred) continue;
    const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
    if (run.run_type == Run::RT_Aggregate && !median) continue;
    const std::string name = run.run_name.function_name;
    if (!median && medians_.count(name)) continue;
    Figures f;
    f.ns = run.GetAdjustedCPUTime();
    if (auto it = run.counters.find("ins"); it != run.counters.end()) f.ins = it->second;
    if (auto it = run.counters.find("cyc"); it != run.counters.end()) f.cyc = it->second;
    figures_[name] = f;
    if (median) medians_.insert(name);
  }
}

void RatioReporter::PrintRatios() const {
  std::printf("\n%-30s %8s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n", "work", "raw ns", "cmsg ns",
              "ratio", "fast ns", "ratio", "raw ins", "fast ins", "raw cyc", "fast cyc",
              "target");
  for (const Row& row : rows_) {
    auto raw = figures_.find(row.name + " | raw");
    auto list = figures_.find(row.name + " | cmsg");
    auto fast = figures_.find(row.name + " | fast");
    const int found = (raw != figures_.end()) + (list != figures_.end()) + (fast != figures_.end());
    if (found == 0) continue;  // filtered out
    if (found < 3) {
      std::printf("%-30s (a side failed: see its line above)\n", row.name.c_str());
      continue;
    }
    auto ins = [&](const std::string& side, const Figures& f) {
      if (f.ins >= 0) return f.ins;
      auto it = instructions_.find(row.name + side);
      return it == instructions_.end() ? -1.0 : it->second;
    };
    const bool time = row.goal == Row::kTime;
    auto ratio = [&](double lib) { return time ? lib / raw->second.ns : raw->second.ns / lib; };
    const double r_list = ratio(list->second.ns), r_fast = ratio(fast->second.ns);
    const double best = time ? std::min(r_list, r_fast) : std::max(r_list, r_fast);
    const bool met = time ? best <= row.target : best >= row.target;
    std::printf("%-30s %8.1f %8.1f %7.3fx %8.1f %7.3fx %8s %8s %8s %8s  %s %s %.2fx raw: %s\n",
                row.name.c_str(), raw->second.ns, list->second.ns, r_list, fast->second.ns,
                r_fast, Format("%.1f", ins(" | raw", raw->second)).c_str(),
                Format("%.1f", ins(" | fast", fast->second)).c_str(),
                Format("%.1f", raw->second.cyc).c_str(), Format("%.1f", fast->second.cyc).c_str(), time ? "time" : "throughput",
                time ? "<=" : ">=", row.target, met ? "met" : "MISSED");
  }
}

}  // namespace cmsg::bench
