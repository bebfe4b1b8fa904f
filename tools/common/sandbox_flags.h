// The sandbox policy flags (--ro_bind, --bind, --tmpfs, --net, --listen,
// --pass_file, --broker_allow, --seccomp, --rlimit_*, --uid, --gid,
// --hostname, --chdir, --setenv), defined once here for every tool that
// starts sandboxes (sandbox_run, worker_pool).
//
//   // After gflags has parsed the command line:
//   absl::StatusOr<cmsg::sandbox::Policy> policy = cmsg::flags::PolicyFromFlags();
#ifndef TOOLS_COMMON_SANDBOX_FLAGS_H_
#define TOOLS_COMMON_SANDBOX_FLAGS_H_

#include "absl/status/statusor.h"
#include "sandbox/policy.h"

namespace cmsg::flags {

// The Policy the policy flags describe, or an error naming the bad flag.
[[nodiscard]] absl::StatusOr<sandbox::Policy> PolicyFromFlags();

// The file the flags are defined in, as gflags names it: tools take their
// flags from it and from their own main.cc
// (sandbox_run::SplitCommandLine(argc, argv, {"tools/x/main.cc", kSandboxFlagsFile})).
extern const char kSandboxFlagsFile[];

}  // namespace cmsg::flags

#endif  // TOOLS_COMMON_SANDBOX_FLAGS_H_
