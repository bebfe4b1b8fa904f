#include "lib/net/listen_spec.h"

#include <sys/socket.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/status/errno_status.h"

namespace cmsg {

absl::string_view KindName(ListenSpec::Kind kind) {
  switch (kind) {
    case ListenSpec::Kind::kTcp:
      return "tcp";
    case ListenSpec::Kind::kUdp:
      return "udp";
    case ListenSpec::Kind::kUnix:
      return "unix";
  }
  return "?";
}

std::string ListenSpec::ToString() const {
  std::string addr = address.ToString();
  if (kind == Kind::kUnix) addr = addr.substr(5);  // drop "unix:"
  return absl::StrCat(KindName(kind), ":", addr, "=", name);
}

absl::Status ValidateFdName(absl::string_view name) {
  if (name.empty() || name.size() > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat("fd name \"", name, "\" must be 1 to 255 characters"));
  }
  for (char c : name) {
    if (c == ':' || c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat("fd name \"", name,
                       "\" may hold only printable ASCII without ':' or spaces"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ListenSpec> ParseListenSpec(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad listen spec \"", text, "\": ", why,
        " (want tcp:ADDR:PORT, udp:ADDR:PORT or unix:PATH, optionally =NAME)"));
  };
  ListenSpec spec;
  absl::string_view rest = text;
  if (size_t eq = rest.rfind('='); eq != absl::string_view::npos) {
    spec.name = std::string(rest.substr(eq + 1));
    rest = rest.substr(0, eq);
    if (absl::Status s = ValidateFdName(spec.name); !s.ok()) return bad(s.message());
  }
  absl::string_view addr;
  if (absl::ConsumePrefix(&rest, "tcp:")) {
    spec.kind = ListenSpec::Kind::kTcp;
    addr = rest;
  } else if (absl::ConsumePrefix(&rest, "udp:")) {
    spec.kind = ListenSpec::Kind::kUdp;
    addr = rest;
  } else if (absl::StartsWith(rest, "unix:")) {
    spec.kind = ListenSpec::Kind::kUnix;
    addr = rest;  // SocketAddress parses "unix:..." itself
  } else {
    return bad("unknown kind");
  }
  absl::StatusOr<SocketAddress> a = SocketAddress::Parse(addr);
  if (!a.ok()) return bad(a.status().message());
  if (spec.kind != ListenSpec::Kind::kUnix && a->family() == AF_UNIX)
    return bad("tcp and udp need an IP address");
  spec.address = *a;
  if (spec.name.empty()) spec.name = std::string(KindName(spec.kind));
  return spec;
}

absl::StatusOr<std::vector<ListenSpec>> ParseListenSpecs(absl::string_view text) {
  std::vector<ListenSpec> specs;
  if (text.empty()) return specs;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    absl::StatusOr<ListenSpec> spec = ParseListenSpec(part);
    if (!spec.ok()) return spec.status();
    specs.push_back(*std::move(spec));
  }
  return specs;
}

absl::StatusOr<UniqueFd> BindListenSpec(const ListenSpec& spec, int backlog) {
  int type = spec.kind == ListenSpec::Kind::kUdp ? SOCK_DGRAM : SOCK_STREAM;
  UniqueFd fd(socket(spec.address.family(), type | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return ErrnoError(absl::StrCat("socket for ", spec.ToString()));
  if (spec.kind == ListenSpec::Kind::kTcp) {
    int one = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
      return ErrnoError("setsockopt(SO_REUSEADDR)");
  }
  if (bind(fd.get(), spec.address.addr(), spec.address.size()) < 0)
    return ErrnoError(absl::StrCat("bind(", spec.address.ToString(), ")"));
  if (type == SOCK_STREAM && listen(fd.get(), backlog) < 0)
    return ErrnoError(absl::StrCat("listen(", spec.address.ToString(), ")"));
  return fd;
}

}  // namespace cmsg
