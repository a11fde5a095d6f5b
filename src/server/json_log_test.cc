#include "src/server/json_log.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hashmatch {
namespace server {
namespace {

TEST(JsonQuoteTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\x7f", 3)),
            "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonQuote(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
}

TEST(JsonQuoteTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonQuote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // Lone continuation byte, truncated sequence, overlong '/', surrogate.
  EXPECT_EQ(JsonQuote("a\x80z"), "\"a\\ufffdz\"");
  EXPECT_EQ(JsonQuote("a\xe2\x82"), "\"a\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonQuote("\xff"), "\"\\ufffd\"");
}

TEST(LogLineTest, EmitsOneObjectPerLine) {
  std::vector<std::string> lines;
  SetLogSinkForTest([&](absl::string_view line) { lines.emplace_back(line); });
  LogLine("info", "rpc")
      .Str("rpc", "MatchImage")
      .Str("content_ref", "x\"\n}")
      .Int("n", -7)
      .Double("latency_ms", 1.23456)
      .Double("nan", 0.0 / 0.0)
      .Bool("ok", true)
      .Emit();
  SetLogSinkForTest(nullptr);
  ASSERT_EQ(lines.size(), 1u);
  const std::string& l = lines[0];
  EXPECT_EQ(l.find('\n'), std::string::npos);
  EXPECT_EQ(l.rfind("{\"ts\":\"", 0), 0u) << l;
  const std::string rest = l.substr(l.find("\",\"level\""));
  EXPECT_EQ(rest,
            "\",\"level\":\"info\",\"event\":\"rpc\",\"rpc\":\"MatchImage\","
            "\"content_ref\":\"x\\\"\\n}\",\"n\":-7,\"latency_ms\":1.235,"
            "\"nan\":null,\"ok\":true}");
  // ts is RFC 3339 UTC with milliseconds: 2026-11-28T12:00:00.123Z.
  const std::string ts = l.substr(7, 24);
  ASSERT_EQ(ts.size(), 24u);
  EXPECT_EQ(ts[4], '-');
  EXPECT_EQ(ts[10], 'T');
  EXPECT_EQ(ts[19], '.');
  EXPECT_EQ(ts[23], 'Z');
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
