// The filter fails closed: a call it cannot resolve is an error, not a hole.
#include "sandbox/seccomp_filter.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cmsg::sandbox {
namespace {

using ::testing::HasSubstr;

TEST(SeccompFilterTest, UnknownCallNameIsAnError) {
  constexpr const char* kDenied[] = {"ptrace", "no_such_call_ever"};
  absl::StatusOr<std::vector<sock_filter>> filter = BuildDenyListFilter(kDenied, {});
  ASSERT_FALSE(filter.ok());
  EXPECT_THAT(filter.status().message(), HasSubstr("no_such_call_ever"));
}

TEST(SeccompFilterTest, DefaultFilterBuilds) {
  absl::StatusOr<std::vector<sock_filter>> filter = BuildDefaultFilter();
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_GT(filter->size(), 10u);
}

// The copy compiled at build time is the program the code compiles now.
TEST(SeccompFilterTest, PrecompiledDefaultIsTheCompiledOne) {
  absl::StatusOr<std::vector<sock_filter>> precompiled = BuildDefaultFilter();
  absl::StatusOr<std::vector<sock_filter>> compiled = BuildDenyListFilterForBuild();
  ASSERT_TRUE(precompiled.ok() && compiled.ok());
  ASSERT_EQ(precompiled->size(), compiled->size());
  EXPECT_EQ(memcmp(precompiled->data(), compiled->data(), compiled->size() * sizeof(sock_filter)),
            0);
}

}  // namespace
}  // namespace cmsg::sandbox
