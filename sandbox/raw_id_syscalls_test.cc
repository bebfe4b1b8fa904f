// glibc's setresuid/setresgid/setgroups change the ids of every thread
// glibc knows of, under a lock; in the clone3 child of a multi-threaded
// launcher that lock may be held by a thread that does not exist there, and
// the call deadlocks. The child must use raw system calls. This binary
// replaces the three wrappers with ones that fail: a sandbox starts only if
// the child never calls them.
#include <errno.h>
#include <grp.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "sandbox/spawn.h"

extern "C" int setresuid(uid_t, uid_t, uid_t) {
  errno = ENOTRECOVERABLE;
  return -1;
}
extern "C" int setresgid(gid_t, gid_t, gid_t) {
  errno = ENOTRECOVERABLE;
  return -1;
}
extern "C" int setgroups(size_t, const gid_t*) {
  errno = ENOTRECOVERABLE;
  return -1;
}

namespace cmsg::sandbox {
namespace {

TEST(RawIdSyscallsTest, SandboxChildUsesNoLibcIdWrapper) {
  Policy policy;
  for (const char* dir : {"/usr", "/lib", "/lib64", "/bin"}) {
    BindMount bind;
    bind.source = dir;
    policy.binds.push_back(bind);
  }
  absl::StatusOr<Child> child = Spawn(policy, {"/bin/true"});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::StatusOr<ExitStatus> status = child->Wait();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->ShellCode(), 0);
}

}  // namespace
}  // namespace cmsg::sandbox
