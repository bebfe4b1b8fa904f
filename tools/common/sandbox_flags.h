// The sandbox policy flags (--ro_bind, --bind, --tmpfs, --net, --listen,
// --pass_file, --broker_allow, --seccomp, --rlimit_*, --uid, --gid,
// --hostname, --chdir, --setenv), defined once here for every tool that
// starts sandboxes (sandbox_run, worker_pool), and the command-line split
// those tools share: flags, then "--", then COMMAND [ARG...].
//
//   cmsg::flags::CommandLine line = cmsg::flags::SplitCommandLine(argc, argv, Fail);
//   gflags::ParseCommandLineFlags(&line.flag_argc, &argv, false);
//   absl::StatusOr<cmsg::sandbox::Policy> policy = cmsg::flags::PolicyFromFlags();
#ifndef TOOLS_COMMON_SANDBOX_FLAGS_H_
#define TOOLS_COMMON_SANDBOX_FLAGS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sandbox/policy.h"

namespace cmsg::flags {

// The Policy the policy flags describe, or an error naming the bad flag.
[[nodiscard]] absl::StatusOr<sandbox::Policy> PolicyFromFlags();

struct CommandLine {
  int flag_argc = 1;  // argv[0..flag_argc) are the program and its flags
  std::vector<std::string> command;
  bool help = false;  // --help (or --helpfull, --helpshort) was given
};

// Finds where the command starts (after "--" or at the first argument that
// is not a flag), checking every flag before it so that gflags (which exits
// 1 on errors) only sees flags it will accept: each must be defined in a
// file under tools/ (not gflags' own, such as --flagfile), given once, with
// a value unless boolean. On a bad one calls `fail` with one line (which
// must not return).
[[nodiscard]] CommandLine SplitCommandLine(int argc, char** argv,
                                           const std::function<void(const std::string&)>& fail);

}  // namespace cmsg::flags

#endif  // TOOLS_COMMON_SANDBOX_FLAGS_H_
