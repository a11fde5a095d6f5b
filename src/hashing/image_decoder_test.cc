#include "src/hashing/image_decoder.h"

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"
#include "src/hashing/test_util.h"

namespace hashmatch {
namespace {

using testing_util::Encode;
using testing_util::ExifApp1;
using testing_util::HideJpegFrameBehindStuffedZero;
using testing_util::PngHeader;
using testing_util::RandomBytes;
using testing_util::ReadFileOrEmpty;
using testing_util::SmoothTexture;
using testing_util::SourcePath;
using testing_util::TiffWithSizeTwice;

void ExpectError(const absl::StatusOr<DecodedImage>& got, absl::StatusCode code,
                 const std::string& fragment) {
  EXPECT_EQ(got.status().code(), code) << got.status();
  EXPECT_NE(got.status().message().find(fragment), std::string::npos)
      << "message '" << got.status().message() << "' lacks '" << fragment
      << "'";
}

// Number of bytes where the two same-shaped Mats differ.
int CountDifferent(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat diff;
  cv::compare(a.reshape(1), b.reshape(1), diff, cv::CMP_NE);
  return cv::countNonZero(diff);
}

// ---- bad inputs ----

TEST(DecodeImageTest, EmptyInput) {
  ExpectError(DecodeImage("", {}), absl::StatusCode::kInvalidArgument,
              "image is empty");
}

TEST(DecodeImageTest, TruncatedJpeg) {
  const std::string jpeg = Encode(".jpg", SmoothTexture(256, 192, 1));
  ASSERT_TRUE(DecodeImage(jpeg, {}).ok());
  ExpectError(DecodeImage(jpeg.substr(0, jpeg.size() / 2), {}),
              absl::StatusCode::kInvalidArgument, "truncated JPEG");
}

TEST(DecodeImageTest, RandomBytes) {
  ExpectError(DecodeImage(RandomBytes(4096, 7), {}),
              absl::StatusCode::kInvalidArgument, "unrecognised image format");
}

TEST(DecodeImageTest, HugePngHeaderIsResourceExhausted) {
  ExpectError(DecodeImage(PngHeader(100000, 100000), {}),
              absl::StatusCode::kResourceExhausted,
              "100000x100000 = 10000000000 pixels, over the limit of 67108864");
  // Just over the limit in one dimension only.
  ExpectError(DecodeImage(PngHeader(70000000, 1), {}),
              absl::StatusCode::kResourceExhausted, "over the limit");
}

TEST(DecodeImageTest, MaxPixelsOptionIsHonoured) {
  const std::string png = Encode(".png", SmoothTexture(40, 30, 2));
  DecodeOptions options;
  options.max_pixels = 1199;
  ExpectError(DecodeImage(png, options), absl::StatusCode::kResourceExhausted,
              "40x30 = 1200 pixels, over the limit of 1199 pixels");
  options.max_pixels = 1200;
  EXPECT_TRUE(DecodeImage(png, options).ok());
}

// Regression: the pixel count of a 0xFFFFFFFF x 0xFFFFFFFF header overflowed
// int64_t (undefined behaviour, caught by UBSan) before the limit check.
TEST(DecodeImageTest, PixelCountOverflowIsResourceExhausted) {
  const std::string png = PngHeader(0xFFFFFFFFu, 0xFFFFFFFFu);
  ExpectError(DecodeImage(png, {}), absl::StatusCode::kResourceExhausted,
              "4294967295x4294967295 = over 2^63 pixels");
  DecodeOptions no_limit;
  no_limit.max_pixels = std::numeric_limits<int64_t>::max();
  ExpectError(DecodeImage(png, no_limit), absl::StatusCode::kResourceExhausted,
              "over the limit of 9223372036854775807 pixels");
  // A product that just fits is reported exactly.
  DecodeOptions one_less;
  one_less.max_pixels = int64_t{0xFFFFFFFF} * 0x7FFFFFFF - 1;
  ExpectError(DecodeImage(PngHeader(0xFFFFFFFFu, 0x7FFFFFFFu), one_less),
              absl::StatusCode::kResourceExhausted,
              "4294967295x2147483647 = 9223372030412324865 pixels");
}

TEST(DecodeImageTest, ZeroSizePng) {
  ExpectError(DecodeImage(PngHeader(0, 10), {}),
              absl::StatusCode::kInvalidArgument, "zero size");
}

TEST(DecodeImageTest, OverMaxEncodedBytes) {
  const std::string png = Encode(".png", SmoothTexture(40, 30, 2));
  DecodeOptions options;
  options.max_encoded_bytes = png.size() - 1;
  ExpectError(DecodeImage(png, options), absl::StatusCode::kResourceExhausted,
              "over the limit of " + std::to_string(png.size() - 1) + " bytes");
  options.max_encoded_bytes = png.size();
  EXPECT_TRUE(DecodeImage(png, options).ok());
}

TEST(DecodeImageTest, GifIsNotSupported) {
  ExpectError(DecodeImage(std::string("GIF89a\x01\0\x01\0", 10), {}),
              absl::StatusCode::kInvalidArgument, "not supported as an image");
}

TEST(DecodeImageTest, CorruptPngDataIsInvalidArgument) {
  // A valid header followed by garbage where the compressed data should be.
  std::string png = Encode(".png", SmoothTexture(64, 48, 4));
  for (size_t i = png.size() / 2; i < png.size() / 2 + 64; ++i) png[i] ^= 0x5A;
  ExpectError(DecodeImage(png, {}), absl::StatusCode::kInvalidArgument,
              "cannot decode png");
}

// ---- formats ----

struct FormatCase {
  const char* name;  // Test name suffix.
  const char* ext;
  ImageFormat format;
  bool lossless;
  std::vector<int> params;
};

class DecodeFormatTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(DecodeFormatTest, ColourDecodesToStoredSize) {
  const FormatCase& c = GetParam();
  const cv::Mat src = SmoothTexture(37, 23, 11);
  const std::string bytes = Encode(c.ext, src, c.params);
  auto got = DecodeImage(bytes, {});
  ASSERT_TRUE(got.ok()) << c.ext << ": " << got.status();
  EXPECT_EQ(got->header.format, c.format);
  EXPECT_EQ(got->pixels.cols, 37);
  EXPECT_EQ(got->pixels.rows, 23);
  EXPECT_EQ(got->pixels.type(), CV_8UC3);
  EXPECT_EQ(got->scale_denom, 1);
  if (c.lossless) {
    EXPECT_EQ(CountDifferent(got->pixels, src), 0) << c.ext;
  } else {
    EXPECT_LT(cv::norm(got->pixels, src, cv::NORM_L1) / (37 * 23 * 3), 16.0)
        << c.ext;
  }
  // Exactly the pixels OpenCV itself decodes from these bytes.
  const cv::Mat direct =
      cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1,
                           const_cast<char*>(bytes.data())),
                   cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  ASSERT_EQ(direct.size(), got->pixels.size());
  EXPECT_EQ(CountDifferent(got->pixels, direct), 0) << c.ext;
  const ImageView v = got->view();
  EXPECT_EQ(v.width, 37);
  EXPECT_EQ(v.height, 23);
  EXPECT_EQ(v.channels, 3);
  EXPECT_EQ(v.data, got->pixels.data);
  EXPECT_EQ(v.row_stride, got->pixels.step[0]);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, DecodeFormatTest,
    ::testing::Values(FormatCase{"jpg",
                                 ".jpg",
                                 ImageFormat::kJpeg,
                                 false,
                                 {cv::IMWRITE_JPEG_QUALITY, 95}},
                      FormatCase{"png", ".png", ImageFormat::kPng, true, {}},
                      FormatCase{"bmp", ".bmp", ImageFormat::kBmp, true, {}},
                      FormatCase{"tiff", ".tiff", ImageFormat::kTiff, true, {}},
                      FormatCase{"webp_lossy",
                                 ".webp",
                                 ImageFormat::kWebp,
                                 false,
                                 {cv::IMWRITE_WEBP_QUALITY, 90}},
                      FormatCase{"webp_lossless",
                                 ".webp",
                                 ImageFormat::kWebp,
                                 true,
                                 {cv::IMWRITE_WEBP_QUALITY, 101}}),
    [](const ::testing::TestParamInfo<FormatCase>& info) {
      return std::string(info.param.name);
    });

TEST(DecodeImageTest, GrayscalePngStaysOneChannel) {
  const cv::Mat gray = SmoothTexture(33, 21, 12, 1);
  auto got = DecodeImage(Encode(".png", gray), {});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->pixels.type(), CV_8UC1);
  EXPECT_EQ(CountDifferent(got->pixels, gray), 0);
}

