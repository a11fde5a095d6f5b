// Decodes image bytes into 8-bit pixels through OpenCV, with limits checked
// before any pixel memory is allocated. This is the only file that calls
// OpenCV's codecs; no OpenCV exception escapes it.
//
//   DecodeOptions options;                 // 32 MiB, 64 MP by default
//   ASSIGN_OR_RETURN(DecodedImage image, DecodeImage(bytes, options));
//   PdqHash h = hasher.Hash(image.view());
//
// Pixels are as stored: EXIF orientation is ignored (and reported), alpha is
// dropped without compositing, palette images are expanded to colour, 16-bit
// samples keep their low byte, CMYK JPEGs are converted to colour, and
// grayscale stays one channel, all as the PDQ reference sees them.
//
// Thread safety: thread-safe.
#ifndef HASHMATCH_SRC_HASHING_IMAGE_DECODER_H_
#define HASHMATCH_SRC_HASHING_IMAGE_DECODER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <opencv2/core/mat.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/hashing/image_header.h"
#include "src/hashing/image_view.h"

namespace hashmatch {

inline constexpr size_t kDefaultMaxEncodedBytes = 32u << 20;     // 32 MiB
inline constexpr int64_t kDefaultMaxPixels = int64_t{64} << 20;  // 64 MP
// libjpeg's own progressive script writes 10 scans (6 for gray) and common
// encoders stay under ~20; every extra scan is another pass over all the
// coefficients, the cost a crafted file multiplies.
inline constexpr int kDefaultMaxJpegScans = 64;

struct DecodeOptions {
  // Larger inputs fail with RESOURCE_EXHAUSTED before parsing.
  size_t max_encoded_bytes = kDefaultMaxEncodedBytes;
  // Images whose header declares more pixels fail with RESOURCE_EXHAUSTED
  // before decoding.
  int64_t max_pixels = kDefaultMaxPixels;
  // Fast path, 0 = off. When > 0, a JPEG whose shorter side is at least
  // 2 * reduce_min_side is decoded at 1/2, 1/4 or 1/8 scale by libjpeg's DCT
  // scaling (the largest that keeps the shorter side >= reduce_min_side), and
  // as luma only. Other formats decode at full size.
  int reduce_min_side = 0;

  // Work limits. JPEG checks them while decoding (once per row of MCUs of
  // every scan, see jpeg_decoder.h); the other formats, whose decoding cost
  // is bounded by max_pixels, before and after decoding.
  // Progressive or multi-scan JPEGs with more scans: RESOURCE_EXHAUSTED.
  // 0 = no limit.
  int max_jpeg_scans = kDefaultMaxJpegScans;
  // Wall time one DecodeImage call may take: RESOURCE_EXHAUSTED past it.
  // 0 = no limit.
  int64_t max_decode_ms = 0;
  // The caller's deadline: DEADLINE_EXCEEDED past it.
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::time_point::max();
  // When set and returning true: CANCELLED. Polled from the decoding
  // thread; must be cheap and must not throw.
  std::function<bool()> cancelled;
};

// A view of a CV_8UC1 or CV_8UC3 Mat, which must outlive the view.
ImageView ViewOfMat(const cv::Mat& m);

struct DecodedImage {
  cv::Mat pixels;       // CV_8UC1 (gray) or CV_8UC3 (B, G, R).
  ImageHeader header;   // Format, stored size, EXIF orientation.
  int scale_denom = 1;  // 2, 4 or 8 when the fast path reduced the image.
  // Warnings libjpeg recovered from (corrupt data); never printed.
  int warnings = 0;

  ImageView view() const { return ViewOfMat(pixels); }
};

// Errors: INVALID_ARGUMENT (empty, unknown or unsupported format, corrupt or
// truncated data; the message says which), RESOURCE_EXHAUSTED (over a limit;
// the message names the limit and the value), DEADLINE_EXCEEDED and
// CANCELLED (see DecodeOptions::deadline and cancelled).
absl::StatusOr<DecodedImage> DecodeImage(absl::string_view bytes,
                                         const DecodeOptions& options);

// Whether the image has an alpha channel with at least one pixel that is not
// fully opaque (a cut-out; DecodeImage drops such alpha). Same limits and
// errors as DecodeImage (reduce_min_side is ignored).
absl::StatusOr<bool> HasTransparentPixels(absl::string_view bytes,
                                          const DecodeOptions& options);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_IMAGE_DECODER_H_
