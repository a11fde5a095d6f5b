// From video bytes to vPDQ-style frame hashes: the sampled frames of
// DecodeVideo (video_decoder.h), each hashed with PDQ, low-quality frames and
// consecutive near-duplicates dropped.
//
//   VideoHashOptions options;  // 1 frame/s + scene changes, quality >= 50
//   ASSIGN_OR_RETURN(VideoHashResult r, HashVideo(bytes, options));
//   for (const VideoFrameHash& f : r.frames)
//     std::cout << f.frame_number << " " << f.pdq.ToHex() << "\n";
//
// PDQ is the reference library's hash of the full-resolution frame converted
// to RGB (as vPDQ's hasher does), so a frame hash equals the hash of the same
// pixels as an image (after black-bar cropping, see crop_black_bars).
//
// Thread safety: HashVideo is thread-safe.
#ifndef HASHMATCH_SRC_VIDEO_VIDEO_HASHER_H_
#define HASHMATCH_SRC_VIDEO_VIDEO_HASHER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/hashing/bit_hash.h"
#include "src/video/video_decoder.h"

namespace hashmatch {

// vPDQ's quality floor (python-threatexchange VPDQ_QUALITY_THRESHOLD).
inline constexpr int kVpdqDefaultMinQuality = 50;
// vPDQ's frame pruning distance (vpdq/README.md, "Pruning Frames").
inline constexpr int kVpdqDefaultNearDuplicateDistance = 2;

struct VideoHashOptions {
  // Limits and sampling (see video_decoder.h for every default).
  VideoDecodeOptions decode;
  // Sampled frames whose PDQ quality is below this are not kept (counted in
  // frames_low_quality). 0 keeps all. Default 50.
  int min_quality = kVpdqDefaultMinQuality;
  // A sampled frame within this PDQ distance of the last kept frame is not
  // kept (counted in frames_near_duplicate). -1 keeps all. Default 2.
  int near_duplicate_distance = kVpdqDefaultNearDuplicateDistance;
  // Hash each frame without its black bars (letterbox or pillarbox): edge
  // rows and columns whose pixels all have luma <= 40 are cut, as long as
  // at least half the width and height remain. A frame with no bars is
  // hashed whole, so this changes nothing for most videos; with bars added
  // by a re-encode, the hash stays that of the picture. The vPDQ reference
  // does not do this (set false for its exact output). Default true.
  bool crop_black_bars = true;
  // Also hash, for each kept frame, the centred window of each of these
  // percentages of its width and height (after black-bar cropping) into
  // VideoFrameHash::windows; a window whose PDQ quality is below
  // min_quality is left out. At most kMaxFrameWindows, each 1..99,
  // distinct (else INVALID_ARGUMENT). One more PDQ per window and kept
  // frame. Default none; see EntryVideoHashOptions and
  // QueryVideoHashOptions, and docs/video.md for what they catch.
  std::vector<int> window_percents;
};

inline constexpr int kMaxFrameWindows = 3;

// Options for hashing a video into an entry: one frame every 0.5 s (twice as
// dense as queries, so that every 1 s query sample is within 0.25 s of an
// entry frame whatever the trim or frame rate) and windows of 90, 80 and 70%
// (a copy cropped by ~10% is close to the 90% window; the 80% window sits
// between; the 70% windows of entry and copy leave out a corner watermark).
VideoHashOptions EntryVideoHashOptions();

// Options for hashing an upload to match: the defaults (one frame per
// second) and the 70% window, compared with the entries' 70% windows.
VideoHashOptions QueryVideoHashOptions();

struct VideoFrameHash {
  int64_t frame_number = 0;  // Presentation-order index in the stream.
  double timestamp_seconds = 0;
  Hash256 pdq;
  int quality = 0;  // PDQ quality 0..100.
  // Sampled for a scene change rather than by the interval (see
  // ScoreVideoMatch for why it matters). vPDQ files do not say: false.
  bool scene_change = false;
  struct Window {
    int percent = 0;  // Of the frame's width and height.
    Hash256 pdq;
    int quality = 0;
  };
  // Centred windows (VideoHashOptions::window_percents), distinct percents.
  std::vector<Window> windows;
};

struct VideoHashResult {
  std::vector<VideoFrameHash> frames;  // Kept frames, in presentation order.
  int64_t frames_decoded = 0;          // Frames the decoder produced.
  int64_t frames_sampled = 0;          // Frames sampled and hashed.
  int64_t frames_low_quality = 0;      // Sampled, dropped for quality.
  int64_t frames_near_duplicate = 0;   // Sampled, dropped as near-duplicates.
  double duration_seconds = 0;
  int width = 0;
  int height = 0;
  std::string container;  // FFmpeg demuxer name.
  std::string codec;      // FFmpeg codec name.
};

// Errors: DecodeVideo's (INVALID_ARGUMENT, RESOURCE_EXHAUSTED,
// DEADLINE_EXCEEDED). A valid video whose frames are all dropped is OK with
// no frames.
absl::StatusOr<VideoHashResult> HashVideo(absl::string_view bytes,
                                          const VideoHashOptions& options);

// The part of `image` (B, G, R or gray) inside its black bars, as described
// at VideoHashOptions::crop_black_bars; `image` itself when it has none. The
// result points into `image`'s pixels.
ImageView CropBlackBars(const ImageView& image);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_VIDEO_VIDEO_HASHER_H_
