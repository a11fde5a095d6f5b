#include "src/hashing/jpeg_decoder.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/test_util.h"

namespace hashmatch {
namespace {

using testing_util::Encode;
using testing_util::ReadFileOrEmpty;
using testing_util::RepeatLastJpegScan;
using testing_util::SmoothTexture;
using testing_util::SourcePath;
using testing_util::WithJpegFrameSize;

// What OpenCV's imdecode gives for the flags DecodeImage used before it
// decoded JPEG itself.
cv::Mat OpenCvDecode(const std::string& bytes, int flags) {
  const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1,
                       const_cast<char*>(bytes.data()));
  return cv::imdecode(buffer, flags);
}

int ReducedGrayFlag(int denom) {
  switch (denom) {
    case 2:
      return cv::IMREAD_REDUCED_GRAYSCALE_2;
    case 4:
      return cv::IMREAD_REDUCED_GRAYSCALE_4;
    default:
      return cv::IMREAD_REDUCED_GRAYSCALE_8;
  }
}

// Both ways of decoding `bytes` give the same bytes, in colour at full size
// and in gray at 1/2, 1/4 and 1/8.
void ExpectSameAsOpenCv(const std::string& bytes, const std::string& name) {
  SCOPED_TRACE(name);
  const cv::Mat want =
      OpenCvDecode(bytes, cv::IMREAD_ANYCOLOR | cv::IMREAD_ANYDEPTH |
                              cv::IMREAD_IGNORE_ORIENTATION);
  ASSERT_FALSE(want.empty());
  absl::StatusOr<JpegDecodeResult> got = DecodeJpeg(bytes, false, 1, {});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->pixels.type(), want.type());
  ASSERT_EQ(got->pixels.size(), want.size());
  EXPECT_EQ(cv::norm(got->pixels, want, cv::NORM_INF), 0.0);
  for (int denom : {2, 4, 8}) {
    const cv::Mat want_gray = OpenCvDecode(
        bytes, ReducedGrayFlag(denom) | cv::IMREAD_IGNORE_ORIENTATION);
    absl::StatusOr<JpegDecodeResult> gray = DecodeJpeg(bytes, true, denom, {});
    ASSERT_TRUE(gray.ok()) << gray.status();
    ASSERT_EQ(gray->pixels.type(), want_gray.type()) << "1/" << denom;
    ASSERT_EQ(gray->pixels.size(), want_gray.size()) << "1/" << denom;
    EXPECT_EQ(cv::norm(gray->pixels, want_gray, cv::NORM_INF), 0.0)
        << "1/" << denom;
  }
}

TEST(DecodeJpegTest, SameAsOpenCvOnGeneratedJpegs) {
  const cv::Mat colour = SmoothTexture(333, 217, 3);
  const cv::Mat gray = SmoothTexture(301, 199, 4, 1);
  ExpectSameAsOpenCv(Encode(".jpg", colour), "baseline colour");
  ExpectSameAsOpenCv(Encode(".jpg", gray), "baseline gray");
  ExpectSameAsOpenCv(Encode(".jpg", colour, {cv::IMWRITE_JPEG_PROGRESSIVE, 1}),
                     "progressive colour");
  ExpectSameAsOpenCv(Encode(".jpg", gray, {cv::IMWRITE_JPEG_PROGRESSIVE, 1}),
                     "progressive gray");
  ExpectSameAsOpenCv(Encode(".jpg", colour, {cv::IMWRITE_JPEG_QUALITY, 100}),
                     "quality 100");
  ExpectSameAsOpenCv(Encode(".jpg", colour, {cv::IMWRITE_JPEG_RST_INTERVAL, 3}),
                     "restart markers");
  ExpectSameAsOpenCv(Encode(".jpg", colour,
                            {cv::IMWRITE_JPEG_LUMA_QUALITY, 90,
                             cv::IMWRITE_JPEG_CHROMA_QUALITY, 40}),
                     "4:4:4 with separate chroma quality");
}

TEST(DecodeJpegTest, SameAsOpenCvOnCmyk) {
  const std::string cmyk =
      ReadFileOrEmpty(SourcePath("src/hashing/testdata/cmyk_32x24.jpg"));
  ASSERT_FALSE(cmyk.empty());
  ExpectSameAsOpenCv(cmyk, "cmyk fixture");
}

