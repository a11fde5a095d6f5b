#include "src/hashing/image_decoder.h"

#include <chrono>
#include <exception>
#include <limits>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/hashing/jpeg_decoder.h"

namespace hashmatch {
namespace {

// Converts what imdecode produced to 8-bit gray or BGR. 16-bit samples keep
// their LOW byte: the reference (CImg<uint8_t>) casts each 16-bit sample to
// uint8_t, and shared PDQ lists were made that way (see the golden vector for
// skimage's 16-bit chessboard_RGB.png).
absl::StatusOr<cv::Mat> To8BitGrayOrBgr(cv::Mat m) {
  if (m.depth() == CV_16U) {
    cv::Mat m8(m.rows, m.cols, CV_MAKETYPE(CV_8U, m.channels()));
    const int n = m.cols * m.channels();
    for (int y = 0; y < m.rows; ++y) {
      const uint16_t* in = m.ptr<uint16_t>(y);
      uint8_t* out = m8.ptr<uint8_t>(y);
      for (int x = 0; x < n; ++x) out[x] = static_cast<uint8_t>(in[x] & 0xFF);
    }
    m = m8;
  } else if (m.depth() != CV_8U) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported sample format (OpenCV depth ", m.depth(),
                     "); only 8- and 16-bit unsigned samples are hashed"));
  }
  if (m.channels() == 4) {
    cv::Mat bgr;
    cv::cvtColor(m, bgr, cv::COLOR_BGRA2BGR);
    m = bgr;
  } else if (m.channels() == 2) {
    cv::Mat gray;
    cv::extractChannel(m, gray, 0);
    m = gray;
  } else if (m.channels() != 1 && m.channels() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported channel count ", m.channels()));
  }
  return m;
}

}  // namespace

ImageView ViewOfMat(const cv::Mat& m) {
  ImageView v;
  v.data = m.data;
  v.width = m.cols;
  v.height = m.rows;
  v.channels = m.channels();
  v.row_stride = m.step[0];
  return v;
}

namespace {

// The header of `bytes` once it is within the limits of `options`.
absl::StatusOr<ImageHeader> CheckedHeader(absl::string_view bytes,
                                          const DecodeOptions& options) {
  if (bytes.size() > options.max_encoded_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("image is ", bytes.size(), " bytes, over the limit of ",
                     options.max_encoded_bytes, " bytes"));
  }
  ASSIGN_OR_RETURN(ImageHeader header, ParseImageHeader(bytes));
  // Both sides are positive but may each be up to 2^32 - 1, so the product
  // can overflow int64_t: compare by division, multiply only when it fits.
  const int64_t w = header.width, h = header.height;
  if (w > options.max_pixels / h) {
    const std::string count = w <= std::numeric_limits<int64_t>::max() / h
                                  ? absl::StrCat(w * h)
                                  : "over 2^63";
    return absl::ResourceExhaustedError(absl::StrCat(
        "image is ", w, "x", h, " = ", count, " pixels, over the limit of ",
        options.max_pixels, " pixels"));
  }
  return header;
}

// The work limits of `options` as the JPEG decoder takes them, with the
// budget counted from `start`.
JpegDecodeControl ControlFor(const DecodeOptions& options,
                             std::chrono::steady_clock::time_point start) {
  JpegDecodeControl c;
  c.max_pixels = options.max_pixels;
  c.max_scans = options.max_jpeg_scans;
  if (options.max_decode_ms > 0) {
    c.budget_end = start + std::chrono::milliseconds(options.max_decode_ms);
    c.budget_ms = options.max_decode_ms;
  }
  c.deadline = options.deadline;
  if (options.cancelled) c.cancelled = &options.cancelled;
  return c;
}

