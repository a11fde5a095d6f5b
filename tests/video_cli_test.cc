// End-to-end tests of `hashmatch hash --video`: runs the binary on clips made
// by ffmpeg from Debian photos (src/video/video_test_util.h; skipped when
// ffmpeg or mate-backgrounds is missing).
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "src/video/video_hasher.h"
#include "src/video/video_test_util.h"
#include "src/video/vpdq_format.h"
#include "tests/run_binary.h"

namespace hashmatch {
namespace {

using testing_util::RunResult;

RunResult RunHashmatch(const std::vector<std::string>& args) {
  return testing_util::RunBinary(HASHMATCH_BINARY, args);
}

std::string ShortClip(video_test::ClipMaker& clips) {
  return clips.Make("c.mp4",
                    "-loop 1 -framerate 10 -t 3 -i " + clips.Photo(0) +
                        " -vf scale=320:180,setsar=1 -r 10 "
                        "-c:v libx264 -preset veryfast -pix_fmt yuv420p");
}

TEST(VideoCliTest, PrintsVpdqLinesOfHashVideo) {
  HM_REQUIRE_CLIPS();
  const std::string bytes =
      clips.Make("slides.mp4",
                 clips.SlideshowArgs({0, 1, 2}, {2.5, 3.0, 2.5}, 10,
                                     "-c:v libx264 -preset veryfast -crf 20"));
  ASSERT_FALSE(bytes.empty());
  RunResult r = RunHashmatch({"hash", "--video", clips.Path("slides.mp4")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  absl::StatusOr<VideoHashResult> want = HashVideo(bytes, {});
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_EQ(want->frames.size(), 3u);
  EXPECT_EQ(r.out, FormatVpdq(want->frames));
  absl::StatusOr<std::vector<VideoFrameHash>> parsed = ParseVpdq(r.out, {});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->size(), 3u);

  // Every frame, no pruning, no scene samples: 80 lines, frames 0..79.
  r = RunHashmatch({"hash", "--video", "--sample_interval=0",
                    "--near_duplicate_distance", "-1", "--scene_threshold", "0",
                    clips.Path("slides.mp4")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  parsed = ParseVpdq(r.out, {});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 80u);
  EXPECT_EQ((*parsed)[79].frame_number, 79);
  EXPECT_EQ(absl::StrSplit(r.out, '\n').begin()->substr(0, 4), "0,10");
}

TEST(VideoCliTest, BadFilesReportedOthersHashed) {
  HM_REQUIRE_CLIPS();
  ASSERT_FALSE(ShortClip(clips).empty());
  const std::string good = clips.Path("c.mp4");
  const std::string jpeg =
      std::string(video_test::kPhotoDir) + video_test::PhotoNames()[0];
  const std::string missing = clips.Path("missing.mp4");
  RunResult r = RunHashmatch({"hash", "--video", jpeg, good, missing});
  EXPECT_EQ(r.exit_code, 1);
  const std::vector<std::string> err_lines =
      absl::StrSplit(r.err, '\n', absl::SkipEmpty());
  ASSERT_EQ(err_lines.size(), 2u) << r.err;
  EXPECT_TRUE(absl::StartsWith(
      err_lines[0],
      absl::StrCat("hashmatch: ", jpeg, ": INVALID_ARGUMENT: not a video")))
      << err_lines[0];
  EXPECT_TRUE(absl::StartsWith(
      err_lines[1], absl::StrCat("hashmatch: ", missing, ": NOT_FOUND")))
      << err_lines[1];
  // Several files: each line starts with the path and a tab.
  const std::vector<std::string> out_lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(out_lines.size(), 1u) << r.out;  // One still photo: 1 kept.
  EXPECT_TRUE(absl::StartsWith(out_lines[0], good + "\t0,")) << r.out;

  r = RunHashmatch({"hash", "--video", "--max_video_frames", "29", good});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, ": RESOURCE_EXHAUSTED: ")) << r.err;
  r = RunHashmatch({"hash", "--video", "--max_video_bytes", "1000", good});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, ": RESOURCE_EXHAUSTED: ")) << r.err;
  r = RunHashmatch({"hash", "--video", "--max_video_width", "100", good});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "320x180 over the limit")) << r.err;
  r = RunHashmatch({"hash", "--video", "--max_decode_seconds", "0", good});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, ": DEADLINE_EXCEEDED: ")) << r.err;
}

TEST(VideoCliTest, UsageErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"hash", "--video"},
           {"hash", "--video", "--sample_interval", "-1", "x.mp4"},
           {"hash", "--video", "--scene_threshold", "abc", "x.mp4"},
           {"hash", "--video", "--min_quality", "200", "x.mp4"},
           {"hash", "--video", "--algo", "pdq", "x.mp4"},
           {"hash", "--video", "--decode_threads", "0", "x.mp4"}}) {
    RunResult r = RunHashmatch(args);
    EXPECT_EQ(r.exit_code, 2) << args[2];
    EXPECT_TRUE(absl::StrContains(r.err, "usage:")) << r.err;
  }
}

}  // namespace
}  // namespace hashmatch
