// The relay's idle expiry against a loop round that outlasts the session
// timeout (a CPU stall, cgroup throttling): a session opened or used in
// that round must live to relay the answer already waiting for it.
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"
#include "lib/udp/relay.h"

namespace cmsg::udp {
namespace {

// The upstream socket the relay sends to, and the stall it stands for: the
// first clock read after the relay has sent the client's datagram on (it
// is waiting in `upstream`, or the upstream has read it) blocks until the
// upstream has answered, and returns a second later than the read before.
int g_upstream_fd = -1;
std::atomic<bool> g_upstream_got{false};
std::atomic<bool> g_answered{false};
std::atomic<bool> g_stalled{false};
std::atomic<int64_t> g_now{1'000'000'000};

int64_t StallingClock() {
  int queued = 0;
  if (!g_stalled && (g_upstream_got || (ioctl(g_upstream_fd, FIONREAD, &queued) == 0 &&
                                        queued > 0))) {
    while (!g_answered) usleep(1000);
    g_stalled = true;
    g_now += 1'000'000'000;
  }
  return g_now;
}

SocketAddress Loopback(uint16_t port) {
  in_addr lo{htonl(INADDR_LOOPBACK)};
  return SocketAddress::Ipv4(lo, port);
}

UniqueFd BoundUdp() {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SocketAddress any = Loopback(0);
  EXPECT_EQ(bind(fd.get(), any.addr(), any.size()), 0);
  timeval tv{3, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

TEST(RelayClockTest, ASessionUsedInARoundLongerThanTheTimeoutSurvivesIt) {
  UniqueFd upstream = BoundUdp();
  g_upstream_fd = upstream.get();
  absl::StatusOr<SocketAddress> up_addr = SocketAddress::LocalOf(upstream.get());
  ASSERT_TRUE(up_addr.ok());

  RelayOptions options;
  options.upstreams = {*up_addr};
  options.session_timeout = absl::Milliseconds(300);
  options.now_ns = &StallingClock;
  absl::StatusOr<std::unique_ptr<Relay>> relay = Relay::Bind({Loopback(0)}, options);
  ASSERT_TRUE(relay.ok()) << relay.status();
  (*relay)->Start();
  const SocketAddress& at = (*relay)->local_addresses()[0];

  // The upstream answers at once, during the relay's stall.
  std::thread answer([&] {
    char buf[16];
    sockaddr_storage from{};
    socklen_t len = sizeof(from);
    ssize_t n = recvfrom(upstream.get(), buf, sizeof(buf), 0,
                         reinterpret_cast<sockaddr*>(&from), &len);
    g_upstream_got = true;
    if (n > 0) sendto(upstream.get(), "a1", 2, 0, reinterpret_cast<sockaddr*>(&from), len);
    g_answered = true;
  });

  UniqueFd client = BoundUdp();
  ASSERT_EQ(sendto(client.get(), "q1", 2, 0, at.addr(), at.size()), 2);
  char got[16] = {};
  ssize_t n = recv(client.get(), got, sizeof(got), 0);
  answer.join();
  (*relay)->Stop();
  EXPECT_TRUE(g_stalled.load()) << "the clock never stood for a stall";
  ASSERT_EQ(n, 2) << "no answer: the session was expired in the round that used it";
  EXPECT_EQ(std::string(got, 2), "a1");
}

}  // namespace
}  // namespace cmsg::udp
