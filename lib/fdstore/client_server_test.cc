// Client and Server in one process (the server on a thread), over a real
// control socket.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fdstore/client.h"
#include "lib/fdstore/control_socket.h"
#include "lib/fdstore/server.h"
#include "lib/net/socket_address.h"

namespace cmsg::fdstore {
namespace {

using ::testing::HasSubstr;

ino_t InodeOf(int fd) {
  struct stat st;
  EXPECT_EQ(fstat(fd, &st), 0);
  return st.st_ino;
}

class ClientServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/fdstore_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/ctl";
  }
  void TearDown() override {
    StopServer();
    unlink(path_.c_str());
    unlink((dir_ + "/file").c_str());
    rmdir(dir_.c_str());
  }

  // Creates the server (its socket listens from here on) and, if `run`,
  // runs it on a thread; RunServer() runs one created with run = false.
  void StartServer(std::vector<NamedFd> initial = {}, int max_clients = 64, bool run = true) {
    stop_ = UniqueFd(eventfd(0, EFD_CLOEXEC));
    ServerOptions options;
    options.socket_path = path_;
    options.max_clients = max_clients;
    options.stop_fd = stop_.get();
    auto server = Server::Create(std::move(options), std::move(initial));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    if (run) RunServer();
  }
  void RunServer() {
    thread_ = std::thread([this] { EXPECT_TRUE(server_->Run().ok()); });
  }
  void StopServer() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    ASSERT_EQ(write(stop_.get(), &one, sizeof(one)), 8);
    thread_.join();
    server_.reset();
  }

  std::string dir_, path_;
  UniqueFd stop_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

TEST_F(ClientServerTest, StoreFetchListRemove) {
  UniqueFd sock(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock.ok());
  std::vector<NamedFd> initial;
  initial.push_back({"web", std::move(sock)});
  const ino_t web_inode = InodeOf(initial[0].fd.get());
  StartServer(std::move(initial));

  auto client = Client::Connect(path_);
  ASSERT_TRUE(client.ok()) << client.status();
  UniqueFd file(open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(client->Store({"null"}, {file.get()}).ok());

  auto all = client->Fetch();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "web");
  EXPECT_EQ(InodeOf((*all)[0].fd.get()), web_inode);
  EXPECT_EQ((*all)[1].name, "null");
  EXPECT_EQ(InodeOf((*all)[1].fd.get()), InodeOf(file.get()));
  EXPECT_EQ(fcntl((*all)[1].fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  auto list = client->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].kind, "tcp");
  EXPECT_EQ((*list)[1].kind, "char");
  EXPECT_EQ((*list)[1].address, "-");

  ASSERT_TRUE(client->Remove({"web"}).ok());
  absl::StatusOr<std::vector<NamedFd>> gone = client->Fetch({"web"});
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(gone.status().message(), HasSubstr("no fd named \"web\""));
  // The connection stays usable after a NOT_FOUND.
  EXPECT_EQ(client->Fetch({"null"})->size(), 1u);
}

TEST_F(ClientServerTest, BadNamesAreRefusedAndTheServerHangsUp) {
  StartServer();
  auto client = Client::Connect(path_);
  ASSERT_TRUE(client.ok());
  UniqueFd file(open("/dev/null", O_RDONLY | O_CLOEXEC));
  absl::Status s = client->Store({"a:b"}, {file.get()});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("BAD_REQUEST"));
  EXPECT_FALSE(client->List().ok());
  // A new connection is served.
  EXPECT_TRUE(Client::Connect(path_)->List().ok());
}

TEST_F(ClientServerTest, ClientsThatHungUpDoNotFillTheServer) {
  // The server answers a new client's request right after accepting it; the
  // previous clients' hang-ups are only seen by a later poll. They must be
  // reaped before anyone is told BUSY.
  StartServer({}, /*max_clients=*/2);
  for (int i = 0; i < 200; ++i) {
    auto client = Client::Connect(path_);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<std::vector<ListEntry>> list = client->List();
    ASSERT_TRUE(list.ok()) << "client " << i << ": " << list.status();
  }
}