// Real photos that the test packages install (skipped when absent).
TEST(DecodeJpegTest, SameAsOpenCvOnInstalledPhotos) {
  std::vector<std::string> paths;
  for (const char* dir : {"/usr/share/backgrounds/mate",
                          "/usr/lib/python3/dist-packages/skimage/data"}) {
    std::error_code ec;
    for (const auto& e :
         std::filesystem::recursive_directory_iterator(dir, ec)) {
      const std::string ext = e.path().extension().string();
      if (ext == ".jpg" || ext == ".jpeg") paths.push_back(e.path().string());
      if (paths.size() >= 6) break;
    }
  }
  if (paths.empty()) GTEST_SKIP() << "no installed JPEG photos";
  for (const std::string& p : paths) {
    ExpectSameAsOpenCv(ReadFileOrEmpty(p), p);
  }
}

// ---- the attack: a progressive JPEG whose last scan repeats ----

// Flat, so that every scan is a few hundred bytes (as in the attack: 300
// repeats made 279 KB) while each still costs a pass over all 4 MP.
std::string LargeProgressiveJpeg() {
  return Encode(".jpg", cv::Mat(2048, 2048, CV_8UC3, cv::Scalar(90, 120, 150)),
                {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
}

TEST(DecodeJpegTest, RepeatedScansOverTheLimitStopAtTheFirstExtraScan) {
  const std::string crafted = RepeatLastJpegScan(LargeProgressiveJpeg(), 300);
  JpegDecodeControl control;
  control.max_scans = kDefaultMaxJpegScans;
  int polls = 0;
  const std::function<bool()> count = [&polls] {
    ++polls;
    return false;
  };
  control.cancelled = &count;
  absl::StatusOr<JpegDecodeResult> got = DecodeJpeg(crafted, false, 1, control);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted)
      << got.status();
  EXPECT_NE(got.status().message().find("more than 64 scans"),
            std::string::npos)
      << got.status();
  // It stopped at scan 65 of 310: 2048 pixels are 128 iMCU rows (16-pixel
  // MCUs of 4:2:0) or 256 (8-pixel rows), polled once each per scan.
  EXPECT_LE(polls, 70 * 256);
}

TEST(DecodeJpegTest, NormalProgressiveJpegIsWithinTheScanLimit) {
  JpegDecodeControl control;
  control.max_scans = kDefaultMaxJpegScans;
  absl::StatusOr<JpegDecodeResult> got =
      DecodeJpeg(LargeProgressiveJpeg(), false, 1, control);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->pixels.cols, 2048);
}

TEST(DecodeJpegTest, CancellationStopsTheDecodeAtTheNextPoll) {
  const std::string crafted = RepeatLastJpegScan(LargeProgressiveJpeg(), 3000);
  JpegDecodeControl control;  // No scan limit: only cancellation stops it.
  int polls = 0;
  const std::function<bool()> cancel_at_100 = [&polls] {
    return ++polls >= 100;
  };
  control.cancelled = &cancel_at_100;
  absl::StatusOr<JpegDecodeResult> got = DecodeJpeg(crafted, false, 1, control);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled) << got.status();
  EXPECT_EQ(polls, 100);
}

TEST(DecodeJpegTest, PassedDeadlineCostsNoDecoding) {
  const std::string crafted = RepeatLastJpegScan(LargeProgressiveJpeg(), 3000);
  JpegDecodeControl control;
  control.deadline = std::chrono::steady_clock::now();
  int polls = 0;
  const std::function<bool()> count = [&polls] {
    ++polls;
    return false;
  };
  control.cancelled = &count;
  absl::StatusOr<JpegDecodeResult> got = DecodeJpeg(crafted, false, 1, control);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded)
      << got.status();
  EXPECT_EQ(polls, 0);  // The clocks are checked before the callback.
}

TEST(DecodeJpegTest, BudgetStopsAnUnlimitedScanCount) {
  // 3000 refinement passes over 4 MP take seconds; the budget is 20 ms.
  const std::string crafted = RepeatLastJpegScan(LargeProgressiveJpeg(), 3000);
  DecodeOptions options;
  options.max_jpeg_scans = 0;
  options.max_decode_ms = 20;
  absl::StatusOr<DecodedImage> got = DecodeImage(crafted, options);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted)
      << got.status();
  EXPECT_NE(got.status().message().find("longer than the limit of 20 ms"),
            std::string::npos)
      << got.status();
}

