// Fuzzes ParseVpdq and FormatVpdq (src/video/vpdq_format.h), the vPDQ
// hash-file format that `hashmatch import --format vpdq` and the video
// commands read, with max_frames 1000.
//
// Checks: errors are INVALID_ARGUMENT ("line N: ...") or RESOURCE_EXHAUSTED
// (the frame limit); an OK result has 1..max_frames frames, each with a
// frame number in [0, 2^53], a quality in 0..100 and a finite non-negative
// timestamp; FormatVpdq of them parses back to the same frames (timestamps
// to the three decimals the writer keeps), and formatting those again gives
// the same text.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "src/video/vpdq_format.h"

namespace hashmatch {
namespace {

void Run(absl::string_view text) {
  VpdqParseOptions options;
  options.max_frames = 1000;
  absl::StatusOr<std::vector<VideoFrameHash>> frames = ParseVpdq(text, options);
  if (!frames.ok()) {
    FUZZ_CHECK(frames.status().code() == absl::StatusCode::kInvalidArgument ||
               frames.status().code() == absl::StatusCode::kResourceExhausted)
        << frames.status();
    return;
  }
  FUZZ_CHECK(!frames->empty() &&
             static_cast<int64_t>(frames->size()) <= options.max_frames)
      << frames->size();
  for (const VideoFrameHash& f : *frames) {
    FUZZ_CHECK(f.frame_number >= 0 && f.frame_number <= (int64_t{1} << 53))
        << f.frame_number;
    FUZZ_CHECK(f.quality >= 0 && f.quality <= 100) << f.quality;
    FUZZ_CHECK(std::isfinite(f.timestamp_seconds) && f.timestamp_seconds >= 0)
        << f.timestamp_seconds;
    FUZZ_CHECK(!f.scene_change && f.windows.empty());
  }
  const std::string written = FormatVpdq(*frames);
  absl::StatusOr<std::vector<VideoFrameHash>> again =
      ParseVpdq(written, options);
  FUZZ_CHECK(again.ok()) << "FormatVpdq's output does not parse: "
                         << again.status();
  FUZZ_CHECK(again->size() == frames->size());
  for (size_t i = 0; i < frames->size(); ++i) {
    const VideoFrameHash& a = (*frames)[i];
    const VideoFrameHash& b = (*again)[i];
    FUZZ_CHECK(a.frame_number == b.frame_number && a.quality == b.quality &&
               a.pdq == b.pdq)
        << "line " << i + 1;
    FUZZ_CHECK(std::fabs(a.timestamp_seconds - b.timestamp_seconds) <=
               0.0005 + std::fabs(a.timestamp_seconds) * 1e-15)
        << "line " << i + 1 << ": " << a.timestamp_seconds << " vs "
        << b.timestamp_seconds;
  }
  FUZZ_CHECK(FormatVpdq(*again) == written);
}

}  // namespace
}  // namespace hashmatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::Run(hashmatch::fuzz::AsView(data, size));
  return 0;
}
