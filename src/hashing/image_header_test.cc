#include "src/hashing/image_header.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "src/hashing/test_util.h"

namespace hashmatch {
namespace {

using testing_util::Be32;
using testing_util::Encode;
using testing_util::ExifApp1;
using testing_util::HideJpegFrameBehindStuffedZero;
using testing_util::kPngSignature;
using testing_util::Le32;
using testing_util::PngChunk;
using testing_util::PngHeader;
using testing_util::RandomBytes;
using testing_util::SmoothTexture;
using testing_util::TiffWithSizeTwice;

void ExpectError(const absl::StatusOr<ImageHeader>& got, absl::StatusCode code,
                 const std::string& fragment) {
  EXPECT_EQ(got.status().code(), code) << got.status();
  EXPECT_NE(got.status().message().find(fragment), std::string::npos)
      << "message '" << got.status().message() << "' lacks '" << fragment
      << "'";
}

TEST(ImageHeaderTest, EmptyInput) {
  ExpectError(ParseImageHeader(""), absl::StatusCode::kInvalidArgument,
              "empty");
}

TEST(ImageHeaderTest, RandomBytesAreUnrecognised) {
  const std::string bytes = RandomBytes(1000, 42);
  ExpectError(ParseImageHeader(bytes), absl::StatusCode::kInvalidArgument,
              "unrecognised image format");
}

TEST(ImageHeaderTest, TruncatedJpeg) {
  const std::string jpeg = Encode(".jpg", SmoothTexture(256, 192, 1));
  ASSERT_GT(jpeg.size(), 2000u);
  ASSERT_TRUE(ParseImageHeader(jpeg).ok());
  ExpectError(ParseImageHeader(jpeg.substr(0, jpeg.size() / 2)),
              absl::StatusCode::kInvalidArgument,
              "truncated JPEG: no end-of-image marker");
  // Cut inside the first marker segments: the header itself is incomplete.
  ExpectError(ParseImageHeader(jpeg.substr(0, 10)),
              absl::StatusCode::kInvalidArgument, "truncated JPEG header");
}

TEST(ImageHeaderTest, HugePngHeaderParses) {
  // The header parser reports the size; limits are DecodeImage's business.
  auto h = ParseImageHeader(PngHeader(100000, 100000));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->format, ImageFormat::kPng);
  EXPECT_EQ(h->width, 100000);
  EXPECT_EQ(h->height, 100000);
}

TEST(ImageHeaderTest, ZeroWidthPng) {
  ExpectError(ParseImageHeader(PngHeader(0, 10)),
              absl::StatusCode::kInvalidArgument, "zero size (0x10)");
}

TEST(ImageHeaderTest, TruncatedPng) {
  ExpectError(ParseImageHeader(kPngSignature + "\0\0\0\x0dIHDR"),
              absl::StatusCode::kInvalidArgument, "truncated PNG header");
}

TEST(ImageHeaderTest, GifIsNotSupported) {
  const std::string gif =
      std::string("GIF89a") + "\x0a\x00\x0a\x00" + std::string(20, '\0');
  ExpectError(ParseImageHeader(gif), absl::StatusCode::kInvalidArgument,
              "GIF is not supported as an image");
  ExpectError(ParseImageHeader("GIF87a....."),
              absl::StatusCode::kInvalidArgument, "not supported as an image");
}

TEST(ImageHeaderTest, AnimatedWebpIsNotSupported) {
  // VP8X chunk: flags (animation = 0x02), 3 reserved bytes, then width-1 and
  // height-1 as 24-bit little-endian values.
  std::string vp8x = std::string("\x02\0\0\0", 4) + std::string("\x09\0\0", 3) +
                     std::string("\x09\0\0", 3);
  std::string body = "WEBP" + std::string("VP8X") + Le32(10) + vp8x;
  const std::string webp = "RIFF" + Le32(body.size()) + body;
  ExpectError(ParseImageHeader(webp), absl::StatusCode::kInvalidArgument,
              "animated WebP is not supported as an image");

  // The same container without the animation flag is a still 10x10 image.
  std::string still = webp;
  still[20] = 0x00;
  auto h = ParseImageHeader(still);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->format, ImageFormat::kWebp);
  EXPECT_EQ(h->width, 10);
  EXPECT_EQ(h->height, 10);
}

TEST(ImageHeaderTest, ApngIsNotSupported) {
  const std::string actl = PngChunk("acTL", Be32(2) + Be32(0));
  ExpectError(ParseImageHeader(PngHeader(16, 16) + actl),
              absl::StatusCode::kInvalidArgument,
              "animated PNG (APNG) is not supported as an image");
  // acTL after the image data does not make an APNG (it must come first).
  const std::string idat = PngChunk("IDAT", "x");
  EXPECT_TRUE(ParseImageHeader(PngHeader(16, 16) + idat + actl).ok());
}

TEST(ImageHeaderTest, TruncatedBmp) {
  ExpectError(ParseImageHeader("BM\x10\0\0\0"),
              absl::StatusCode::kInvalidArgument, "truncated BMP header");
}

struct FormatCase {
  const char* name;  // Test name suffix.
  const char* ext;
  ImageFormat format;
  std::vector<int> params;
};

class HeaderDimensionsTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(HeaderDimensionsTest, ReportsEncodedSize) {
  const FormatCase& c = GetParam();
  for (int channels : {3, 1}) {
    const std::string bytes =
        Encode(c.ext, SmoothTexture(37, 23, 5, channels), c.params);
    ASSERT_FALSE(bytes.empty());
    auto h = ParseImageHeader(bytes);
    ASSERT_TRUE(h.ok()) << c.ext << ": " << h.status();
    EXPECT_EQ(h->format, c.format) << c.ext;
    EXPECT_EQ(h->width, 37) << c.ext;
    EXPECT_EQ(h->height, 23) << c.ext;
    EXPECT_EQ(h->exif_orientation, 0) << c.ext;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, HeaderDimensionsTest,
    ::testing::Values(FormatCase{"jpg", ".jpg", ImageFormat::kJpeg, {}},
                      FormatCase{"png", ".png", ImageFormat::kPng, {}},
                      FormatCase{"bmp", ".bmp", ImageFormat::kBmp, {}},
                      FormatCase{"tiff", ".tiff", ImageFormat::kTiff, {}},
                      // Lossy (VP8) and lossless (VP8L) WebP.
                      FormatCase{"webp_lossy",
                                 ".webp",
                                 ImageFormat::kWebp,
                                 {cv::IMWRITE_WEBP_QUALITY, 80}},
                      FormatCase{"webp_lossless",
                                 ".webp",
                                 ImageFormat::kWebp,
                                 {cv::IMWRITE_WEBP_QUALITY, 101}}),
    [](const ::testing::TestParamInfo<FormatCase>& info) {
      return std::string(info.param.name);
    });

TEST(ImageHeaderTest, FormatNames) {
  EXPECT_EQ(ImageFormatName(ImageFormat::kJpeg), "jpeg");
  EXPECT_EQ(ImageFormatName(ImageFormat::kPng), "png");
  EXPECT_EQ(ImageFormatName(ImageFormat::kWebp), "webp");
  EXPECT_EQ(ImageFormatName(ImageFormat::kBmp), "bmp");
  EXPECT_EQ(ImageFormatName(ImageFormat::kTiff), "tiff");
}

TEST(ImageHeaderTest, ExifOrientationFromSplicedApp1) {
  const std::string jpeg = Encode(".jpg", SmoothTexture(40, 24, 3));
  ASSERT_EQ(jpeg.substr(0, 2), "\xFF\xD8");
  for (bool big_endian : {true, false}) {
    const std::string with_exif =
        jpeg.substr(0, 2) + ExifApp1(6, big_endian) + jpeg.substr(2);
    auto h = ParseImageHeader(with_exif);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h->exif_orientation, 6) << "big_endian=" << big_endian;
    EXPECT_EQ(h->width, 40);
    EXPECT_EQ(h->height, 24);
  }
  // Out-of-range values are ignored.
  auto bad =
      ParseImageHeader(jpeg.substr(0, 2) + ExifApp1(9, true) + jpeg.substr(2));
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->exif_orientation, 0);
}

// Found by fuzz/image_decode_fuzzer.cc: the parser read FF 00 as a marker
// with a length, so it reported the 64x48 frame that libjpeg skips and not
// the 20000x20000 one libjpeg decodes (1.2 GB allocated under a 2 MP limit).
TEST(ImageHeaderTest, StuffedZeroWhereAMarkerBelongsIsCorrupt) {
  const std::string jpeg = Encode(".jpg", SmoothTexture(64, 48, 3));
  const std::string crafted =
      HideJpegFrameBehindStuffedZero(jpeg, /*width=*/20000, /*height=*/20000);
  ASSERT_FALSE(crafted.empty());
  ExpectError(ParseImageHeader(crafted), absl::StatusCode::kInvalidArgument,
              "corrupt JPEG: expected a marker at offset 2");
}

// Found by fuzz/image_decode_fuzzer.cc: with ImageWidth and ImageLength
// given twice the parser took the last entries (8x8) and libtiff the first
// (20000x20000), which OpenCV then allocated.
TEST(ImageHeaderTest, TiffSizeGivenTwiceCountsWithItsFirstEntry) {
  auto h = ParseImageHeader(TiffWithSizeTwice(20000, 20000, 8, 8));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->format, ImageFormat::kTiff);
  EXPECT_EQ(h->width, 20000);
  EXPECT_EQ(h->height, 20000);
}

TEST(ImageHeaderTest, TiffSizeThatIsNotOneShortOrLongIsUnsupported) {
  std::string tiff = TiffWithSizeTwice(16, 16, 16, 16);
  // First ImageWidth entry (at 10): type LONG8 (16), whose value libtiff
  // reads from the offset the entry holds.
  tiff[12] = 16;
  ExpectError(ParseImageHeader(tiff), absl::StatusCode::kInvalidArgument,
              "ImageWidth is not one SHORT or LONG (type 16, count 1)");
  tiff = TiffWithSizeTwice(16, 16, 16, 16);
  tiff[14] = 2;  // First ImageWidth entry: count 2.
  ExpectError(ParseImageHeader(tiff), absl::StatusCode::kInvalidArgument,
              "ImageWidth is not one SHORT or LONG (type 4, count 2)");
}

}  // namespace
}  // namespace hashmatch