TEST(DecodeImageTest, GrayscaleJpegStaysOneChannel) {
  const cv::Mat gray = SmoothTexture(33, 21, 12, 1);
  auto got = DecodeImage(Encode(".jpg", gray), {});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->pixels.type(), CV_8UC1);
  EXPECT_EQ(got->pixels.cols, 33);
  EXPECT_EQ(got->pixels.rows, 21);
}

TEST(DecodeImageTest, RgbaPngDropsAlphaWithoutCompositing) {
  const cv::Mat bgr = SmoothTexture(20, 10, 13);
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  for (int y = 0; y < bgra.rows; ++y) {
    for (int x = 0; x < bgra.cols; ++x) {
      // Alpha 0 on the left, rising to the right; colour untouched.
      bgra.at<cv::Vec4b>(y, x)[3] = static_cast<uint8_t>(x * 13);
    }
  }
  auto got = DecodeImage(Encode(".png", bgra), {});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->pixels.type(), CV_8UC3);
  EXPECT_EQ(CountDifferent(got->pixels, bgr), 0);
}

TEST(DecodeImageTest, SixteenBitPngKeepsLowByte) {
  // The PDQ reference casts each 16-bit sample to uint8_t (low byte).
  cv::Mat m(3, 4, CV_16UC3, cv::Scalar(0x1234, 0xABCD, 0x00FF));
  m.at<cv::Vec3w>(1, 2) = cv::Vec3w(0xFF01, 0x0100, 0x8080);
  auto got = DecodeImage(Encode(".png", m), {});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->pixels.type(), CV_8UC3);
  EXPECT_EQ(got->pixels.at<cv::Vec3b>(0, 0), cv::Vec3b(0x34, 0xCD, 0xFF));
  EXPECT_EQ(got->pixels.at<cv::Vec3b>(2, 3), cv::Vec3b(0x34, 0xCD, 0xFF));
  EXPECT_EQ(got->pixels.at<cv::Vec3b>(1, 2), cv::Vec3b(0x01, 0x00, 0x80));

  cv::Mat g(2, 2, CV_16UC1, cv::Scalar(0x1234));
  auto gray = DecodeImage(Encode(".png", g), {});
  ASSERT_TRUE(gray.ok()) << gray.status();
  ASSERT_EQ(gray->pixels.type(), CV_8UC1);
  EXPECT_EQ(gray->pixels.at<uint8_t>(1, 1), 0x34);
}

