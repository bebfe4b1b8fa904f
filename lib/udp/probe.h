// Round-trip probes to a UDP echo-style target, sent every `interval`
// whatever the replies do (not stop-and-wait), timed twice: with the
// kernel's software timestamps (SO_TIMESTAMPING transmit stamps from the
// error queue, SO_TIMESTAMPNS receive stamps) and with user-space clocks.
//
//   CMSGLIB_ASSIGN_OR_RETURN(ProbeResult r, RunProbe({.target = t, .count = 10}));
//   std::cout << FormatProbeText(r) or FormatProbeJson(r);
#ifndef LIB_UDP_PROBE_H_
#define LIB_UDP_PROBE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/net/socket_address.h"

namespace cmsg::udp {

// The schedule is kept in int64 nanoseconds of CLOCK_MONOTONIC (start +
// interval * sequence, + timeout): with these bounds it stays below 2^62
// (1,000,000 x 1h + 1h is 3.6e18 ns, 114 years), where longer ones
// overflowed and sent every probe at once.
inline constexpr int kMaxProbeCount = 1000000;
inline constexpr absl::Duration kMaxProbeInterval = absl::Hours(1);
inline constexpr absl::Duration kMaxProbeTimeout = absl::Hours(1);

struct ProbeOptions {
  SocketAddress target;
  int count = 10;                              // 1 to kMaxProbeCount
  absl::Duration interval = absl::Seconds(1);  // 0 to kMaxProbeInterval
  absl::Duration timeout = absl::Seconds(1);   // per probe, 0 to kMaxProbeTimeout
  size_t size = 64;                            // payload bytes, at least 16
};

// Round-trip times in microseconds.
struct RttSummary {
  size_t samples = 0;
  double min_us = 0, p50_us = 0, p99_us = 0, max_us = 0;
};

struct ProbeResult {
  std::string target;
  int sent = 0;
  int received = 0;        // replies to a probe, from the target, in time
  int late = 0;            // replies that came after --timeout (not received)
  int duplicates = 0;      // further replies to a probe already answered
  int wrong_source = 0;    // replies to a probe from any other address
  int icmp_errors = 0;     // ICMP errors (port unreachable, ...) reported
  std::vector<std::string> wrong_sources;  // up to 5 distinct "addr:port"
  RttSummary kernel;
  RttSummary user;
};

// Sends the probes and waits for their replies. Fails (InvalidArgument) on
// options out of their bounds, else only if the socket cannot be set up or
// a send fails for a reason other than an ICMP report.
[[nodiscard]] absl::StatusOr<ProbeResult> RunProbe(const ProbeOptions& options);

// Summary of `samples` (unsorted), nearest-rank percentiles.
RttSummary Summarize(std::vector<double> samples);

std::string FormatProbeText(const ProbeResult& r);
std::string FormatProbeJson(const ProbeResult& r);

}  // namespace cmsg::udp

#endif  // LIB_UDP_PROBE_H_
