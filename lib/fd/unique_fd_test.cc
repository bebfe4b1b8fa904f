#include "lib/fd/unique_fd.h"

#include <fcntl.h>

#include "gtest/gtest.h"

namespace cmsg {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFdTest, ClosesOnDestruction) {
  int raw;
  {
    UniqueFd fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.ok());
    raw = fd.get();
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(UniqueFdTest, ReleaseGivesUpOwnership) {
  UniqueFd fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = fd.release();
  EXPECT_FALSE(fd.ok());
  fd.reset();
  EXPECT_TRUE(IsOpen(raw));
  close(raw);
}

TEST(UniqueFdTest, MoveTransfersAndResetCloses) {
  UniqueFd a(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = a.get();
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.ok());  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  c.reset();
  EXPECT_FALSE(IsOpen(raw));
}

}  // namespace
}  // namespace cmsg
