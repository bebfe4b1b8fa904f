#include "lib/fdstore/wire.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cmsg::fdstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(WireTest, EncodesTheDocumentedBytes) {
  absl::StatusOr<std::string> bytes = Encode({Type::kFetch, Code::kOk, {"web", ""}});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, std::string("\x01\x01\x02\x00\x00\x00\x00\x00"
                                "\x03\x00web"
                                "\x00\x00",
                                15));
}

TEST(WireTest, ErrorCodeIsLittleEndian) {
  absl::StatusOr<std::string> bytes = Encode({Type::kError, Code::kNotFound, {"x"}});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 8), std::string("\x01\x81\x01\x00\x03\x00\x00\x00", 8));
}

TEST(WireTest, RoundTrips) {
  Message m{Type::kList, Code::kOk, {"a", std::string(300, 'b'), "c"}};
  absl::StatusOr<std::string> bytes = Encode(m);
  ASSERT_TRUE(bytes.ok());
  absl::StatusOr<Message> back = Decode(*bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->type, Type::kList);
  EXPECT_EQ(back->code, Code::kOk);
  EXPECT_EQ(back->strings, m.strings);
}

TEST(WireTest, RejectsShortHeader) {
  absl::StatusOr<Message> m = Decode(std::string("\x01\x01\x00", 3));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("shorter than the 8-byte header"));
}

TEST(WireTest, RejectsOtherVersionsAsFailedPrecondition) {
  absl::StatusOr<Message> m = Decode(std::string("\x02\x01\x00\x00\x00\x00\x00\x00", 8));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(m.status().message(), HasSubstr("version 2"));
}

TEST(WireTest, RejectsUnknownType) {
  absl::StatusOr<Message> m = Decode(std::string("\x01\x07\x00\x00\x00\x00\x00\x00", 8));
  EXPECT_THAT(m.status().message(), HasSubstr("unknown message type 7"));
}

TEST(WireTest, RejectsTruncatedStrings) {
  // Two strings announced, one complete.
  std::string bytes("\x01\x01\x02\x00\x00\x00\x00\x00\x01\x00x", 11);
  EXPECT_THAT(Decode(bytes).status().message(), HasSubstr("string 1 of 2 has no length"));
  bytes += std::string("\x05\x00" "ab", 4);
  EXPECT_THAT(Decode(bytes).status().message(), HasSubstr("wants 5 bytes, 2 left"));
}

TEST(WireTest, RejectsTrailingBytes) {
  std::string bytes("\x01\x04\x00\x00\x00\x00\x00\x00zz", 10);
  EXPECT_THAT(Decode(bytes).status().message(), HasSubstr("2 bytes after the last string"));
}

TEST(WireTest, RefusesToEncodeOversizedMessages) {
  Message m{Type::kFetch, Code::kOk, {}};
  for (int i = 0; i < 300; ++i) m.strings.push_back(std::string(255, 'n'));
  EXPECT_EQ(Encode(m).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Encode({Type::kFetch, Code::kOk, {std::string(70000, 'x')}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WireTest, EncodingFromPartsGivesTheMessagesBytes) {
  const Message m{Type::kOk, Code::kNotFound, {"web", "", std::string(300, 'b')}};
  const absl::string_view views[] = {"web", "", m.strings[2]};
  absl::StatusOr<std::string> whole = Encode(m);
  absl::StatusOr<std::string> parts = Encode(Type::kOk, Code::kNotFound, views);
  ASSERT_TRUE(whole.ok() && parts.ok());
  EXPECT_EQ(*parts, *whole);
  EXPECT_EQ(Encode(Type::kFetch, Code::kOk, absl::Span<const absl::string_view>()).value(),
            std::string("\x01\x01\x00\x00\x00\x00\x00\x00", 8));
  const std::string big(70000, 'x');
  const absl::string_view too_long[] = {big};
  EXPECT_EQ(Encode(Type::kFetch, Code::kOk, too_long).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WireTest, ReplyStatusMapsCodes) {
  EXPECT_TRUE(ReplyStatus({Type::kOk, Code::kOk, {}}).ok());
  absl::Status s = ReplyStatus({Type::kError, Code::kNotFound, {"no fd named \"x\""}});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("NOT_FOUND: no fd named \"x\""));
  EXPECT_EQ(ReplyStatus({Type::kError, Code::kRefused, {"x"}}).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReplyStatus({Type::kFetch, Code::kOk, {}}).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace cmsg::fdstore
