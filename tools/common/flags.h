// Command-line parsing shared by the tools' main.cc files, stricter than
// gflags' own: an unknown flag, a flag without its value or a value of the
// wrong type prints one line ("udp_relay: unknown flag --bogus") and exits 2;
// --help prints the tool's flags and exits 0. Positional arguments are
// refused the same way. The *OrExit helpers turn a flag's text into a value
// or exit 2 with one line naming the flag.
//
//   cmsg::flags::ParseFlagsOrExit("udp_echo", kUsage, &argc, &argv);
//   absl::Duration d = cmsg::flags::DurationOrExit("udp_echo",
//   "stats_interval", FLAGS_stats_interval);
#ifndef TOOLS_COMMON_FLAGS_H_
#define TOOLS_COMMON_FLAGS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"

namespace cmsg::flags {

// Exits the process on bad input or --help; on return, every flag is set.
void ParseFlagsOrExit(absl::string_view tool, const std::string& usage,
                      int* argc, char*** argv);

// Prints "<tool>: <message>" on stderr and exits 2 (a usage error).
[[noreturn]] void UsageError(absl::string_view tool, absl::string_view message);

// "auto" | "on" | "off" for --gso / --gro.
enum class Toggle { kAuto, kOn, kOff };
bool ParseToggle(absl::string_view text, Toggle* out);

// --NAME=auto|on|off resolved against what the kernel offers: "on" where the
// kernel lacks the feature exits 1 with one line ("lacks UDP NAME").
bool ToggleOrExit(absl::string_view tool, absl::string_view name,
                  absl::string_view text, bool kernel_has);

// A duration such as "60s" or "500ms"; negative ones (and zero, unless
// `allow_zero`) exit 2.
absl::Duration DurationOrExit(absl::string_view tool, absl::string_view name,
                              absl::string_view text, bool allow_zero = true);

// An IPv4 "ADDR:PORT" or IPv6 "[ADDR]:PORT".
SocketAddress IpAddressOrExit(absl::string_view tool, absl::string_view name,
                              absl::string_view text);

// Where a UDP server listens: the addresses of --listen (comma-separated), or
// the sockets socket activation handed over (LISTEN_FDS); exactly one of the
// two is non-empty, or this exits 2.
struct UdpListeners {
  std::vector<SocketAddress> addresses;
  std::vector<UniqueFd> activated;
};
UdpListeners UdpListenersOrExit(absl::string_view tool,
                                absl::string_view listen);

}  // namespace cmsg::flags

#endif  // TOOLS_COMMON_FLAGS_H_
