#include "src/common/utf8.h"

#include <cstdint>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace hashmatch {
namespace {

TEST(Utf8Test, EncodesEachLengthAtItsBounds) {
  const std::pair<uint32_t, std::string> cases[] = {
      {0x00, std::string(1, '\0')},
      {0x41, "A"},
      {0x7F, "\x7F"},
      {0x80, "\xC2\x80"},
      {0x7FF, "\xDF\xBF"},
      {0x800, "\xE0\xA0\x80"},
      {0x20AC, "\xE2\x82\xAC"},
      {0xFFFF, "\xEF\xBF\xBF"},
      {0x10000, "\xF0\x90\x80\x80"},
      {0x1F600, "\xF0\x9F\x98\x80"},
      {0x10FFFF, "\xF4\x8F\xBF\xBF"},
  };
  for (const auto& [cp, bytes] : cases) {
    std::string out = "x";
    EXPECT_TRUE(AppendUtf8(cp, &out)) << cp;
    EXPECT_EQ(out, "x" + bytes) << cp;
  }
}

TEST(Utf8Test, RefusesSurrogatesAndValuesPastUnicode) {
  for (uint32_t cp :
       {0xD800u, 0xDBFFu, 0xDC00u, 0xDFFFu, 0x110000u, 0xFFFFFFFFu}) {
    std::string out = "x";
    EXPECT_FALSE(AppendUtf8(cp, &out)) << cp;
    EXPECT_EQ(out, "x") << cp;
  }
}

}  // namespace
}  // namespace hashmatch
