#include "lib/status/errno_status.h"

#include <errno.h>
#include <fcntl.h>

#include "gtest/gtest.h"
#include "lib/status/status_macros.h"

namespace cmsg {
namespace {

TEST(ErrnoStatusTest, NamesCallAndErrno) {
  ASSERT_EQ(open("/nonexistent/x", O_RDONLY), -1);
  absl::Status s = ErrnoError("open(/nonexistent/x)");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "open(/nonexistent/x): ENOENT (No such file or directory)");
  EXPECT_EQ(ErrnoOf(s), ENOENT);
}

TEST(ErrnoStatusTest, WouldBlockIsOneSharedStatus) {
  absl::Status s = ErrnoStatus(EWOULDBLOCK, "recvmsg");
  EXPECT_TRUE(IsWouldBlock(s));
  EXPECT_TRUE(IsWouldBlock(ErrnoStatus(EAGAIN, "sendmsg")));
  EXPECT_TRUE(IsWouldBlock(WouldBlockError()));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrnoOf(s), EAGAIN);
  EXPECT_EQ(s.message(), "EAGAIN (Resource temporarily unavailable): the call would block");
}

TEST(ErrnoStatusTest, OtherStatusesAreNotWouldBlock) {
  EXPECT_FALSE(IsWouldBlock(absl::OkStatus()));
  EXPECT_FALSE(IsWouldBlock(ErrnoStatus(ECONNREFUSED, "recvmsg")));
  EXPECT_FALSE(IsWouldBlock(absl::UnavailableError(WouldBlockError().message())));
  absl::Status copy = WouldBlockError();
  copy.SetPayload("other", absl::Cord("x"));  // a changed copy is its own status
  EXPECT_FALSE(IsWouldBlock(copy));
}

TEST(ErrnoStatusTest, ErrnoOfOtherStatusIsZero) {
  EXPECT_EQ(ErrnoOf(absl::InternalError("x")), 0);
  EXPECT_EQ(ErrnoOf(absl::OkStatus()), 0);
}

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  CMSGLIB_ASSIGN_OR_RETURN(int h, Half(x));
  CMSGLIB_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

absl::Status CheckEven(int x) {
  CMSGLIB_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd");
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

}  // namespace
}  // namespace cmsg
