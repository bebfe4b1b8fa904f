// Listening-socket specs as the tools take them on the command line, and
// binding them:
//
//   tcp:127.0.0.1:8080=web   udp:[::]:5300   unix:/run/app.sock=ctl
//
//   CMSGLIB_ASSIGN_OR_RETURN(auto specs, cmsg::ParseListenSpecs("tcp:0.0.0.0:80=web"));
//   CMSGLIB_ASSIGN_OR_RETURN(cmsg::UniqueFd fd, cmsg::BindListenSpec(specs[0]));
//
// The name (after '=') is what LISTEN_FDNAMES carries; it defaults to the
// kind ("tcp", "udp", "unix").
#ifndef LIB_NET_LISTEN_SPEC_H_
#define LIB_NET_LISTEN_SPEC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"

namespace cmsg {

struct ListenSpec {
  enum class Kind { kTcp, kUdp, kUnix };
  Kind kind = Kind::kTcp;
  SocketAddress address;
  std::string name;

  // The spec as it would be written on the command line.
  [[nodiscard]] std::string ToString() const;
};

// "tcp" / "udp" / "unix".
[[nodiscard]] absl::string_view KindName(ListenSpec::Kind kind);

// Checks a LISTEN_FDNAMES name: 1-255 printable ASCII characters, no ':'.
[[nodiscard]] absl::Status ValidateFdName(absl::string_view name);

[[nodiscard]] absl::StatusOr<ListenSpec> ParseListenSpec(absl::string_view text);
// A comma-separated list; empty text gives an empty list.
[[nodiscard]] absl::StatusOr<std::vector<ListenSpec>> ParseListenSpecs(
    absl::string_view text);

// Creates, binds and (for tcp and unix) listens on the spec's socket,
// close-on-exec, SO_REUSEADDR for tcp. A unix path that already exists is an
// error (nothing is unlinked). `backlog` is the listen() backlog.
[[nodiscard]] absl::StatusOr<UniqueFd> BindListenSpec(const ListenSpec& spec,
                                                      int backlog = 1024);

}  // namespace cmsg

#endif  // LIB_NET_LISTEN_SPEC_H_
