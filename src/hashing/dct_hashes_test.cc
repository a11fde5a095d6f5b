#include "src/hashing/dct_hashes.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/hashing/test_util.h"

namespace hashmatch {
namespace {

using testing_util::ReadFileOrEmpty;
using testing_util::SmoothTexture;
using testing_util::ViewOf;

TEST(AreaResizeLumaTest, HalvesByExactBlockMeans) {
  const uint8_t px[16] = {0,   10,  20, 30,  //
                          40,  50,  60, 70,  //
                          1,   2,   3,  4,   //
                          200, 100, 5,  255};
  const cv::Mat img(4, 4, CV_8UC1, const_cast<uint8_t*>(px));
  float out[4];
  AreaResizeLuma(ViewOf(img), 2, 2, out);
  EXPECT_FLOAT_EQ(out[0], (0 + 10 + 40 + 50) / 4.0f);
  EXPECT_FLOAT_EQ(out[1], (20 + 30 + 60 + 70) / 4.0f);
  EXPECT_FLOAT_EQ(out[2], (1 + 2 + 200 + 100) / 4.0f);
  EXPECT_FLOAT_EQ(out[3], (3 + 4 + 5 + 255) / 4.0f);
}

TEST(AreaResizeLumaTest, ThreeToTwoUsesFractionalWeights) {
  // Output cell 0 covers input [0, 1.5): pixel 0 fully, pixel 1 half, so the
  // weights are 2/3 and 1/3; cell 1 gives 1/3 to pixel 1 and 2/3 to pixel 2.
  const double w[2][3] = {{2.0 / 3, 1.0 / 3, 0}, {0, 1.0 / 3, 2.0 / 3}};
  for (int iy = 0; iy < 3; ++iy) {
    for (int ix = 0; ix < 3; ++ix) {
      cv::Mat img(3, 3, CV_8UC1, cv::Scalar(0));
      img.at<uint8_t>(iy, ix) = 90;  // One bright pixel.
      float out[4];
      AreaResizeLuma(ViewOf(img), 2, 2, out);
      for (int oy = 0; oy < 2; ++oy) {
        for (int ox = 0; ox < 2; ++ox) {
          EXPECT_NEAR(out[oy * 2 + ox], 90 * w[oy][iy] * w[ox][ix], 1e-4)
              << "impulse at (" << ix << "," << iy << ") output (" << ox << ","
              << oy << ")";
        }
      }
    }
  }
  // A linear ramp p = 3 * (3 * row + col): 4, 8, 16, 20 by the same weights.
  cv::Mat ramp(3, 3, CV_8UC1);
  for (int i = 0; i < 9; ++i) ramp.at<uint8_t>(i / 3, i % 3) = 3 * i;
  float out[4];
  AreaResizeLuma(ViewOf(ramp), 2, 2, out);
  EXPECT_NEAR(out[0], 4, 1e-4);
  EXPECT_NEAR(out[1], 8, 1e-4);
  EXPECT_NEAR(out[2], 16, 1e-4);
  EXPECT_NEAR(out[3], 20, 1e-4);
}

TEST(AreaResizeLumaTest, ColourUsesPdqLuma) {
  // Two BGR pixels averaged to one: the mean of their BT.601 lumas.
  cv::Mat img(1, 2, CV_8UC3);
  img.at<cv::Vec3b>(0, 0) = cv::Vec3b(10, 20, 250);  // B, G, R
  img.at<cv::Vec3b>(0, 1) = cv::Vec3b(200, 0, 0);
  float out[1];
  AreaResizeLuma(ViewOf(img), 1, 1, out);
  const double y0 = 0.299 * 250 + 0.587 * 20 + 0.114 * 10;
  const double y1 = 0.114 * 200;
  EXPECT_NEAR(out[0], (y0 + y1) / 2, 1e-3);
}

TEST(DHashTest, HorizontalGradient) {
  // Brightness rising to the right: every one of the 9 area-averaged columns
  // is brighter than the one on its left, so all 64 bits are set.
  cv::Mat rising(50, 100, CV_8UC1);
  for (int x = 0; x < 100; ++x) rising.col(x).setTo(2 * x);
  EXPECT_EQ(DHash(ViewOf(rising)).ToHex(), "ffffffffffffffff");
  // Falling: none is brighter, no bit set.
  cv::Mat falling;
  cv::flip(rising, falling, 1);
  EXPECT_EQ(DHash(ViewOf(falling)).ToHex(), "0000000000000000");
}

TEST(DHashTest, VerticalGradientSetsNoBits) {
  // Equal columns: "brighter" is strict. 72 = 9 * 8 columns so every cell
  // averages with the same exact weights and the sums are equal.
  cv::Mat img(64, 72, CV_8UC1);
  for (int y = 0; y < 64; ++y) img.row(y).setTo(4 * y);
  EXPECT_EQ(DHash(ViewOf(img)).ToHex(), "0000000000000000");
}

TEST(DHashTest, BitNumbering) {
  // Only the top row of cells rises (left to right) and only in its first
  // step: bit 0 (row 0, col 0) alone.
  cv::Mat img(80, 90, CV_8UC1, cv::Scalar(100));
  img(cv::Rect(10, 0, 80, 10)).setTo(150);  // Columns 1..8 of row 0 brighter.
  EXPECT_EQ(DHash(ViewOf(img)).ToHex(), "0000000000000001");
  // The same step in the bottom row (row 7): bit 56.
  cv::Mat bottom(80, 90, CV_8UC1, cv::Scalar(100));
  bottom(cv::Rect(10, 70, 80, 10)).setTo(150);
  EXPECT_EQ(DHash(ViewOf(bottom)).ToHex(), "0100000000000000");
}

TEST(PHashTest, BalancedBits) {
  // The median is the mean of the 32nd and 33rd values: 32 bits above it.
  EXPECT_EQ(PHash(ViewOf(SmoothTexture(320, 240, 1))).PopCount(), 32);
}

cv::Mat TestPicture() {
  const std::string bytes = ReadFileOrEmpty(
      "/usr/lib/python3/dist-packages/skimage/data/astronaut.png");
  if (!bytes.empty()) {
    cv::Mat m = cv::imdecode(std::vector<uint8_t>(bytes.begin(), bytes.end()),
                             cv::IMREAD_COLOR);
    if (!m.empty()) return m;
  }
  return SmoothTexture(512, 384, 2);
}

TEST(DctHashesTest, HalfSizeIsClose) {
  for (const cv::Mat& img : {SmoothTexture(640, 480, 3), TestPicture()}) {
    cv::Mat half;
    cv::resize(img, half, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
    EXPECT_LE(HammingDistance(PHash(ViewOf(img)), PHash(ViewOf(half))), 8);
    EXPECT_LE(HammingDistance(DHash(ViewOf(img)), DHash(ViewOf(half))), 8);
  }
}

TEST(DctHashesTest, DifferentImagesDiffer) {
  const cv::Mat a = SmoothTexture(400, 300, 4);
  const cv::Mat b = SmoothTexture(400, 300, 5);
  EXPECT_GT(HammingDistance(PHash(ViewOf(a)), PHash(ViewOf(b))), 20);
  EXPECT_GT(HammingDistance(DHash(ViewOf(a)), DHash(ViewOf(b))), 20);
  const cv::Mat c = TestPicture();
  EXPECT_GT(HammingDistance(PHash(ViewOf(a)), PHash(ViewOf(c))), 20);
  EXPECT_GT(HammingDistance(DHash(ViewOf(a)), DHash(ViewOf(c))), 20);
}

TEST(DctHashesTest, SinglePixelImage) {
  // Smaller than the 9x8 grid: every cell is the one pixel, none brighter.
  const cv::Mat one(1, 1, CV_8UC1, cv::Scalar(7));
  EXPECT_EQ(DHash(ViewOf(one)).ToHex(), "0000000000000000");
}

}  // namespace
}  // namespace hashmatch
