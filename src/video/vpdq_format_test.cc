#include "src/video/vpdq_format.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/video/video_test_util.h"

namespace hashmatch {
namespace {

constexpr char kHex[] =
    "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c";

VideoFrameHash Frame(int64_t n, int q, double ts) {
  VideoFrameHash f;
  f.frame_number = n;
  f.quality = q;
  f.timestamp_seconds = ts;
  f.pdq = *Hash256::FromHex(kHex);
  return f;
}

TEST(VpdqFormatTest, WritesTheReferenceLineFormat) {
  EXPECT_EQ(FormatVpdqLine(Frame(0, 100, 0)),
            absl::StrCat("0,100,", kHex, ",0.000\n"));
  EXPECT_EQ(FormatVpdqLine(Frame(1234, 7, 41.0666666)),
            absl::StrCat("1234,7,", kHex, ",41.067\n"));
  EXPECT_EQ(FormatVpdq({Frame(0, 100, 0), Frame(30, 99, 1.001)}),
            absl::StrCat("0,100,", kHex, ",0.000\n30,99,", kHex, ",1.001\n"));
}

TEST(VpdqFormatTest, RoundTrip) {
  std::vector<VideoFrameHash> frames;
  for (int k = 0; k < 50; ++k) {
    VideoFrameHash f = Frame(k * 30 + k % 3, k * 2, k * 1.0005);
    f.pdq.mutable_bytes()[k % 32] ^= static_cast<uint8_t>(k + 1);
    frames.push_back(f);
  }
  const std::string text = FormatVpdq(frames);
  absl::StatusOr<std::vector<VideoFrameHash>> back = ParseVpdq(text, {});
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ((*back)[i].frame_number, frames[i].frame_number);
    EXPECT_EQ((*back)[i].quality, frames[i].quality);
    EXPECT_EQ((*back)[i].pdq, frames[i].pdq);
    EXPECT_NEAR((*back)[i].timestamp_seconds, frames[i].timestamp_seconds,
                0.000501);  // Three decimals.
  }
  EXPECT_EQ(FormatVpdq(*back), text);
}

TEST(VpdqFormatTest, AcceptsOtherToolsSpellings) {
  std::string upper = kHex;
  for (char& c : upper) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  absl::StatusOr<std::vector<VideoFrameHash>> r =
      ParseVpdq(absl::StrCat("0,100,", upper, ",0\r\n5,50,", kHex, ",1.5"), {});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].pdq.ToHex(), kHex);
  EXPECT_EQ((*r)[1].frame_number, 5);
  EXPECT_EQ((*r)[1].quality, 50);
  EXPECT_DOUBLE_EQ((*r)[1].timestamp_seconds, 1.5);
}

TEST(VpdqFormatTest, ErrorsNameTheLine) {
  const std::string good = absl::StrCat("0,100,", kHex, ",0.000\n");
  struct Case {
    std::string bad_line;
    std::string message;
  };
  const std::vector<Case> cases = {
      {absl::StrCat("1,100,", kHex), "expected 4 comma-separated fields"},
      {absl::StrCat("1,100,", kHex, ",1.0,extra"), "got 5"},
      {"", "empty line"},
      {absl::StrCat("-1,100,", kHex, ",1.000"), "frame number '-1'"},
      {absl::StrCat("x,100,", kHex, ",1.000"), "frame number 'x'"},
      {absl::StrCat("99999999999999999,100,", kHex, ",1.000"), "frame number"},
      {absl::StrCat("1,101,", kHex, ",1.000"), "quality '101'"},
      {absl::StrCat("1,,", kHex, ",1.000"), "quality ''"},
      {absl::StrCat("1, 50,", kHex, ",1.000"), "quality ' 50'"},
      {"1,100,abc,1.000", "PDQ hash: a 256-bit hash needs 64 hex digits"},
      {absl::StrCat("1,100,", std::string(63, 'a'), "g,1.000"), "PDQ hash"},
      {absl::StrCat("1,100,", kHex, ",-1.000"), "timestamp '-1.000'"},
      {absl::StrCat("1,100,", kHex, ",nan"), "timestamp 'nan'"},
      {absl::StrCat("1,100,", kHex, ",1e3"), "timestamp '1e3'"},
      {absl::StrCat("1,100,", kHex, ",1."), "timestamp '1.'"},
      {absl::StrCat("1,100,", kHex, ",9007199254741000"), "up to 2^53"},
      {std::string(300, '1'), "longer than 256 bytes"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<VideoFrameHash>> r =
        ParseVpdq(absl::StrCat(good, good, c.bad_line, "\n", good), {});
    ASSERT_FALSE(r.ok()) << c.bad_line;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().substr(0, 8), "line 3: ") << r.status();
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << r.status() << " wanted " << c.message;
  }
  EXPECT_EQ(ParseVpdq("", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  VpdqParseOptions two;
  two.max_frames = 2;
  absl::StatusOr<std::vector<VideoFrameHash>> r = ParseVpdq(good + good, two);
  EXPECT_TRUE(r.ok());
  r = ParseVpdq(good + good + good, two);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("line 3"), std::string::npos);
}

// A hashed clip written and read back gives the same frames, and scores
// 100% against itself.
TEST(VpdqFormatTest, HashedClipRoundTrip) {
  HM_REQUIRE_CLIPS();
  const std::string bytes =
      clips.Make("slides.mp4",
                 clips.SlideshowArgs({0, 1, 2}, {2.5, 3.0, 2.5}, 10,
                                     "-c:v libx264 -preset veryfast -crf 20"));
  ASSERT_FALSE(bytes.empty());
  absl::StatusOr<VideoHashResult> r = HashVideo(bytes, {});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->frames.empty());
  absl::StatusOr<std::vector<VideoFrameHash>> back =
      ParseVpdq(FormatVpdq(r->frames), {});
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), r->frames.size());
  for (size_t i = 0; i < back->size(); ++i) {
    EXPECT_EQ((*back)[i].pdq, r->frames[i].pdq);
    EXPECT_EQ((*back)[i].frame_number, r->frames[i].frame_number);
  }
}

// Regression (fuzz/vpdq_fuzzer.cc's round trip): a 32-digit timestamp was
// read, and FormatVpdqLine wrote it back as 37 characters that the parser
// then refused. Whatever is read now writes back to a line that reads the
// same.
TEST(VpdqFormatTest, AnyTimestampReadIsWrittenBackReadably) {
  const std::string huge =
      absl::StrCat("0,90,", kHex, ",99999999999999999999999999999999\n");
  absl::StatusOr<std::vector<VideoFrameHash>> r = ParseVpdq(huge, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("up to 2^53"), std::string::npos)
      << r.status();

  r = ParseVpdq(absl::StrCat("0,90,", kHex, ",9007199254740992.0\n"), {});
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string written = FormatVpdq(*r);
  EXPECT_EQ(written, absl::StrCat("0,90,", kHex, ",9007199254740992.000\n"));
  absl::StatusOr<std::vector<VideoFrameHash>> again = ParseVpdq(written, {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].timestamp_seconds, (*r)[0].timestamp_seconds);
}

}  // namespace
}  // namespace hashmatch
