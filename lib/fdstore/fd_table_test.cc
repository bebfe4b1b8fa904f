#include "lib/fdstore/fd_table.h"

#include <fcntl.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fdstore/wire.h"

namespace cmsg::fdstore {
namespace {

using ::testing::HasSubstr;

std::vector<UniqueFd> Pipes(int n) {
  std::vector<UniqueFd> out;
  for (int i = 0; i < n; ++i) out.emplace_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  return out;
}

std::vector<std::string> Names(const FdTable& t) {
  std::vector<std::string> out;
  for (const auto& e : t.entries()) out.push_back(e.name);
  return out;
}

TEST(FdTableTest, StoresFindsAndReplacesInOrder) {
  FdTable t;
  ASSERT_TRUE(t.Store({"a", "b"}, Pipes(2)).ok());
  const int old_b = t.entries()[1].fd.get();
  ASSERT_TRUE(t.Store({"b", "c"}, Pipes(2)).ok());
  EXPECT_THAT(Names(t), ::testing::ElementsAre("a", "b", "c"));
  EXPECT_NE(t.entries()[1].fd.get(), old_b);
  auto found = t.Find({"c", "a"});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)[0]->name, "c");
  EXPECT_EQ((*found)[1]->name, "a");
  EXPECT_EQ(t.Find({})->size(), 3u);
}

TEST(FdTableTest, BadStoresChangeNothing) {
  FdTable t;
  ASSERT_TRUE(t.Store({"a"}, Pipes(1)).ok());
  EXPECT_THAT(t.Store({"x", "x"}, Pipes(2)).message(), HasSubstr("given twice"));
  EXPECT_THAT(t.Store({"x:y"}, Pipes(1)).message(), HasSubstr("printable ASCII"));
  EXPECT_THAT(t.Store({"x"}, Pipes(2)).message(), HasSubstr("1 names but 2 fds"));
  EXPECT_THAT(Names(t), ::testing::ElementsAre("a"));
  // Nor is a name of a failed store found afterwards.
  for (const char* name : {"x", "x:y"}) {
    EXPECT_EQ(t.Find({name}).status().code(), absl::StatusCode::kNotFound) << name;
    EXPECT_EQ(t.OwnerOf(name), std::nullopt) << name;
  }
}

TEST(FdTableTest, RemoveIsAllOrNothing) {
  FdTable t;
  ASSERT_TRUE(t.Store({"a", "b"}, Pipes(2)).ok());
  EXPECT_EQ(t.Remove({"a", "zz"}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(t.entries().size(), 2u);
  ASSERT_TRUE(t.Remove({"a"}).ok());
  EXPECT_THAT(Names(t), ::testing::ElementsAre("b"));
  EXPECT_EQ(t.Find({"a"}).status().code(), absl::StatusCode::kNotFound);
}

TEST(FdTableTest, FindsEachNameAfterRemovesAndReplaces) {
  FdTable t;
  ASSERT_TRUE(t.Store({"a", "b", "c", "d"}, Pipes(4), 1).ok());
  ASSERT_TRUE(t.Remove({"b"}).ok());
  ASSERT_TRUE(t.Store({"b", "a"}, Pipes(2), 2).ok());
  EXPECT_THAT(Names(t), ::testing::ElementsAre("a", "c", "d", "b"));
  auto found = t.Find({"d", "b", "a", "c"});
  ASSERT_TRUE(found.ok()) << found.status();
  for (size_t i = 0; i < found->size(); ++i) {
    // Each pointer is the table's entry of that name, with its own fd.
    EXPECT_EQ((*found)[i]->name, (std::vector<std::string>{"d", "b", "a", "c"}[i]));
    EXPECT_TRUE((*found)[i]->fd.ok());
  }
  EXPECT_EQ(t.OwnerOf("a"), 2u);
  EXPECT_EQ(t.OwnerOf("c"), 1u);
  EXPECT_EQ(t.OwnerOf("zz"), std::nullopt);
  ASSERT_TRUE(t.Remove({"a", "d"}).ok());
  EXPECT_EQ(t.Find({"c", "b"}).value()[1]->name, "b");
  EXPECT_EQ(t.Find({"a"}).status().code(), absl::StatusCode::kNotFound);
}

TEST(FdTableTest, HoldsAtMostMaxNames) {
  FdTable t;
  for (size_t i = 0; i < kMaxNames; ++i)
    ASSERT_TRUE(t.Store({"n" + std::to_string(i)}, Pipes(1)).ok());
  EXPECT_EQ(t.Store({"one-more"}, Pipes(1)).code(), absl::StatusCode::kResourceExhausted);
  // Replacing needs no room.
  EXPECT_TRUE(t.Store({"n0"}, Pipes(1)).ok());
}

}  // namespace
}  // namespace cmsg::fdstore
