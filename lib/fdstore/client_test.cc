// The client against a hostile or broken server: a fake server on a thread
// that answers one request with a crafted record. Whatever it sends, the
// client returns an error and keeps no fd.
#include "lib/fdstore/client.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/net/socket_address.h"

namespace cmsg::fdstore {
namespace {

using ::testing::HasSubstr;

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

// Listens at a fresh path; Answer() serves one connection with `reply`.
class FakeServer {
 public:
  FakeServer() {
    char dir[] = "/tmp/fdstore_fake.XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/ctl";
    listener_.reset(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    auto address = SocketAddress::Unix(path_);
    EXPECT_EQ(bind(listener_.get(), address->addr(), address->size()), 0);
    EXPECT_EQ(listen(listener_.get(), 4), 0);
  }
  ~FakeServer() {
    if (thread_.joinable()) thread_.join();
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  int listener() const { return listener_.get(); }

  // `reply(conn)` runs after the request arrived.
  void Answer(std::function<void(int)> reply) {
    thread_ = std::thread([this, reply] {
      UniqueFd conn(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      char request[kMaxMessageSize];
      ASSERT_GT(recv(conn.get(), request, sizeof(request), 0), 0);
      reply(conn.get());
    });
  }

 private:
  std::string dir_, path_;
  UniqueFd listener_;
  std::thread thread_;
};

void SendReply(int conn, const Message& m, absl::Span<const int> fds = {}) {
  absl::StatusOr<std::string> bytes = Encode(m);
  ASSERT_TRUE(bytes.ok());
  if (fds.empty()) {
    ASSERT_TRUE(SendMsg(conn, *bytes, {}).ok());
  } else {
    ASSERT_TRUE(SendMsg(conn, *bytes, {ScmRights{fds}}).ok());
  }
}

class ClientTest : public ::testing::Test {
 protected:
  absl::Status FetchFrom(FakeServer& server, absl::Duration timeout = absl::Seconds(5)) {
    ClientOptions options;
    options.timeout = timeout;
    auto client = Client::Connect(server.path(), options);
    if (!client.ok()) return client.status();
    return client->Fetch({"a", "b"}).status();
  }
  const int fds_before_ = OpenFds();
  void TearDown() override { EXPECT_EQ(OpenFds(), fds_before_) << "the client kept an fd"; }
};

TEST_F(ClientTest, FewerFdsThanNamesIsDataLoss) {
  FakeServer server;
  server.Answer([](int conn) {
    UniqueFd one(open("/dev/null", O_RDONLY | O_CLOEXEC));
    int fds[] = {one.get()};
    SendReply(conn, {Type::kOk, Code::kOk, {"a", "b"}}, fds);
  });
  absl::Status s = FetchFrom(server);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("names 2 fds but carries 1"));
}

TEST_F(ClientTest, OtherNamesThanAskedIsDataLoss) {
  FakeServer server;
  server.Answer([](int conn) {
    UniqueFd f1(open("/dev/null", O_RDONLY | O_CLOEXEC));
    UniqueFd f2(open("/dev/null", O_RDONLY | O_CLOEXEC));
    int fds[] = {f1.get(), f2.get()};
    SendReply(conn, {Type::kOk, Code::kOk, {"b", "a"}}, fds);
  });
  EXPECT_EQ(FetchFrom(server).code(), absl::StatusCode::kDataLoss);
}

TEST_F(ClientTest, FdsWithAListReplyAreRefusedAndClosed) {
  FakeServer server;
  server.Answer([](int conn) {
    UniqueFd f(open("/dev/null", O_RDONLY | O_CLOEXEC));
    int fds[] = {f.get()};
    SendReply(conn, {Type::kOk, Code::kOk, {}}, fds);
  });
  auto client = Client::Connect(server.path());
  ASSERT_TRUE(client.ok());
  absl::StatusOr<std::vector<ListEntry>> list = client->List();
  EXPECT_EQ(list.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(list.status().message(), HasSubstr("server sent 1 fds with a LIST reply"));
}

TEST_F(ClientTest, GarbageReplyIsAnError) {
  FakeServer server;
  server.Answer([](int conn) { ASSERT_EQ(send(conn, "\x01\x80\x05", 3, 0), 3); });
  absl::Status s = FetchFrom(server);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("shorter than the 8-byte header"));
}

TEST_F(ClientTest, HangUpWithoutReplyIsUnavailable) {
  FakeServer server;
  server.Answer([](int) {});
  absl::Status s = FetchFrom(server);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("hung up without a reply"));
}

TEST_F(ClientTest, SilenceIsDeadlineExceeded) {
  FakeServer server;
  int wake[2];
  ASSERT_EQ(pipe2(wake, O_CLOEXEC), 0);
  server.Answer([&](int) {
    char c;
    // Hold the connection until the client gave up; the test's end wakes us.
    EXPECT_EQ(read(wake[0], &c, 1), 1);
  });
  absl::Status s = FetchFrom(server, absl::Milliseconds(100));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_EQ(write(wake[1], "x", 1), 1);
  close(wake[0]);
  close(wake[1]);
}

TEST_F(ClientTest, ErrorRepliesBecomeStatuses) {
  FakeServer server;
  server.Answer([](int conn) {
    SendReply(conn, {Type::kError, Code::kFull, {"the store holds 128 fds"}});
  });
  absl::Status s = FetchFrom(server);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("FULL: the store holds 128 fds"));
}

// A server from before the LAST flag answers it with BAD_REQUEST; FetchOnce
// asks again, on a new connection, without it.
TEST(FetchOnceTest, FallsBackForAServerWithoutTheLastFlag) {
  FakeServer server;
  std::vector<uint32_t> codes;
  std::thread old_server([&] {
    for (int i = 0; i < 2; ++i) {
      UniqueFd conn(accept4(server.listener(), nullptr, nullptr, SOCK_CLOEXEC));
      char request[kMaxMessageSize];
      const ssize_t n = recv(conn.get(), request, sizeof(request), 0);
      ASSERT_GT(n, 0);
      absl::StatusOr<Message> m = Decode(absl::string_view(request, n));
      ASSERT_TRUE(m.ok());
      codes.push_back(static_cast<uint32_t>(m->code));
      if (m->code != Code::kOk) {
        SendReply(conn.get(), {Type::kError, Code::kBadRequest, {"requests carry code 0"}});
      } else {
        UniqueFd file(open("/dev/null", O_RDONLY | O_CLOEXEC));
        const int fds[] = {file.get()};
        SendReply(conn.get(), {Type::kOk, Code::kOk, {"web"}}, fds);
      }
    }
  });
  const std::string names[] = {"web"};
  auto fetched = Client::FetchOnce(server.path(), names);
  old_server.join();
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ASSERT_EQ(fetched->size(), 1u);
  EXPECT_EQ((*fetched)[0].name, "web");
  EXPECT_EQ(codes, (std::vector<uint32_t>{kLastRequest, 0}));
}

}  // namespace
}  // namespace cmsg::fdstore
