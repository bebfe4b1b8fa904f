// The Landlock plan asks an older kernel for nothing newer than its ABI
// (which it would refuse with EINVAL, failing every sandbox), and gives each
// path the access its mount has. The rules' effect is tested end to end in
// tests/sandbox/landlock_test.cc.
#include "sandbox/landlock.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace cmsg::sandbox {
namespace {

// The rights each ABI added (uapi linux/landlock.h).
uint64_t KnownFs(int abi) {
  uint64_t known = (1ULL << 13) - 1;
  if (abi >= 2) known |= 1ULL << 13;  // refer
  if (abi >= 3) known |= 1ULL << 14;  // truncate
  if (abi >= 5) known |= 1ULL << 15;  // ioctl_dev
  return known;
}

Policy SomePolicy() {
  Policy policy;
  policy.binds.push_back({.source = "/usr", .target = "", .writable = false});
  policy.binds.push_back({.source = "/srv", .target = "/data", .writable = true});
  policy.tmpfs = {"/scratch"};
  return policy;
}

TEST(LandlockPlanTest, NothingNewerThanTheAbi) {
  for (int abi = 1; abi <= 7; ++abi) {
    absl::StatusOr<LandlockPlan> plan = BuildLandlockPlan(SomePolicy(), abi);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->abi, abi);
    EXPECT_EQ(plan->handled_fs, KnownFs(abi)) << abi;
    for (const LandlockRule& rule : plan->rules)
      EXPECT_EQ(rule.access & ~plan->handled_fs, 0u) << abi << " " << rule.path;
    EXPECT_EQ(plan->scoped, abi >= 6 ? 3u : 0u) << abi;  // signal + abstract unix
  }
  Policy host = SomePolicy();
  host.network = Network::kHost;  // the host's abstract sockets stay reachable
  EXPECT_EQ(BuildLandlockPlan(host, 6)->scoped, 2u);
}

TEST(LandlockPlanTest, AccessFollowsTheMount) {
  absl::StatusOr<LandlockPlan> plan = BuildLandlockPlan(SomePolicy(), 7);
  ASSERT_TRUE(plan.ok());
  std::map<std::string, uint64_t> access;
  for (const LandlockRule& rule : plan->rules) access[rule.path] |= rule.access;
  constexpr uint64_t kExecute = 1, kWrite = 2, kRead = 4, kReadDir = 8;
  EXPECT_EQ(access["/"], kReadDir);
  EXPECT_EQ(access["/usr"], kExecute | kRead | kReadDir);
  EXPECT_EQ(access["/data"], plan->handled_fs);
  EXPECT_EQ(access["/scratch"], plan->handled_fs);
  EXPECT_EQ(access["/proc"] & kExecute, 0u);
  EXPECT_EQ(access["/dev"] & kExecute, 0u);
  EXPECT_NE(access["/dev"] & kWrite, 0u);
  EXPECT_EQ(access.count("/srv"), 0u);  // the target, not the host path
}

TEST(LandlockPlanTest, Modes) {
  Policy policy = SomePolicy();
  EXPECT_EQ(BuildLandlockPlan(policy, 0)->abi, 0);  // auto, none in the kernel
  policy.landlock = LandlockMode::kOff;
  EXPECT_EQ(BuildLandlockPlan(policy, 7)->abi, 0);
  policy.landlock = LandlockMode::kOn;
  EXPECT_EQ(BuildLandlockPlan(policy, 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cmsg::sandbox