// Fixtures in testdata/, made once with ImageMagick 6.9.11:
//   convert -size 32x24 gradient:red-blue -colors 16 PNG8:palette_32x24.png
//   convert -size 32x24 gradient:red-blue -colorspace CMYK -quality 92
//   cmyk_32x24.jpg
// Both run from pure red (top row) to pure blue (bottom row).
void ExpectRedToBlue(const DecodedImage& image) {
  ASSERT_EQ(image.pixels.type(), CV_8UC3);
  EXPECT_EQ(image.pixels.cols, 32);
  EXPECT_EQ(image.pixels.rows, 24);
  const cv::Scalar top = cv::mean(image.pixels.row(0));  // B, G, R
  const cv::Scalar bottom = cv::mean(image.pixels.row(23));
  EXPECT_GT(top[2], 200) << top;
  EXPECT_LT(top[0], 60) << top;
  EXPECT_LT(top[1], 60) << top;
  EXPECT_GT(bottom[0], 200) << bottom;
  EXPECT_LT(bottom[2], 60) << bottom;
  EXPECT_LT(bottom[1], 60) << bottom;
}

TEST(DecodeImageTest, PalettePngExpandsToColour) {
  const std::string bytes =
      ReadFileOrEmpty(SourcePath("src/hashing/testdata/palette_32x24.png"));
  ASSERT_FALSE(bytes.empty());
  ASSERT_EQ(bytes[25], 3) << "fixture should be colour type 3 (palette)";
  auto got = DecodeImage(bytes, {});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->header.format, ImageFormat::kPng);
  ExpectRedToBlue(*got);
}

TEST(DecodeImageTest, CmykJpegConvertsToColour) {
  const std::string bytes =
      ReadFileOrEmpty(SourcePath("src/hashing/testdata/cmyk_32x24.jpg"));
  ASSERT_FALSE(bytes.empty());
  auto got = DecodeImage(bytes, {});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->header.format, ImageFormat::kJpeg);
  ExpectRedToBlue(*got);
}

