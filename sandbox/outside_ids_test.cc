// Outside id allocation: distinct while held, reused when released, never 0,
// and only from a lock directory nobody else can write.
#include "sandbox/outside_ids.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/status/errno_status.h"

namespace cmsg::sandbox {
namespace {

using ::testing::HasSubstr;

class OutsideIdsTest : public ::testing::Test {
 protected:
  OutsideIdsTest() {
    char tmpl[] = "/tmp/sbx-ids.XXXXXX";
    dir_ = mkdtemp(tmpl);
    chmod(dir_.c_str(), 0700);
    ids_.first_uid = 500000;
    ids_.first_gid = 600000;
    ids_.count = 3;
    ids_.lock_dir = dir_ + "/locks";
  }
  ~OutsideIdsTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string dir_;
  OutsideIds ids_;
};

TEST_F(OutsideIdsTest, DistinctWhileHeldAndReusedAfter) {
  absl::StatusOr<OutsideIdLease> a = AcquireOutsideIds(ids_);
  absl::StatusOr<OutsideIdLease> b = AcquireOutsideIds(ids_);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->uid, 500000u);
  EXPECT_EQ(a->gid, 600000u);
  EXPECT_EQ(b->uid, 500001u);
  EXPECT_EQ(b->gid, 600001u);
  a->lock.reset();
  absl::StatusOr<OutsideIdLease> c = AcquireOutsideIds(ids_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->uid, 500000u);
}

// Two launchers with overlapping ranges never hold the same uid.
TEST_F(OutsideIdsTest, OverlappingRangesShareTheLocks) {
  absl::StatusOr<OutsideIdLease> a0 = AcquireOutsideIds(ids_);
  absl::StatusOr<OutsideIdLease> a1 = AcquireOutsideIds(ids_);
  OutsideIds shifted = ids_;
  shifted.first_uid = 500001;
  shifted.first_gid = 600001;
  absl::StatusOr<OutsideIdLease> b = AcquireOutsideIds(shifted);
  ASSERT_TRUE(a0.ok() && a1.ok() && b.ok());
  EXPECT_EQ(a1->uid, 500001u);
  EXPECT_EQ(b->uid, 500002u);
}

TEST_F(OutsideIdsTest, FullRangeIsEagain) {
  std::vector<OutsideIdLease> held;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<OutsideIdLease> lease = AcquireOutsideIds(ids_);
    ASSERT_TRUE(lease.ok()) << lease.status();
    held.push_back(std::move(*lease));
  }
  absl::StatusOr<OutsideIdLease> more = AcquireOutsideIds(ids_);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(ErrnoOf(more.status()), EAGAIN);
}

TEST_F(OutsideIdsTest, RangeWithZeroOrMinusOneIsRefused) {
  ids_.first_uid = 0;
  EXPECT_FALSE(AcquireOutsideIds(ids_).ok());
  ids_.first_uid = 0xffffffffu - 2;
  EXPECT_FALSE(AcquireOutsideIds(ids_).ok());
}

TEST_F(OutsideIdsTest, LockDirMayNotBeASymlinkOrWritableByOthers) {
  ASSERT_EQ(mkdir((dir_ + "/real").c_str(), 0700), 0);
  ASSERT_EQ(symlink((dir_ + "/real").c_str(), (dir_ + "/link").c_str()), 0);
  ids_.lock_dir = dir_ + "/link";
  absl::StatusOr<OutsideIdLease> lease = AcquireOutsideIds(ids_);
  ASSERT_FALSE(lease.ok());
  EXPECT_THAT(lease.status().message(), HasSubstr("symlinks are not followed"));
  ASSERT_EQ(chmod((dir_ + "/real").c_str(), 0777), 0);
  ids_.lock_dir = dir_ + "/real";
  lease = AcquireOutsideIds(ids_);
  ASSERT_FALSE(lease.ok());
  EXPECT_THAT(lease.status().message(), HasSubstr("writable by no one else"));
}

TEST(FindSubidRangeTest, Parses) {
  auto range = FindSubidRange("alice:100000:65536\nsandbox_run:200000:1000\n", "sandbox_run");
  ASSERT_TRUE(range.has_value());
  EXPECT_EQ(range->first, 200000u);
  EXPECT_EQ(range->second, 1000u);
  EXPECT_FALSE(FindSubidRange("sandbox_run:x:1\n", "sandbox_run").has_value());
  EXPECT_FALSE(FindSubidRange("", "sandbox_run").has_value());
}

}  // namespace
}  // namespace cmsg::sandbox
