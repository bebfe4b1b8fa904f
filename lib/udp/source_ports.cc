#include "lib/udp/source_ports.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cmsg::udp {
namespace {

bool ParsePort(absl::string_view text, uint32_t& port) {
  return absl::SimpleAtoi(text, &port) && port >= 1 && port <= 65535 &&
         text.find_first_not_of("0123456789") == absl::string_view::npos;
}

}  // namespace

SourcePortSet DefaultDeniedSourcePorts() {
  SourcePortSet denied;
  for (int port = 0; port < 1024; ++port) denied.set(port);
  for (int port : {1900, 5353, 11211}) denied.set(port);
  return denied;
}

absl::Status AllowSourcePorts(absl::string_view list, SourcePortSet& denied) {
  SourcePortSet result = denied;
  if (list.empty()) return absl::OkStatus();
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    std::vector<absl::string_view> ends = absl::StrSplit(item, absl::MaxSplits('-', 1));
    uint32_t first = 0;
    uint32_t last = 0;
    if (!ParsePort(ends[0], first) ||
        !ParsePort(ends.size() == 2 ? ends[1] : ends[0], last) || last < first)
      return absl::InvalidArgumentError(
          absl::StrCat("\"", item, "\" is not a port or range (1-65535, e.g. 123 or 1000-1023)"));
    for (uint32_t port = first; port <= last; ++port) result.reset(port);
  }
  denied = result;
  return absl::OkStatus();
}

}  // namespace cmsg::udp
