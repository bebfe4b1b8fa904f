// Turns a Policy's filesystem into the list of steps the sandbox child runs:
// /proc, a minimal /dev, then the policy's binds and tmpfs mounts in order,
// then the skeleton root made read-only. Checks every path first, so a bad
// one is reported before any namespace exists.
#ifndef SANDBOX_MOUNT_PLAN_H_
#define SANDBOX_MOUNT_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sandbox/child_plan.h"
#include "sandbox/policy.h"

namespace cmsg::sandbox {

[[nodiscard]] absl::StatusOr<std::vector<MountStep>> BuildMountSteps(const Policy& policy);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_MOUNT_PLAN_H_
