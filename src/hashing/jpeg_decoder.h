// Decodes JPEG through libjpeg directly, because OpenCV's imdecode cannot be
// stopped once it starts: a progressive JPEG that repeats a scan hundreds of
// times costs seconds to minutes of CPU in a few hundred KB. Here the decoder
// checks, while it works (once per row of MCUs of every scan), a scan limit,
// a wall-time budget, the caller's deadline and a cancellation callback, and
// libjpeg's warnings are counted instead of being printed to stderr (where
// they would mix image-supplied text into the server's JSON log).
//
// The pixels are identical to cv::imdecode's for the flags DecodeImage uses
// (IMREAD_ANYCOLOR, and IMREAD_REDUCED_GRAYSCALE_2/4/8): same library, same
// colour conversions (jpeg_decoder_test compares them on every fixture).
// DecodeImage calls this; nothing else should.
//
//   JpegDecodeControl control;
//   control.max_scans = 64;
//   ASSIGN_OR_RETURN(cv::Mat pixels, DecodeJpeg(bytes, /*gray=*/false, 1,
//                                               control));
//
// Thread safety: thread-safe (no shared state).
#ifndef HASHMATCH_SRC_HASHING_JPEG_DECODER_H_
#define HASHMATCH_SRC_HASHING_JPEG_DECODER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <opencv2/core/mat.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {

struct JpegDecodeControl {
  // A frame header (as libjpeg reads it) that declares more pixels than
  // this: RESOURCE_EXHAUSTED before any pixel or coefficient memory is
  // allocated. DecodeImage passes DecodeOptions::max_pixels, so the limit
  // holds even where its header parser and libjpeg disagree. 0 = no limit.
  int64_t max_pixels = 0;
  // More scans than this (progressive and multi-scan files): RESOURCE_EXHAUSTED
  // as soon as the decoder reaches the next one. 0 = no limit.
  int max_scans = 0;
  // Past this instant: RESOURCE_EXHAUSTED naming the budget (the server's
  // per-image decode time limit).
  std::chrono::steady_clock::time_point budget_end =
      std::chrono::steady_clock::time_point::max();
  // The budget in milliseconds, for the message only.
  int64_t budget_ms = 0;
  // Past this instant: DEADLINE_EXCEEDED (the caller's own deadline).
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::time_point::max();
  // Polled with the clocks; true stops the decode with CANCELLED. May be
  // empty. Must not throw.
  const std::function<bool()>* cancelled = nullptr;
};

struct JpegDecodeResult {
  cv::Mat pixels;    // CV_8UC1 or CV_8UC3 (B, G, R).
  int warnings = 0;  // libjpeg warnings (corrupt data it recovered from).
};

// `gray`: one channel out (IMREAD_REDUCED_GRAYSCALE_*); otherwise a
// one-component JPEG stays one channel and others become BGR
// (IMREAD_ANYCOLOR). scale_denom: 1, 2, 4 or 8 (libjpeg DCT scaling).
// Errors: INVALID_ARGUMENT (corrupt or unsupported data, with libjpeg's
// message), RESOURCE_EXHAUSTED (pixel limit, scan limit, budget, memory),
// DEADLINE_EXCEEDED,
// CANCELLED (see JpegDecodeControl).
absl::StatusOr<JpegDecodeResult> DecodeJpeg(absl::string_view bytes, bool gray,
                                            int scale_denom,
                                            const JpegDecodeControl& control);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_JPEG_DECODER_H_
