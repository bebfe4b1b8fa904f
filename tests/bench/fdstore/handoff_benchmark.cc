// Hand-offs per second: a new client connects and fetches N named listening
// sockets, for N = 1 and 16, through //lib/fdstore (Client::FetchOnce
// against a Server) and through the hand-written CMSG_* equivalent
// (raw_handoff.cc), side by side with their ratio. Each server runs on its
// own thread; the cases take turns (median of 7 half-second turns each).
//
// Every N is measured three times, with the threads placed three ways,
// because where the scheduler puts them moves the rate by 2x here:
//   free     the scheduler's choice (the placement a user gets);
//   split    servers on one CPU, the client on another: every hand-off
//            waits on cross-CPU wake-ups (latency-bound);
//   one-cpu  all on one CPU: a hand-off costs the CPU time of both sides
//            (CPU-bound), so the ratio is the ratio of work done.
//
//   tools/bazel run -c opt //tests/bench/fdstore:handoff_benchmark
//
// --only=fdstore|raw|kept runs that case alone, for --seconds, with one
// --n and one --placement, and prints its rate: a loop to run under
// `perf record` or `strace -c`, one side at a time.
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gflags/gflags.h"
#include "lib/fdstore/client.h"
#include "lib/fdstore/server.h"
#include "lib/net/socket_address.h"
#include "tests/bench/fdstore/raw_handoff.h"

DEFINE_string(only, "", "run one case alone (fdstore, raw or kept), for profiling");
DEFINE_int32(n, 16, "with --only: fds per hand-off");
DEFINE_string(placement, "one-cpu", "with --only: free, split or one-cpu");
DEFINE_double(seconds, 5, "with --only: how long to run");

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

// Hand-offs per second of each of `handoffs`, measured in turns (A, B, A,
// B, ...) so both see the same machine load: the median of `runs` turns of
// `seconds` each.
std::vector<double> InterleavedRates(const std::vector<std::function<void()>>& handoffs,
                                     int runs = 7, double seconds = 0.5) {
  for (const auto& handoff : handoffs)
    for (int i = 0; i < 200; ++i) handoff();  // warm up
  std::vector<std::vector<double>> rates(handoffs.size());
  for (int r = 0; r < runs; ++r) {
    for (size_t h = 0; h < handoffs.size(); ++h) {
      const auto start = Clock::now();
      long n = 0;
      std::chrono::duration<double> elapsed{};
      do {
        for (int i = 0; i < 50; ++i) handoffs[h]();
        n += 50;
        elapsed = Clock::now() - start;
      } while (elapsed.count() < seconds);
      rates[h].push_back(n / elapsed.count());
    }
  }
  std::vector<double> medians;
  for (auto& v : rates) {
    std::sort(v.begin(), v.end());
    medians.push_back(v[v.size() / 2]);
  }
  return medians;
}

// A thread placement: the CPUs the client (the calling thread) and the
// server threads may run on.
struct Placement {
  const char* name;
  cpu_set_t client;
  cpu_set_t servers;
};

cpu_set_t OneCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return set;
}

// free, then split and one-cpu on the first two CPUs this process may use
// (split is left out, and says so, with only one).
std::vector<Placement> Placements() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) Die("sched_getaffinity failed");
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  std::vector<Placement> out = {{"free", allowed, allowed}};
  if (cpus.size() == 2) {
    out.push_back({"split", OneCpu(cpus[0]), OneCpu(cpus[1])});
  } else {
    printf("split: skipped, this process may use one CPU only\n");
  }
  out.push_back({"one-cpu", OneCpu(cpus[0]), OneCpu(cpus[0])});
  return out;
}

void PinThisThread(const cpu_set_t& set) {
  if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) Die("cannot pin a thread");
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

// A Server on its own thread holding n TCP listeners, and a hand-off
// through Client::Connect + Fetch of all n by name.
class FdstoreCase {
 public:
  FdstoreCase(const std::string& dir, int n, const cpu_set_t& cpus)
      : path_(dir + "/fdstore.sock"), n_(n) {
    std::vector<cmsg::fdstore::NamedFd> initial;
    for (cmsg::UniqueFd& fd : TcpListeners(n)) {
      names_.push_back(absl::StrCat("listener", names_.size()));
      initial.push_back({names_.back(), std::move(fd)});
    }
    cmsg::fdstore::ServerOptions options;
    options.socket_path = path_;
    options.stop_fd = stop_.get();
    auto server = cmsg::fdstore::Server::Create(std::move(options), std::move(initial));
    if (!server.ok()) Die(std::string(server.status().message()));
    server_ = std::move(*server);
    thread_ = std::thread([this, cpus] {
      PinThisThread(cpus);
      if (absl::Status s = server_->Run(); !s.ok()) Die(std::string(s.message()));
    });
  }
  ~FdstoreCase() {
    stop_.Signal();
    thread_.join();
  }
  // What `fdstore exec` does: a connection for one FETCH.
  void Handoff() {
    auto fds = cmsg::fdstore::Client::FetchOnce(path_, names_);
    if (!fds.ok()) Die(std::string(fds.status().message()));
    if (static_cast<int>(fds->size()) != n_) Die("fdstore fetch: wrong count");
  }
  // Connect + Fetch on a connection that could carry more requests.
  void ConnectAndFetch() {
    auto client = cmsg::fdstore::Client::Connect(path_);
    if (!client.ok()) Die(std::string(client.status().message()));
    auto fds = client->Fetch(names_);
    if (!fds.ok()) Die(std::string(fds.status().message()));
    if (static_cast<int>(fds->size()) != n_) Die("fdstore fetch: wrong count");
  }

