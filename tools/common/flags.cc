#include "tools/common/flags.h"

#include <gflags/gflags.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/activation/activation.h"

namespace cmsg::flags {

void UsageError(absl::string_view tool, absl::string_view message) {
  std::string line = absl::StrCat(tool, ": ", message, "\n");
  fputs(line.c_str(), stderr);
  exit(2);
}

bool ParseToggle(absl::string_view text, Toggle* out) {
  if (text == "auto")
    *out = Toggle::kAuto;
  else if (text == "on")
    *out = Toggle::kOn;
  else if (text == "off")
    *out = Toggle::kOff;
  else
    return false;
  return true;
}

void ParseFlagsOrExit(absl::string_view tool, const std::string& usage,
                      int* argc, char*** argv) {
  gflags::SetUsageMessage(usage);
  for (int i = 1; i < *argc; ++i) {
    absl::string_view arg = (*argv)[i];
    if (arg == "--") {
      if (i + 1 < *argc)
        UsageError(tool,
                   absl::StrCat("unexpected argument '", (*argv)[i + 1], "'"));
      break;
    }
    if (!absl::StartsWith(arg, "-") || arg == "-") {
      UsageError(tool,
                 absl::StrCat("unexpected argument '", arg, "' (see --help)"));
    }
    arg.remove_prefix(absl::StartsWith(arg, "--") ? 2 : 1);
    std::string name(arg.substr(0, arg.find('=')));
    bool has_value = arg.find('=') != absl::string_view::npos;
    std::string value =
        has_value ? std::string(arg.substr(arg.find('=') + 1)) : "";
    if (name == "help" || name == "helpfull" || name == "helpshort") {
      gflags::ShowUsageWithFlagsRestrict((*argv)[0], "main.cc");
      exit(0);
    }
    gflags::CommandLineFlagInfo info;
    if (!gflags::GetCommandLineFlagInfo(name.c_str(), &info)) {
      // --nofoo is how gflags spells --foo=false.
      if (!has_value && absl::StartsWith(name, "no") &&
          gflags::GetCommandLineFlagInfo(name.c_str() + 2, &info) &&
          info.type == "bool") {
        continue;
      }
      UsageError(tool, absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (info.type == "bool") continue;
      if (i + 1 >= *argc)
        UsageError(tool, absl::StrCat("flag --", name, " needs a value"));
      value = (*argv)[++i];
    }
    if (gflags::SetCommandLineOption(name.c_str(), value.c_str()).empty()) {
      UsageError(tool, absl::StrCat("bad value '", value, "' for --", name,
                                    " (", info.type, ")"));
    }
  }
  gflags::ParseCommandLineFlags(argc, argv, /*remove_flags=*/true);
}

bool ToggleOrExit(absl::string_view tool, absl::string_view name,
                  absl::string_view text, bool kernel_has) {
  Toggle t;
  if (!ParseToggle(text, &t)) {
    UsageError(tool, absl::StrCat("bad value '", text, "' for --", name,
                                  " (auto, on or off)"));
  }
  if (t == Toggle::kOn && !kernel_has) {
    std::string line = absl::StrCat(
        tool, ": --", name, "=on but this kernel lacks UDP ", name, "\n");
    fputs(line.c_str(), stderr);
    exit(1);
  }
  return t == Toggle::kOn || (t == Toggle::kAuto && kernel_has);
}

absl::Duration DurationOrExit(absl::string_view tool, absl::string_view name,
                              absl::string_view text, bool allow_zero) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration() ||
      (!allow_zero && d == absl::ZeroDuration())) {
    UsageError(tool, absl::StrCat("bad duration '", text, "' for --", name,
                                  " (e.g. 10s, 500ms, 5m)"));
  }
  return d;
}

SocketAddress IpAddressOrExit(absl::string_view tool, absl::string_view name,
                              absl::string_view text) {
  absl::StatusOr<SocketAddress> a = SocketAddress::Parse(text);
  if (!a.ok() || (a->family() != AF_INET && a->family() != AF_INET6)) {
    UsageError(tool, absl::StrCat("bad address '", text, "' for --", name,
                                  " (want IPv4 ADDR:PORT or [IPv6]:PORT)"));
  }
  return *a;
}

UdpListeners UdpListenersOrExit(absl::string_view tool,
                                absl::string_view listen) {
  UdpListeners out;
  if (!listen.empty()) {
    for (absl::string_view part : absl::StrSplit(listen, ',')) {
      out.addresses.push_back(IpAddressOrExit(tool, "listen", part));
    }
  }
  absl::StatusOr<std::vector<ActivatedFd>> activated = TakeListenFds();
  if (!activated.ok()) {
    UsageError(tool, absl::StrCat("socket activation: ",
                                  activated.status().message()));
  }
  if (!activated->empty() && !out.addresses.empty()) {
    UsageError(tool,
               "--listen given, but sockets were also handed over "
               "(LISTEN_FDS); use one");
  }
  if (activated->empty() && out.addresses.empty()) {
    UsageError(tool,
               "--listen is required unless started with socket activation");
  }
  for (ActivatedFd& a : *activated) out.activated.push_back(std::move(a.fd));
  return out;
}

}  // namespace cmsg::flags