TEST(DecodeImageTest, ExifOrientationIsReportedPixelsStayAsStored) {
  const cv::Mat src = SmoothTexture(40, 24, 3);
  const std::string jpeg = Encode(".jpg", src);
  const std::string rotated =
      jpeg.substr(0, 2) + ExifApp1(6, /*big_endian=*/true) + jpeg.substr(2);
  auto plain = DecodeImage(jpeg, {});
  auto got = DecodeImage(rotated, {});
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(plain->header.exif_orientation, 0);
  EXPECT_EQ(got->header.exif_orientation, 6);
  EXPECT_EQ(got->header.width, 40);
  EXPECT_EQ(got->header.height, 24);
  // Not rotated: same size and the very same pixels as without the tag.
  EXPECT_EQ(got->pixels.cols, 40);
  EXPECT_EQ(got->pixels.rows, 24);
  EXPECT_EQ(CountDifferent(got->pixels, plain->pixels), 0);
}

// ---- fast path ----

TEST(DecodeImageTest, FastPathReducesLargeJpeg) {
  const cv::Mat src = SmoothTexture(2048, 1536, 21);
  const std::string jpeg = Encode(".jpg", src);
  cv::Mat src_gray;
  cv::cvtColor(src, src_gray, cv::COLOR_BGR2GRAY);
  const double src_mean = cv::mean(src_gray)[0];

  struct Case {
    int min_side, denom;
  };
  for (Case c : {Case{256, 4}, Case{192, 8}, Case{700, 2}}) {
    DecodeOptions options;
    options.reduce_min_side = c.min_side;
    auto got = DecodeImage(jpeg, options);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->scale_denom, c.denom) << "min_side " << c.min_side;
    EXPECT_EQ(got->pixels.type(), CV_8UC1);
    EXPECT_EQ(got->pixels.cols, 2048 / c.denom);
    EXPECT_EQ(got->pixels.rows, 1536 / c.denom);
    // The header still reports the stored size.
    EXPECT_EQ(got->header.width, 2048);
    EXPECT_EQ(got->header.height, 1536);
    // The reduced luma is the same picture: compare with the source scaled
    // down by area averaging.
    cv::Mat expect;
    cv::resize(src_gray, expect, got->pixels.size(), 0, 0, cv::INTER_AREA);
    EXPECT_NEAR(cv::mean(got->pixels)[0], src_mean, 2.0);
    EXPECT_LT(cv::norm(got->pixels, expect, cv::NORM_L1) / expect.total(), 4.0);
  }

  // Too small to reduce even by 2: full size, full colour.
  DecodeOptions options;
  options.reduce_min_side = 1000;
  auto full = DecodeImage(jpeg, options);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->scale_denom, 1);
  EXPECT_EQ(full->pixels.type(), CV_8UC3);
  EXPECT_EQ(full->pixels.cols, 2048);
}

TEST(DecodeImageTest, FastPathIgnoresNonJpeg) {
  const cv::Mat src = SmoothTexture(1024, 768, 22);
  DecodeOptions options;
  options.reduce_min_side = 64;
  auto got = DecodeImage(Encode(".png", src), options);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->scale_denom, 1);
  EXPECT_EQ(got->pixels.type(), CV_8UC3);
  EXPECT_EQ(got->pixels.cols, 1024);
  EXPECT_EQ(got->pixels.rows, 768);
  EXPECT_EQ(CountDifferent(got->pixels, src), 0);
}

// Regression (fuzz/image_decode_fuzzer.cc): a 300-byte TIFF whose size tags
// come twice passed the pixel limit as 8x8 while OpenCV allocated
// 20000x20000x3 (1.2 GB) for it and took seconds.
TEST(DecodeImageTest, TiffSizeGivenTwiceIsLimitedAtTheSizeLibtiffReads) {
  DecodeOptions options;
  options.max_pixels = 1 << 20;
  const auto start = std::chrono::steady_clock::now();
  ExpectError(DecodeImage(TiffWithSizeTwice(20000, 20000, 8, 8), options),
              absl::StatusCode::kResourceExhausted,
              "image is 20000x20000 = 400000000 pixels");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

// Regression (fuzz/image_decode_fuzzer.cc): a 64x48 JPEG with a
// 20000x20000 frame header hidden behind FF 00 passed the pixel limit and
// made the JPEG decoder allocate 1.2 GB.
TEST(DecodeImageTest, JpegFrameHiddenBehindAStuffedZeroIsRejected) {
  const std::string crafted = HideJpegFrameBehindStuffedZero(
      Encode(".jpg", SmoothTexture(64, 48, 5)), 20000, 20000);
  ASSERT_FALSE(crafted.empty());
  DecodeOptions options;
  options.max_pixels = 1 << 20;
  const auto start = std::chrono::steady_clock::now();
  ExpectError(DecodeImage(crafted, options), absl::StatusCode::kInvalidArgument,
              "corrupt JPEG: expected a marker");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

}  // namespace
}  // namespace hashmatch
