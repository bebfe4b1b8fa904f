// The mount steps a Policy turns into (run by the sandbox child; see
// tests/sandbox for what they achieve).
#include "sandbox/mount_plan.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/status/errno_status.h"

namespace cmsg::sandbox {
namespace {

using Kind = MountStep::Kind;

std::string Describe(const MountStep& step) {
  const char* kinds[] = {"mkdir", "mkfile", "bind", "tmpfs", "proc", "symlink", "readonly", "devpts"};
  std::string out = std::string(kinds[static_cast<int>(step.kind)]) + " " + step.target;
  if (!step.source.empty()) out += " <- " + step.source;
  if (step.kind == Kind::kBind) out += step.writable ? " rw" : " ro";
  return out;
}

std::vector<std::string> Steps(const Policy& policy) {
  absl::StatusOr<std::vector<MountStep>> steps = BuildMountSteps(policy);
  EXPECT_TRUE(steps.ok()) << steps.status();
  std::vector<std::string> out;
  if (steps.ok())
    for (const MountStep& step : *steps) out.push_back(Describe(step));
  return out;
}

TEST(MountPlanTest, ProcAndDevFirstReadOnlyRootLast) {
  std::vector<std::string> steps = Steps(Policy());
  ASSERT_GE(steps.size(), 4u);
  EXPECT_EQ(steps[0], "mkdir /tmp/proc");
  EXPECT_EQ(steps[1], "proc /tmp/proc");
  EXPECT_EQ(steps[3], "tmpfs /tmp/dev");
  for (const char* device : {"null", "zero", "full", "random", "urandom", "tty"}) {
    std::string bind = std::string("bind /tmp/dev/") + device + " <- /dev/" + device + " rw";
    EXPECT_NE(std::find(steps.begin(), steps.end(), bind), steps.end()) << bind;
  }
  EXPECT_EQ(steps.back(), "readonly /tmp");
}

TEST(MountPlanTest, DirectoryAndFileBindsWithTheirParents) {
  Policy policy;
  policy.binds.push_back({"/usr", "/opt/usr", false});
  policy.binds.push_back({"/etc/hostname", "/etc/name", true});
  policy.tmpfs.push_back("/var/tmp");
  std::vector<std::string> steps = Steps(policy);
  std::vector<std::string> tail(steps.end() - 10, steps.end());
  EXPECT_EQ(tail, (std::vector<std::string>{
                      "mkdir /tmp/opt", "mkdir /tmp/opt/usr", "bind /tmp/opt/usr <- /usr ro",
                      "mkdir /tmp/etc", "mkfile /tmp/etc/name",
                      "bind /tmp/etc/name <- /etc/hostname rw", "mkdir /tmp/var",
                      "mkdir /tmp/var/tmp", "tmpfs /tmp/var/tmp", "readonly /tmp"}));
}

TEST(MountPlanTest, SourcesAreResolved) {
  // /bin is a symlink on merged-/usr systems; the bind must use the real path.
  Policy policy;
  policy.binds.push_back({"/proc/self/cwd", "/cwd", false});
  absl::StatusOr<std::vector<MountStep>> steps = BuildMountSteps(policy);
  ASSERT_TRUE(steps.ok()) << steps.status();
  const MountStep& bind = (*steps)[steps->size() - 2];
  EXPECT_EQ(bind.kind, Kind::kBind);
  EXPECT_NE(bind.source, "/proc/self/cwd");
  EXPECT_EQ(bind.source[0], '/');
}

TEST(MountPlanTest, BadPathsAreErrors) {
  Policy missing;
  missing.binds.push_back({"/no/such/path", "/x", false});
  EXPECT_EQ(ErrnoOf(BuildMountSteps(missing).status()), ENOENT);
  for (const char* target : {"relative", "/", "/a/../b", "/a//b", "/a/"}) {
    Policy policy;
    policy.binds.push_back({"/usr", target, false});
    EXPECT_EQ(BuildMountSteps(policy).status().code(), absl::StatusCode::kInvalidArgument)
        << target;
    Policy tmpfs;
    tmpfs.tmpfs.push_back(target);
    EXPECT_EQ(BuildMountSteps(tmpfs).status().code(), absl::StatusCode::kInvalidArgument)
        << target;
  }
}

}  // namespace
}  // namespace cmsg::sandbox
