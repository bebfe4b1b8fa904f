// The C++ API: Spawn, Wait, WaitFor, Signal, Kill, and the destructor.
#include "sandbox/spawn.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/status/errno_status.h"

namespace cmsg::sandbox {
namespace {

Policy SystemPolicy() {
  Policy policy;
  for (const char* dir : {"/usr", "/lib", "/lib64", "/bin"}) {
    BindMount bind;
    bind.source = dir;
    policy.binds.push_back(bind);
  }
  return policy;
}

TEST(SpawnTest, WaitReportsTheExitCode) {
  absl::StatusOr<Child> child = Spawn(SystemPolicy(), {"/bin/sh", "-c", "exit 3"});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::StatusOr<ExitStatus> status = child->Wait();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->signaled);
  EXPECT_EQ(status->value, 3);
  EXPECT_EQ(status->ShellCode(), 3);
  EXPECT_FALSE(child->Wait().ok());  // only once
}

TEST(SpawnTest, SignalReachesTheCommandThroughTheShim) {
  absl::StatusOr<Child> child = Spawn(SystemPolicy(), {"/bin/sleep", "30"});
  ASSERT_TRUE(child.ok()) << child.status();
  // Not yet ended.
  absl::StatusOr<std::optional<ExitStatus>> early = child->WaitFor(absl::Milliseconds(50));
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());
  ASSERT_TRUE(child->Signal(SIGTERM).ok());
  absl::StatusOr<ExitStatus> status = child->Wait();
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->value, SIGTERM);  // the command's death, not the shim's
  EXPECT_EQ(status->ShellCode(), 128 + SIGTERM);
}

TEST(SpawnTest, SignalRightAfterSpawnIsNotLost) {
  // Pid 1 drops signals it has no handler for; Signal waits for the shim's.
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<Child> child = Spawn(SystemPolicy(), {"/bin/sleep", "5"});
    ASSERT_TRUE(child.ok()) << child.status();
    ASSERT_TRUE(child->Signal(SIGTERM).ok());
    absl::StatusOr<ExitStatus> status = child->Wait();
    ASSERT_TRUE(status.ok());
    ASSERT_TRUE(status->signaled) << "attempt " << i << ": exited " << status->value;
    ASSERT_EQ(status->value, SIGTERM);
  }
}

TEST(SpawnTest, KillEndsTheWholeSandbox) {
  absl::StatusOr<Child> child =
      Spawn(SystemPolicy(), {"/bin/sh", "-c", "trap '' TERM; sleep 30 & sleep 30"});
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE(child->Kill().ok());
  absl::StatusOr<ExitStatus> status = child->Wait();
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->value, SIGKILL);
}

TEST(SpawnTest, DestroyingAnUnwaitedChildKillsAndReapsIt) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  {
    absl::StatusOr<Child> child = Spawn(SystemPolicy(), {"/bin/sleep", "30"});
    ASSERT_TRUE(child.ok()) << child.status();
  }
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(SpawnTest, MovedChildKeepsOwnership) {
  absl::StatusOr<Child> child = Spawn(SystemPolicy(), {"/bin/true"});
  ASSERT_TRUE(child.ok()) << child.status();
  Child moved = std::move(*child);
  absl::StatusOr<ExitStatus> status = moved.Wait();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->value, 0);
}

TEST(SpawnTest, BadPolicyIsReportedBeforeAnythingRuns) {
  Policy policy = SystemPolicy();
  policy.env = {"NOEQUALS"};
  EXPECT_EQ(Spawn(policy, {"/bin/true"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Spawn(SystemPolicy(), {}).status().code(), absl::StatusCode::kInvalidArgument);
  policy = SystemPolicy();
  policy.shim_path = "/no/such/shim";
  EXPECT_EQ(ErrnoOf(Spawn(policy, {"/bin/true"}).status()), ENOENT);
  policy = SystemPolicy();
  policy.tmpfs = {"/a/../b"};
  EXPECT_FALSE(Spawn(policy, {"/bin/true"}).ok());
}

// The set-up runs under the caller's deadline: one already past gives
// DeadlineExceeded, with the half-built sandbox killed and reaped.
TEST(SpawnTest, SetupDeadlineIsHonoured) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  absl::StatusOr<Child> child =
      Spawn(SystemPolicy(), {"/bin/true"}, absl::Now() - absl::Seconds(1));
  ASSERT_FALSE(child.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(child.status())) << child.status();
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);  // nothing left to reap
}

}  // namespace
}  // namespace cmsg::sandbox
