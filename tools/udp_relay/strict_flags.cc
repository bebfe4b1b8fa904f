#include "tools/udp_relay/strict_flags.h"

#include <gflags/gflags.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace cmsg::udp {

void UsageError(absl::string_view tool, absl::string_view message) {
  std::string line = absl::StrCat(tool, ": ", message, "\n");
  fputs(line.c_str(), stderr);
  exit(2);
}

bool ParseToggle(absl::string_view text, Toggle* out) {
  if (text == "auto") *out = Toggle::kAuto;
  else if (text == "on") *out = Toggle::kOn;
  else if (text == "off") *out = Toggle::kOff;
  else return false;
  return true;
}

void ParseFlagsOrExit(absl::string_view tool, const std::string& usage, int* argc,
                      char*** argv) {
  gflags::SetUsageMessage(usage);
  for (int i = 1; i < *argc; ++i) {
    absl::string_view arg = (*argv)[i];
    if (arg == "--") {
      if (i + 1 < *argc) UsageError(tool, absl::StrCat("unexpected argument '", (*argv)[i + 1], "'"));
      break;
    }
    if (!absl::StartsWith(arg, "-") || arg == "-") {
      UsageError(tool, absl::StrCat("unexpected argument '", arg, "' (see --help)"));
    }
    arg.remove_prefix(absl::StartsWith(arg, "--") ? 2 : 1);
    std::string name(arg.substr(0, arg.find('=')));
    bool has_value = arg.find('=') != absl::string_view::npos;
    std::string value = has_value ? std::string(arg.substr(arg.find('=') + 1)) : "";
    if (name == "help" || name == "helpfull" || name == "helpshort") {
      gflags::ShowUsageWithFlagsRestrict((*argv)[0], "main.cc");
      exit(0);
    }
    gflags::CommandLineFlagInfo info;
    if (!gflags::GetCommandLineFlagInfo(name.c_str(), &info)) {
      // --nofoo is how gflags spells --foo=false.
      if (!has_value && absl::StartsWith(name, "no") &&
          gflags::GetCommandLineFlagInfo(name.c_str() + 2, &info) && info.type == "bool") {
        continue;
      }
      UsageError(tool, absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (info.type == "bool") continue;
      if (i + 1 >= *argc) UsageError(tool, absl::StrCat("flag --", name, " needs a value"));
      value = (*argv)[++i];
    }
    if (gflags::SetCommandLineOption(name.c_str(), value.c_str()).empty()) {
      UsageError(tool, absl::StrCat("bad value '", value, "' for --", name, " (",
                                    info.type, ")"));
    }
  }
  gflags::ParseCommandLineFlags(argc, argv, /*remove_flags=*/true);
}

}  // namespace cmsg::udp
