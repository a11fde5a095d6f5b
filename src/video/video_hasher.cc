#include "src/video/video_hasher.h"

#include <algorithm>

#include "src/common/status_macros.h"
#include "src/hashing/pdq.h"

namespace hashmatch {
namespace {

constexpr int kBarMaxLuma = 40;

// Approximate luma (integer, 0..255) of pixel x in `row`.
inline int Luma(const uint8_t* row, int x, int channels) {
  if (channels == 1) return row[x];
  const uint8_t* p = row + 3 * x;
  return (p[0] + 2 * p[1] + p[2]) >> 2;
}

bool DarkRow(const ImageView& im, int y, int x0, int x1) {
  const uint8_t* row = im.row(y);
  for (int x = x0; x < x1; ++x) {
    if (Luma(row, x, im.channels) > kBarMaxLuma) return false;
  }
  return true;
}

bool DarkColumn(const ImageView& im, int x, int y0, int y1) {
  for (int y = y0; y < y1; ++y) {
    if (Luma(im.row(y), x, im.channels) > kBarMaxLuma) return false;
  }
  return true;
}

}  // namespace

ImageView CropBlackBars(const ImageView& image) {
  int top = 0, bottom = image.height, left = 0, right = image.width;
  while (top < bottom && DarkRow(image, top, 0, image.width)) ++top;
  if (top == bottom) return image;  // All dark: nothing to keep.
  while (bottom > top && DarkRow(image, bottom - 1, 0, image.width)) --bottom;
  while (left < right && DarkColumn(image, left, top, bottom)) ++left;
  while (right > left && DarkColumn(image, right - 1, top, bottom)) --right;
  if (2 * (bottom - top) < image.height || 2 * (right - left) < image.width) {
    return image;
  }
  ImageView out = image;
  out.data = image.data + image.row_stride * top +
             static_cast<size_t>(left) * image.channels;
  out.width = right - left;
  out.height = bottom - top;
  return out;
}

absl::StatusOr<VideoHashResult> HashVideo(absl::string_view bytes,
                                          const VideoHashOptions& options) {
  VideoHashResult result;
  PdqHasher hasher;
  ASSIGN_OR_RETURN(
      VideoInfo info,
      DecodeVideo(bytes, options.decode, [&](const SampledFrame& frame) {
        const PdqHash h = hasher.Hash(
            options.crop_black_bars ? CropBlackBars(frame.image) : frame.image);
        if (h.quality < options.min_quality) {
          ++result.frames_low_quality;
        } else if (!result.frames.empty() &&
                   HammingDistance(h.hash, result.frames.back().pdq) <=
                       options.near_duplicate_distance) {
          ++result.frames_near_duplicate;
        } else {
          result.frames.push_back(VideoFrameHash{
              frame.frame_number, frame.timestamp_seconds, h.hash, h.quality});
        }
        return absl::OkStatus();
      }));
  result.frames_decoded = info.frames_decoded;
  result.frames_sampled = info.frames_sampled;
  result.duration_seconds = info.duration_seconds;
  result.width = info.width;
  result.height = info.height;
  result.container = std::move(info.container);
  result.codec = std::move(info.codec);
  return result;
}

}  // namespace hashmatch
