// Command-line parsing for the UDP tools, stricter than gflags' own: an
// unknown flag, a flag without its value or a value of the wrong type prints
// one line ("udp_relay: unknown flag --bogus") and exits 2; --help prints the
// tool's flags and exits 0. Positional arguments are refused the same way.
#ifndef TOOLS_UDP_RELAY_STRICT_FLAGS_H_
#define TOOLS_UDP_RELAY_STRICT_FLAGS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace cmsg::udp {

// Exits the process on bad input or --help; on return, every flag is set.
void ParseFlagsOrExit(absl::string_view tool, const std::string& usage, int* argc,
                      char*** argv);

// Prints "<tool>: <message>" on stderr and exits 2 (a usage error).
[[noreturn]] void UsageError(absl::string_view tool, absl::string_view message);

// "auto" | "on" | "off" for --gso / --gro.
enum class Toggle { kAuto, kOn, kOff };
bool ParseToggle(absl::string_view text, Toggle* out);

}  // namespace cmsg::udp

#endif  // TOOLS_UDP_RELAY_STRICT_FLAGS_H_