TEST_F(ClientServerTest, ABurstOfConnectsUpToTheClientCapIsQueuedNotRefused) {
  // A unix socket connect does not wait for a full backlog: it fails with
  // EAGAIN at once. Clients arriving together (instances started at once,
  // a store restarted under load) must find room up to --max_clients.
  constexpr int kBurst = 400;  // past the old backlog of 128; two fds each here
  StartServer({}, /*max_clients=*/kBurst + 8);
  auto address = SocketAddress::Unix(path_);
  ASSERT_TRUE(address.ok());
  std::vector<UniqueFd> held;
  int refused = 0;
  for (int i = 0; i < kBurst; ++i) {
    UniqueFd c(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    ASSERT_TRUE(c.ok());
    if (connect(c.get(), address->addr(), address->size()) < 0) {
      ASSERT_EQ(errno, EAGAIN) << strerror(errno);
      ++refused;
      continue;
    }
    held.push_back(std::move(c));
  }
  EXPECT_EQ(refused, 0) << "of " << kBurst << " connects at once";
  // With all of them in, the store still answers a newcomer.
  auto client = Client::Connect(path_);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(client->List().ok());
}

TEST_F(ClientServerTest, AFullTableIsFetchedInAnyOrderWithRepeats) {
  // The server's reply is built from its own entries in the order asked,
  // a name asked twice giving the fd twice; a 129th store is FULL.
  std::vector<NamedFd> initial;
  std::vector<ino_t> inode;
  for (size_t i = 0; i < kMaxNames; ++i) {
    UniqueFd fd(memfd_create("entry", MFD_CLOEXEC));
    ASSERT_TRUE(fd.ok());
    inode.push_back(InodeOf(fd.get()));
    initial.push_back({absl::StrCat("e", i), std::move(fd)});
  }
  StartServer(std::move(initial));
  auto client = Client::Connect(path_);
  ASSERT_TRUE(client.ok()) << client.status();

  std::vector<std::string> reversed;
  for (size_t i = kMaxNames; i-- > 0;) reversed.push_back(absl::StrCat("e", i));
  auto all = client->Fetch(reversed);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), kMaxNames);
  for (size_t k = 0; k < kMaxNames; ++k) {
    EXPECT_EQ((*all)[k].name, reversed[k]);
    EXPECT_EQ(InodeOf((*all)[k].fd.get()), inode[kMaxNames - 1 - k]) << k;
  }

  auto repeats = client->Fetch({"e5", "e127", "e5"});
  ASSERT_TRUE(repeats.ok()) << repeats.status();
  ASSERT_EQ(repeats->size(), 3u);
  EXPECT_EQ(InodeOf((*repeats)[0].fd.get()), inode[5]);
  EXPECT_EQ(InodeOf((*repeats)[1].fd.get()), inode[127]);
  EXPECT_EQ(InodeOf((*repeats)[2].fd.get()), inode[5]);
  EXPECT_NE((*repeats)[0].fd.get(), (*repeats)[2].fd.get());

  UniqueFd extra(memfd_create("extra", MFD_CLOEXEC));
  ASSERT_TRUE(extra.ok());
  absl::Status full = client->Store({"e128"}, {extra.get()});
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  // Nothing changed: the table still answers for its 128 names only.
  EXPECT_EQ(client->Fetch({"e128"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->Fetch()->size(), kMaxNames);
}

TEST_F(ClientServerTest, QueuedLastFetchesAreAllServed) {
  // Fetches flagged LAST (answered, then closed at once) queued before the
  // server runs, with a silent client that stays open among them: a round
  // ends after an accept that leaves no connection open, so the following
  // rounds must take the rest, none left waiting for its reply.
  std::vector<NamedFd> initial;
  initial.push_back({"web", UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC))});
  StartServer(std::move(initial), /*max_clients=*/64, /*run=*/false);
  constexpr int kFetchers = 40;
  std::atomic<int> served{0};
  std::vector<std::thread> fetchers;
  absl::StatusOr<Client> silent = absl::UnknownError("not connected");
  for (int i = 0; i < kFetchers; ++i) {
    if (i == kFetchers / 2) silent = Client::Connect(path_);
    fetchers.emplace_back([&] {
      absl::StatusOr<std::vector<NamedFd>> fds = Client::FetchOnce(path_, {"web"});
      if (fds.ok() && fds->size() == 1 && fds->front().fd.ok()) ++served;
    });
  }
  ASSERT_TRUE(silent.ok()) << silent.status();
  absl::SleepFor(absl::Milliseconds(300));  // the fetchers connect and send
  RunServer();
  for (std::thread& t : fetchers) t.join();
  EXPECT_EQ(served.load(), kFetchers);
  // The silent client is still served when it speaks.
  EXPECT_TRUE(silent->List().ok());
}

