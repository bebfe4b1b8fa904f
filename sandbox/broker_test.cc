// The broker's policy checks and path resolution, in process, over a real
// socketpair with the C++ client.
#include "sandbox/broker.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"
#include "sandbox/broker_client.h"
#include "sandbox/broker_protocol.h"

namespace cmsg::sandbox {
namespace {

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/broker.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    Mkdir("allowed");
    Mkdir("allowed/sub");
    Mkdir("writable");
    Mkdir("outside");
    Write("allowed/sub/file", "inside");
    Write("allowed/one", "one");
    Write("outside/file", "outside");
    Write("secret", "secret");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string Path(const std::string& rel) const { return root_ + "/" + rel; }
  void Mkdir(const std::string& rel) { ASSERT_EQ(mkdir(Path(rel).c_str(), 0755), 0); }
  void Write(const std::string& rel, const std::string& content) {
    std::ofstream(Path(rel)) << content;
  }

  Broker Make(std::vector<BrokerRule> rules) {
    absl::StatusOr<Broker> broker = Broker::Create(rules);
    EXPECT_TRUE(broker.ok()) << broker.status();
    return std::move(*broker);
  }

  // The errno of a refused open, or the file's content.
  static std::string Result(const absl::StatusOr<UniqueFd>& fd) {
    if (!fd.ok()) return strerrorname_np(ErrnoOf(fd.status()));
    char buf[64];
    ssize_t n = pread(fd->get(), buf, sizeof(buf), 0);
    return n < 0 ? "unreadable" : std::string(buf, n);
  }

