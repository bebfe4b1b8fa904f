#include "lib/udp/stats.h"

#include <string>

#include "gtest/gtest.h"

namespace cmsg::udp {
namespace {

TEST(StatsTest, LineSumsEveryWorkerInCounterOrder) {
  Stats a, b;
  a.Add(Counter::kClientRxPackets, 2);
  b.Add(Counter::kClientRxPackets, 3);
  b.Add(Counter::kGsoFallbacks);
  a.SetSessions(4);
  b.SetSessions(1);
  const Stats* both[] = {&a, &b};
  std::string line = StatsLine("x: stats", both);
  EXPECT_EQ(line.rfind("x: stats client_rx_packets=5 client_rx_bytes=0 ", 0), 0u) << line;
  EXPECT_NE(line.find(" gso_fallbacks=1 sessions=5"), std::string::npos) << line;
}

TEST(StatsTest, OnlyTheCountersAsked) {
  Stats a;
  a.Add(Counter::kClientTxBytes, 7);
  const Stats* one[] = {&a};
  const Counter only[] = {Counter::kClientTxBytes, Counter::kErrSocket};
  EXPECT_EQ(StatsLine("e", one, only), "e client_tx_bytes=7 err_socket=0");
}

TEST(StatsTest, TheNewestErrorOfAnyWorkerIsShownQuoted) {
  Stats a, b;
  const Stats* both[] = {&a, &b};
  EXPECT_EQ(StatsLine("x", both).find("last_error"), std::string::npos);
  b.SetLastError("to client", "old");
  a.SetLastError("to upstream", "sendmmsg: \"No route\" to host");
  std::string line = StatsLine("x", both);
  EXPECT_NE(line.find(" last_error=\"to upstream: sendmmsg: 'No route' to host\""),
            std::string::npos)
      << line;
}

TEST(StatsTest, EveryCounterHasAName) {
  for (size_t i = 0; i < static_cast<size_t>(Counter::kCount); ++i)
    EXPECT_FALSE(CounterName(static_cast<Counter>(i)).empty());
}

}  // namespace
}  // namespace cmsg::udp