TEST(DecodeJpegTest, DecodeImageAppliesTheScanLimitByDefault) {
  const std::string crafted = RepeatLastJpegScan(LargeProgressiveJpeg(), 300);
  absl::StatusOr<DecodedImage> got = DecodeImage(crafted, DecodeOptions());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted)
      << got.status();
  DecodeOptions fast;
  fast.reduce_min_side = 256;  // The pdq-fast path decodes at 1/8.
  got = DecodeImage(crafted, fast);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted)
      << got.status();
}

// Runs `fn` with file descriptor 2 pointed at a temporary file; returns what
// was written to it.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  char path[] = "/tmp/jpeg_decoder_test_stderr_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  std::fflush(stderr);
  const int saved = dup(2);
  dup2(fd, 2);
  fn();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::string out = ReadFileOrEmpty(path);
  unlink(path);
  return out;
}

TEST(DecodeJpegTest, WarningsAreCountedNotPrinted) {
  std::string jpeg = Encode(".jpg", SmoothTexture(256, 192, 5));
  // Damage the entropy-coded data after the (last) start of scan: libjpeg
  // recovers and warns ("Corrupt JPEG data: ...").
  const size_t sos = jpeg.rfind(std::string("\xFF\xDA", 2));
  ASSERT_NE(sos, std::string::npos);
  // Never make or break a marker: leave 0xFF bytes and the byte after them.
  for (size_t i = sos + 40; i < jpeg.size() - 40; i += 97) {
    const uint8_t b = static_cast<uint8_t>(jpeg[i]);
    if (b == 0xFF || static_cast<uint8_t>(jpeg[i - 1]) == 0xFF) continue;
    const uint8_t damaged = b ^ 0x5A;
    if (damaged != 0xFF) jpeg[i] = static_cast<char>(damaged);
  }
  absl::StatusOr<JpegDecodeResult> got;
  const std::string printed =
      CaptureStderr([&] { got = DecodeJpeg(jpeg, false, 1, {}); });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_GT(got->warnings, 0);
  EXPECT_EQ(printed, "");
}

TEST(DecodeJpegTest, CorruptDataIsInvalidArgumentWithLibjpegsMessage) {
  std::string jpeg = Encode(".jpg", SmoothTexture(64, 48, 6));
  // A start-of-frame with 0 components.
  const size_t sof = jpeg.find(std::string("\xFF\xC0", 2));
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 9] = 0;
  absl::StatusOr<JpegDecodeResult> got = DecodeJpeg(jpeg, false, 1, {});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
      << got.status();
  EXPECT_NE(got.status().message().find("cannot decode JPEG"),
            std::string::npos);
  EXPECT_EQ(DecodeJpeg(jpeg, false, 3, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Regression (fuzz/image_decode_fuzzer.cc): the decoder allocated whatever
// frame size libjpeg read, whatever limit its caller had checked against
// its own header parser. Now the frame is checked before any allocation.
TEST(DecodeJpegTest, FrameOverMaxPixelsStopsBeforeAllocating) {
  for (bool progressive : {false, true}) {
    SCOPED_TRACE(progressive ? "progressive" : "baseline");
    const std::string jpeg = WithJpegFrameSize(
        Encode(".jpg", SmoothTexture(64, 48, 9),
               {cv::IMWRITE_JPEG_PROGRESSIVE, progressive ? 1 : 0}),
        60000, 60000);
    ASSERT_FALSE(jpeg.empty());
    JpegDecodeControl control;
    control.max_pixels = 1 << 20;
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<JpegDecodeResult> got = DecodeJpeg(jpeg, false, 1, control);
    EXPECT_LT(std::chrono::steady_clock::now() - start,
              std::chrono::seconds(1));
    ASSERT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted)
        << got.status();
    EXPECT_NE(got.status().message().find(
                  "JPEG frame is 60000x60000 = 3600000000 pixels, over the "
                  "limit of 1048576"),
              std::string::npos)
        << got.status();
  }
  // Within the limit, the same check lets a frame through.
  JpegDecodeControl control;
  control.max_pixels = 64 * 48;
  EXPECT_TRUE(
      DecodeJpeg(Encode(".jpg", SmoothTexture(64, 48, 9)), false, 1, control)
          .ok());
}

}  // namespace
}  // namespace hashmatch