TEST_F(ClientServerTest, ClientRefusesAServerOfAnotherUid) {
  StartServer();
  ClientOptions options;
  options.server_uid = geteuid() + 1;
  // Checked before the first reply is read, and before any fd is sent.
  for (bool with_fd : {false, true}) {
    auto client = Client::Connect(path_, options);
    ASSERT_TRUE(client.ok()) << client.status();
    UniqueFd file(open("/dev/null", O_RDONLY | O_CLOEXEC));
    absl::Status s = with_fd ? client->Store({"x"}, {file.get()}) : client->List().status();
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
    EXPECT_THAT(s.message(), HasSubstr("does not trust"));
  }
  EXPECT_TRUE(server_->table().entries().empty());
}

TEST_F(ClientServerTest, ControlSocketIsPrivateAndRemovedOnStop) {
  StartServer();
  struct stat st;
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  StopServer();
  EXPECT_NE(lstat(path_.c_str(), &st), 0);
}

TEST_F(ClientServerTest, RefusesToReplaceALiveServer) {
  StartServer();
  auto second = ControlSocket::Listen(path_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(Client::Connect(path_)->List().ok());
}

TEST(ControlSocketTest, TakeoverRules) {
  char dir[] = "/tmp/fdstore_ctl.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/ctl";
  // A regular file is never replaced.
  { std::ofstream(path) << "keep me"; }
  auto s = ControlSocket::Listen(path);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("not a socket"));
  ASSERT_EQ(unlink(path.c_str()), 0);
  // A stale socket of ours (what a crashed server leaves: the inode, no
  // listener) is replaced.
  {
    UniqueFd crashed(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    auto address = SocketAddress::Unix(path);
    ASSERT_TRUE(address.ok());
    ASSERT_EQ(bind(crashed.get(), address->addr(), address->size()), 0);
  }
  auto stale = ControlSocket::Listen(path);
  ASSERT_TRUE(stale.ok()) << stale.status();
  stale->Unlink();
  struct stat st;
  EXPECT_NE(lstat(path.c_str(), &st), 0);
  rmdir(dir);
}

TEST(ControlSocketTest, ALiveServerWithAFullBacklogIsNotWaitedFor) {
  char dir[] = "/tmp/fdstore_ctl.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/ctl";
  auto address = SocketAddress::Unix(path);
  ASSERT_TRUE(address.ok());
  UniqueFd busy(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  ASSERT_EQ(bind(busy.get(), address->addr(), address->size()), 0);
  ASSERT_EQ(listen(busy.get(), 0), 0);
  std::vector<UniqueFd> queued;
  while (true) {  // fill the backlog: nobody accepts
    UniqueFd c(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (connect(c.get(), address->addr(), address->size()) < 0) {
      ASSERT_EQ(errno, EAGAIN);
      break;
    }
    queued.push_back(std::move(c));
    ASSERT_LT(queued.size(), 100u);
  }
  auto s = ControlSocket::Listen(path);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kAlreadyExists) << s.status();
  unlink(path.c_str());
  rmdir(dir);
}

TEST(ControlSocketTest, DoesNotUnlinkAPathThatIsNoLongerOurs) {
  char dir[] = "/tmp/fdstore_ctl.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/ctl";
  auto s = ControlSocket::Listen(path);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(unlink(path.c_str()), 0);
  { std::ofstream(path) << "successor"; }
  s->Unlink();
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0);
  unlink(path.c_str());
  rmdir(dir);
}

TEST_F(ClientServerTest, ConnectWaitsForAStoreThatComesLate) {
  // No wait: the missing socket is an error at once.
  auto early = Client::Connect(path_);
  ASSERT_FALSE(early.ok());
  EXPECT_THAT(early.status().message(), HasSubstr("ENOENT"));
  std::thread late([this] {
    absl::SleepFor(absl::Milliseconds(300));
    StartServer();
  });
  ClientOptions options;
  options.wait = absl::Seconds(20);
  auto client = Client::Connect(path_, options);
  late.join();
  ASSERT_TRUE(client.ok()) << client.status();
  auto list = client->List();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->empty());
}

TEST_F(ClientServerTest, ConnectWaitIsBounded) {
  const absl::Time start = absl::Now();
  ClientOptions options;
  options.wait = absl::Milliseconds(200);
  auto client = Client::Connect(path_, options);
  ASSERT_FALSE(client.ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_THAT(client.status().message(), HasSubstr("after waiting 200ms: ENOENT"));
}

}  // namespace
}  // namespace cmsg::fdstore
