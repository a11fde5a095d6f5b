#include "src/video/video_hasher.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
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

VideoHashOptions EntryVideoHashOptions() {
  VideoHashOptions o;
  o.decode.sample_interval_seconds = 0.5;
  o.window_percents = {90, 80, 70};
  return o;
}

VideoHashOptions QueryVideoHashOptions() {
  VideoHashOptions o;
  o.window_percents = {70};
  return o;
}

namespace {

// The centred window of `image` with `percent` of its width and height (at
// least 1 pixel each).
ImageView CentreWindow(const ImageView& image, int percent) {
  ImageView out = image;
  out.width = std::max(1, (image.width * percent + 50) / 100);
  out.height = std::max(1, (image.height * percent + 50) / 100);
  const int left = (image.width - out.width) / 2;
  const int top = (image.height - out.height) / 2;
  out.data = image.data + image.row_stride * top +
             static_cast<size_t>(left) * image.channels;
  return out;
}

}  // namespace

absl::StatusOr<VideoHashResult> HashVideo(absl::string_view bytes,
                                          const VideoHashOptions& options) {
  if (options.window_percents.size() > kMaxFrameWindows) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.window_percents.size(),
                     " window percents, at most ", kMaxFrameWindows));
  }
  for (size_t k = 0; k < options.window_percents.size(); ++k) {
    const int p = options.window_percents[k];
    if (p < 1 || p > 99 ||
        std::count(options.window_percents.begin(),
                   options.window_percents.begin() + k, p) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "window percent ", p, " must be 1..99 and not repeated"));
    }
  }
  VideoHashResult result;
  PdqHasher hasher;
  ASSIGN_OR_RETURN(
      VideoInfo info,
      DecodeVideo(bytes, options.decode, [&](const SampledFrame& frame) {
        const ImageView picture =
            options.crop_black_bars ? CropBlackBars(frame.image) : frame.image;
        const PdqHash h = hasher.Hash(picture);
        if (h.quality < options.min_quality) {
          ++result.frames_low_quality;
        } else if (!result.frames.empty() &&
                   HammingDistance(h.hash, result.frames.back().pdq) <=
                       options.near_duplicate_distance) {
          ++result.frames_near_duplicate;
        } else {
          VideoFrameHash kept{frame.frame_number,
                              frame.timestamp_seconds,
                              h.hash,
                              h.quality,
                              frame.reason == SampleReason::kSceneChange,
                              {}};
          for (int percent : options.window_percents) {
            const PdqHash w = hasher.Hash(CentreWindow(picture, percent));
            if (w.quality < options.min_quality) continue;
            kept.windows.push_back({percent, w.hash, w.quality});
          }
          result.frames.push_back(std::move(kept));
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
