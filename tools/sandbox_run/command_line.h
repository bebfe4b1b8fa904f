// sandbox_run's command line split into its flags and the command, with
// policy files (--flagfile=PATH) expanded in place, before gflags sees any
// of it. gflags exits 1 on errors and silently keeps the last of a repeated
// flag; here every flag is checked first, so a bad or repeated one (also
// one repeated between a file and the command line) is a one-line error.
//
//   absl::StatusOr<CommandLine> line = SplitCommandLine(argc, argv, "tools/x/main.cc");
//   // line->flags: "--name=value" / "--name" for gflags; line->command: argv after "--".
//
// A policy file has gflags' flagfile format, restricted: one --flag=value per
// line (a bool flag may stand alone), blank lines and lines starting with '#'
// ignored, leading and trailing blanks trimmed; the value is the rest of the
// line, blanks included. --flagfile may nest (at most 8 deep). gflags'
// filename sections (lines not starting with '-') are refused. No symlink
// on a policy file's path is followed (sandbox_run may run as root).
#ifndef TOOLS_SANDBOX_RUN_COMMAND_LINE_H_
#define TOOLS_SANDBOX_RUN_COMMAND_LINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cmsg::sandbox_run {

struct CommandLine {
  std::vector<std::string> flags;    // each "--name=value" or "--name"
  std::vector<std::string> command;  // empty if none was given
  bool help = false;                 // --help, --helpfull or --helpshort
};

// Accepts only flags defined (with gflags) in `defined_in`, plus
// --flagfile and the help flags. A policy file larger than 1 MiB is refused.
[[nodiscard]] absl::StatusOr<CommandLine> SplitCommandLine(int argc, char** argv,
                                                           const char* defined_in);
// The same, for flags defined in any of the files `defined_in`.
[[nodiscard]] absl::StatusOr<CommandLine> SplitCommandLine(int argc, char** argv,
                                                           std::vector<std::string> defined_in);

}  // namespace cmsg::sandbox_run

#endif  // TOOLS_SANDBOX_RUN_COMMAND_LINE_H_
