// CountUnderCallgrind runs this binary under valgrind: the child process
// counts loops of a known length, and the parent checks what came back.
#include "lib/cmsg/bench/callgrind_counts.h"

#include <unistd.h>

#include <climits>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace cmsg::bench {
namespace {

constexpr char kChildFlag[] = "--count_loops";

// Eight instructions an iteration, plus the loop's own (an add, a compare
// and a branch optimized; loads and stores of `i` too unoptimized).
void EightNops(int64_t iterations) {
  for (int64_t i = 0; i < iterations; ++i) {
    asm volatile("nop; nop; nop; nop; nop; nop; nop; nop" ::: "memory");
  }
}

int CountLoops() {
  for (int64_t n : {1000, 2000}) {
    BeginCounting();
    EightNops(n);
    EndCounting("eight nops", n);
  }
  // Only one run of this one: left out of the counts.
  BeginCounting();
  EightNops(500);
  EndCounting("counted once", 500);
  return 0;
}

std::string SelfPath() {
  char self[PATH_MAX] = {};
  return readlink("/proc/self/exe", self, sizeof(self) - 1) > 0 ? self : "";
}

TEST(CallgrindCountsTest, CountsTheInstructionsOfALoopPerIteration) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "valgrind cannot run a binary built with AddressSanitizer";
#endif
  ASSERT_FALSE(UnderValgrind());
  absl::StatusOr<InstructionCounts> counts = CountUnderCallgrind({SelfPath(), kChildFlag});
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->count("eight nops"), 1u);
  const double per_iteration = counts->at("eight nops");
  EXPECT_GE(per_iteration, 9.0);
  EXPECT_LE(per_iteration, 16.0);
  // The difference of two runs: no fraction left from entering the loop.
  EXPECT_EQ(per_iteration, static_cast<int>(per_iteration));
  EXPECT_EQ(counts->count("counted once"), 0u);
}

TEST(CallgrindCountsTest, AFailingRunIsAnErrorWithItsOutput) {
  absl::StatusOr<InstructionCounts> counts =
      CountUnderCallgrind({"/nonexistent/program", kChildFlag});
  ASSERT_FALSE(counts.ok());
  EXPECT_NE(counts.status().message().find("/nonexistent/program"), std::string::npos)
      << counts.status();
}

}  // namespace
}  // namespace cmsg::bench

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], cmsg::bench::kChildFlag) == 0) {
    return cmsg::bench::CountLoops();
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