 private:
  std::string path_;
  int n_;
  std::vector<std::string> names_;
  StopFd stop_;
  std::unique_ptr<cmsg::fdstore::Server> server_;
  std::thread thread_;
};

// The raw CMSG_* server on its own thread holding n TCP listeners.
class RawCase {
 public:
  RawCase(const std::string& dir, int n, const cpu_set_t& cpus)
      : path_(dir + "/raw.sock"), n_(n) {
    owned_ = TcpListeners(n);
    for (const cmsg::UniqueFd& fd : owned_) fds_.push_back(fd.get());
    listener_.reset(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    auto address = cmsg::SocketAddress::Unix(path_);
    if (!listener_.ok() || !address.ok() ||
        bind(listener_.get(), address->addr(), address->size()) < 0 ||
        listen(listener_.get(), 128) < 0) {
      Die("cannot create the raw control socket");
    }
    thread_ = std::thread([this, cpus] {
      PinThisThread(cpus);
      if (RawServe(listener_.get(), stop_.get(), fds_) < 0) Die("raw server failed");
    });
  }
  ~RawCase() {
    stop_.Signal();
    thread_.join();
    unlink(path_.c_str());
  }
  void Handoff() {
    if (RawFetch(path_.c_str(), n_) < 0) Die("raw fetch failed");
  }

 private:
  std::string path_;
  int n_;
  std::vector<cmsg::UniqueFd> owned_;
  std::vector<int> fds_;
  cmsg::UniqueFd listener_;
  StopFd stop_;
  std::thread thread_;
};

// --only: one case, one N, one placement, for FLAGS_seconds.
int RunOnly(const std::string& dir) {
  const std::vector<Placement> placements = Placements();
  auto where = std::find_if(placements.begin(), placements.end(),
                            [](const Placement& p) { return FLAGS_placement == p.name; });
  if (where == placements.end()) Die("--placement: not free, split or one-cpu here");
  if (FLAGS_n < 1 || FLAGS_n > static_cast<int>(cmsg::fdstore::kMaxNames))
    Die(absl::StrCat("--n: 1 to ", cmsg::fdstore::kMaxNames, " (the most a store holds)"));
  if (!(FLAGS_seconds > 0)) Die("--seconds: more than 0");
  PinThisThread(where->client);
  std::function<void()> handoff;
  std::unique_ptr<FdstoreCase> ours;
  std::unique_ptr<RawCase> raw;
  if (FLAGS_only == "raw") {
    raw = std::make_unique<RawCase>(dir, FLAGS_n, where->servers);
    handoff = [&] { raw->Handoff(); };
  } else if (FLAGS_only == "fdstore" || FLAGS_only == "kept") {
    ours = std::make_unique<FdstoreCase>(dir, FLAGS_n, where->servers);
    if (FLAGS_only == "fdstore") {
      handoff = [&] { ours->Handoff(); };
    } else {
      handoff = [&] { ours->ConnectAndFetch(); };
    }
  } else {
    Die("--only: fdstore, raw or kept");
  }
  std::vector<double> r = InterleavedRates({handoff}, 1, FLAGS_seconds);
  printf("%s %s N=%d: %.0f hand-offs/s\n", FLAGS_only.c_str(), where->name, FLAGS_n, r[0]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  char dir[] = "/tmp/fdstore_bench.XXXXXX";
  if (mkdtemp(dir) == nullptr) Die("mkdtemp failed");
  if (!FLAGS_only.empty()) {
    const int rc = RunOnly(dir);
    rmdir(dir);
    return rc;
  }
  printf("Hand-offs per second: a new client connects and fetches N listening\n"
         "sockets (servers on their own thread; median of 7 half-second turns,\n"
         "the cases taking turns so all see the same machine load).\n\n");
  printf("fdstore: Client::FetchOnce (what `fdstore exec` does); kept: Client::Connect +\n"
         "Fetch on a connection that may carry more requests. Placement: free (the\n"
         "scheduler's), split (client and servers on two CPUs: wake-up-bound), one-cpu\n"
         "(all on one: CPU-bound). Target: fdstore/raw >= 0.95.\n\n");
  printf("%-9s %4s  %12s  %14s  %12s  %12s  %9s  %s\n", "placement", "N", "fdstore/s",
         "raw CMSG_* C/s", "fdstore/raw", "kept/s", "kept/raw", "target");
  for (const Placement& where : Placements()) {
    PinThisThread(where.client);
    for (int n : {1, 16}) {
      FdstoreCase ours(dir, n, where.servers);
      RawCase raw(dir, n, where.servers);
      std::vector<double> r = InterleavedRates(
          {[&] { ours.Handoff(); }, [&] { raw.Handoff(); }, [&] { ours.ConnectAndFetch(); }});
      printf("%-9s %4d  %12.0f  %14.0f  %12.2f  %12.0f  %9.2f  %s\n", where.name, n, r[0], r[1],
             r[0] / r[1], r[2], r[2] / r[1], r[0] / r[1] >= 0.95 ? "met" : "MISSED");
      fflush(stdout);
    }
  }
  rmdir(dir);
  return 0;
}
