#include "lib/json/quote.h"

#include <string>

#include "gtest/gtest.h"

namespace cmsg::json {
namespace {

TEST(QuoteTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quote(std::string("\n\x1b\x7f\0", 4)), "\"\\u000a\\u001b\\u007f\\u0000\"");
}

TEST(QuoteTest, KeepsValidUtf8) {
  EXPECT_EQ(Quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(QuoteTest, EachBadByteBecomesTheReplacementCharacter) {
  EXPECT_EQ(Quote("a\xff\xfe" "b"), "\"a\\ufffd\\ufffdb\"");
  EXPECT_EQ(Quote("\x80"), "\"\\ufffd\"");                      // a stray continuation
  EXPECT_EQ(Quote("\xc0\xaf"), "\"\\ufffd\\ufffd\"");           // overlong '/'
  EXPECT_EQ(Quote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  EXPECT_EQ(Quote("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // past U+10FFFF
  EXPECT_EQ(Quote("\xe2\x82"), "\"\\ufffd\\ufffd\"");           // cut short
  EXPECT_EQ(Quote("\xff\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\"");   // 0xff starts nothing
}

}  // namespace
}  // namespace cmsg::json
