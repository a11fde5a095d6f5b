// The transforms of the accuracy evaluation: what an uploader might do to a
// photo before it reaches a platform. Each takes decoded pixels and a seed
// and returns the encoded file a platform would receive.
//
//   ASSIGN_OR_RETURN(const TransformSpec* spec, FindTransform("jpeg50"));
//   ASSIGN_OR_RETURN(TransformedImage out,
//                    ApplyTransform(*spec, pixels,
//                                   TransformSeed(md5, "jpeg50", 1)));
//   hasher.HashBytes(out.bytes, ...);
//
// Every transform is deterministic: the same pixels and seed give the same
// bytes (OpenCV's own RNG seeded with `seed`; no global state). Transforms
// named jpeg*, and combo, encode as baseline JPEG at the quality in their
// description; every other one encodes losslessly as PNG (compression level
// 1), so the transform itself is the only change. Geometry, for an input of
// W x H (integer sizes rounded to nearest, at least 1):
//   identity      W x H, same pixels.
//   resize50/25   round(W*s) x round(H*s), area interpolation.
//   jpeg90/50/30  W x H.
//   crop5/crop10  round(W*(1-p)) x round(H*(1-p)), p = 0.05/0.10, the
//                 window's offset uniform in the cut margin (seeded).
//   pad20_solid   W + 2*round(0.2W) x H + 2*round(0.2H): the photo centred
//                 on a uniform border of a seeded colour.
//   pad20_blur    same size: the border is the photo stretched to the whole
//                 canvas and blurred (box 1/8 of the larger side), as mobile
//                 apps frame portrait photos.
//   rotate4       W x H, 4 degrees counter-clockwise about the centre, black
//                 corners.
//   rotate90      H x W, 90 degrees clockwise.
//   hflip         W x H, mirrored left-right.
//   gamma         W x H, v' = 255 * (v/255)^0.6.
//   brightness_contrast  W x H, v' = sat(1.3 * v + 25).
//   blur          W x H, Gaussian sigma = max(W,H)/400 (at least 1).
//   noise         W x H, added Gaussian noise of sigma 12 per channel.
//   vignette      W x H, darkened towards the corners (factor 1 - 0.6 r^2,
//                 r = distance from the centre / half diagonal).
//   text_overlay  W x H, a semi-transparent watermark line and a caption in
//                 a seeded position.
//   grayscale     W x H, one channel (BT.601 luma).
//   aspect        round(1.3W) x H, stretched horizontally.
//   screenshot    the photo scaled to 70% of its width inside a window-like
//                 frame: title bar, side panel, text lines, scroll bar;
//                 canvas round(1.45W') x round(1.6H') where W' x H' is the
//                 scaled photo.
//   combo         resize 0.5, then crop 5% (seeded), then JPEG quality 50.
//
// Thread safety: pure functions (OpenCV calls only on local Mats).
#ifndef HASHMATCH_SRC_EVAL_TRANSFORMS_H_
#define HASHMATCH_SRC_EVAL_TRANSFORMS_H_

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace eval {

struct TransformSpec {
  const char* name;
  const char* description;
};

// Every transform, "identity" first, in the order of the tables.
const std::vector<TransformSpec>& AllTransforms();
// NOT_FOUND listing the valid names.
absl::StatusOr<const TransformSpec*> FindTransform(absl::string_view name);
// Comma-separated names (duplicates kept once, order kept) or "all".
absl::StatusOr<std::vector<const TransformSpec*>> ParseTransformList(
    absl::string_view names);

// The seed of one transform of one corpus picture: the first 8 bytes of
// MD5("<picture>|<transform name>|<base_seed>") as a big-endian integer.
// The evaluation passes the MD5 hex of the picture's file (its content, not
// its path: the same pictures get the same transforms wherever they sit).
uint64_t TransformSeed(absl::string_view picture, absl::string_view transform,
                       uint64_t base_seed);

struct TransformedImage {
  std::string bytes;  // The encoded file (PNG or JPEG).
  int width = 0;
  int height = 0;
};

// Applies `spec` to `pixels` (CV_8UC3 BGR or CV_8UC1) and encodes the result.
// Errors: INVALID_ARGUMENT for an empty or unsupported Mat or an unknown
// transform; INTERNAL when OpenCV fails (its exception is caught here).
absl::StatusOr<TransformedImage> ApplyTransform(const TransformSpec& spec,
                                                const cv::Mat& pixels,
                                                uint64_t seed);

// The pixels before encoding (used by ApplyTransform and by tests).
absl::StatusOr<cv::Mat> TransformPixels(const TransformSpec& spec,
                                        const cv::Mat& pixels, uint64_t seed);

// Lossless PNG (compression level 1) of a CV_8UC1/CV_8UC3 Mat. INTERNAL on
// failure.
absl::StatusOr<std::string> EncodePng(const cv::Mat& pixels);

}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_TRANSFORMS_H_
