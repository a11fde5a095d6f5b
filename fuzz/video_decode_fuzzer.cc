// Fuzzes DecodeVideo (src/video/video_decoder.h): the container whitelist,
// FFmpeg's demuxers and decoders over the in-memory AVIOContext, sampling
// and the frame conversion, with small limits: 2 MiB of input, 60 s of
// declared duration, 600 packets, 640x480, 250 ms of decoding, 1 thread.
// The budget stays well under libFuzzer's -timeout=1, so that a timeout
// means the decode went on past it.
//
// The input is the file, unchanged; its size modulo 2 picks the sampling:
// 0 interval (1 s) + scene changes with non-reference frames and unsampled
// GOP parts skipped (the defaults), 1 every frame (nothing skipped).
//
// Checks: errors have the documented codes (INVALID_ARGUMENT,
// RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED) and messages without control
// bytes; every sampled frame is 3-channel, within the size limits and fully
// readable, frame numbers increase, timestamps are finite and within the
// duration limit; OK info agrees with the callbacks (frames_sampled, the
// size, scene changes <= samples <= decoded frames).
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "src/video/video_decoder.h"

namespace hashmatch {
namespace {

VideoDecodeOptions Limits(bool every_frame) {
  VideoDecodeOptions o;
  o.max_bytes = 2 << 20;
  o.max_duration_seconds = 60;
  o.max_frames = 600;
  o.max_width = 640;
  o.max_height = 480;
  o.max_pixels = 640 * 480;
  o.max_decode_seconds = 0.25;
  o.threads = 1;
  if (every_frame) {
    o.sample_interval_seconds = 0;
    o.skip_nonref_frames = false;
    o.skip_unsampled_gops = false;
  }
  return o;
}

void Run(absl::string_view bytes) {
  const VideoDecodeOptions options = Limits(bytes.size() % 2 == 1);
  int64_t callbacks = 0;
  int64_t scene_changes = 0;
  int64_t last_frame = -1;
  absl::StatusOr<VideoInfo> info =
      DecodeVideo(bytes, options, [&](const SampledFrame& f) -> absl::Status {
        ++callbacks;
        if (f.reason == SampleReason::kSceneChange) ++scene_changes;
        FUZZ_CHECK(f.frame_number > last_frame)
            << f.frame_number << " after " << last_frame;
        last_frame = f.frame_number;
        FUZZ_CHECK(std::isfinite(f.timestamp_seconds)) << f.timestamp_seconds;
        FUZZ_CHECK(f.timestamp_seconds <= options.max_duration_seconds)
            << f.timestamp_seconds;
        const ImageView& v = f.image;
        FUZZ_CHECK(v.data != nullptr && v.channels == 3) << v.channels;
        FUZZ_CHECK(v.width > 0 && v.height > 0 &&
                   v.width <= options.max_width &&
                   v.height <= options.max_height &&
                   int64_t{v.width} * v.height <= options.max_pixels)
            << v.width << "x" << v.height;
        FUZZ_CHECK(v.row_stride >= static_cast<size_t>(v.width) * 3);
        uint64_t sum = 0;
        for (int y = 0; y < v.height; ++y) {
          const uint8_t* row = v.row(y);
          for (int x = 0; x < v.width * 3; ++x) sum += row[x];
        }
        FUZZ_CHECK(sum <= uint64_t{255} * 3 * v.width * v.height);
        return absl::OkStatus();
      });
  if (!info.ok()) {
    const absl::StatusCode code = info.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
               code == absl::StatusCode::kResourceExhausted ||
               code == absl::StatusCode::kDeadlineExceeded)
        << info.status();
    FUZZ_CHECK(fuzz::NoControlBytes(info.status().message())) << info.status();
    return;
  }
  FUZZ_CHECK(info->frames_sampled == callbacks)
      << info->frames_sampled << " vs " << callbacks;
  FUZZ_CHECK(info->scene_changes == scene_changes);
  FUZZ_CHECK(info->frames_sampled <= info->frames_decoded)
      << info->frames_sampled << " > " << info->frames_decoded;
  FUZZ_CHECK(info->packets_read <= options.max_frames) << info->packets_read;
  FUZZ_CHECK(info->width > 0 && info->height > 0 &&
             info->width <= options.max_width &&
             info->height <= options.max_height)
      << info->width << "x" << info->height;
  FUZZ_CHECK(std::isfinite(info->duration_seconds) &&
             info->duration_seconds <= options.max_duration_seconds)
      << info->duration_seconds;
  FUZZ_CHECK(!info->container.empty() && !info->codec.empty());
}

}  // namespace
}  // namespace hashmatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::Run(hashmatch::fuzz::AsView(data, size));
  return 0;
}
