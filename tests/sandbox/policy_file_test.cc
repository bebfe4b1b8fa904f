// A policy file: every flag of sandbox_run can come from a file named by
// --flagfile (gflags' format: one --flag=value per line, # comments), the
// same checks apply to it as to the command line, and a flag given both in
// the file and on the command line is refused like any repeated flag.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/run_util.h"

namespace cmsg::sandbox_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::string> WithFlagfile(const std::string& file,
                                      const std::vector<std::string>& command) {
  std::vector<std::string> argv = {SandboxRun(), "--flagfile=" + file, "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

TEST(PolicyFileTest, EveryFlagCanComeFromTheFile) {
  TempDir dir;
  WriteFile(dir.File("data"), "from the host");
  WriteFile(dir.File("policy"),
            "# a policy for the test\n"
            "--ro_bind=/usr,/lib,/lib64,/bin\n"
            "\n"
            "--no_such_flag=0\n");
  // An unknown flag in the file is refused with the file and line named.
  RunResult r = RunProgram(WithFlagfile(dir.File("policy"), {"/bin/true"}));
  EXPECT_EQ(r.code, 125) << r.err;
  EXPECT_THAT(r.err, StartsWith("sandbox_run: "));
  EXPECT_THAT(r.err, HasSubstr(dir.File("policy") + ":4: unknown flag"));

  WriteFile(dir.File("policy"),
            "# a policy for the test\n"
            "--ro_bind=/usr,/lib,/lib64,/bin," + dir.File("data") + ":/data\n"
            "\n"
            "--setenv=GREETING=hello world\n"
            "--hostname=from-file\n"
            "--verbose=false\n"
            "  --chdir=/usr  \n");
  r = RunProgram(WithFlagfile(dir.File("policy"),
                              {"/bin/sh", "-c", "echo $GREETING; hostname; pwd; cat /data"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "hello world\nfrom-file\n/usr\nfrom the host");
}

TEST(PolicyFileTest, NestedFilesWork) {
  TempDir dir;
  WriteFile(dir.File("inner"), "--hostname=inner\n");
  WriteFile(dir.File("outer"), "--ro_bind=/usr,/lib,/lib64,/bin\n--flagfile=" + dir.File("inner") +
                                   "\n");
  RunResult r = RunProgram(WithFlagfile(dir.File("outer"), {"/bin/hostname"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "inner\n");
}

TEST(PolicyFileTest, BadFilesAreRefusedWithOneLine) {
  TempDir dir;
  struct Case {
    std::string content;
    std::string message;
  };
  WriteFile(dir.File("loop"), "--flagfile=" + dir.File("loop") + "\n");
  const Case cases[] = {
      {"--hostname=a\n--hostname=b\n", "--hostname given twice"},
      {"--timeout=soon\n", "--timeout: \"soon\""},
      {"/bin/true\n", ":1: want --flag=value"},
      {"--\n", ":1: want --flag=value"},
      {"--verbose=maybe\n", "is not a boolean"},
      {"--flagfile=" + dir.File("loop") + "\n", "nested too deeply"},
      {"--flagfile=" + dir.File("absent") + "\n", dir.File("absent") + ": ENOENT"},
  };
  for (const Case& c : cases) {
    WriteFile(dir.File("policy"), c.content);
    RunResult r = RunProgram(WithFlagfile(dir.File("policy"), {"/bin/true"}));
    EXPECT_EQ(r.code, 125) << c.content << r.err;
    EXPECT_THAT(r.err, StartsWith("sandbox_run: ")) << c.content;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.content;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // In the file and on the command line: refused, not silently overridden.
  WriteFile(dir.File("policy"), "--hostname=a\n");
  RunResult r = RunProgram({SandboxRun(), "--flagfile=" + dir.File("policy"), "--hostname=b",
                            "--", "/bin/true"});
  EXPECT_EQ(r.code, 125);
  EXPECT_THAT(r.err, HasSubstr("--hostname given twice"));
  r = RunProgram({SandboxRun(), "--flagfile=" + dir.File("nothere"), "--", "/bin/true"});
  EXPECT_EQ(r.code, 125);
  EXPECT_THAT(r.err, HasSubstr("nothere: ENOENT"));
}

// sandbox_run may run as root: a policy file reached through a symlink, which
// whoever can write its directory could point at their own policy, is refused.
TEST(PolicyFileTest, NoSymlinkIsFollowed) {
  TempDir dir;
  WriteFile(dir.File("policy"), "--ro_bind=/usr,/lib,/lib64,/bin\n");
  ASSERT_EQ(symlink(dir.File("policy").c_str(), dir.File("link").c_str()), 0);
  RunResult r = RunProgram(WithFlagfile(dir.File("link"), {"/bin/true"}));
  EXPECT_EQ(r.code, 125);
  EXPECT_THAT(r.err, HasSubstr("ELOOP"));
  EXPECT_THAT(r.err, HasSubstr("symlinks are not followed"));
  mkdir(dir.File("d").c_str(), 0755);
  ASSERT_EQ(symlink(dir.path().c_str(), dir.File("dirlink").c_str()), 0);
  r = RunProgram(WithFlagfile(dir.File("dirlink") + "/policy", {"/bin/true"}));
  EXPECT_EQ(r.code, 125);
  EXPECT_THAT(r.err, HasSubstr("ELOOP"));
  EXPECT_EQ(RunProgram(WithFlagfile(dir.File("policy"), {"/bin/true"})).code, 0);
}

}  // namespace
}  // namespace cmsg::sandbox_testing
