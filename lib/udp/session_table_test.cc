#include "lib/udp/session_table.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "gtest/gtest.h"

namespace cmsg::udp {
namespace {

SessionKey Key(uint16_t client_port, const char* local = "127.0.0.1") {
  in_addr a{};
  inet_pton(AF_INET, "127.0.0.9", &a);
  in_addr l{};
  inet_pton(AF_INET, local, &l);
  return SessionKey{0, SocketAddress::Ipv4(a, client_port), Arrival::Ipv4(l, 1)};
}

TEST(SessionTableTest, SessionsOnProbationAreEvictedBeforeConfirmedOnes) {
  SessionTable table(3);
  std::vector<uint16_t> evicted;
  auto record = [&](Session& s) { evicted.push_back(s.key.client.port()); };
  Session* real = table.Insert(Key(1), UniqueFd(), 10, record);
  table.Confirm(real);
  table.Insert(Key(2), UniqueFd(), 20, record);
  table.Insert(Key(3), UniqueFd(), 30, record);
  // A flood of new clients: the confirmed session, idle longest, stays.
  for (uint16_t port = 4; port < 10; ++port) table.Insert(Key(port), UniqueFd(), 40, record);
  EXPECT_EQ(evicted, (std::vector<uint16_t>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(table.Find(Key(1)), real);
  EXPECT_EQ(table.confirmed(), 1u);
  EXPECT_EQ(table.OldestActivity(), 10);
  // Expiry covers both segments.
  EXPECT_EQ(table.ExpireIdle(35, record), 1u);
  EXPECT_EQ(table.Find(Key(1)), nullptr);
  EXPECT_EQ(table.size(), 2u);
}

TEST(SessionTableTest, FindsWhatWasInserted) {
  SessionTable table(8);
  auto never = [](Session&) { FAIL() << "nothing should be evicted"; };
  Session* a = table.Insert(Key(1), UniqueFd(), 10, never);
  Session* b = table.Insert(Key(2), UniqueFd(), 10, never);
  EXPECT_EQ(table.Find(Key(1)), a);
  EXPECT_EQ(table.Find(Key(2)), b);
  EXPECT_EQ(table.FindById(a->id), a);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(table.Find(Key(3)), nullptr);
  EXPECT_EQ(table.size(), 2u);
}

TEST(SessionTableTest, LocalAddressIsPartOfTheKey) {
  SessionTable table(8);
  auto never = [](Session&) {};
  Session* a = table.Insert(Key(1, "127.0.0.2"), UniqueFd(), 10, never);
  EXPECT_EQ(table.Find(Key(1, "127.0.0.3")), nullptr);
  EXPECT_EQ(table.Find(Key(1, "127.0.0.2")), a);
}

TEST(SessionTableTest, FullTableEvictsTheLongestIdle) {
  SessionTable table(3);
  std::vector<uint64_t> evicted;
  auto record = [&](Session& s) { evicted.push_back(s.key.client.port()); };
  table.Insert(Key(1), UniqueFd(), 10, record);
  table.Insert(Key(2), UniqueFd(), 20, record);
  table.Insert(Key(3), UniqueFd(), 30, record);
  table.Touch(table.Find(Key(1)), 40);  // 2 is now the longest idle
  table.Insert(Key(4), UniqueFd(), 50, record);
  EXPECT_EQ(evicted, std::vector<uint64_t>{2});
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.Find(Key(2)), nullptr);
  EXPECT_NE(table.Find(Key(1)), nullptr);
}

TEST(SessionTableTest, EvictOldestWhereTakesTheLongestIdleTheTestAccepts) {
  SessionTable table(8);
  std::vector<uint16_t> evicted;
  auto record = [&](Session& s) { evicted.push_back(s.key.client.port()); };
  for (uint16_t port = 1; port <= 5; ++port) table.Insert(Key(port), UniqueFd(), port, record);
  table.Confirm(table.Find(Key(1)));
  table.Confirm(table.Find(Key(3)));
  auto odd = [](const Session& s) { return s.key.client.port() % 2 == 1; };
  // On probation: 2, 4, 5 (longest idle first). Only 5 is odd; the
  // confirmed 1 and 3 are not looked at while any session is on probation.
  EXPECT_TRUE(table.EvictOldestWhere(odd, 8, record));
  EXPECT_FALSE(table.EvictOldestWhere(odd, 8, record));
  EXPECT_EQ(evicted, (std::vector<uint16_t>{5}));
  // The search stops after `limit` sessions.
  auto four = [](const Session& s) { return s.key.client.port() == 4; };
  EXPECT_FALSE(table.EvictOldestWhere(four, 1, record));
  EXPECT_TRUE(table.EvictOldestWhere(four, 2, record));
  auto any = [](const Session&) { return true; };
  EXPECT_TRUE(table.EvictOldestWhere(any, 1, record));  // 2, the last on probation
  // Then the confirmed segment: 1 is the longest idle odd one.
  EXPECT_TRUE(table.EvictOldestWhere(odd, 8, record));
  EXPECT_EQ(evicted, (std::vector<uint16_t>{5, 4, 2, 1}));
  EXPECT_EQ(table.size(), 1u);
}

TEST(SessionTableTest, EvictionClosesTheUpstreamSocket) {
  SessionTable table(1);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  UniqueFd keep(fds[1]);
  table.Insert(Key(1), UniqueFd(fds[0]), 10, [](Session&) {});
  table.Insert(Key(2), UniqueFd(), 20, [](Session&) {});
  EXPECT_EQ(fcntl(fds[0], F_GETFD), -1);  // closed
}

TEST(SessionTableTest, ExpireIdleRemovesOnlyOldSessionsOldestFirst) {
  SessionTable table(8);
  auto never = [](Session&) {};
  table.Insert(Key(1), UniqueFd(), 10, never);
  table.Insert(Key(2), UniqueFd(), 20, never);
  table.Insert(Key(3), UniqueFd(), 30, never);
  std::vector<uint16_t> gone;
  size_t n = table.ExpireIdle(25, [&](Session& s) { gone.push_back(s.key.client.port()); });
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(gone, (std::vector<uint16_t>{1, 2}));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.OldestActivity(), 30);
}

TEST(SessionTableTest, IdsAreNeverReused) {
  SessionTable table(1);
  auto drop = [](Session&) {};
  uint64_t first = table.Insert(Key(1), UniqueFd(), 10, drop)->id;
  uint64_t second = table.Insert(Key(2), UniqueFd(), 20, drop)->id;
  EXPECT_NE(first, second);
  EXPECT_EQ(table.FindById(first), nullptr);
}

TEST(SessionTableTest, ZeroCapacityStillHoldsOne) {
  SessionTable table(0);
  EXPECT_EQ(table.max_sessions(), 1u);
}

}  // namespace
}  // namespace cmsg::udp
