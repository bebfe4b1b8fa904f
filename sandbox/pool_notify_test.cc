// NotifySocket's files: created in a private directory under $TMPDIR and
// removed again, but only they: a root worker_pool must not follow a
// symlink planted in their place to remove someone else's file.
#include "sandbox/pool_notify.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace cmsg::sandbox {
namespace {

std::string MakeTempDir() {
  char templ[] = "/tmp/pool_notify_test.XXXXXX";
  EXPECT_NE(mkdtemp(templ), nullptr);
  return templ;
}

TEST(NotifySocketTest, RemovesItsSocketAndDirectory) {
  const std::string tmp = MakeTempDir();
  ASSERT_EQ(setenv("TMPDIR", tmp.c_str(), 1), 0);
  std::string path;
  {
    absl::StatusOr<NotifySocket> s = NotifySocket::Create();
    ASSERT_TRUE(s.ok()) << s.status();
    path = s->path();
    struct stat st;
    ASSERT_EQ(lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0666u);
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0);
  EXPECT_NE(access(path.substr(0, path.rfind('/')).c_str(), F_OK), 0);
  EXPECT_EQ(rmdir(tmp.c_str()), 0);
}

TEST(NotifySocketTest, DoesNotFollowASymlinkPlantedInPlaceOfItsDirectory) {
  const std::string tmp = MakeTempDir();
  const std::string victim = MakeTempDir();
  const std::string victim_file = victim + "/notify";
  FILE* f = fopen(victim_file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  ASSERT_EQ(setenv("TMPDIR", tmp.c_str(), 1), 0);
  std::string dir;
  {
    absl::StatusOr<NotifySocket> s = NotifySocket::Create();
    ASSERT_TRUE(s.ok()) << s.status();
    dir = s->path().substr(0, s->path().rfind('/'));
    // Whoever can write $TMPDIR moves the directory away and leaves a
    // symlink to another one in its place.
    ASSERT_EQ(rename(dir.c_str(), (dir + ".moved").c_str()), 0);
    ASSERT_EQ(symlink(victim.c_str(), dir.c_str()), 0);
  }
  EXPECT_EQ(access(victim_file.c_str(), F_OK), 0) << "removed through the symlink";
  unlink(victim_file.c_str());
  rmdir(victim.c_str());
  unlink(dir.c_str());
  unlink((dir + ".moved/notify").c_str());
  rmdir((dir + ".moved").c_str());
  rmdir(tmp.c_str());
}

// A directory others may write without the sticky bit lets them rename the
// socket's directory and leave a symlink in its place; the sandboxes bind
// the socket by path, so every later worker would get what they chose.
TEST(NotifySocketTest, RefusesATmpdirOthersCanRenameEntriesIn) {
  const std::string tmp = MakeTempDir();
  const std::string open_dir = tmp + "/open";
  const std::string below = open_dir + "/below";
  const std::string sticky = tmp + "/sticky";
  ASSERT_EQ(mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(below.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(sticky.c_str(), 0700), 0);
  ASSERT_EQ(chmod(open_dir.c_str(), 0777), 0);
  ASSERT_EQ(chmod(sticky.c_str(), 01777), 0);
  for (const std::string& unsafe : {open_dir, below}) {
    ASSERT_EQ(setenv("TMPDIR", unsafe.c_str(), 1), 0);
    absl::StatusOr<NotifySocket> s = NotifySocket::Create();
    EXPECT_FALSE(s.ok()) << unsafe;
    EXPECT_NE(s.status().message().find(open_dir), std::string::npos) << s.status();
  }
  ASSERT_EQ(setenv("TMPDIR", sticky.c_str(), 1), 0);
  {
    absl::StatusOr<NotifySocket> s = NotifySocket::Create();
    EXPECT_TRUE(s.ok()) << s.status();
  }
  rmdir(below.c_str());
  rmdir(open_dir.c_str());
  rmdir(sticky.c_str());
  rmdir(tmp.c_str());
}

}  // namespace
}  // namespace cmsg::sandbox
