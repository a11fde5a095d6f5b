// Decodes a video held in memory with Debian's FFmpeg libraries (libavformat,
// libavcodec, libswscale) and hands back the frames that sampling selects.
// This is the only file that calls FFmpeg; the bytes are read through a
// custom AVIOContext over the caller's buffer, never from a file.
//
//   VideoDecodeOptions options;            // 1 frame/s + scene changes
//   ASSIGN_OR_RETURN(VideoInfo info,
//       DecodeVideo(bytes, options, [&](const SampledFrame& f) {
//         PdqHash h = hasher.Hash(f.image);
//         return absl::OkStatus();
//       }));
//
// Sampling: the first frame at or after each multiple of
// sample_interval_seconds (counted from the first frame's timestamp), plus
// every decoded frame whose luma thumbnail (32x32 cells of 2x2 samples)
// differs from the last sampled frame's by a mean absolute difference above
// scene_change_threshold (0..255). Only sampled frames are converted to
// pixels; the others are decoded (the codec needs them as references) and
// looked at through 4096 luma samples. With skip_nonref_frames, frames that
// no other frame references are not decoded at all, so an interval sample can
// land up to a few frames later than the exact multiple (the timestamp is
// always the frame's own); with skip_unsampled_gops, the rest of a GOP after
// the last frame that sampling needs from it is not decoded either.
//
// Accepted containers: mp4/mov (and 3gp), matroska/webm, avi, gif. Anything
// else (an image, a playlist, raw streams) is refused before any demuxer
// other than these runs. Accepted codecs: see kDefaultAllowedCodecs.
//
// FFmpeg's own logging is silenced for the whole process on first use (it
// could print stream metadata); nothing about the media is logged.
//
// Thread safety: DecodeVideo is thread-safe (no shared state besides the
// once-only logging setup).
#ifndef HASHMATCH_SRC_VIDEO_VIDEO_DECODER_H_
#define HASHMATCH_SRC_VIDEO_VIDEO_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/hashing/image_view.h"

namespace hashmatch {

// FFmpeg decoder names accepted by default (comma-separated).
inline constexpr absl::string_view kDefaultAllowedCodecs =
    "h264,hevc,vp8,vp9,av1,mpeg4,msmpeg4v1,msmpeg4v2,msmpeg4v3,mpeg1video,"
    "mpeg2video,mjpeg,h263,theora,gif,cinepak,png,rawvideo";

struct VideoDecodeOptions {
  // Larger inputs fail with RESOURCE_EXHAUSTED before any parsing. 256 MiB.
  size_t max_bytes = size_t{256} << 20;
  // A container that declares a longer duration, or a frame whose timestamp
  // is later, fails with RESOURCE_EXHAUSTED. 2 hours.
  double max_duration_seconds = 7200;
  // More video packets (one per frame) than this fail with
  // RESOURCE_EXHAUSTED, whether or not they are decoded. 500000 (2 h at
  // 60 fps, plus margin).
  int64_t max_frames = 500000;
  // A stream or frame wider, taller or with more pixels than these fails
  // with RESOURCE_EXHAUSTED; a zero or negative size with INVALID_ARGUMENT.
  // 8192 x 8192, 8192 * 4320 pixels (8K).
  int max_width = 8192;
  int max_height = 8192;
  int64_t max_pixels = int64_t{8192} * 4320;
  // Wall time for the whole decode, checked by FFmpeg's interrupt callback
  // (demuxing) and before every packet; DEADLINE_EXCEEDED when over. 120 s.
  double max_decode_seconds = 120;
  // Decoder threads (FFmpeg frame/slice threading). 1 = single-threaded.
  int threads = 1;
  // Interval sampling: the first frame at or after each multiple of this
  // many seconds. 0 = every frame. 1.0 (vPDQ's usual rate).
  double sample_interval_seconds = 1.0;
  // Scene-change sampling threshold on the mean absolute luma difference
  // (0..255) of 32x32-cell thumbnails versus the last sampled frame.
  // <= 0 turns scene-change sampling off. 40.
  double scene_change_threshold = 40;
  // Do not decode frames that no other frame references (AVDISCARD_NONREF)
  // when interval sampling is on (sample_interval_seconds > 0). true.
  bool skip_nonref_frames = true;
  // Decode only the part of each GOP (keyframe to keyframe) that sampling
  // needs when interval sampling is on: the keyframe (when scene detection
  // is on) and the packets up to the last frame that is an interval sample.
  // With keyframes every second, aligned with the samples, only keyframes
  // are decoded. Scene changes in the parts left out are not seen. Only for
  // codecs whose keyframes reset prediction (h264, hevc, vp8, vp9, av1,
  // mpeg4, mpeg1/2, msmpeg4, h263, mjpeg). true.
  bool skip_unsampled_gops = true;
  // Skip the in-loop deblocking filter of every frame (AVDISCARD_ALL). Faster
  // but the decoded pixels, and so the hashes, differ from a normal decode
  // (small PDQ distances; see docs/performance.md). false.
  bool skip_loop_filter = false;
  // Comma-separated FFmpeg decoder names; others fail with INVALID_ARGUMENT
  // "unsupported codec". Default kDefaultAllowedCodecs.
  std::string allowed_codecs = std::string(kDefaultAllowedCodecs);
};

enum class SampleReason { kInterval, kSceneChange };

struct SampledFrame {
  // Presentation-order index of the frame in the stream, counting frames
  // that were skipped (not decoded) too.
  int64_t frame_number = 0;
  // Seconds from the stream's start, from the frame's pts and the stream
  // time base (a frame without pts: its index / the nominal frame rate).
  double timestamp_seconds = 0;
  SampleReason reason = SampleReason::kInterval;
  // Full-resolution 3-channel B, G, R pixels, as the image decoder produces
  // them. Valid only during the callback.
  ImageView image;
};

struct VideoInfo {
  std::string
      container;      // FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
  std::string codec;  // FFmpeg codec name, e.g. "h264".
  int width = 0;      // Of the video stream.
  int height = 0;
  // The container's duration when it declares one, else the last decoded
  // frame's timestamp.
  double duration_seconds = 0;
  int64_t packets_read = 0;    // Video packets demuxed.
  int64_t frames_decoded = 0;  // Frames the decoder produced.
  int64_t frames_sampled = 0;  // Frames passed to the callback.
  int64_t scene_changes = 0;   // Of which sampled for a scene change.
};

// Called once per sampled frame, in presentation order. A non-OK status
// stops decoding and is returned by DecodeVideo as is.
using SampledFrameCallback =
    absl::FunctionRef<absl::Status(const SampledFrame&)>;

// Errors:
//   INVALID_ARGUMENT   empty input; not a video in an accepted container;
//                      no video stream; unsupported codec; truncated or
//                      corrupt data (nothing decodable); zero frame size.
//   RESOURCE_EXHAUSTED over max_bytes, max_duration_seconds, max_frames or
//                      the size limits (the message names limit and value).
//   DEADLINE_EXCEEDED  over max_decode_seconds.
//   anything the callback returns.
// `bytes` must stay valid during the call; nothing is copied to disk.
absl::StatusOr<VideoInfo> DecodeVideo(absl::string_view bytes,
                                      const VideoDecodeOptions& options,
                                      SampledFrameCallback on_frame);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_VIDEO_VIDEO_DECODER_H_
