#include "lib/cmsg/bench/cpu_counters.h"

#include <linux/perf_event.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace cmsg::bench {
namespace {

int OpenCounter(uint64_t config, int group) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = config;
  attr.disabled = group < 0 ? 1 : 0;  // the leader starts the group
  attr.exclude_hv = 1;
  attr.read_format = PERF_FORMAT_GROUP;
  return static_cast<int>(syscall(SYS_perf_event_open, &attr, /*pid=*/0, /*cpu=*/-1, group,
                                  PERF_FLAG_FD_CLOEXEC));
}

std::string ReadLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return "unreadable";
  return line;
}

}  // namespace

std::string PinToOneCore() {
  const int cpu = sched_getcpu();
  if (cpu < 0) return absl::StrCat("not pinned: sched_getcpu: ", std::strerror(errno));
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    return absl::StrCat("not pinned: sched_setaffinity: ", std::strerror(errno));
  }
  return absl::StrCat("cpu ", cpu);
}

CpuCounters::CpuCounters() {
  leader_.reset(OpenCounter(PERF_COUNT_HW_INSTRUCTIONS, -1));
  if (!leader_.ok()) {
    const int err = errno;
    why_not_ = absl::StrCat(
        "perf_event_open(PERF_COUNT_HW_INSTRUCTIONS): ", std::strerror(err),
        "; perf_event_paranoid=", ReadLine("/proc/sys/kernel/perf_event_paranoid"),
        access("/sys/bus/event_source/devices/cpu", F_OK) == 0
            ? ""
            : "; no hardware PMU (/sys/bus/event_source/devices/cpu is missing: "
              "this machine, a VM, exposes no hardware counters)");
    return;
  }
  cycles_.reset(OpenCounter(PERF_COUNT_HW_CPU_CYCLES, leader_.get()));
  if (!cycles_.ok()) {
    why_not_ = absl::StrCat("perf_event_open(PERF_COUNT_HW_CPU_CYCLES): ", std::strerror(errno));
    leader_.reset();
  }
}

void CpuCounters::Start() {
  if (!ok()) return;
  ioctl(leader_.get(), PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP);
  ioctl(leader_.get(), PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
}

CpuCounts CpuCounters::Stop() {
  if (!ok()) return {};
  ioctl(leader_.get(), PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
  uint64_t values[3] = {};  // nr, instructions, cycles
  if (read(leader_.get(), values, sizeof(values)) != sizeof(values) || values[0] != 2) return {};
  return {values[1], values[2]};
}

}  // namespace cmsg::bench
