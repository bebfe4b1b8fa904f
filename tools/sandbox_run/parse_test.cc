// The accepted forms of sandbox_run's flag values (the rejected ones are in
// tests/sandbox/bad_input_test.cc, run through the binary).
#include "tools/sandbox_run/parse.h"

#include "gtest/gtest.h"

namespace cmsg::sandbox_run {
namespace {

TEST(ParseTest, Binds) {
  auto binds = ParseBinds("/usr,/srv/data:/data", true);
  ASSERT_TRUE(binds.ok()) << binds.status();
  ASSERT_EQ(binds->size(), 2u);
  EXPECT_EQ((*binds)[0].source, "/usr");
  EXPECT_EQ((*binds)[0].target, "/usr");
  EXPECT_EQ((*binds)[1].source, "/srv/data");
  EXPECT_EQ((*binds)[1].target, "/data");
  EXPECT_TRUE((*binds)[1].writable);
  EXPECT_TRUE(ParseBinds("", false)->empty());
}

TEST(ParseTest, PassFiles) {
  auto files = ParsePassFiles("/a,/b:w,/c:rw=conf,/d:a=log,/e=in");
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 5u);
  using Mode = sandbox::PassFile::Mode;
  EXPECT_EQ((*files)[0].mode, Mode::kRead);
  EXPECT_EQ((*files)[0].name, "");
  EXPECT_EQ((*files)[1].mode, Mode::kWrite);
  EXPECT_EQ((*files)[2].mode, Mode::kReadWrite);
  EXPECT_EQ((*files)[2].name, "conf");
  EXPECT_EQ((*files)[3].mode, Mode::kAppend);
  EXPECT_EQ((*files)[3].path, "/d");
  EXPECT_EQ((*files)[4].name, "in");
}

TEST(ParseTest, BrokerRules) {
  auto rules = ParseBrokerRules("/data,/out:rw,/in:r");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_EQ(rules->size(), 3u);
  EXPECT_FALSE((*rules)[0].writable);
  EXPECT_TRUE((*rules)[1].writable);
  EXPECT_EQ((*rules)[1].path, "/out");
  EXPECT_FALSE((*rules)[2].writable);
}

TEST(ParseTest, Rlimits) {
  EXPECT_FALSE(ParseRlimit("x", "")->has_value());
  EXPECT_EQ(**ParseRlimit("x", "64"), 64u);
  EXPECT_EQ(**ParseRlimit("x", "2K"), 2048u);
  EXPECT_EQ(**ParseRlimit("x", "3M"), 3u << 20);
  EXPECT_EQ(**ParseRlimit("x", "1G"), 1u << 30);
  EXPECT_EQ(**ParseRlimit("x", "unlimited"), RLIM_INFINITY);
  EXPECT_FALSE(ParseRlimit("x", "K").ok());
}

TEST(ParseTest, TimeoutIdsEnvNetSeccomp) {
  EXPECT_EQ(**ParseTimeout("1.5s"), absl::Milliseconds(1500));
  EXPECT_FALSE(ParseTimeout("")->has_value());
  EXPECT_FALSE(ParseTimeout("0")->has_value());
  EXPECT_EQ(*ParseId("uid", "0"), 0u);
  EXPECT_EQ(*ParseId("uid", "4294967294"), 4294967294u);
  EXPECT_EQ(ParseEnv("A=1,B=")->size(), 2u);
  EXPECT_EQ(*ParseNetwork("host"), sandbox::Network::kHost);
  sandbox::Policy seccomp;
  ASSERT_TRUE(ParseSeccomp("off", seccomp).ok());
  EXPECT_FALSE(seccomp.seccomp);
  ASSERT_TRUE(ParseSeccomp("strict", seccomp).ok());
  EXPECT_TRUE(seccomp.seccomp && seccomp.seccomp_strict);
  EXPECT_FALSE(ParseSeccomp("lax", seccomp).ok());
  EXPECT_EQ(ParseTmpfs("/tmp,/var/tmp")->size(), 2u);
  auto tmpfs = ParseTmpfs("/a:16M,/b:4096,/c");
  ASSERT_TRUE(tmpfs.ok()) << tmpfs.status();
  EXPECT_EQ((*tmpfs)[0].size_bytes, uint64_t{16} << 20);
  EXPECT_EQ((*tmpfs)[1].size_bytes, 4096u);
  EXPECT_FALSE((*tmpfs)[2].size_bytes.has_value());
  auto limits = ParseCgroupLimits("1G", "64", "0.5");
  ASSERT_TRUE(limits.ok()) << limits.status();
  EXPECT_EQ(limits->memory_bytes, uint64_t{1} << 30);
  EXPECT_EQ(limits->pids, 64u);
  EXPECT_EQ(limits->cpus, 0.5);
  EXPECT_FALSE(ParseCgroupLimits("", "", "")->any());
}

}  // namespace
}  // namespace cmsg::sandbox_run
