// Hand-offs per second: a new client connects and fetches N named listening
// sockets, for N = 1 and 16, through //lib/fdstore (Client::Connect +
// Fetch against a Server) and through the hand-written CMSG_* equivalent
// (raw_handoff.cc), side by side with their ratio. Each server runs on its
// own thread; each figure is the median of 5 one-second runs.
//
//   tools/bazel run -c opt //tests/bench/fdstore:handoff_benchmark
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/fdstore/client.h"
#include "lib/fdstore/server.h"
#include "lib/net/socket_address.h"
#include "tests/bench/fdstore/raw_handoff.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "handoff_benchmark: %s\n", what.c_str());
  exit(1);
}

std::vector<cmsg::UniqueFd> TcpListeners(int n) {
  std::vector<cmsg::UniqueFd> out;
  for (int i = 0; i < n; ++i) {
    cmsg::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd.ok() || bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 ||
        listen(fd.get(), 16) < 0) {
      Die("cannot create a TCP listener");
    }
    out.push_back(std::move(fd));
  }
  return out;
}

// Hand-offs per second: the median of `runs` runs of about a second each.
double Rate(const std::function<void()>& handoff, int runs = 5) {
  for (int i = 0; i < 200; ++i) handoff();  // warm up
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const auto start = Clock::now();
    long n = 0;
    std::chrono::duration<double> elapsed{};
    do {
      for (int i = 0; i < 100; ++i) handoff();
      n += 100;
      elapsed = Clock::now() - start;
    } while (elapsed.count() < 1.0);
    rates.push_back(n / elapsed.count());
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

class StopFd {
 public:
  StopFd() : fd_(eventfd(0, EFD_CLOEXEC)) {}
  int get() const { return fd_.get(); }
  void Signal() {
    uint64_t one = 1;
    if (write(fd_.get(), &one, sizeof(one)) != sizeof(one)) Die("eventfd write");
  }

 private:
  cmsg::UniqueFd fd_;
};

double FdstoreRate(const std::string& dir, int n) {
  const std::string path = dir + "/fdstore.sock";
  std::vector<cmsg::fdstore::NamedFd> initial;
  std::vector<std::string> names;
  for (cmsg::UniqueFd& fd : TcpListeners(n)) {
    names.push_back(absl::StrCat("listener", names.size()));
    initial.push_back({names.back(), std::move(fd)});
  }
  StopFd stop;
  cmsg::fdstore::ServerOptions options;
  options.socket_path = path;
  options.stop_fd = stop.get();
  auto server = cmsg::fdstore::Server::Create(std::move(options), std::move(initial));
  if (!server.ok()) Die(std::string(server.status().message()));
  std::thread thread([&] {
    if (absl::Status s = (*server)->Run(); !s.ok()) Die(std::string(s.message()));
  });
  const double rate = Rate([&] {
    auto client = cmsg::fdstore::Client::Connect(path);
    if (!client.ok()) Die(std::string(client.status().message()));
    auto fds = client->Fetch(names);
    if (!fds.ok()) Die(std::string(fds.status().message()));
    if (static_cast<int>(fds->size()) != n) Die("fdstore fetch: wrong count");
  });
  stop.Signal();
  thread.join();
  return rate;
}

double RawRate(const std::string& dir, int n) {
  const std::string path = dir + "/raw.sock";
  std::vector<cmsg::UniqueFd> owned = TcpListeners(n);
  std::vector<int> fds;
  for (const cmsg::UniqueFd& fd : owned) fds.push_back(fd.get());
  cmsg::UniqueFd listener(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  auto address = cmsg::SocketAddress::Unix(path);
  if (!listener.ok() || !address.ok() ||
      bind(listener.get(), address->addr(), address->size()) < 0 ||
      listen(listener.get(), 128) < 0) {
    Die("cannot create the raw control socket");
  }
  StopFd stop;
  std::thread thread([&] {
    if (RawServe(listener.get(), stop.get(), fds) < 0) Die("raw server failed");
  });
  const double rate = Rate([&] {
    if (RawFetch(path.c_str(), n) < 0) Die("raw fetch failed");
  });
  stop.Signal();
  thread.join();
  unlink(path.c_str());
  return rate;
}

}  // namespace

int main() {
  char dir[] = "/tmp/fdstore_bench.XXXXXX";
  if (mkdtemp(dir) == nullptr) Die("mkdtemp failed");
  printf("Hand-offs per second: a new client connects and fetches N listening\n"
         "sockets (median of 5 one-second runs, servers on their own thread).\n\n");
  printf("%4s  %14s  %18s  %12s\n", "N", "fdstore/s", "raw CMSG_* C/s", "fdstore/raw");
  for (int n : {1, 16}) {
    const double ours = FdstoreRate(dir, n);
    const double raw = RawRate(dir, n);
    printf("%4d  %14.0f  %18.0f  %12.2f\n", n, ours, raw, ours / raw);
    fflush(stdout);
  }
  rmdir(dir);
  return 0;
}
