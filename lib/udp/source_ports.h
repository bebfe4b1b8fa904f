#ifndef CMSGLIB_LIB_UDP_SOURCE_PORTS_H_
#define CMSGLIB_LIB_UDP_SOURCE_PORTS_H_

#include <bitset>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cmsg::udp {

// Client source ports the relay refuses (Loop DoS, CVE-2024-2169): a
// datagram spoofed from a UDP service that answers anything (echo, chargen,
// DNS, NTP, ...) makes the relay and that service answer each other forever.
using SourcePortSet = std::bitset<65536>;

// The default: every port below 1024 (a client's kernel never picks one, and
// every service that lives there is a possible reflector; a list of names
// always misses some) plus the high-port reflectors 1900 (SSDP), 5353 (mDNS)
// and 11211 (memcached).
SourcePortSet DefaultDeniedSourcePorts();

// Removes from `denied` the ports of `list`: comma-separated ports and
// ranges ("123,1000-1023"), each 1-65535. An error names the bad item and
// leaves `denied` unchanged.
absl::Status AllowSourcePorts(absl::string_view list, SourcePortSet& denied);

}  // namespace cmsg::udp

#endif  // CMSGLIB_LIB_UDP_SOURCE_PORTS_H_