// OK, or why the work must stop now (for decoders that cannot be
// interrupted: checked before and after them).
absl::Status CheckControl(const JpegDecodeControl& c) {
  const auto now = std::chrono::steady_clock::now();
  if (now >= c.deadline) {
    return absl::DeadlineExceededError("deadline exceeded while decoding");
  }
  if (now >= c.budget_end) {
    return absl::ResourceExhaustedError(
        absl::StrCat("decoding the image took longer than the limit of ",
                     c.budget_ms, " ms"));
  }
  if (c.cancelled != nullptr && (*c.cancelled)()) {
    return absl::CancelledError("cancelled while decoding");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> HasTransparentPixels(absl::string_view bytes,
                                          const DecodeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(ImageHeader header, CheckedHeader(bytes, options));
  // JPEG has no alpha channel: nothing to decode.
  if (header.format == ImageFormat::kJpeg) return false;
  const JpegDecodeControl control = ControlFor(options, start);
  RETURN_IF_ERROR(CheckControl(control));
  const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1,
                       const_cast<char*>(bytes.data()));
  try {
    const cv::Mat m = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
    RETURN_IF_ERROR(CheckControl(control));
    if (m.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot decode ", ImageFormatName(header.format),
                       ": corrupt or unsupported data"));
    }
    if (m.channels() != 4) return false;
    cv::Mat alpha;
    cv::extractChannel(m, alpha, 3);
    double lo = 0, hi = 0;
    cv::minMaxLoc(alpha, &lo, &hi);
    return lo < (m.depth() == CV_16U ? 65535.0 : 255.0);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot decode ", ImageFormatName(header.format), ": ", e.err));
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot decode ", ImageFormatName(header.format), ": ", e.what()));
  }
}

absl::StatusOr<DecodedImage> DecodeImage(absl::string_view bytes,
                                         const DecodeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  DecodedImage out;
  ASSIGN_OR_RETURN(out.header, CheckedHeader(bytes, options));
  const JpegDecodeControl control = ControlFor(options, start);

  // IMREAD_ANYCOLOR keeps gray as one channel and drops alpha (libpng strip);
  // IMREAD_ANYDEPTH keeps 16-bit samples for To8BitGrayOrBgr.
  int flags =
      cv::IMREAD_ANYCOLOR | cv::IMREAD_ANYDEPTH | cv::IMREAD_IGNORE_ORIENTATION;
  if (options.reduce_min_side > 0 && out.header.format == ImageFormat::kJpeg) {
    const int64_t short_side = std::min(out.header.width, out.header.height);
    for (int denom : {8, 4, 2}) {
      if (short_side / denom >= options.reduce_min_side) {
        out.scale_denom = denom;
        break;
      }
    }
    switch (out.scale_denom) {
      case 2:
        flags = cv::IMREAD_REDUCED_GRAYSCALE_2;
        break;
      case 4:
        flags = cv::IMREAD_REDUCED_GRAYSCALE_4;
        break;
      case 8:
        flags = cv::IMREAD_REDUCED_GRAYSCALE_8;
        break;
      default:
        break;
    }
    if (out.scale_denom > 1) flags |= cv::IMREAD_IGNORE_ORIENTATION;
  }

  if (out.header.format == ImageFormat::kJpeg) {
    // Through libjpeg directly: interruptible, same pixels as imdecode.
    ASSIGN_OR_RETURN(JpegDecodeResult jpeg,
                     DecodeJpeg(bytes, /*gray=*/out.scale_denom > 1,
                                out.scale_denom, control));
    if (out.scale_denom == 1 && (jpeg.pixels.cols != out.header.width ||
                                 jpeg.pixels.rows != out.header.height)) {
      return absl::InvalidArgumentError(
          absl::StrCat("corrupt JPEG: header says ", out.header.width, "x",
                       out.header.height, ", data decodes to ",
                       jpeg.pixels.cols, "x", jpeg.pixels.rows));
    }
    out.pixels = std::move(jpeg.pixels);
    out.warnings = jpeg.warnings;
    return out;
  }

  RETURN_IF_ERROR(CheckControl(control));
  const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1,
                       const_cast<char*>(bytes.data()));
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(buffer, flags);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot decode ", ImageFormatName(out.header.format), ": ", e.err));
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot decode ", ImageFormatName(out.header.format), ": ", e.what()));
  }
  if (decoded.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode ", ImageFormatName(out.header.format),
                     ": corrupt or unsupported data"));
  }
  RETURN_IF_ERROR(CheckControl(control));
  if (out.scale_denom == 1 &&
      (decoded.cols != out.header.width || decoded.rows != out.header.height)) {
    return absl::InvalidArgumentError(
        absl::StrCat("corrupt ", ImageFormatName(out.header.format),
                     ": header says ", out.header.width, "x", out.header.height,
                     ", data decodes to ", decoded.cols, "x", decoded.rows));
  }
  try {
    ASSIGN_OR_RETURN(out.pixels, To8BitGrayOrBgr(std::move(decoded)));
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot convert decoded pixels: ", e.err));
  }
  return out;
}

}  // namespace hashmatch