  std::string root_;
};

TEST_F(BrokerTest, OpensWhatADirectoryRuleAllows) {
  Broker broker = Make({{Path("allowed"), false}});
  EXPECT_EQ(Result(broker.Open(Path("allowed/sub/file"), O_RDONLY, 0)), "inside");
  EXPECT_EQ(Result(broker.Open(Path("allowed/one"), O_RDONLY, 0)), "one");
}

TEST_F(BrokerTest, RefusesPathsNoRuleCovers) {
  Broker broker = Make({{Path("allowed"), false}});
  EXPECT_EQ(Result(broker.Open(Path("secret"), O_RDONLY, 0)), "EACCES");
  // A sibling whose name merely starts with the rule's.
  Mkdir("allowed2");
  Write("allowed2/x", "x");
  EXPECT_EQ(Result(broker.Open(Path("allowed2/x"), O_RDONLY, 0)), "EACCES");
  EXPECT_EQ(Result(broker.Open("relative/path", O_RDONLY, 0)), "EACCES");
}

TEST_F(BrokerTest, RefusesDotDot) {
  Broker broker = Make({{Path("allowed"), false}});
  EXPECT_EQ(Result(broker.Open(Path("allowed/../secret"), O_RDONLY, 0)), "EACCES");
  EXPECT_EQ(Result(broker.Open(Path("allowed/sub/../one"), O_RDONLY, 0)), "EACCES");
  EXPECT_EQ(Result(broker.Open(Path("allowed/./one"), O_RDONLY, 0)), "EACCES");
}

TEST_F(BrokerTest, RefusesSymlinksOutOfTheTree) {
  ASSERT_EQ(symlink(Path("secret").c_str(), Path("allowed/absolute").c_str()), 0);
  ASSERT_EQ(symlink("../secret", Path("allowed/relative").c_str()), 0);
  ASSERT_EQ(symlink("/proc/self/root/etc/hostname", Path("allowed/magic").c_str()), 0);
  ASSERT_EQ(symlink("sub/file", Path("allowed/inner").c_str()), 0);
  Broker broker = Make({{Path("allowed"), false}});
  EXPECT_EQ(Result(broker.Open(Path("allowed/absolute"), O_RDONLY, 0)), "EXDEV");
  EXPECT_EQ(Result(broker.Open(Path("allowed/relative"), O_RDONLY, 0)), "EXDEV");
  EXPECT_EQ(Result(broker.Open(Path("allowed/magic"), O_RDONLY, 0)), "EXDEV");
  // A symlink that stays inside is fine.
  EXPECT_EQ(Result(broker.Open(Path("allowed/inner"), O_RDONLY, 0)), "inside");
}

TEST_F(BrokerTest, FileRuleAllowsOnlyThatFileAndNoSymlink) {
  ASSERT_EQ(symlink(Path("secret").c_str(), Path("allowed/link").c_str()), 0);
  Broker broker = Make({{Path("allowed/one"), false}});
  EXPECT_EQ(Result(broker.Open(Path("allowed/one"), O_RDONLY, 0)), "one");
  EXPECT_EQ(Result(broker.Open(Path("allowed/sub/file"), O_RDONLY, 0)), "EACCES");
  // A rule naming a symlink is refused when the broker starts.
  absl::StatusOr<Broker> linked = Broker::Create({{Path("allowed/link"), false}});
  ASSERT_FALSE(linked.ok());
  EXPECT_EQ(ErrnoOf(linked.status()), ELOOP);
}

TEST_F(BrokerTest, WritesNeedAWritableRule) {
  Broker broker = Make({{Path("allowed"), false}, {Path("writable"), true}});
  EXPECT_EQ(Result(broker.Open(Path("allowed/new"), O_WRONLY | O_CREAT, 0644)), "EACCES");
  EXPECT_EQ(Result(broker.Open(Path("allowed/one"), O_RDWR, 0)), "EACCES");
  EXPECT_EQ(Result(broker.Open(Path("allowed/one"), O_RDONLY | O_TRUNC, 0)), "EACCES");
  absl::StatusOr<UniqueFd> fd = broker.Open(Path("writable/new"), O_WRONLY | O_CREAT, 0666);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(write(fd->get(), "w", 1), 1);
  EXPECT_EQ(access(Path("writable/new").c_str(), F_OK), 0);
}

TEST_F(BrokerTest, MoreSpecificRuleWins) {
  Broker broker = Make({{Path("allowed"), true}, {Path("allowed/sub"), false}});
  EXPECT_EQ(Result(broker.Open(Path("allowed/one"), O_RDWR, 0)), "one");
  EXPECT_EQ(Result(broker.Open(Path("allowed/sub/file"), O_RDWR, 0)), "EACCES");
}

TEST_F(BrokerTest, RefusesUnknownFlags) {
  Broker broker = Make({{Path("allowed"), true}});
  EXPECT_EQ(Result(broker.Open(Path("allowed/one"), O_PATH, 0)), "EINVAL");
  EXPECT_EQ(Result(broker.Open(Path("allowed"), O_TMPFILE | O_RDWR, 0600)), "EINVAL");
}

// A directory fd would let the command walk out of its own root:
// openat(dirfd, "..") resolves on the host, past the sandbox's mounts.
TEST_F(BrokerTest, RefusesDirectories) {
  Broker broker = Make({{Path("allowed"), true}});
  EXPECT_EQ(Result(broker.Open(Path("allowed"), O_RDONLY, 0)), "EISDIR");
  EXPECT_EQ(Result(broker.Open(Path("allowed/sub"), O_RDONLY, 0)), "EISDIR");
  EXPECT_EQ(Result(broker.Open(Path("allowed/sub"), O_RDONLY | O_DIRECTORY, 0)), "EISDIR");
  Broker file_rule = Make({{Path("allowed/sub"), false}});
  EXPECT_EQ(Result(file_rule.Open(Path("allowed/sub"), O_RDONLY, 0)), "EISDIR");
}

// A FIFO would block the broker thread in open() forever (and the launcher
// with it, when it joins the thread); only regular files are handed out.
TEST_F(BrokerTest, RefusesFifosWithoutBlocking) {
  ASSERT_EQ(mkfifo(Path("allowed/fifo").c_str(), 0666), 0);
  Broker broker = Make({{Path("allowed"), true}});
  EXPECT_EQ(Result(broker.Open(Path("allowed/fifo"), O_RDONLY, 0)), "EACCES");
  // Without a reader, opening for writing fails at once (ENXIO).
  std::string write_result = Result(broker.Open(Path("allowed/fifo"), O_WRONLY, 0));
  EXPECT_TRUE(write_result == "ENXIO" || write_result == "EACCES") << write_result;
}

TEST_F(BrokerTest, HandedOutFdKeepsTheRequestedStatusFlags) {
  Broker broker = Make({{Path("allowed"), false}});
  absl::StatusOr<UniqueFd> fd = broker.Open(Path("allowed/one"), O_RDONLY, 0);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(fcntl(fd->get(), F_GETFL) & O_NONBLOCK, 0);
  fd = broker.Open(Path("allowed/one"), O_RDONLY | O_NONBLOCK, 0);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_NE(fcntl(fd->get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST_F(BrokerTest, MissingRulePathIsAnError) {
  absl::StatusOr<Broker> broker = Broker::Create({{Path("nope"), false}});
  ASSERT_FALSE(broker.ok());
  EXPECT_EQ(ErrnoOf(broker.status()), ENOENT);
  EXPECT_FALSE(Broker::Create({{"relative", false}}).ok());
}

// A thread keeps swapping allowed/sub between the real directory and a
// symlink to outside/ while requests are in flight: every open either fails
// or yields the inside file, never the outside one.
TEST_F(BrokerTest, PathSwappedForSymlinkMidRequestNeverEscapes) {
  ASSERT_EQ(rename(Path("allowed/sub").c_str(), Path("allowed/real").c_str()), 0);
  ASSERT_EQ(symlink(Path("outside").c_str(), Path("allowed/evil").c_str()), 0);
  ASSERT_EQ(symlink("real", Path("allowed/good").c_str()), 0);
  ASSERT_EQ(symlink("real", Path("allowed/sub").c_str()), 0);
  Broker broker = Make({{Path("allowed"), false}});
  std::atomic<bool> stop{false};
  std::atomic<int> swaps{0};
  std::thread swapper([&] {
    const std::string sub = Path("allowed/sub");
    while (!stop) {
      // rename(2) over a symlink is atomic: "sub" always exists.
      EXPECT_EQ(symlink(Path("outside").c_str(), Path("allowed/tmp").c_str()), 0);
      EXPECT_EQ(rename(Path("allowed/tmp").c_str(), sub.c_str()), 0);
      EXPECT_EQ(symlink("real", Path("allowed/tmp").c_str()), 0);
      EXPECT_EQ(rename(Path("allowed/tmp").c_str(), sub.c_str()), 0);
      ++swaps;
    }
  });
  while (swaps == 0) std::this_thread::yield();
  // At least 3000 requests, and on until both outcomes were seen (the
  // swapper may be descheduled for a while on a busy machine).
  int inside = 0, refused = 0;
  for (int i = 0; i < 3000 || ((inside == 0 || refused == 0) && i < 2'000'000); ++i) {
    std::string result = Result(broker.Open(Path("allowed/sub/file"), O_RDONLY, 0));
    ASSERT_NE(result, "outside") << "escaped on request " << i;
    if (result == "inside") {
      ++inside;
    } else {
      ASSERT_EQ(result, "EXDEV");
      ++refused;
    }
  }
  stop = true;
  swapper.join();
  EXPECT_GT(inside, 0);
  EXPECT_GT(refused, 0) << "the swap was never observed";
}

TEST_F(BrokerTest, ClientAndServerOverTheWire) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  absl::StatusOr<std::unique_ptr<BrokerServer>> server =
      BrokerServer::Start(Make({{Path("allowed"), false}}), UniqueFd(pair[0]));
  ASSERT_TRUE(server.ok()) << server.status();
  BrokerClient client{UniqueFd(pair[1])};
  EXPECT_EQ(Result(client.Open(Path("allowed/one"), O_RDONLY)), "one");
  absl::StatusOr<UniqueFd> denied = client.Open(Path("secret"), O_RDONLY);
  EXPECT_EQ(ErrnoOf(denied.status()), EACCES);
  EXPECT_NE(denied.status().message().find("broker open("), absl::string_view::npos);
  EXPECT_EQ(Result(client.Open(Path("allowed/one"), O_RDONLY)), "one");
}

// Raw datagrams a client in another language might get wrong.
TEST_F(BrokerTest, MalformedRequestsGetEinvalAndTheBrokerKeepsServing) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  absl::StatusOr<std::unique_ptr<BrokerServer>> server =
      BrokerServer::Start(Make({{Path("allowed"), false}}), UniqueFd(pair[0]));
  ASSERT_TRUE(server.ok());
  UniqueFd sock(pair[1]);
  auto reply_errno = [&]() {
    BrokerReply reply;
    EXPECT_EQ(recv(sock.get(), &reply, sizeof(reply), 0), static_cast<ssize_t>(sizeof(reply)));
    return reply.error;
  };
  // Too short to hold a header and a path.
  ASSERT_EQ(send(sock.get(), "abc", 3, 0), 3);
  EXPECT_EQ(reply_errno(), EINVAL);
  // A NUL inside the path.
  std::string request(sizeof(BrokerRequest), '\0');
  request += Path("allowed/one");
  request += std::string("\0x", 2);
  ASSERT_EQ(send(sock.get(), request.data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  EXPECT_EQ(reply_errno(), EINVAL);
  // Fds sent to the broker are refused (and dropped).
  int fds[] = {sock.get()};
  std::string good(sizeof(BrokerRequest), '\0');
  good += Path("allowed/one");
  ASSERT_TRUE(SendMsg(sock.get(), good, {ScmRights{fds}}).ok());
  EXPECT_EQ(reply_errno(), EINVAL);
  // Longer than PATH_MAX.
  std::string huge(sizeof(BrokerRequest) + 5000, 'a');
  ASSERT_EQ(send(sock.get(), huge.data(), huge.size(), 0), static_cast<ssize_t>(huge.size()));
  EXPECT_EQ(reply_errno(), ENAMETOOLONG);
  // Still serving.
  BrokerClient client{std::move(sock)};
  EXPECT_EQ(Result(client.Open(Path("allowed/one"), O_RDONLY)), "one");
}

}  // namespace
}  // namespace cmsg::sandbox
