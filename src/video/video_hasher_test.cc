#include "src/video/video_hasher.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/pdq.h"
#include "src/video/video_test_util.h"

namespace hashmatch {
namespace {

// Photos 0, 1, 2 for 2.5, 3 and 2.5 s at 10 fps, 640x360 h264 (made once).
std::string Slides(video_test::ClipMaker& clips) {
  return clips.Make("slides.mp4", clips.SlideshowArgs(
                                      {0, 1, 2}, {2.5, 3.0, 2.5}, 10,
                                      "-c:v libx264 -preset veryfast -crf 20"));
}

// Three stills (2.5, 3, 2.5 s): 8 interval + 2 scene samples; the repeats of
// each still are near-duplicates, so one frame per photo is kept, at the
// start of each shot, with the photo's own PDQ.
TEST(VideoHasherTest, SlideshowKeepsOneFramePerPhoto) {
  HM_REQUIRE_CLIPS();
  const std::string bytes = Slides(clips);
  ASSERT_FALSE(bytes.empty());
  absl::StatusOr<VideoHashResult> r = HashVideo(bytes, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->codec, "h264");
  EXPECT_EQ(r->width, 640);
  EXPECT_EQ(r->height, 360);
  EXPECT_NEAR(r->duration_seconds, 8.0, 0.15);
  EXPECT_EQ(r->frames_sampled, 10);
  EXPECT_EQ(r->frames_low_quality, 0);
  ASSERT_EQ(r->frames.size(), 3u);
  EXPECT_EQ(r->frames_near_duplicate, 7);
  const double starts[] = {0, 2.5, 5.5};
  PdqHasher hasher;
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(r->frames[k].timestamp_seconds, starts[k], 0.21);
    absl::StatusOr<DecodedImage> photo =
        DecodeImage(video_test::ReadAll(clips.Photo(k)), DecodeOptions{});
    ASSERT_TRUE(photo.ok());
    EXPECT_LE(
        HammingDistance(r->frames[k].pdq, hasher.Hash(photo->view()).hash), 16)
        << "photo " << k;
    EXPECT_GE(r->frames[k].quality, 50);
  }
  // Pruning off: every sample kept.
  VideoHashOptions keep;
  keep.near_duplicate_distance = -1;
  r = HashVideo(bytes, keep);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->frames.size(), 10u);
  EXPECT_EQ(r->frames_near_duplicate, 0);
}

// Windows: the PDQ of the centred crop of each percent, in order.
TEST(VideoHasherTest, WindowsHashTheCentredCrops) {
  HM_REQUIRE_CLIPS();
  const std::string bytes = Slides(clips);
  ASSERT_FALSE(bytes.empty());
  VideoHashOptions options;
  options.window_percents = {90, 70};
  absl::StatusOr<VideoHashResult> r = HashVideo(bytes, options);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->frames.size(), 3u);
  PdqHasher hasher;
  for (int k = 0; k < 3; ++k) {
    absl::StatusOr<DecodedImage> photo =
        DecodeImage(video_test::ReadAll(clips.Photo(k)), DecodeOptions{});
    ASSERT_TRUE(photo.ok());
    ASSERT_EQ(r->frames[k].windows.size(), 2u) << "photo " << k;
    for (int w = 0; w < 2; ++w) {
      const VideoFrameHash::Window& window = r->frames[k].windows[w];
      EXPECT_EQ(window.percent, w == 0 ? 90 : 70);
      EXPECT_GE(window.quality, 50);
      // 640x360 -> 576x324 at (32, 18), or 448x252 at (96, 54).
      ImageView crop = photo->view();
      crop.width = 640 * window.percent / 100;
      crop.height = 360 * window.percent / 100;
      crop.data += crop.row_stride * ((360 - crop.height) / 2) +
                   static_cast<size_t>((640 - crop.width) / 2) * crop.channels;
      EXPECT_LE(HammingDistance(window.pdq, hasher.Hash(crop).hash), 16)
          << "photo " << k << " window " << window.percent;
    }
  }
  for (const std::vector<int>& bad :
       {std::vector<int>{100}, std::vector<int>{0}, std::vector<int>{90, 90},
        std::vector<int>{90, 80, 70, 60}}) {
    options.window_percents = bad;
    EXPECT_EQ(HashVideo(bytes, options).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// Flat frames have PDQ quality 0: all dropped by the gate, kept with 0.
TEST(VideoHasherTest, QualityGate) {
  HM_REQUIRE_CLIPS();
  const std::string bytes =
      clips.Make("gray.mp4",
                 "-f lavfi -i color=c=gray:s=320x180:r=10:d=2 -c:v libx264 "
                 "-preset veryfast");
  ASSERT_FALSE(bytes.empty());
  absl::StatusOr<VideoHashResult> r = HashVideo(bytes, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->frames_sampled, 2);
  EXPECT_EQ(r->frames_low_quality, 2);
  EXPECT_TRUE(r->frames.empty());
  VideoHashOptions all;
  all.min_quality = 0;
  r = HashVideo(bytes, all);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->frames.size(), 1u);  // The second is a duplicate.
  EXPECT_LT(r->frames[0].quality, 50);
}

TEST(VideoHasherTest, CropBlackBars) {
  // 40x30 gray image: 4 dark rows on top and bottom, 3 dark columns left.
  std::vector<uint8_t> px(40 * 30, 0);
  for (int y = 4; y < 26; ++y) {
    for (int x = 3; x < 40; ++x) px[y * 40 + x] = static_cast<uint8_t>(60 + x);
  }
  px[10 * 40 + 1] = 30;  // Noise in a bar, under the luma limit.
  ImageView im{px.data(), 40, 30, 1, 40};
  ImageView c = CropBlackBars(im);
  EXPECT_EQ(c.width, 37);
  EXPECT_EQ(c.height, 22);
  EXPECT_EQ(c.data, px.data() + 4 * 40 + 3);
  EXPECT_EQ(c.row_stride, 40u);
  // A bright pixel in the bar stops the crop at its row.
  px[2 * 40 + 20] = 200;
  c = CropBlackBars(im);
  EXPECT_EQ(c.height, 24);
  // All dark, or bars over half the picture: unchanged.
  std::vector<uint8_t> dark(40 * 30, 10);
  ImageView d{dark.data(), 40, 30, 1, 40};
  EXPECT_EQ(CropBlackBars(d).height, 30);
  for (int x = 0; x < 40; ++x) dark[15 * 40 + x] = 200;  // One bright row.
  EXPECT_EQ(CropBlackBars(d).height, 30);
  EXPECT_EQ(CropBlackBars(d).width, 40);
}

TEST(VideoHasherTest, ErrorsPassThrough) {
  absl::StatusOr<VideoHashResult> r = HashVideo("", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  VideoHashOptions o;
  o.decode.max_bytes = 3;
  r = HashVideo("abcd", o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace hashmatch
