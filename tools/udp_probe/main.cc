// udp_probe: UDP round-trip times by kernel timestamps and user-space clocks.
#include <gflags/gflags.h>

#include <cstdio>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/net/socket_address.h"
#include "lib/udp/probe.h"
#include "tools/common/flags.h"

DEFINE_string(target, "", "ADDR:PORT of a UDP echo service. Required.");
DEFINE_int32(count, 10, "Probes to send (1-1000000).");
DEFINE_string(interval, "1s",
              "Time between probes, e.g. 1s, 10ms; at most 1h. Probes keep "
              "this schedule whether or not replies come (not "
              "stop-and-wait).");
DEFINE_string(timeout, "1s",
              "How long a reply may take, at most 1h; a later one is counted "
              "as late, not received. Replies are matched to probes by "
              "sequence number.");
DEFINE_int32(size, 64, "Payload bytes per probe (16-65507).");
DEFINE_bool(expect_source, false,
            "Exit 1 if any reply comes from an address other than --target "
            "(such replies are never counted as received).");
DEFINE_bool(json, false, "Print one JSON object instead of text.");

namespace {

constexpr char kTool[] = "udp_probe";
using cmsg::flags::UsageError;

}  // namespace

int main(int argc, char** argv) {
  cmsg::flags::ParseFlagsOrExit(
      kTool,
      "measures UDP round trips to an echo service.\n"
      "  udp_probe --target=127.0.0.2:7000 --count=100 --interval=10ms "
      "--expect_source\n"
      "Prints min/p50/p99/max RTT by kernel timestamps (SO_TIMESTAMPING "
      "transmit,\n"
      "SO_TIMESTAMPNS receive) and by user-space clocks, and the loss.\n"
      "Exit: 0 if any reply came back (and, with --expect_source, all from "
      "the\n"
      "target), 1 otherwise or on a socket failure, 2 on bad flags.",
      &argc, &argv);
  if (FLAGS_target.empty()) UsageError(kTool, "--target is required");
  cmsg::SocketAddress target =
      cmsg::flags::IpAddressOrExit(kTool, "target", FLAGS_target);
  if (target.port() == 0) {
    UsageError(kTool, absl::StrCat("bad address '", FLAGS_target,
                                   "' for --target (the port must not be 0)"));
  }
  if (FLAGS_count < 1 || FLAGS_count > 1000000)
    UsageError(kTool, "--count must be 1-1000000");
  if (FLAGS_size < 16 || FLAGS_size > 65507)
    UsageError(kTool, "--size must be 16-65507");
  cmsg::udp::ProbeOptions options;
  options.target = target;
  options.count = FLAGS_count;
  options.interval =
      cmsg::flags::DurationOrExit(kTool, "interval", FLAGS_interval);
  options.timeout =
      cmsg::flags::DurationOrExit(kTool, "timeout", FLAGS_timeout);
  // Longer ones do not fit the schedule's arithmetic (see probe.h).
  for (const auto& [name, text, value, max] :
       {std::tuple{"interval", FLAGS_interval, options.interval, cmsg::udp::kMaxProbeInterval},
        std::tuple{"timeout", FLAGS_timeout, options.timeout, cmsg::udp::kMaxProbeTimeout}}) {
    if (value > max) {
      UsageError(kTool, absl::StrCat("--", name, "=", text, " is too long: at most ",
                                     absl::FormatDuration(max)));
    }
  }
  options.size = static_cast<size_t>(FLAGS_size);
  absl::StatusOr<cmsg::udp::ProbeResult> r = cmsg::udp::RunProbe(options);
  if (!r.ok()) {
    fprintf(stderr, "%s: %s\n", kTool,
            std::string(r.status().message()).c_str());
    return 1;
  }
  std::string out = FLAGS_json ? FormatProbeJson(*r) : FormatProbeText(*r);
  fputs(out.c_str(), stdout);
  if (FLAGS_expect_source && r->wrong_source > 0) {
    fprintf(stderr, "%s: %d replies from an address other than %s\n", kTool,
            r->wrong_source, r->target.c_str());
    return 1;
  }
  if (r->received == 0) {
    fprintf(stderr, "%s: no reply from %s\n", kTool, r->target.c_str());
    return 1;
  }
  return 0;
}
